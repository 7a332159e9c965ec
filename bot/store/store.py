"""The store: the only module that speaks SQL. Every method is one short transaction.

A transaction is a plain function over a synchronous SQLAlchemy ``Connection``, run by a backend:
- SQLite: the stdlib driver on one dedicated thread, one thread hop per transaction, urgent ones first.
  (Through aiosqlite every statement, cursor and commit is its own hop: 2.0 ms for a one-row read on a 2-core machine
  against 0.6 ms here, and those hops, not SQLite, limited how many pages per second the bot could take.)
  One thread also means one writer, in arrival order, and never "database is locked" between our own transactions.
- PostgreSQL: asyncpg through SQLAlchemy's async engine, the same function under ``AsyncConnection.run_sync``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.domain.approval import Proposal
from bot.domain.approval import Status as ProposalStatus
from bot.domain.diagnosis import Evidence
from bot.domain.incident import Incident, SetupStep
from bot.domain.phase import Phase
from bot.domain.runbooks import Plan, Risk
from bot.domain.severity import Severity
from bot.domain.timeline import GENESIS_HASH, EventKind, TimelineEvent, chain_hash
from bot.store.tables import UTCDateTime, inbound_events, incidents, slack_messages, timeline_events, timers
from bot.store.tables import evidence as evidence_table
from bot.store.tables import proposals as proposals_table

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"

PENDING = "pending"
PROCESSING = "processing"
DONE = "done"
IGNORED = "ignored"
FAILED = "failed"
BEGUN = "begun:"  # a setup step in the incident's `steps` list that was started, not known to be done


@dataclass(frozen=True)
class InboundEvent:
    id: int
    source: str
    delivery_id: str
    event_type: str
    incident_ref: str | None
    body: str
    status: str
    attempts: int
    received_at: datetime
    last_error: str | None = None


@dataclass(frozen=True)
class Timer:
    id: int
    kind: str
    due_at: datetime
    incident_id: int | None
    payload: dict[str, Any]


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: sa.Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


T = TypeVar("T")
Work = Callable[[sa.Connection], T]


class Backend(Protocol):
    async def run(self, work: Work[T], *, urgent: bool = False) -> T: ...

    async def close(self) -> None: ...


_URGENT, _NORMAL, _STOP = 0, 1, 2


class SqliteBackend:
    """SQLite through the stdlib driver on one dedicated thread: each transaction is one hop.

    The thread takes transactions in arrival order, except that urgent ones (storing an inbound webhook, which a
    sender is waiting on) go before any that are queued: the answer to PagerDuty does not wait behind the bot's work.
    """

    def __init__(self, url: str) -> None:
        parsed = make_url(url).set(drivername="sqlite")
        self.engine = sa.create_engine(
            parsed,
            pool_size=1,
            max_overflow=0,
            pool_reset_on_return=None,  # every transaction ends in commit or rollback already
            connect_args={"timeout": 30, "check_same_thread": False},
        )
        sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self._jobs: queue.PriorityQueue[tuple[int, int, _Job | None]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._thread = threading.Thread(target=self._serve, name="sqlite", daemon=True)
        self._thread.start()
        self._closed = False

    async def run(self, work: Work[T], *, urgent: bool = False) -> T:
        if self._closed:  # nobody would ever answer: say so instead of waiting forever
            raise RuntimeError("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((_URGENT if urgent else _NORMAL, next(self._order), _Job(work, future, loop)))
        return await future

    def _serve(self) -> None:
        while True:
            _, _, job = self._jobs.get()
            if job is None:
                self.engine.dispose()
                return
            try:
                with self.engine.begin() as conn:
                    result = job.work(conn)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine, which raises it
                job.loop.call_soon_threadsafe(_settle, job.future, None, exc)
            else:
                job.loop.call_soon_threadsafe(_settle, job.future, result, None)

    async def close(self) -> None:
        self._closed = True
        self._jobs.put((_STOP, next(self._order), None))
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)


@dataclass(frozen=True)
class _Job:
    work: Work[Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller was cancelled; the transaction ran (or failed) all the same
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class AsyncBackend:
    """PostgreSQL (asyncpg) through SQLAlchemy's async engine."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url.replace("postgres://", "postgresql://", 1))
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+asyncpg")
        self.engine: AsyncEngine = create_async_engine(parsed, pool_size=10, max_overflow=10, pool_pre_ping=True)

    async def run(self, work: Work[T], *, urgent: bool = False) -> T:
        async with self.engine.begin() as conn:  # a pool of connections: nothing to jump ahead of
            return await conn.run_sync(work)

    async def close(self) -> None:
        await self.engine.dispose()


