"""Per-incident locks held in the database: two processes (two stores, two lock tables, two holders) on one database
take turns on a key, run different keys side by side, and a holder that died holds nothing for long."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from bot.ports.clock import ScaledClock, SystemClock
from bot.runtime.locks import LEASE, KeyedLocks
from bot.store import Store

KEY = "pagerduty:Q1ABC"


@pytest.fixture
async def two(database_url: str) -> AsyncIterator[tuple[KeyedLocks, KeyedLocks]]:
    """Two replicas' locks: each its own store (connection pool) on the one database."""
    stores = [await Store.open(database_url), await Store.open(database_url)]
    replicas = [KeyedLocks(store, SystemClock(), instance=f"replica-{i}:8080") for i, store in enumerate(stores)]
    for replica in replicas:
        await replica.start()
    try:
        yield replicas[0], replicas[1]
    finally:
        for replica in replicas:
            await replica.close()
        for store in stores:
            await store.close()


async def test_one_key_is_held_by_one_replica_at_a_time(two: tuple[KeyedLocks, KeyedLocks]) -> None:
    a, b = two
    inside: list[str] = []
    order: list[str] = []

    async def work(locks: KeyedLocks, name: str) -> None:
        async with locks.hold(KEY):
            inside.append(name)
            assert len(inside) == 1, f"{inside} hold {KEY} at once"
            order.append(f"{name} in")
            await asyncio.sleep(0.2)
            order.append(f"{name} out")
            inside.remove(name)

    await asyncio.gather(work(a, "a"), work(b, "b"), work(a, "a2"), work(b, "b2"))
    assert len(order) == 8
    assert all(order[i].split()[0] == order[i + 1].split()[0] for i in range(0, 8, 2)), order


async def test_different_keys_run_side_by_side(two: tuple[KeyedLocks, KeyedLocks]) -> None:
    a, b = two
    both_in = asyncio.Event()
    entered: list[str] = []

    async def work(locks: KeyedLocks, key: str) -> None:
        async with locks.hold(key):
            entered.append(key)
            if len(entered) == 2:
                both_in.set()
            await asyncio.wait_for(both_in.wait(), timeout=5)

    await asyncio.gather(work(a, "pagerduty:Q1"), work(b, "pagerduty:Q2"))


async def test_a_dead_replicas_lock_lapses_and_its_next_life_lets_go_at_once(database_url: str) -> None:
    store = await Store.open(database_url)
    try:
        clock = SystemClock()
        now = clock.now()
        # a replica that died while it held the key: its row stays, renewed by nobody
        assert await store.take_lock(KEY, holder="replica-0:8080/dead", now=now, until=now + LEASE)
        other = KeyedLocks(store, clock, instance="replica-1:8080")
        with pytest.raises(TimeoutError):  # another instance waits while the lease runs
            async with asyncio.timeout(0.5):
                async with other.hold(KEY):
                    pass
        # ... until it lapses
        assert await store.take_lock(KEY, holder="replica-0:8080/dead", now=now, until=now - timedelta(seconds=1))
        async with asyncio.timeout(5), other.hold(KEY):
            assert not await store.take_lock(KEY, holder="replica-0:8080/dead", now=clock.now(), until=now + LEASE)
        # the same instance started again lets go of what its earlier life held, at once
        assert await store.take_lock(KEY, holder="replica-0:8080/dead", now=now, until=now + LEASE)
        again = KeyedLocks(store, clock, instance="replica-0:8080")
        await again.start()
        try:
            async with asyncio.timeout(5), again.hold(KEY):
                pass
        finally:
            await again.close()
        # and a hold that ends leaves no row behind
        assert await store.take_lock(KEY, holder="anyone/else", now=clock.now(), until=clock.now() + LEASE)
    finally:
        await store.close()


async def test_a_hold_longer_than_a_lease_is_renewed_and_kept(database_url: str) -> None:
    clock = ScaledClock(100)  # a lease of 30 s passes in 0.3 s
    stores = [await Store.open(database_url), await Store.open(database_url)]
    a, b = (KeyedLocks(store, clock, instance=f"replica-{i}:8080") for i, store in enumerate(stores))
    await a.start()
    try:
        async with a.hold(KEY):
            with pytest.raises(TimeoutError):  # five leases' time: b never gets in, a's renewals keep it
                async with asyncio.timeout(1.5):
                    async with b.hold(KEY):
                        pass
        async with asyncio.timeout(5), b.hold(KEY):
            pass
    finally:
        await a.close()
        for store in stores:
            await store.close()


