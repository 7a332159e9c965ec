"""The store: migrations match the schema, upgrade in place, conditional updates make things happen once."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.domain.incident import Incident
from bot.domain.phase import Phase
from bot.domain.severity import Severity
from bot.domain.timeline import GENESIS_HASH, EventKind, TimelineEvent, chain_hash
from bot.errors import StoreUnavailable
from bot.store import Store
from bot.store.backend import MAIN_CONNECTIONS, URGENT_CONNECTIONS, YIELD_EVERY, SqliteBackend
from bot.store.store import alembic_config
from bot.store.tables import metadata, timers
from tests.harness import LoopTurns

NOW = datetime(2026, 11, 20, 3, 2, 11, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def _incident(external_id: str) -> Incident:
    return Incident(
        source="pagerduty",
        external_id=external_id,
        title="t",
        service="s",
        severity=Severity.P2,
        phase=Phase.TRIGGERED,
        triggered_at=NOW,
    )


def _diff(connection: sa.Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata))


async def test_migrations_build_exactly_the_declared_schema(database_url: str) -> None:
    store = await Store.open(database_url)
    try:
        assert await store.run(_diff) == []
    finally:
        await store.close()


async def test_upgrade_is_idempotent_and_keeps_data(database_url: str) -> None:
    store = await Store.open(database_url)
    incident = _incident("Q1")
    assert await store.create_incident(incident, [], now=NOW)
    await store.close()
    again = await Store.open(database_url)  # a restart: upgrade in place, data kept
    try:
        assert [i.external_id for i in await again.incidents()] == ["Q1"]
    finally:
        await again.close()


async def test_downgrade_to_base_and_back(database_url: str) -> None:
    store = await Store.open(database_url)
    try:
        await store.run(lambda c: command.downgrade(alembic_config(c), "base"))
        assert "incidents" not in await store.run(lambda c: sa.inspect(c).get_table_names())
        await store.migrate()
        assert await store.run(_diff) == []
    finally:
        await store.close()


async def test_timeline_is_hash_chained(database_url: str) -> None:
    store = await Store.open(database_url)
    try:
        incident = _incident("Q2")
        events = [
            TimelineEvent(at=NOW, kind=EventKind.TRIGGERED, actor="pagerduty", text="t"),
            TimelineEvent(at=NOW + timedelta(seconds=1), kind=EventKind.ACKNOWLEDGED, actor="sre-agent"),
        ]
        await store.create_incident(incident, events[:1], now=NOW)
        await store.append_events(incident, events[1:])
        stored = await store.timeline(incident.id)  # type: ignore[arg-type]
        assert [e.seq for e in stored] == [1, 2]
        assert stored[0].prev_hash == GENESIS_HASH
        assert stored[0].hash == chain_hash(GENESIS_HASH, incident.key, 1, events[0])
        assert stored[1].prev_hash == stored[0].hash
        assert stored[1].hash == chain_hash(stored[0].hash or "", incident.key, 2, events[1])
        assert stored[0].at == NOW and stored[0].at.tzinfo is not None
    finally:
        await store.close()


async def test_appends_from_many_transactions_at_once_each_land_once_in_one_chain(database_url: str) -> None:
    """An incident's opening and a status page post proposed meanwhile append to one timeline at the same time:
    every event lands, numbered without gaps, each chained to the one before."""
    store = await Store.open(database_url)
    try:
        incident = _incident("Q3")
        await store.create_incident(incident, [], now=NOW)
        writes = [
            store.append_events(incident, [TimelineEvent(at=NOW, kind=EventKind.NOTE, actor="a", text=str(i))])
            if i % 2
            else store.save_incident(
                incident, [TimelineEvent(at=NOW, kind=EventKind.NOTE, actor="b", text=str(i))], now=NOW
            )
            for i in range(20)
        ]
        await asyncio.gather(*writes)
        stored = await store.timeline(incident.id)  # type: ignore[arg-type]
        assert [e.seq for e in stored] == list(range(1, 21))
        assert sorted(int(e.text) for e in stored) == list(range(20))
        assert all(after.prev_hash == before.hash for before, after in itertools.pairwise(stored))
    finally:
        await store.close()


async def test_an_event_and_a_timer_are_claimed_once_under_concurrency(database_url: str) -> None:
    store = await Store.open(database_url)
    try:
        event_id = await store.record_inbound(
            source="pagerduty", delivery_id="d1", event_type="x", body="{}", received_at=NOW, incident_ref=None
        )
        assert event_id is not None
        claims = await asyncio.gather(
            *(store.claim_inbound(event_id, now=NOW, lease=timedelta(minutes=5)) for _ in range(10))
        )
        assert sum(c is not None for c in claims) == 1
        # a claim whose worker died (lease over) can be taken again
        assert await store.claim_inbound(event_id, now=NOW + timedelta(minutes=6), lease=timedelta(minutes=5))
        timer = await store.add_timer("retry_inbound", NOW, now=NOW, payload={"inbound_id": event_id})
        assert timer is not None
        wins = await asyncio.gather(
            *(store.claim_timer(timer, now=NOW, lease=LEASE, holder=f"replica-{n}/boot") for n in range(10))
        )
        assert wins.count(True) == 1
    finally:
        await store.close()


async def test_a_worker_whose_lease_was_taken_over_finishes_nothing(database_url: str) -> None:
    """A worker too slow to renew its lease on an event, taken up meanwhile by another: its late outcome (failed,
    done, or back to pending to be tried again) does not overwrite the other's, which stands."""
    store = await Store.open(database_url)
    try:
        event_id = await store.record_inbound(
            source="pagerduty", delivery_id="slow", event_type="x", body="{}", received_at=NOW, incident_ref=None
        )
        assert event_id is not None
        assert await store.claim_inbound(event_id, now=NOW, lease=LEASE, holder="a/1")
        later = NOW + LEASE * 2
        assert await store.claim_inbound(event_id, now=later, lease=LEASE, holder="b/1")  # a's lease lapsed
        assert not await store.fail_inbound(event_id, now=later, error="late", notice="unhandled", holder="a/1")
        assert await store.due_timer_count(later) == 0  # (nobody is told of a failure that was not)
        await store.finish_inbound(event_id, status="done", now=later, holder="b/1")
        await store.finish_inbound(event_id, status="pending", now=later, error="late", holder="a/1")
        event = await store.inbound(event_id)
        assert event is not None and event.status == "done"
    finally:
        await store.close()


