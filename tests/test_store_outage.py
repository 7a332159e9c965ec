"""The database briefly unreachable: a webhook is answered 503 (with Retry-After), never 202 for an event that was
not stored; PagerDuty delivers it again and, once the database is back, the page becomes its incident, once.

PostgreSQL is taken away by cutting the TCP link between the bot and the server (sandbox/tcp_link.py), as a network
partition or a failover would; SQLite by another process holding the file's write lock (a backup, a person with the
sqlite3 shell), longer than a webhook may wait."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bot.errors import StoreUnavailable
from bot.ports.clock import ScaledClock
from bot.store import Store
from sandbox.server import Sandbox
from sandbox.tcp_link import TcpLink
from sandbox.world import World
from tests.conftest import POSTGRES_ENV, _drop_postgres_database, _postgres_database
from tests.harness import (
    SIGNING_SECRET,
    WEBHOOK_SECRETS,
    Harness,
    LoopTurns,
    cards,
    eventually,
    incident_channels,
    pd_status_changes,
    started_sandbox,
)

SERVICE = "checkout-service"


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    """PagerDuty's retries spread over seconds, so that they outlast an outage of a few."""
    sb = Sandbox(
        World.default(),
        slack_signing_secret=SIGNING_SECRET,
        pagerduty_webhook_secrets=WEBHOOK_SECRETS[:1],
        webhook_retry_delays=[1, 1, 2, 2, 4],
    )
    await sb.start(host="127.0.0.1", port=0)
    try:
        yield sb
    finally:
        await sb.stop()


async def _get(h: Harness, path: str) -> int:
    assert h.http is not None
    async with h.http.get(f"{h.url}{path}") as response:
        return response.status


def _statuses(sandbox: Sandbox, title: str) -> list[int | None]:
    [delivery] = [
        d
        for d in sandbox.pagerduty.deliveries.values()
        if d.event_type == "incident.triggered" and d.event["data"]["title"] == title
    ]
    return [a["status"] for a in delivery.attempts]


async def _second_page_through_an_outage(h: Harness, outage: Any, recover: Any, *, during: Any = None) -> None:
    sandbox = h.sandbox
    sandbox.pagerduty.page(SERVICE, "checkout-service: first", urgency="high")
    await eventually(lambda: len(cards(sandbox)) == 1, within=10)
    await h.settle()

    await outage()
    sandbox.pagerduty.page(SERVICE, "checkout-service: during the outage", urgency="high")
    await eventually(lambda: 503 in _statuses(sandbox, "checkout-service: during the outage"), within=10)
    if during is not None:
        await during()
    await recover()

    await eventually(lambda: _statuses(sandbox, "checkout-service: during the outage")[-1] == 202, within=20)
    await eventually(lambda: len(cards(sandbox)) == 2, within=40)
    await h.settle()
    statuses = _statuses(sandbox, "checkout-service: during the outage")
    assert set(statuses) <= {503, 202} and statuses[0] == 503, statuses  # never a 500, never a 202 before stored
    assert len(incident_channels(sandbox)) == 2 and len(await h.services.store.incidents()) == 2
    assert await _get(h, "/healthz") == 200


@asynccontextmanager
async def _postgresql_behind_a_link() -> AsyncIterator[tuple[str, TcpLink]]:
    """A database of its own on the tests' PostgreSQL, reached through a TCP link that a test can cut: (its URL
    through the link, the link). Skips where no PostgreSQL is given."""
    admin_url = os.environ.get(POSTGRES_ENV)
    if not admin_url:
        pytest.skip(f"{POSTGRES_ENV} is not set: no PostgreSQL to take away")
    name, url = await _postgres_database(admin_url)
    parsed = make_url(url)
    link = TcpLink(parsed.host or "127.0.0.1", parsed.port or 5432)
    await link.start()
    try:
        yield parsed.set(host="127.0.0.1", port=link.port).render_as_string(hide_password=False), link
    finally:
        await link.restore()
        await link.close()
        await _drop_postgres_database(admin_url, name)