class _RenewedMeanwhile:
    """The lock table of `store`, whose renewal of KEY's lease runs while the key is let go and taken again: it
    waits for `let_go` before renewing and for `taken_again` before answering (a renewal slower than a hand-over of
    the key from one event's work to the next, as in a storm)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.renewing = asyncio.Event()
        self.let_go = asyncio.Event()
        self.updated = asyncio.Event()
        self.taken_again = asyncio.Event()
        self.renewed: list[set[str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def renew_locks(self, keys: list[str], *, holder: str, until: datetime) -> set[str]:
        if KEY not in keys or self.renewing.is_set():
            return await self.store.renew_locks(keys, holder=holder, until=until)
        self.renewing.set()
        await self.let_go.wait()
        kept = await self.store.renew_locks(keys, holder=holder, until=until)
        self.renewed.append(kept)
        self.updated.set()
        await self.taken_again.wait()
        return kept


async def test_a_key_let_go_and_taken_again_while_its_lease_is_renewed_is_not_said_to_have_lapsed(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = await Store.open(database_url)
    table = _RenewedMeanwhile(store)
    locks = KeyedLocks(table, ScaledClock(100), instance="replica-0:8080")  # renewed every 0.1 s
    await locks.start()
    done = asyncio.Event()

    async def first() -> None:
        async with locks.hold(KEY):
            await table.renewing.wait()  # the renewal has read the keys held: this one among them
        table.let_go.set()

    async def second() -> None:
        await table.updated.wait()
        async with locks.hold(KEY):
            table.taken_again.set()
            await done.wait()

    try:
        both = asyncio.gather(first(), second())
        async with asyncio.timeout(5):
            await table.taken_again.wait()
            await asyncio.sleep(0.05)  # the renewal's answer is read
        done.set()
        await both
    finally:
        await locks.close()
        await store.close()
    assert table.renewed == [set()]  # the renewal found the first taking's row gone ...
    assert "lapsed while it was held" not in caplog.text  # ... and the key held again is a new taking


class _SlowToLetGo:
    """The lock table of `store`, whose letting go of a key waits for `go` (a database slow to answer)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.letting_go = asyncio.Event()
        self.go = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def release_lock(self, key: str, *, holder: str) -> None:
        self.letting_go.set()
        await self.go.wait()
        await self.store.release_lock(key, holder=holder)


async def test_a_key_taken_again_while_a_cancelled_holder_still_lets_it_go_waits_for_its_row_to_go(
    database_url: str,
) -> None:
    """A holder cancelled while it lets go of a key (the process stopping, a timeout) frees the key in its process at
    once, and the row's deletion goes on. The next holder in the process waits for that deletion before it takes the
    key: else it found the row still its own, went on, and the row was deleted under it while it worked (and
    another replica could have taken the key meanwhile)."""
    store = await Store.open(database_url)
    table = _SlowToLetGo(store)
    locks = KeyedLocks(table, SystemClock(), instance="replica-0:8080")
    await locks.start()

    async def first() -> None:
        async with locks.hold(KEY):
            pass

    held: list[set[str]] = []

    async def second() -> None:
        async with locks.hold(KEY):
            held.append(await store.renew_locks([KEY], holder=locks.holder, until=SystemClock().now() + LEASE))

    try:
        holder = asyncio.ensure_future(first())
        await asyncio.wait_for(table.letting_go.wait(), 5)
        holder.cancel()
        with pytest.raises(asyncio.CancelledError):
            await holder
        taking = asyncio.ensure_future(second())
        await asyncio.sleep(0.2)
        assert held == []  # it waits for the first holder's row to be deleted ...
        table.go.set()
        await asyncio.wait_for(taking, 5)
        assert held == [{KEY}]  # ... then holds a row of its own while it works
    finally:
        table.go.set()
        await locks.close()
        await store.close()


@pytest.fixture
async def told(database_url: str) -> AsyncIterator[tuple[KeyedLocks, KeyedLocks, Store]]:
    """Two replicas told when a key is let go (PostgreSQL), whose own polls are a minute apart; and a store."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite serves one process, whose locks wait for each other in memory: nothing to be told")
    stores = [await Store.open(database_url), await Store.open(database_url)]
    a, b = (
        KeyedLocks(store, SystemClock(), instance=f"replica-{i}:8080", told_poll_s=60) for i, store in enumerate(stores)
    )
    for replica in (a, b):
        await replica.start()
    try:
        yield a, b, stores[0]
    finally:
        for replica in (a, b):
            await replica.close()
        for store in stores:
            await store.close()


async def _held_once(locks: KeyedLocks) -> float:
    async with locks.hold(KEY):
        return time.monotonic()


async def test_a_replica_waiting_for_a_key_is_told_when_it_is_let_go(
    told: tuple[KeyedLocks, KeyedLocks, Store],
) -> None:
    """PostgreSQL says when a key is let go (NOTIFY): the replica waiting for it takes it then, not at its next poll
    (a minute away)."""
    a, b, _ = told
    async with a.hold(KEY):
        waiting = asyncio.create_task(_held_once(b))
        await asyncio.sleep(0.3)  # b has looked, found it held, and waits
        assert not waiting.done()
        let_go = time.monotonic()
    async with asyncio.timeout(10):  # well before b's next poll
        assert await waiting >= let_go


async def test_a_replica_no_longer_told_polls_again(told: tuple[KeyedLocks, KeyedLocks, Store]) -> None:
    """The connection that hears the releases ends (the server cut it): a waiting replica goes back to polling, so
    it still takes the key soon after it is let go."""
    a, b, store = told

    def cut(conn: sa.Connection) -> int:
        rows = conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query LIKE 'LISTEN %'"
        ).all()
        return len(rows)

    async with a.hold(KEY):
        waiting = asyncio.create_task(_held_once(b))
        await asyncio.sleep(0.3)
        assert await store.run(cut) == 2  # both replicas' listening connections
        await asyncio.sleep(0.3)
        assert not waiting.done()
    async with asyncio.timeout(10):  # its polls, not a minute
        await waiting