async def test_an_event_stored_claimed_is_leased_from_when_it_is_written(database_url: str) -> None:
    """A delivery received long before its row could be written (the store slow or stalled): its holder's lease
    runs from the writing, so no other replica takes it up as lapsed the moment it lands. Alone, and written
    together with others (SQLite writes a burst of them as one statement)."""
    store = await Store.open(database_url)
    try:
        received = NOW - timedelta(minutes=10)

        def record(delivery: str) -> Any:
            return store.record_inbound(
                source="pagerduty",
                delivery_id=delivery,
                event_type="incident.triggered",
                body="{}",
                received_at=received,
                incident_ref=None,
                holder="a/1",
                clock=lambda: NOW,
            )

        alone = await record("alone")
        together = await asyncio.gather(*(record(f"burst-{n}") for n in range(20)))
        ids = [alone, *together]
        assert None not in ids
        for event_id in ids:
            event = await store.inbound(event_id)  # type: ignore[arg-type]
            assert event is not None and (event.status, event.received_at) == ("processing", received)
        assert await store.lapsed_inbound(now=NOW + LEASE / 2, lease=LEASE) == []
        assert await store.lapsed_inbound(now=NOW + LEASE * 2, lease=LEASE) == sorted(ids)  # (its holder gone)
    finally:
        await store.close()


async def test_inbound_events_are_found_by_source_type_and_time(database_url: str) -> None:
    """What a recording reads: the Slack mentions (or clicks) received in a span of time, oldest first."""
    store = await Store.open(database_url)
    try:
        for n, (source, kind, minutes) in enumerate(
            [
                ("slack", "app_mention", 0),
                ("slack", "app_mention", 5),
                ("slack", "block_actions", 6),
                ("pagerduty", "app_mention", 7),
                ("slack", "app_mention", 20),
            ]
        ):
            await store.record_inbound(
                source=source,
                delivery_id=f"d{n}",
                event_type=kind,
                body=f"body {n}",
                received_at=NOW + timedelta(minutes=minutes),
                incident_ref=None,
            )
        found = await store.inbound_between(
            "slack", "app_mention", since=NOW + timedelta(minutes=1), until=NOW + timedelta(minutes=20)
        )
        assert [e.body for e in found] == ["body 1", "body 4"]  # the bounds are inclusive
        assert await store.inbound_between("slack", "view_submission", since=NOW, until=NOW + timedelta(hours=1)) == []
    finally:
        await store.close()