def backend_for(url: str) -> Backend:
    if make_url(url).get_backend_name() == "sqlite":
        return SqliteBackend(url)
    return AsyncBackend(url)


class Store:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @classmethod
    def from_url(cls, url: str) -> Store:
        """A store for `url`; nothing is connected until first use."""
        return cls(backend_for(url))

    @classmethod
    async def open(cls, url: str) -> Store:
        """Connect and upgrade the schema in place to the newest revision."""
        store = cls.from_url(url)
        await store.migrate()
        return store

    async def run(self, work: Work[T], *, urgent: bool = False) -> T:
        """Run `work` in one transaction: committed when it returns, rolled back when it raises. An urgent
        transaction (someone is waiting for the answer) goes before queued ones where the backend queues."""
        return await self.backend.run(work, urgent=urgent)

    async def migrate(self) -> None:
        await self.run(_upgrade)

    async def close(self) -> None:
        await self.backend.close()

    async def ping(self) -> None:
        await self.run(lambda conn: conn.execute(sa.text("SELECT 1")))

    # inbound events ------------------------------------------------------------------------------

    async def record_inbound(
        self,
        *,
        source: str,
        delivery_id: str,
        event_type: str,
        body: str,
        received_at: datetime,
        incident_ref: str | None,
        status: str = PENDING,
    ) -> int | None:
        """Store an inbound event; None when (source, delivery_id) was stored before (a duplicate delivery)."""
        try:
            def work(conn: sa.Connection) -> int | None:
                result = conn.execute(
                    inbound_events.insert().values(
                        source=source,
                        delivery_id=delivery_id,
                        event_type=event_type,
                        incident_ref=incident_ref,
                        body=body,
                        status=status,
                        attempts=0,
                        received_at=received_at,
                    )
                )
                pk = result.inserted_primary_key
                return int(pk[0]) if pk else None
            return await self.run(work, urgent=True)
        except IntegrityError:
            return None

    async def claim_inbound(
        self, event_id: int, *, now: datetime, lease: timedelta, holder: str = ""
    ) -> InboundEvent | None:
        """Take an event for processing: pending, or processing whose lease ran out (its worker died)."""
        def work(conn: sa.Connection) -> InboundEvent | None:
            result = conn.execute(
                inbound_events.update()
                .where(inbound_events.c.id == event_id)
                .where(
                    sa.or_(
                        inbound_events.c.status == PENDING,
                        sa.and_(
                            inbound_events.c.status == PROCESSING,
                            inbound_events.c.claimed_at < now - lease,
                        ),
                    )
                )
                .values(status=PROCESSING, claimed_at=now, claimed_by=holder,
                        attempts=inbound_events.c.attempts + 1)
            )
            if result.rowcount != 1:
                return None
            row = (conn.execute(inbound_events.select().where(inbound_events.c.id == event_id))).one()
            return _inbound(row)
        return await self.run(work)

    async def renew_inbound(self, event_ids: list[int], *, now: datetime, holder: str) -> None:
        """Extend the leases `holder` still has on these events (the work on them goes on)."""
        def work(conn: sa.Connection) -> None:
            conn.execute(
                inbound_events.update()
                .where(inbound_events.c.id.in_(event_ids), inbound_events.c.status == PROCESSING,
                       inbound_events.c.claimed_by == holder)
                .values(claimed_at=now)
            )
        if event_ids:
            await self.run(work)

    async def void_leases(self, *, instance: str, holder: str) -> int:
        """Give back the leases an earlier life of this instance held (`<instance>/<another boot>`): its work was
        cut off, so it may be taken up at once rather than when the lease runs out. The number given back."""
        def work(conn: sa.Connection) -> int:
            result = conn.execute(
                inbound_events.update()
                .where(inbound_events.c.status == PROCESSING,
                       inbound_events.c.claimed_by.like(f"{_like_escape(instance)}/%", escape="\\"),
                       inbound_events.c.claimed_by != holder)
                .values(status=PENDING)
            )
            return int(result.rowcount or 0)
        return await self.run(work)

    async def lapsed_inbound(self, *, now: datetime, lease: timedelta) -> list[int]:
        """Events whose worker stopped renewing its lease (another replica died with them in hand)."""
        def work(conn: sa.Connection) -> list[int]:
            rows = conn.execute(
                sa.select(inbound_events.c.id)
                .where(inbound_events.c.status == PROCESSING, inbound_events.c.claimed_at < now - lease)
                .order_by(inbound_events.c.id)
            )
            return [int(r[0]) for r in rows]
        return await self.run(work)

    async def finish_inbound(self, event_id: int, *, status: str, now: datetime, error: str | None = None) -> None:
        def work(conn: sa.Connection) -> None:
            conn.execute(
                inbound_events.update()
                .where(inbound_events.c.id == event_id)
                .values(status=status, processed_at=now if status != PENDING else None, last_error=error)
            )
        return await self.run(work)

    async def fail_inbound(self, event_id: int, *, now: datetime, error: str, notice: str) -> bool:
        """Give up on an event: `failed` with the reason, and in the same transaction a timer of kind `notice`
        (due now) through which a person hears of it. False, and nothing written, if it was not being processed."""
        def work(conn: sa.Connection) -> bool:
            result = conn.execute(
                inbound_events.update()
                .where(inbound_events.c.id == event_id, inbound_events.c.status == PROCESSING)
                .values(status=FAILED, processed_at=now, last_error=error)
            )
            if result.rowcount != 1:
                return False
            _insert_timer(conn, notice, now, now=now, payload={"inbound_id": event_id})
            return True
        return await self.run(work)

    async def inbound(self, event_id: int) -> InboundEvent | None:
        def work(conn: sa.Connection) -> InboundEvent | None:
            row = conn.execute(inbound_events.select().where(inbound_events.c.id == event_id)).one_or_none()
            return _inbound(row) if row is not None else None
        return await self.run(work)

    async def unfinished_inbound(self) -> list[int]:
        """Events stored but not processed (pending, or claimed by a process that is gone)."""
        def work(conn: sa.Connection) -> list[int]:
            rows = conn.execute(
                sa.select(inbound_events.c.id)
                .where(inbound_events.c.status.in_([PENDING, PROCESSING]))
                .order_by(inbound_events.c.id)
            )
            return [int(r[0]) for r in rows]
        return await self.run(work)

    async def inbound_counts(self) -> dict[str, int]:
        def work(conn: sa.Connection) -> dict[str, int]:
            rows = conn.execute(
                sa.select(inbound_events.c.status, sa.func.count()).group_by(inbound_events.c.status)
            )
            return {str(status): int(count) for status, count in rows}
        return await self.run(work)

    # incidents -----------------------------------------------------------------------------------

    async def create_incident(self, incident: Incident, events: list[TimelineEvent], *, now: datetime) -> bool:
        """Insert a new incident with its first events; False (nothing written) if it exists already."""
        try:
            def work(conn: sa.Connection) -> bool:
                result = conn.execute(
                    incidents.insert().values(**_incident_values(incident), created_at=now, updated_at=now)
                )
                incident.id = int(result.inserted_primary_key[0])  # type: ignore[index]
                self._append(conn, incident, events)
                return True
            return await self.run(work)
        except IntegrityError:
            return False

    async def save_incident(self, incident: Incident, events: list[TimelineEvent], *, now: datetime) -> None:
        """Write the incident's fields and append `events` to its timeline, in one transaction."""
        assert incident.id is not None
        def work(conn: sa.Connection) -> None:
            self._save(conn, incident, events, now)
        return await self.run(work)

    def _save(self, conn: sa.Connection, incident: Incident, events: list[TimelineEvent], now: datetime) -> None:
        conn.execute(
            incidents.update().where(incidents.c.id == incident.id).values(**_incident_values(incident), updated_at=now)
        )
        self._append(conn, incident, events)

    async def append_events(self, incident: Incident, events: list[TimelineEvent]) -> None:
        def work(conn: sa.Connection) -> None:
            self._append(conn, incident, events)
        return await self.run(work)

    def _append(self, conn: sa.Connection, incident: Incident, events: list[TimelineEvent]) -> None:
        if not events:
            return
        last = (
            conn.execute(
                sa.select(timeline_events.c.seq, timeline_events.c.hash)
                .where(timeline_events.c.incident_id == incident.id)
                .order_by(timeline_events.c.seq.desc())
                .limit(1)
            )
        ).first()
        seq, prev = (int(last[0]), str(last[1])) if last else (0, GENESIS_HASH)
        rows = []
        for event in events:
            seq += 1
            digest = chain_hash(prev, incident.key, seq, event)
            rows.append(
                {
                    "incident_id": incident.id,
                    "seq": seq,
                    "at": event.at,
                    "kind": str(event.kind),
                    "actor": event.actor,
                    "text": event.text,
                    "data": event.data,
                    "ref": event.ref,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            prev = digest
        conn.execute(timeline_events.insert(), rows)

    async def incident_by_external(self, source: str, external_id: str) -> Incident | None:
        return await self._one_incident(sa.and_(incidents.c.source == source, incidents.c.external_id == external_id))

    async def incident(self, incident_id: int) -> Incident | None:
        return await self._one_incident(incidents.c.id == incident_id)

    async def incident_by_channel(self, channel_id: str) -> Incident | None:
        return await self._one_incident(incidents.c.channel_id == channel_id)

    async def _one_incident(self, where: sa.ColumnElement[bool]) -> Incident | None:
        def work(conn: sa.Connection) -> Incident | None:
            row = (conn.execute(incidents.select().where(where).limit(1))).first()
            return _incident(row) if row else None
        return await self.run(work)

    async def incidents(self, *, open_only: bool = False) -> list[Incident]:
        query = incidents.select().order_by(incidents.c.id)
        if open_only:
            query = query.where(incidents.c.phase.not_in([str(Phase.RESOLVED), str(Phase.POSTMORTEM)]))
        def work(conn: sa.Connection) -> list[Incident]:
            return [_incident(r) for r in conn.execute(query)]
        return await self.run(work)

    async def timeline(self, incident_id: int) -> list[TimelineEvent]:
        def work(conn: sa.Connection) -> list[TimelineEvent]:
            rows = conn.execute(
                timeline_events.select()
                .where(timeline_events.c.incident_id == incident_id)
                .order_by(timeline_events.c.seq)
            )
            return [
                TimelineEvent(
                    at=r.at,
                    kind=EventKind(r.kind),
                    actor=r.actor,
                    text=r.text,
                    data=dict(r.data or {}),
                    ref=r.ref,
                    seq=r.seq,
                    prev_hash=r.prev_hash,
                    hash=r.hash,
                )
                for r in rows
            ]
        return await self.run(work)

    async def has_ref(self, incident_id: int, ref: str) -> bool:
        def work(conn: sa.Connection) -> bool:
            row = (
                conn.execute(
                    sa.select(timeline_events.c.id)
                    .where(timeline_events.c.incident_id == incident_id, timeline_events.c.ref == ref)
                    .limit(1)
                )
            ).first()
            return row is not None
        return await self.run(work)

    # evidence ------------------------------------------------------------------------------------

    async def add_evidence(self, incident_id: int, item: Evidence, *, data: list[dict[str, Any]], asked_at: datetime,
                           context_id: str | None, task_id: str | None) -> None:
        def work(conn: sa.Connection) -> None:
            conn.execute(
                evidence_table.insert().values(
                    incident_id=incident_id,
                    agent=item.agent,
                    role=str(item.role),
                    question=item.question,
                    outcome=str(item.outcome),
                    answer=item.answer,
                    signals=dataclasses.asdict(item.signals),
                    data=data,
                    reason=item.reason,
                    duration_ms=item.duration_ms,
                    context_id=context_id,
                    task_id=task_id,
                    asked_at=asked_at,
                )
            )

        await self.run(work)

    async def evidence(self, incident_id: int) -> list[dict[str, Any]]:
        """Every answer (or its absence) recorded for an incident, oldest first, as stored."""

        def work(conn: sa.Connection) -> list[dict[str, Any]]:
            rows = conn.execute(
                evidence_table.select().where(evidence_table.c.incident_id == incident_id).order_by(evidence_table.c.id)
            )
            return [dict(r._mapping) for r in rows]

        return await self.run(work)

    async def agent_context(self, incident_id: int, agent: str) -> str | None:
        """The A2A context id already used with `agent` for this incident: one context per incident per agent."""

        def work(conn: sa.Connection) -> str | None:
            row = conn.execute(
                sa.select(evidence_table.c.context_id)
                .where(evidence_table.c.incident_id == incident_id, evidence_table.c.agent == agent,
                       evidence_table.c.context_id.is_not(None))
                .order_by(evidence_table.c.id)
                .limit(1)
            ).first()
            return str(row[0]) if row else None

        return await self.run(work)

    # proposals -----------------------------------------------------------------------------------

    async def add_proposal(
        self, incident_id: int, plan: Plan, *, needed: int, now: datetime, expires_at: datetime
    ) -> Proposal:
        def work(conn: sa.Connection) -> int:
            result = conn.execute(
                proposals_table.insert().values(
                    incident_id=incident_id, runbook=plan.runbook, plan=_plan_json(plan), plan_hash=plan.hash,
                    status=str(ProposalStatus.PROPOSED), needed=needed, approvers=[], rejected_by=None, reason="",
                    version=0, created_at=now, expires_at=expires_at, updated_at=now,
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

        proposal_id = await self.run(work)
        return Proposal(proposal_id, incident_id, plan, plan.hash, ProposalStatus.PROPOSED, now, expires_at, needed)

    async def discard_proposal(self, proposal_id: int) -> None:
        """Remove a proposal that was never shown (its message could not be posted) and never decided on."""

        def work(conn: sa.Connection) -> None:
            conn.execute(proposals_table.delete().where(
                proposals_table.c.id == proposal_id, proposals_table.c.version == 0,
                proposals_table.c.status == str(ProposalStatus.PROPOSED)))

        await self.run(work)

    async def proposal(self, proposal_id: int) -> Proposal | None:
        def work(conn: sa.Connection) -> Proposal | None:
            row = conn.execute(proposals_table.select().where(proposals_table.c.id == proposal_id)).first()
            return _proposal(row) if row else None

        return await self.run(work)

    async def save_proposal(self, before: Proposal, after: Proposal, *, now: datetime,
                            incident: Incident | None = None, events: list[TimelineEvent] | None = None) -> bool:
        """Write a decision only if nobody changed the proposal since `before` was read: of two clicks at once, one
        counts and the other is told so. `events` go on `incident`'s timeline in the same transaction."""

        def work(conn: sa.Connection) -> bool:
            result = conn.execute(
                proposals_table.update()
                .where(proposals_table.c.id == before.id, proposals_table.c.version == before.version)
                .values(status=str(after.status), approvers=list(after.approvers), rejected_by=after.rejected_by,
                        reason=after.reason, outcome=after.outcome, version=before.version + 1, updated_at=now)
            )
            if result.rowcount != 1:
                return False
            if incident is not None:  # the phase and its events with the state change they describe
                self._save(conn, incident, events or [], now)
            return True

        return await self.run(work, urgent=True)

    async def claim_execution(self, proposal_id: int, *, now: datetime, incident: Incident | None = None,
                              events: list[TimelineEvent] | None = None) -> bool:
        """Start carrying out an approved proposal: true for exactly one caller, ever. `events` are written with it."""

        def work(conn: sa.Connection) -> bool:
            result = conn.execute(
                proposals_table.update()
                .where(proposals_table.c.id == proposal_id,
                       proposals_table.c.status == str(ProposalStatus.APPROVED))
                .values(status=str(ProposalStatus.EXECUTING), version=proposals_table.c.version + 1, updated_at=now)
            )
            if result.rowcount != 1:
                return False
            if incident is not None:  # the phase and its events with the state change they describe
                self._save(conn, incident, events or [], now)
            return True

        return await self.run(work)

    async def proposals(
        self, incident_id: int | None = None, *, statuses: tuple[ProposalStatus, ...] = ()
    ) -> list[Proposal]:
        """Proposals of one incident (or of all), oldest first, optionally only those in some statuses."""

        def work(conn: sa.Connection) -> list[Proposal]:
            query = proposals_table.select().order_by(proposals_table.c.id)
            if incident_id is not None:
                query = query.where(proposals_table.c.incident_id == incident_id)
            if statuses:
                query = query.where(proposals_table.c.status.in_([str(s) for s in statuses]))
            return [_proposal(row) for row in conn.execute(query)]

        return await self.run(work)

    async def set_execution_task(self, proposal_id: int, *, agent: str, task_id: str | None,
                                 context_id: str | None) -> None:
        """Remember which agent's task carries out the proposal, so a restart can look at that task again."""

        def work(conn: sa.Connection) -> None:
            conn.execute(proposals_table.update().where(proposals_table.c.id == proposal_id)
                         .values(agent=agent, task_id=task_id, context_id=context_id))

        await self.run(work)

    async def finish_execution(self, proposal_id: int, *, ok: bool, outcome: str, now: datetime,
                               incident: Incident | None = None, events: list[TimelineEvent] | None = None) -> bool:
        """An execution ends once: executing -> executed or failed. False when it had ended already."""

        def work(conn: sa.Connection) -> bool:
            result = conn.execute(
                proposals_table.update()
                .where(proposals_table.c.id == proposal_id,
                       proposals_table.c.status == str(ProposalStatus.EXECUTING))
                .values(status=str(ProposalStatus.EXECUTED if ok else ProposalStatus.FAILED), outcome=outcome,
                        finished_at=now, version=proposals_table.c.version + 1, updated_at=now)
            )
            if result.rowcount != 1:
                return False
            if incident is not None:  # the phase and its events with the state change they describe
                self._save(conn, incident, events or [], now)
            return True

        return await self.run(work, urgent=True)

    # Slack message references -------------------------------------------------------------------

    async def message_ref(self, incident_id: int, purpose: str) -> tuple[str, str] | None:
        def work(conn: sa.Connection) -> tuple[str, str] | None:
            row = (
                conn.execute(
                    sa.select(slack_messages.c.channel, slack_messages.c.ts).where(
                        slack_messages.c.incident_id == incident_id, slack_messages.c.purpose == purpose
                    )
                )
            ).first()
            return (str(row[0]), str(row[1])) if row else None
        return await self.run(work)

    async def save_message_ref(self, incident_id: int, purpose: str, channel: str, ts: str, *, now: datetime) -> None:
        def work(conn: sa.Connection) -> None:
            conn.execute(
                slack_messages.insert().values(
                    incident_id=incident_id, purpose=purpose, channel=channel, ts=ts, created_at=now
                )
            )
        return await self.run(work)

    # timers ------------------------------------------------------------------------------------

    async def add_timer(
        self,
        kind: str,
        due_at: datetime,
        *,
        now: datetime,
        incident_id: int | None = None,
        payload: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> int | None:
        """A timer due at `due_at`; its id. With `key`: None, and nothing written, when a timer with that key was
        added before (by this process or another)."""
        def work(conn: sa.Connection) -> int:
            return _insert_timer(conn, kind, due_at, now=now, incident_id=incident_id, payload=payload, key=key)
        try:
            return await self.run(work)
        except IntegrityError:
            if key is None:
                raise
            return None

    async def due_timers(self, now: datetime, limit: int = 100) -> list[Timer]:
        def work(conn: sa.Connection) -> list[Timer]:
            rows = conn.execute(
                timers.select()
                .where(timers.c.status == PENDING, timers.c.due_at <= now)
                .order_by(timers.c.due_at)
                .limit(limit)
            )
            return [Timer(r.id, r.kind, r.due_at, r.incident_id, dict(r.payload or {})) for r in rows]
        return await self.run(work)

    async def pending_timers(self, kind: str) -> list[Timer]:
        def work(conn: sa.Connection) -> list[Timer]:
            rows = conn.execute(timers.select().where(timers.c.status == PENDING, timers.c.kind == kind))
            return [Timer(r.id, r.kind, r.due_at, r.incident_id, dict(r.payload or {})) for r in rows]
        return await self.run(work)

    async def next_timer_due(self) -> datetime | None:
        def work(conn: sa.Connection) -> datetime | None:
            value = (
                conn.execute(sa.select(sa.func.min(timers.c.due_at)).where(timers.c.status == PENDING))
            ).scalar()
            if value is None:
                return None
            return UTCDateTime().process_result_value(value, conn.dialect)
        return await self.run(work)

    async def claim_timer(self, timer_id: int, *, now: datetime) -> bool:
        """Fire a timer exactly once: a conditional update that only one caller can win."""
        def work(conn: sa.Connection) -> bool:
            result = conn.execute(
                timers.update()
                .where(timers.c.id == timer_id, timers.c.status == PENDING)
                .values(status="fired", fired_at=now)
            )
            return result.rowcount == 1
        return await self.run(work)


def _incident_values(incident: Incident) -> dict[str, Any]:
    return {
        "source": incident.source,
        "external_id": incident.external_id,
        "number": incident.number,
        "title": incident.title,
        "service": incident.service,
        "severity": str(incident.severity),
        "phase": str(incident.phase),
        "urgency": incident.urgency,
        "html_url": incident.html_url,
        "escalation_policy_id": incident.escalation_policy_id,
        "channel_id": incident.channel_id,
        "channel_name": incident.channel_name,
        "commander": incident.commander,
        "steps": sorted(str(s) for s in incident.steps)
        + sorted(f"{BEGUN}{s}" for s in incident.begun - incident.steps),
        "resolution": incident.resolution,
        "triggered_at": incident.triggered_at,
        "acknowledged_at": incident.acknowledged_at,
        "resolved_at": incident.resolved_at,
    }


def _incident(row: Any) -> Incident:
    return Incident(
        id=row.id,
        source=row.source,
        external_id=row.external_id,
        number=row.number,
        title=row.title,
        service=row.service,
        severity=Severity(row.severity),
        phase=Phase(row.phase),
        urgency=row.urgency,
        html_url=row.html_url,
        escalation_policy_id=row.escalation_policy_id,
        channel_id=row.channel_id,
        channel_name=row.channel_name,
        commander=row.commander,
        steps={SetupStep(s) for s in (row.steps or []) if not s.startswith(BEGUN)},
        begun={SetupStep(s.removeprefix(BEGUN)) for s in (row.steps or []) if s.startswith(BEGUN)},
        resolution=row.resolution,
        triggered_at=row.triggered_at,
        acknowledged_at=row.acknowledged_at,
        resolved_at=row.resolved_at,
    )


def _plan_json(plan: Plan) -> dict[str, Any]:
    data = dataclasses.asdict(plan)
    data["risk"] = str(plan.risk)
    data["reasons"] = list(plan.reasons)
    return data


def _proposal(row: Any) -> Proposal:
    p = dict(row.plan)
    plan = Plan(p["runbook"], p["action"], p["kind"], dict(p["target"]), dict(p["parameters"]), Risk(p["risk"]),
                bool(p["reversible"]), p["expected"], bool(p["manual"]), tuple(p.get("reasons") or ()))
    return Proposal(row.id, row.incident_id, plan, row.plan_hash, ProposalStatus(row.status), row.created_at,
                    row.expires_at, row.needed, tuple(row.approvers or ()), row.rejected_by, row.reason, row.version,
                    row.agent, row.task_id, row.context_id, row.outcome or "")


def _insert_timer(
    conn: sa.Connection,
    kind: str,
    due_at: datetime,
    *,
    now: datetime,
    incident_id: int | None = None,
    payload: dict[str, Any] | None = None,
    key: str | None = None,
) -> int:
    result = conn.execute(
        timers.insert().values(kind=kind, due_at=due_at, incident_id=incident_id, payload=payload or {},
                               status=PENDING, created_at=now, key=key)
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _inbound(row: Any) -> InboundEvent:
    return InboundEvent(
        id=row.id,
        source=row.source,
        delivery_id=row.delivery_id,
        event_type=row.event_type,
        incident_ref=row.incident_ref,
        body=row.body,
        status=row.status,
        attempts=row.attempts,
        received_at=row.received_at,
        last_error=row.last_error,
    )
