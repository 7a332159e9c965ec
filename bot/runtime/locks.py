"""Per-key locks: the events about one incident are handled one at a time, different incidents in parallel.

In one process an asyncio lock per key does it. Where several processes serve from one database (PostgreSQL), the
holder of the local lock also takes the key's row in the database (bot/store/locks.py) before it goes on, waits
while another replica holds it, renews it while the work runs, and deletes it after. A replica that died leaves a
row whose lease lapses (`LEASE`), or that the same instance voids when it starts again. No connection is held while
waiting or working: a storm of incidents does not empty the pool. Where the database says when a key is let go
(PostgreSQL's NOTIFY), a waiting replica looks again then, and polls only slowly (for a lease that lapses); else it
polls sooner, then less and less often.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Protocol

from bot.ports.clock import Clock

__all__ = ["LEASE", "KeyedLocks", "LockTable"]

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=30)  # renewed every 10 s while held
WAIT_FIRST_S = 0.02  # how soon a replica that found the key held looks again (real seconds), doubling ...
WAIT_MOST_S = 0.5  # ... up to this
WAIT_TOLD_S = 1.0  # how often it looks where it is told when a key is let go (for a lease that lapses meanwhile)


class LockTable(Protocol):
    """The store's locks (bot/store/locks.py)."""

    async def take_lock(self, key: str, *, holder: str, now: datetime, until: datetime) -> bool: ...

    async def renew_locks(self, keys: list[str], *, holder: str, until: datetime) -> set[str]: ...

    async def release_lock(self, key: str, *, holder: str) -> None: ...

    async def void_locks(self, *, instance: str, holder: str) -> int: ...

    async def hear_releases(self, heard: Callable[[str], None], lost: Callable[[], None]) -> bool:
        """Have each key let go said to `heard` (and `lost` when that stops); False where it cannot be."""