async def test_sqlite_transactions_waiting_together_commit_together_and_one_that_fails_fails_alone(
    tmp_path: Path,
) -> None:
    """A burst of webhooks stored at once: the SQLite thread runs those waiting together in one transaction (far
    fewer commits than rows), and one transaction among them that fails undoes only its own work."""
    store = await Store.open(f"sqlite:///{tmp_path / 'sre-agent.db'}")
    commits: list[int] = []
    backend = store.backend
    assert isinstance(backend, SqliteBackend)
    sa.event.listen(backend.engine, "commit", lambda conn: commits.append(1))
    try:

        def failing(conn: sa.Connection) -> None:
            conn.execute(timers.delete())  # undone with it
            raise RuntimeError("this one fails")

        await store.add_timer("kept", NOW, now=NOW, payload={})
        commits.clear()
        stored = [
            store.record_inbound(
                source="pagerduty", delivery_id=f"d{n}", event_type="x", body="{}", received_at=NOW, incident_ref=None
            )
            for n in range(200)
        ]
        results = await asyncio.gather(
            *stored[:100], store.run(failing, urgent=True), *stored[100:], return_exceptions=True
        )
        failed = results.pop(100)
        assert isinstance(failed, RuntimeError) and str(failed) == "this one fails"
        assert sorted(results) == sorted(set(results)) and all(isinstance(r, int) for r in results)
        assert await store.inbound_counts() == {"pending": 200}
        assert [t.kind for t in await store.pending_timers("kept")] == ["kept"]
        assert len(commits) < 100  # together (the failing batch's others were run again alone: still far fewer)
    finally:
        await store.close()


async def test_sqlite_stores_a_burst_of_webhook_rows_in_few_statements_with_the_answers_of_one_at_a_time(
    tmp_path: Path,
) -> None:
    """Rows waiting together go in as one INSERT (each statement costs the SQLite thread a turn at the interpreter's
    lock when the process is busy), and each caller is answered as if stored alone: its new id, or None for a
    delivery stored before, or stored by a copy ahead of it in the same burst."""
    store = await Store.open(f"sqlite:///{tmp_path / 'burst.db'}")
    backend = store.backend
    assert isinstance(backend, SqliteBackend)
    inserts: list[str] = []
    sa.event.listen(
        backend.engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, *_: inserts.append(statement) if statement.startswith("INSERT") else None,
    )

    def record(delivery: str, holder: str | None = None) -> Any:
        return store.record_inbound(
            source="slack" if delivery.startswith("s") else "pagerduty",
            delivery_id=delivery,
            event_type="x",
            body=f"body of {delivery}",
            received_at=NOW,
            incident_ref=None,
            holder=holder,
        )

    try:
        earlier = await record("p7")
        assert isinstance(earlier, int)
        inserts.clear()
        deliveries = [f"p{n % 40}" for n in range(60)] + [f"s{n}" for n in range(40)]  # p0..p19 twice, p7 before
        answers = await asyncio.gather(*(record(d, holder="me/1" if n % 3 else None) for n, d in enumerate(deliveries)))
        assert len(inserts) < 10  # not one each
        first: dict[str, int] = {}  # each delivery: the index of its first copy in the burst
        for n, delivery in enumerate(deliveries):
            first.setdefault(delivery, n)
        for n, delivery in enumerate(deliveries):
            new = first[delivery] == n and delivery != "p7"
            assert isinstance(answers[n], int) if new else answers[n] is None, (n, delivery, answers[n])
        rows = await backend.run(
            lambda conn: conn.execute(sa.text("SELECT id, delivery_id, status, claimed_by FROM inbound_events")).all()
        )
        assert len(rows) == len(first)
        stored = {delivery: (pk, status, holder) for pk, delivery, status, holder in rows}
        assert stored["p7"][0] == earlier
        for delivery, n in first.items():
            if delivery == "p7":
                continue
            pk, status, holder = stored[delivery]
            assert pk == answers[n]
            assert (status, holder) == (("processing", "me/1") if n % 3 else ("pending", None))
        again = await asyncio.gather(*(record(d) for d in deliveries))  # every one stored before: nothing new
        assert again == [None] * len(deliveries)
    finally:
        await store.close()