async def test_postgresql_unreachable_webhooks_get_503_and_the_page_is_taken_after(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    async with _postgresql_behind_a_link() as (url, link):
        h = Harness(sandbox, url)
        try:
            await h.start()

            async def not_ready() -> None:
                assert await _get(h, "/readyz") == 503 and await _get(h, "/healthz") == 503

            await _second_page_through_an_outage(h, link.cut, link.restore, during=not_ready)
        finally:
            await link.restore()  # (the bot's connections close with the database there)
            await h.close()


class _WriteLockHeld:
    """Another process's connection to the SQLite file: its write lock taken at `outage` and kept until `recover`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.held, self.released = threading.Event(), threading.Event()
        self.locker = threading.Thread(target=self._hold)

    def _hold(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        self.held.set()
        self.released.wait()
        db.execute("ROLLBACK")
        db.close()

    async def outage(self) -> None:
        self.locker.start()
        await asyncio.to_thread(self.held.wait)

    async def recover(self) -> None:
        self.released.set()
        await asyncio.to_thread(self.locker.join)


async def test_sqlite_locked_by_another_process_keeps_the_loop_free_and_the_write_waits_for_the_lock(
    tmp_path: Path,
) -> None:
    """A transaction run on its caller's thread that finds the write lock held by another process (a backup, a shell
    on the file) does not hold the caller's loop while it waits: it goes to the store's thread, which waits for the
    lock (and the loop goes on); once the lock is let go, it is written."""
    path = tmp_path / "locked.db"
    store = await Store.open(f"sqlite:///{path}")
    lock = _WriteLockHeld(path)
    try:
        await lock.outage()
        at = datetime.now(UTC)
        async with LoopTurns(every=0.01) as turns:
            write = asyncio.create_task(store.add_timer("kept", at, now=at, payload={}))
            await asyncio.sleep(1.0)
        assert not write.done()  # it waits for the lock ...
        assert turns.count >= 30  # ... and the loop went on meanwhile (about 100 turns of 10 ms in that second)
        await lock.recover()
        assert isinstance(await asyncio.wait_for(write, 10), int)
        assert [t.kind for t in await store.pending_timers("kept")] == ["kept"]
    finally:
        if not lock.released.is_set():
            await lock.recover()
        await store.close()


async def test_postgresql_connections_dropped_while_idle_cost_no_transaction(caplog: pytest.LogCaptureFixture) -> None:
    """The pool's idle connections dropped under it (the server restarted, a failover, the network, an idle
    timeout): the next transactions find them closed, and each runs again on a fresh connection; none fails, and
    the log says so without the statement or its parameters."""
    caplog.set_level(logging.INFO, logger="bot.store.backend")
    async with _postgresql_behind_a_link() as (url, link):
        store = await Store.open(url)
        try:
            # five connections in the pool, each idle once its transaction is done
            slept = await asyncio.gather(*(store.run(_sleep_briefly) for _ in range(5)))
            assert slept == [1] * 5
            await link.cut()  # every connection through the link dropped ...
            await link.restore()  # ... and the database there again at once
            # (in a transaction, and alone: a one-statement read finds its connection closed the same way)
            answers = await asyncio.gather(*(store.run(_one, one_statement=n % 2 == 0) for n in range(5)))
            assert answers == [1] * 5
            assert await store.run(_one) == 1
            said = [r.getMessage() for r in caplog.records if "found closed" in r.getMessage()]
            assert said and not any("SELECT" in line or "pg_sleep" in line for line in said), said
        finally:
            await store.close()


def _sleep_briefly(conn: sa.Connection) -> Any:
    return conn.execute(sa.text("SELECT 1 FROM pg_sleep(0.05)")).scalar()


def _one(conn: sa.Connection) -> Any:
    return conn.execute(sa.text("SELECT 1")).scalar()


async def test_sqlite_locked_by_another_process_webhooks_get_503_and_the_page_is_taken_after(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    path = tmp_path / "sre-agent.db"
    h = Harness(sandbox, f"sqlite:///{path}")
    lock = _WriteLockHeld(path)
    try:
        await h.start()
        await _second_page_through_an_outage(h, lock.outage, lock.recover)
    finally:
        lock.released.set()
        await h.close()


async def test_a_copy_of_a_stored_delivery_is_answered_through_an_outage_and_one_refused_is_not(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A delivery stored before the outage is known: its copy is a duplicate (202) while the database is away. One
    answered 503 was not stored: its copy is tried again (503 while the outage lasts), and taken after it."""
    path = tmp_path / "sre-agent.db"
    h = Harness(sandbox, f"sqlite:///{path}")
    lock = _WriteLockHeld(path)

    async def copies() -> None:
        [stored, refused] = [d for d in sandbox.pagerduty.deliveries.values() if d.event_type == "incident.triggered"]
        assert _statuses(sandbox, "checkout-service: first") == [202]
        assert await sandbox.pagerduty.redeliver(stored.id) == [{"status": 202, "error": None}]
        [again] = await sandbox.pagerduty.redeliver(refused.id)
        assert again["status"] == 503, again

    try:
        await h.start()
        await _second_page_through_an_outage(h, lock.outage, lock.recover, during=copies)
    finally:
        lock.released.set()
        await h.close()