class KeyedLocks:
    """`table`: the database's locks, where other processes may hold the same keys (None: this process alone).
    `told_poll_s`: how often a waiting process looks where the database says when a key is let go."""

    def __init__(
        self,
        table: LockTable | None = None,
        clock: Clock | None = None,
        *,
        instance: str = "",
        told_poll_s: float = WAIT_TOLD_S,
    ) -> None:
        if table is not None and clock is None:
            raise ValueError("locks held in the database need a clock for their leases")
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self.table = table
        self.clock = clock
        self.instance = instance
        self.holder = f"{instance}/{uuid.uuid4().hex[:12]}"  # this life of the instance
        # keys whose rows this process holds now (renewed), each with the number of its taking: a key let go and
        # taken again while its lease was being renewed is a new taking, not a lease that lapsed
        self._held: dict[str, int] = {}
        self._takings = itertools.count()
        self._renewing: asyncio.Task[None] | None = None
        self._told = False  # the database says when a key is let go (then `_let_go` wakes who waits for it)
        self.told_poll_s = told_poll_s
        self._waiting: dict[str, asyncio.Event] = {}  # keys this process waits for another to let go
        self._heard_once = False  # (where the database never could say it, it is not asked again)
        # keys whose rows are being let go: a holder cancelled while it let go frees the key in this process at
        # once, and the next taking here waits for that deletion (else the row it found still its own was deleted
        # under it, and another replica could take the key while it worked)
        self._releasing: dict[str, asyncio.Future[None]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                if self.table is None:
                    yield
                    return
                try:
                    await self._take(key, self.table)
                    self._held[key] = next(self._takings)
                    yield
                finally:
                    self._held.pop(key, None)
                    await self._release(key, self.table)
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def claim(self, key: str) -> bool:
        """Hold `key` if no other process holds it now, without waiting: True when this process holds it (renewed
        until `let_go`). In one process alone, always True."""
        if self.table is None:
            return True
        assert self.clock is not None
        await self._let_go_first(key)
        now = self.clock.now()
        if not await self.table.take_lock(key, holder=self.holder, now=now, until=now + LEASE):
            return False
        self._held[key] = next(self._takings)
        return True

    async def let_go(self, key: str) -> None:
        """Let go of a key `claim` took."""
        if self.table is None:
            return
        self._held.pop(key, None)
        await self._release(key, self.table)

    async def _take(self, key: str, table: LockTable) -> None:
        """Wait until this process holds `key`'s row: another replica lets it go, or its lease lapses. (One task of
        this process at a time waits for a key: the others wait for the local lock.)"""
        assert self.clock is not None
        await self._let_go_first(key)
        wait = WAIT_FIRST_S
        let_go = self._waiting[key] = asyncio.Event()
        try:
            while True:
                let_go.clear()  # (before looking: a release said while it looks is not missed)
                now = self.clock.now()
                if await table.take_lock(key, holder=self.holder, now=now, until=now + LEASE):
                    return
                # a poll interval, not the incident's time: real seconds on any clock
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(let_go.wait(), self.told_poll_s if self._told else wait)
                wait = min(wait * 2, WAIT_MOST_S)
        finally:
            del self._waiting[key]

    def _let_go(self, key: str) -> None:
        """The database says that `key` was let go (by this process or another)."""
        waiting = self._waiting.get(key)
        if waiting is not None:
            waiting.set()

    async def _listen(self, table: LockTable) -> None:
        try:
            self._told = await table.hear_releases(self._let_go, self._deaf)
            self._heard_once |= self._told
        except Exception as exc:  # noqa: BLE001 - the locks work without it, polling
            log.warning("cannot be told when a lock is let go (polling for them instead): %s", exc)

    def _deaf(self) -> None:
        log.warning("no longer told when a lock is let go (the connection ended): polling for them instead")
        self._told = False
        for waiting in self._waiting.values():  # each looks again now, then at the polls' pace
            waiting.set()

    async def _release(self, key: str, table: LockTable) -> None:
        releasing = asyncio.ensure_future(table.release_lock(key, holder=self.holder))
        self._releasing[key] = releasing
        releasing.add_done_callback(functools.partial(self._released, key))
        try:
            await asyncio.shield(releasing)  # (cancelled meanwhile: the row is still let go, see `_releasing`)
        except Exception as exc:  # noqa: BLE001 - the lease lapses instead: the others wait a little longer
            log.warning("could not let go of the lock on %s (it lapses within %s): %s", key, LEASE, exc)

    def _released(self, key: str, releasing: asyncio.Future[None]) -> None:
        if self._releasing.get(key) is releasing:
            del self._releasing[key]
        if not releasing.cancelled():
            releasing.exception()  # (retrieved: `_release` says it, or its lease lapses if its holder was cancelled)

    async def _let_go_first(self, key: str) -> None:
        """Wait until this process's row for `key`, if it is being let go, is gone."""
        releasing = self._releasing.get(key)
        if releasing is not None:
            await asyncio.wait({releasing})

    async def start(self) -> None:
        """Void what an earlier life of this instance held, then renew the leases held, every third of a lease."""
        if self.table is None:
            return
        voided = await self.table.void_locks(instance=self.instance, holder=self.holder)
        if voided:
            log.warning("%d locks were held when this instance stopped; let go", voided)
        await self._listen(self.table)
        self._renewing = asyncio.get_running_loop().create_task(self._renew(self.table), name="lock-leases")

    async def _renew(self, table: LockTable) -> None:
        assert self.clock is not None
        while True:
            await self.clock.sleep(LEASE.total_seconds() / 3)
            held = dict(self._held)
            try:
                kept = await table.renew_locks(sorted(held), holder=self.holder, until=self.clock.now() + LEASE)
            except Exception:  # a store hiccup must not end the renewals for good
                log.exception("the locks' leases could not be renewed; trying again")
                continue
            for key in held.keys() - kept:
                if self._held.get(key) == held[key]:  # (not let go meanwhile, nor let go and taken again)
                    log.warning("the lock on %s lapsed while it was held (this process was too slow to renew it)", key)
            if not self._told and self._heard_once:  # its connection ended: listen again
                await self._listen(table)

    async def close(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            await asyncio.gather(self._renewing, return_exceptions=True)