async def test_a_one_statement_work_is_sent_to_postgresql_without_a_transaction_around_it(database_url: str) -> None:
    """A read of one statement (an incident by its id, say) is one round trip to PostgreSQL, not three (BEGIN, the
    statement, COMMIT): it is its own transaction, outside any transaction block (where a savepoint cannot be set)."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite's BEGIN and COMMIT are no round trips: one statement runs as any other work")
    store = await Store.open(database_url)

    def savepoint(conn: sa.Connection) -> None:
        conn.execute(sa.text("SAVEPOINT probe"))

    try:
        await store.run(savepoint)  # in a transaction block: BEGIN was sent first
        with pytest.raises(sa.exc.DBAPIError, match="can only be used in transaction blocks"):
            await store.run(savepoint, one_statement=True)
        incident = _incident("Q-ONE")
        assert await store.create_incident(incident, [], now=NOW)
        assert incident.id is not None
        found = await store.incident(incident.id)  # (one of the reads sent alone)
        assert found is not None and found.external_id == "Q-ONE"
    finally:
        await store.close()


async def test_a_webhook_row_stored_again_by_its_own_statement_is_its_own_not_a_duplicate(database_url: str) -> None:
    """On PostgreSQL a webhook's row is stored by one statement sent alone, which is sent again when its connection
    is found closed; the first may have been committed with its answer lost. The row that the very same statement
    stored (the same holder, received at the same moment) is answered as stored, so the event is processed now; a
    delivery of it at another moment, or by another replica, is a duplicate."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite sends no statement twice")
    store = await Store.open(database_url)

    async def record(*, holder: str | None = "replica-a/1", at: datetime = NOW) -> int | None:
        return await store.record_inbound(
            source="pagerduty",
            delivery_id="once",
            event_type="incident.triggered",
            body="{}",
            received_at=at,
            incident_ref="P1",
            holder=holder,
        )

    try:
        first = await record()
        assert first is not None
        assert await record() == first  # the same statement again: its own row
        assert await record(at=NOW + timedelta(seconds=1)) is None  # delivered again later: a duplicate
        assert await record(holder="replica-b/1") is None  # by another replica: a duplicate
        event = await store.claim_inbound(first, now=NOW + timedelta(hours=1), lease=LEASE, holder="x")
        assert event is not None and event.attempts == 2  # (one row, stored once: claimed by the first, then lapsed)
    finally:
        await store.close()


async def test_postgresql_connections_opened_for_a_burst_are_kept_for_the_next_one(database_url: str) -> None:
    """A burst of transactions at once (five copies of a page at the door, say) opens connections as it needs them;
    the next burst finds them there, rather than each burst opening server processes and closing them again."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has one connection, kept for the store's life")
    store = await Store.open(database_url)

    def backend_pid(conn: sa.Connection) -> int:  # (held a moment: the burst's transactions overlap)
        return int(conn.execute(sa.text("SELECT pg_backend_pid() FROM pg_sleep(0.2)")).scalar_one())

    async def burst(size: int, *, urgent: bool) -> set[int]:
        return set(await asyncio.gather(*(store.run(backend_pid, urgent=urgent) for _ in range(size))))

    try:
        for size, urgent in ((URGENT_CONNECTIONS, True), (MAIN_CONNECTIONS, False)):
            first = await burst(size, urgent=urgent)
            assert len(first) == size  # (each of the burst on a connection of its own)
            for _ in range(3):
                assert await burst(size, urgent=urgent) == first
    finally:
        await store.close()


async def test_postgresql_leases_are_renewed_while_every_connection_of_the_bots_work_is_busy(database_url: str) -> None:
    """In a storm every connection of the bot's pool may be busy for seconds: a lease's renewal (a lock's, an event's,
    a firing timer's) and the timers' claims do not wait behind that work, for as long as a lease lasts."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite runs urgent transactions first already: one connection, no pool to wait for")
    store = await Store.open(database_url)
    done: list[str] = []

    def slow(conn: sa.Connection) -> None:
        conn.execute(sa.text("SELECT pg_sleep(1.5)"))

    async def busy() -> None:
        await store.run(slow)
        done.append("work")

    async def leases() -> None:
        now = datetime.now(UTC)
        await store.renew_locks(["pagerduty:Q1"], holder="me/1", until=now + LEASE)
        await store.renew_inbound([1], now=now, holder="me/1")
        await store.renew_timers([1], now=now, lease=LEASE, holder="me/1")
        await store.claim_due_timers(now=now, lease=LEASE, holder="me/1", running=set())
        done.append("leases")

    try:
        work = [asyncio.ensure_future(busy()) for _ in range(MAIN_CONNECTIONS + 1)]
        await asyncio.sleep(0.3)  # every connection of the pool busy, and one more waiting for one
        await asyncio.wait_for(leases(), 10)
        await asyncio.gather(*work)
        assert done[0] == "leases" and done.count("work") == MAIN_CONNECTIONS + 1
    finally:
        await store.close()