async def test_an_event_whose_database_went_away_mid_processing_is_taken_up_again_after_its_lease() -> None:
    """The database goes away while a page is being set up (its channel made in Slack, not yet recorded): what
    needs the database fails, and the event is not renewed; once the database is back it is taken up again (its
    retry, or the sweep once its lease has lapsed), and the incident is finished once: one channel, one card, one
    acknowledgement."""
    clock = ScaledClock(200.0)  # the 30 s lease in 0.15 s
    async with _postgresql_behind_a_link() as (url, link), started_sandbox(World.default(), clock=clock) as sb:
        h = Harness(sb, url, clock=clock)
        try:
            await h.start()
            made = sb.slack.hold("conversations.create")
            sb.pagerduty.page(SERVICE, "checkout-service: while the database goes", urgency="high")
            await asyncio.wait_for(made.reached.wait(), 10)
            await link.cut()
            made.release()  # the bot learns of its channel with no database to record it in
            await asyncio.sleep(0.5)  # a lease and more of virtual time; what needs no database goes on
            await link.restore()

            async def finished() -> bool:  # the page's event done, and its setup's echoes that came after the
                counts = await h.services.store.inbound_counts()  # outage (during it they were 503) done or set
                return counts.get("done", 0) >= 1 and not counts.keys() - {"done", "ignored"}  # aside as its own

            await eventually(finished, within=30)
            await h.settle()
            assert len(incident_channels(sb)) == 1 and len(cards(sb)) == 1
            assert len(pd_status_changes(sb, "acknowledged")) == 1
            [incident] = await h.services.store.incidents()
            assert incident.phase.value == "acknowledged" and incident.channel_id == incident_channels(sb)[0].id
        finally:
            await link.restore()
            await h.close()


async def test_postgresql_refusing_connections_is_the_database_unavailable_not_a_query_fault() -> None:
    """The server refuses a connection for what it is going through (here: no connection left for the bot's role; as
    well: starting up, shutting down, a standby after a failover): the store says the database is unavailable, so
    that a webhook is answered 503 and delivered again, not 500."""
    admin_url = os.environ.get(POSTGRES_ENV)
    if not admin_url:
        pytest.skip(f"{POSTGRES_ENV} is not set: no PostgreSQL to run this test on")
    import asyncpg  # type: ignore[import-untyped]

    role = f"sre_test_full_{os.getpid()}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0')  # every connection of it refused (53300)
        url = make_url(admin_url).set(username=role).render_as_string(hide_password=False)
        with pytest.raises(StoreUnavailable, match="too many connections"):
            await Store.open(url)
    finally:
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()