async def test_a_message_reference_is_kept_once_and_a_second_message_for_its_purpose_is_refused(
    database_url: str,
) -> None:
    """The same reference stored again (its statement run twice, after a connection found closed) is no error; another
    message for the same purpose is refused, and the first is the one kept."""
    store = await Store.open(database_url)
    try:
        incident = _incident("Q-MSG")
        assert await store.create_incident(incident, [], now=NOW)
        assert incident.id is not None
        await store.save_message_ref(incident.id, "card", "C1", "1700000000.000100", now=NOW)
        await store.save_message_ref(incident.id, "card", "C1", "1700000000.000100", now=NOW)
        with pytest.raises(ValueError, match="another card message"):
            await store.save_message_ref(incident.id, "card", "C1", "1700000000.000200", now=NOW)
        assert await store.message_ref(incident.id, "card") == ("C1", "1700000000.000100")
        await store.save_message_ref(incident.id, "findings", "C1", "1700000000.000300", now=NOW)
        assert await store.message_ref(incident.id, "findings") == ("C1", "1700000000.000300")
    finally:
        await store.close()


async def test_an_urgent_sqlite_transaction_goes_before_queued_ones(tmp_path: Path) -> None:
    # storing a webhook (urgent: PagerDuty waits for the answer) must not queue behind the bot's own work
    store = await Store.open(f"sqlite:///{tmp_path / 'order.db'}")
    finished: list[str] = []

    def slow(name: str) -> Callable[[sa.Connection], None]:
        def work(conn: sa.Connection) -> None:
            conn.execute(sa.text("SELECT 1"))
            time.sleep(0.05)
            finished.append(name)

        return work

    try:
        # (an urgent transaction always goes through the store's thread: the loop stays free while it runs)
        busy = asyncio.create_task(store.run(slow("busy"), urgent=True))
        await asyncio.sleep(0.01)  # busy is running on the store's thread ...
        normal = [asyncio.create_task(store.run(slow(f"normal{i}"))) for i in range(3)]
        await asyncio.sleep(0.01)  # ... and normal0..2 are queued behind it
        await store.run(slow("urgent"), urgent=True)
        await asyncio.gather(busy, *normal)
    finally:
        await store.close()
    assert finished == ["busy", "urgent", "normal0", "normal1", "normal2"]


async def test_a_sqlite_schema_upgrade_that_fails_halfway_leaves_nothing_of_itself(tmp_path: Path) -> None:
    """The migrations run in one transaction on SQLite too (its driver runs CREATE and ALTER outside of one unless
    told): one that fails halfway leaves the file as it was, and the next start, the obstacle gone, upgrades it."""
    path = tmp_path / "halfway.db"
    with sqlite3.connect(path) as conn:  # a table that a later migration makes: that migration fails
        conn.execute("CREATE TABLE slo_snapshots (id INTEGER PRIMARY KEY)")

    def tables() -> set[str]:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    with pytest.raises(StoreUnavailable, match="slo_snapshots already exists"):
        await Store.open(f"sqlite:///{path}")
    assert tables() == {"slo_snapshots"}  # not the tables of the migrations before it, nor a version
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("DROP TABLE slo_snapshots")
    store = await Store.open(f"sqlite:///{path}")
    await store.close()
    assert {"incidents", "slo_snapshots", "alembic_version"} <= tables()


async def test_a_sqlite_transaction_that_races_the_close_is_told_the_store_is_closed(tmp_path: Path) -> None:
    """A transaction begun just before the store closes, whose turn it was to let the loop run first (or one from
    another thread's loop), and that reaches the store's thread only after that thread stopped: it is told the
    store is closed, rather than waiting for ever for an answer that nobody would give."""
    backend = SqliteBackend(f"sqlite:///{tmp_path / 'closing.db'}")

    def nothing(conn: sa.Connection) -> None:
        conn.execute(sa.text("SELECT 1"))

    calls = [asyncio.ensure_future(backend.run(nothing)) for _ in range(YIELD_EVERY)]
    await asyncio.sleep(0)  # each has run, but the one whose turn it is to let the loop run first
    closing = threading.Thread(target=asyncio.run, args=(backend.close(),))  # closed meanwhile, from elsewhere
    closing.start()
    closing.join(10)
    assert not closing.is_alive()
    outcomes = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5)
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(refused) == 1 and isinstance(refused[0], RuntimeError) and "closed" in str(refused[0])
    assert outcomes.count(None) == YIELD_EVERY - 1


async def test_a_sqlite_transaction_with_nothing_ahead_of_it_runs_on_its_callers_thread_and_others_wait_their_turn(
    tmp_path: Path,
) -> None:
    """With the connection free and nothing queued, a transaction runs at once on the caller's thread (a hop to the
    store's thread and back cost more than most transactions); with others queued, it goes after them, in arrival
    order; and a coroutine that only runs transactions still lets the loop's other tasks run."""
    store = await Store.open(f"sqlite:///{tmp_path / 'inline.db'}")
    ran_on: list[str] = []
    finished: list[str] = []

    def work(name: str, pause: float = 0.0) -> Callable[[sa.Connection], None]:
        def run(conn: sa.Connection) -> None:
            conn.execute(sa.text("SELECT 1"))
            ran_on.append(threading.current_thread().name)
            time.sleep(pause)
            finished.append(name)

        return run

    try:
        await store.run(work("alone"))
        assert ran_on == [threading.current_thread().name]
        ran_on.clear()
        busy = asyncio.create_task(store.run(work("busy", 0.05), urgent=True))  # on the store's thread
        await asyncio.sleep(0.01)
        waiting = [asyncio.create_task(store.run(work(f"queued{i}"))) for i in range(3)]
        await asyncio.sleep(0)  # queued0..2 are waiting
        await store.run(work("late"))
        await asyncio.gather(busy, *waiting)
        assert finished[1:] == ["busy", "queued0", "queued1", "queued2", "late"]
        assert ran_on == ["sqlite"] * 5  # queued: the store's thread ran them, the late one too

        async with LoopTurns() as turns:
            for _ in range(100):
                await store.run(work("again"))
        assert turns.count >= 100 // 16  # the loop had turns among the 100
    finally:
        await store.close()


async def test_a_proposal_round_trips_and_executes_exactly_once(database_url: str) -> None:
    import dataclasses as dc

    from bot.config.runbooks import load_runbooks
    from bot.domain.approval import DEFAULT_EXPIRY, Status, decide
    from bot.domain.runbooks import match
    from bot.domain.signals import from_text

    store = await Store.open(database_url)
    try:
        incident = Incident(
            source="pagerduty",
            external_id="QP",
            title="t",
            service="checkout-service",
            severity=Severity.P2,
            phase=Phase.ACKNOWLEDGED,
            triggered_at=NOW,
        )
        assert await store.create_incident(incident, [], now=NOW) and incident.id is not None
        [plan, *_] = match(load_runbooks(), from_text("3 pods OOMKilled"), {"service": "checkout-service"})
        stored = await store.add_proposal(incident.id, plan, needed=1, now=NOW, expires_at=NOW + DEFAULT_EXPIRY)
        read = await store.proposal(stored.id)
        assert read is not None and read.plan == plan and read.plan_hash == plan.hash == read.plan.hash

        # two clicks decided from the same read: one is written, the other finds the proposal changed
        first = decide(read, user="U0DANA", shown_hash=plan.hash, approve=True, now=NOW, allowed=frozenset({"U0DANA"}))
        other = dc.replace(first.proposal, approvers=("U0SAM",))
        results = await asyncio.gather(
            store.save_proposal(read, first.proposal, now=NOW), store.save_proposal(read, other, now=NOW)
        )
        assert sorted(results) == [False, True]
        approved = await store.proposal(stored.id)
        assert approved is not None and approved.status is Status.APPROVED and approved.version == 1

        claims = await asyncio.gather(*(store.claim_execution(stored.id, now=NOW) for _ in range(20)))
        assert claims.count(True) == 1  # twenty at once: one execution
        executing = await store.proposal(stored.id)
        assert executing is not None and executing.status is Status.EXECUTING
    finally:
        await store.close()


async def _timer_row(store: Store, timer_id: int) -> sa.Row[Any]:
    return await store.run(lambda c: c.execute(timers.select().where(timers.c.id == timer_id)).one())


async def test_a_timer_is_fired_under_a_lease_that_only_a_lapse_lets_another_holder_take(database_url: str) -> None:
    store = await Store.open(database_url)
    a, b = "replica-a:3000/0123456789ab", "replica-b:3000/ba9876543210"
    try:
        timer = await store.add_timer("expire", NOW, now=NOW, payload={"proposal": 1})
        assert timer is not None
        assert await store.claim_timer(timer, now=NOW, lease=LEASE, holder=a)
        row = await _timer_row(store, timer)
        assert (row.status, row.claimed_by, row.lease_until) == ("firing", a, NOW + LEASE)
        # held: not due, not claimable by another, but still armed for those who ask whether an expiry is set
        later = NOW + timedelta(seconds=29)
        assert await store.due_timers(later) == []
        assert not await store.claim_timer(timer, now=later, lease=LEASE, holder=b)
        assert [t.id for t in await store.pending_timers("expire")] == [timer]
        assert await store.next_timer_due() == NOW + LEASE  # when the lease may lapse: look again then
        # renewed by its holder (only): the first lease's end passes and nobody takes it
        assert await store.renew_timers([timer], now=later, lease=LEASE, holder=b) == 0
        assert await store.renew_timers([timer], now=later, lease=LEASE, holder=a) == 1
        after_first = NOW + timedelta(seconds=45)
        assert await store.due_timers(after_first) == []
        assert not await store.claim_timer(timer, now=after_first, lease=LEASE, holder=b)
        # not renewed again (its holder died): due again, and one other holder takes it
        lapsed = later + LEASE + timedelta(seconds=1)
        assert [t.id for t in await store.due_timers(lapsed)] == [timer]
        assert await store.claim_timer(timer, now=lapsed, lease=LEASE, holder=b)
        assert (await _timer_row(store, timer)).claimed_by == b
        # the first holder, still running, finishes: not marked fired by it (were b to die before it finishes, the
        # timer would be lost), it stays b's
        assert not await store.finish_timer(timer, now=lapsed, holder=a)
        row = await _timer_row(store, timer)
        assert (row.status, row.claimed_by, row.fired_at) == ("firing", b, None)
        # fired by its holder: done for good
        assert await store.finish_timer(timer, now=lapsed, holder=b)
        assert not await store.finish_timer(timer, now=lapsed, holder=b)
        row = await _timer_row(store, timer)
        assert (row.status, row.fired_at) == ("fired", lapsed)
        assert await store.pending_timers("expire") == []
        assert await store.due_timers(lapsed + LEASE * 10) == []
        assert not await store.claim_timer(timer, now=lapsed + LEASE * 10, lease=LEASE, holder=a)
    finally:
        await store.close()


async def test_due_timers_another_replica_is_claiming_are_skipped_not_waited_for(database_url: str) -> None:
    """While another replica's claim holds a due timer (its transaction not ended yet), a claim takes the other due
    timers at once and leaves that one (SKIP LOCKED), rather than waiting for the other replica's transaction; the
    running ones that are due again are told apart (their leases are renewed, not claimed)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serves one process: no other replica claims at the same moment")
    import asyncpg

    store = await Store.open(database_url)
    other = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        first, second, third = [await store.add_timer("expire", NOW, now=NOW) for _ in range(3)]
        assert first is not None and second is not None and third is not None
        claiming = other.transaction()
        await claiming.start()
        await other.execute("SELECT id FROM timers WHERE id = $1 FOR UPDATE", first)
        claimed, late, _ = await asyncio.wait_for(
            store.claim_due_timers(now=NOW, lease=LEASE, holder="a/1", running={third}), 5
        )
        assert [t.id for t in claimed] == [second] and late == [third]
        await claiming.rollback()  # (the other replica's claim came to nothing)
        claimed, late, _ = await store.claim_due_timers(now=NOW, lease=LEASE, holder="a/1", running={third})
        assert [t.id for t in claimed] == [first] and late == [third]
    finally:
        await other.close()
        await store.close()


async def test_a_restarted_instance_voids_only_its_own_earlier_timer_leases(database_url: str) -> None:
    store = await Store.open(database_url)
    mine, now_holder = "host_1:3000", "host_1:3000/newboot00000"
    holders = [f"{mine}/oldboot00000", now_holder, "host_1:30001/otherboot00", "hostX1:3000/lookalike000"]
    try:
        ids = []
        for holder in holders:
            timer = await store.add_timer("verify", NOW, now=NOW)
            assert timer is not None and await store.claim_timer(timer, now=NOW, lease=LEASE, holder=holder)
            ids.append(timer)
        assert await store.void_timer_leases(instance=mine, holder=now_holder) == 1
        statuses = [(await _timer_row(store, t)).status for t in ids]
        assert statuses == ["pending", "firing", "firing", "firing"]  # the `_` of the name matches itself only
        assert [t.id for t in await store.due_timers(NOW)] == ids[:1]
    finally:
        await store.close()


async def test_slo_snapshots_keep_no_data_apart_and_the_newest_is_found(database_url: str) -> None:
    from bot.domain.slo import Counts
    from bot.store.slos import SloState, Snapshot

    store = await Store.open(database_url)
    try:
        first = Snapshot("checkout-availability", "checkout-service", NOW, {"1h": Counts(1, 1000), "5m": None})
        later = Snapshot(
            "checkout-availability", "checkout-service", NOW + timedelta(minutes=1), {"1h": Counts(3, 4000, 2)}
        )
        other = Snapshot("search-availability", "search-service", NOW, {"30d": Counts(0, 0)})
        await store.add_snapshots([first, other])
        await store.add_snapshots([later])
        latest = await store.latest_snapshots()
        assert latest == {"checkout-availability": later, "search-availability": other}
        assert (await store.latest_snapshots(before=NOW))["checkout-availability"] == first  # None kept as no data
        assert await store.snapshots("checkout-availability", since=NOW, until=NOW + timedelta(hours=1)) == [
            first,
            later,
        ]

        none = SloState("checkout-availability", "healthy")
        assert await store.slo_state("checkout-availability") is None
        warned = SloState("checkout-availability", "warning", {"page-fast": {"since": NOW.isoformat()}})
        results = await asyncio.gather(*(store.save_slo_state(none, warned, now=NOW) for _ in range(3)))
        assert sorted(results) == [False, False, True]  # one process announces
        stored = await store.slo_state("checkout-availability")
        assert stored == SloState("checkout-availability", "warning", {"page-fast": {"since": NOW.isoformat()}}, 1)
        assert await store.save_slo_state(stored, SloState(stored.slo, "healthy"), now=NOW)
        assert not await store.save_slo_state(stored, SloState(stored.slo, "exhausted"), now=NOW)  # stale
    finally:
        await store.close()


async def test_old_snapshots_and_fired_timers_are_pruned(database_url: str) -> None:
    from bot.domain.slo import Counts
    from bot.store.slos import Snapshot

    store = await Store.open(database_url)
    try:
        old = Snapshot("s", "svc", NOW - timedelta(days=40), {"1h": Counts(1, 10)})
        new = Snapshot("s", "svc", NOW, {"1h": Counts(2, 10)})
        await store.add_snapshots([old, new])
        assert await store.prune_snapshots(before=NOW - timedelta(days=32)) == 1
        assert await store.snapshots("s", since=NOW - timedelta(days=90), until=NOW) == [new]
        fired = await store.add_timer("tick", NOW - timedelta(days=9), now=NOW - timedelta(days=9))
        pending = await store.add_timer("tick", NOW + timedelta(days=1), now=NOW)
        assert fired is not None and pending is not None
        assert await store.claim_timer(fired, now=NOW - timedelta(days=9), lease=timedelta(seconds=30), holder="h/1")
        assert await store.finish_timer(fired, now=NOW - timedelta(days=9), holder="h/1")
        assert await store.prune_timers(before=NOW - timedelta(days=7)) == 1
        assert [t.id for t in await store.pending_timers("tick")] == [pending]
    finally:
        await store.close()
