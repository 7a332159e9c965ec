"""The store: the only module that speaks SQL. Every method is one short transaction."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.domain.incident import Incident, SetupStep
from bot.domain.phase import Phase
from bot.domain.severity import Severity
from bot.domain.timeline import GENESIS_HASH, EventKind, TimelineEvent, chain_hash
from bot.store.tables import UTCDateTime, inbound_events, incidents, slack_messages, timeline_events, timers

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"

PENDING = "pending"
PROCESSING = "processing"
DONE = "done"
IGNORED = "ignored"
FAILED = "failed"


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

    def json(self) -> Any:
        return json.loads(self.body)


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


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    def from_url(cls, url: str) -> Store:
        """A store for `url`; nothing is connected until first use."""
        return cls(_engine(url))

    @classmethod
    async def open(cls, url: str) -> Store:
        """Connect and upgrade the schema in place to the newest revision."""
        store = cls.from_url(url)
        await store.migrate()
        return store

    async def migrate(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade)

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.begin() as conn:
            yield conn

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

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
            async with self._tx() as conn:
                result = await conn.execute(
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
        except IntegrityError:
            return None

    async def claim_inbound(self, event_id: int, *, now: datetime, lease: timedelta) -> InboundEvent | None:
        """Take an event for processing: pending, or processing whose lease ran out (its worker died)."""
        async with self._tx() as conn:
            result = await conn.execute(
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
                .values(status=PROCESSING, claimed_at=now, attempts=inbound_events.c.attempts + 1)
            )
            if result.rowcount != 1:
                return None
            row = (await conn.execute(inbound_events.select().where(inbound_events.c.id == event_id))).one()
            return _inbound(row)

    async def finish_inbound(self, event_id: int, *, status: str, now: datetime, error: str | None = None) -> None:
        async with self._tx() as conn:
            await conn.execute(
                inbound_events.update()
                .where(inbound_events.c.id == event_id)
                .values(status=status, processed_at=now if status != PENDING else None, last_error=error)
            )

    async def unfinished_inbound(self) -> list[int]:
        """Events stored but not processed (pending, or claimed by a process that is gone)."""
        async with self._tx() as conn:
            rows = await conn.execute(
                sa.select(inbound_events.c.id)
                .where(inbound_events.c.status.in_([PENDING, PROCESSING]))
                .order_by(inbound_events.c.id)
            )
            return [int(r[0]) for r in rows]

    async def inbound_counts(self) -> dict[str, int]:
        async with self._tx() as conn:
            rows = await conn.execute(
                sa.select(inbound_events.c.status, sa.func.count()).group_by(inbound_events.c.status)
            )
            return {str(status): int(count) for status, count in rows}

    # incidents -----------------------------------------------------------------------------------

    async def create_incident(self, incident: Incident, events: list[TimelineEvent], *, now: datetime) -> bool:
        """Insert a new incident with its first events; False (nothing written) if it exists already."""
        try:
            async with self._tx() as conn:
                result = await conn.execute(
                    incidents.insert().values(**_incident_values(incident), created_at=now, updated_at=now)
                )
                incident.id = int(result.inserted_primary_key[0])  # type: ignore[index]
                await self._append(conn, incident, events)
                return True
        except IntegrityError:
            return False

    async def save_incident(self, incident: Incident, events: list[TimelineEvent], *, now: datetime) -> None:
        """Write the incident's fields and append `events` to its timeline, in one transaction."""
        assert incident.id is not None
        async with self._tx() as conn:
            await conn.execute(
                incidents.update()
                .where(incidents.c.id == incident.id)
                .values(**_incident_values(incident), updated_at=now)
            )
            await self._append(conn, incident, events)

    async def append_events(self, incident: Incident, events: list[TimelineEvent]) -> None:
        async with self._tx() as conn:
            await self._append(conn, incident, events)

    async def _append(self, conn: AsyncConnection, incident: Incident, events: list[TimelineEvent]) -> None:
        if not events:
            return
        last = (
            await conn.execute(
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
        await conn.execute(timeline_events.insert(), rows)

    async def incident_by_external(self, source: str, external_id: str) -> Incident | None:
        return await self._one_incident(sa.and_(incidents.c.source == source, incidents.c.external_id == external_id))

    async def incident(self, incident_id: int) -> Incident | None:
        return await self._one_incident(incidents.c.id == incident_id)

    async def incident_by_channel(self, channel_id: str) -> Incident | None:
        return await self._one_incident(incidents.c.channel_id == channel_id)

    async def _one_incident(self, where: sa.ColumnElement[bool]) -> Incident | None:
        async with self._tx() as conn:
            row = (await conn.execute(incidents.select().where(where).limit(1))).first()
            return _incident(row) if row else None

    async def incidents(self, *, open_only: bool = False) -> list[Incident]:
        query = incidents.select().order_by(incidents.c.id)
        if open_only:
            query = query.where(incidents.c.phase.not_in([str(Phase.RESOLVED), str(Phase.POSTMORTEM)]))
        async with self._tx() as conn:
            return [_incident(r) for r in await conn.execute(query)]

    async def timeline(self, incident_id: int) -> list[TimelineEvent]:
        async with self._tx() as conn:
            rows = await conn.execute(
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

    async def has_ref(self, incident_id: int, ref: str) -> bool:
        async with self._tx() as conn:
            row = (
                await conn.execute(
                    sa.select(timeline_events.c.id)
                    .where(timeline_events.c.incident_id == incident_id, timeline_events.c.ref == ref)
                    .limit(1)
                )
            ).first()
            return row is not None

    # Slack message references -------------------------------------------------------------------

    async def message_ref(self, incident_id: int, purpose: str) -> tuple[str, str] | None:
        async with self._tx() as conn:
            row = (
                await conn.execute(
                    sa.select(slack_messages.c.channel, slack_messages.c.ts).where(
                        slack_messages.c.incident_id == incident_id, slack_messages.c.purpose == purpose
                    )
                )
            ).first()
            return (str(row[0]), str(row[1])) if row else None

    async def save_message_ref(self, incident_id: int, purpose: str, channel: str, ts: str, *, now: datetime) -> None:
        async with self._tx() as conn:
            await conn.execute(
                slack_messages.insert().values(
                    incident_id=incident_id, purpose=purpose, channel=channel, ts=ts, created_at=now
                )
            )

    # timers ------------------------------------------------------------------------------------

    async def add_timer(
        self,
        kind: str,
        due_at: datetime,
        *,
        now: datetime,
        incident_id: int | None = None,
        payload: dict[str, Any] | None = None,
    ) -> int:
        async with self._tx() as conn:
            result = await conn.execute(
                timers.insert().values(
                    kind=kind,
                    due_at=due_at,
                    incident_id=incident_id,
                    payload=payload or {},
                    status=PENDING,
                    created_at=now,
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    async def due_timers(self, now: datetime, limit: int = 100) -> list[Timer]:
        async with self._tx() as conn:
            rows = await conn.execute(
                timers.select()
                .where(timers.c.status == PENDING, timers.c.due_at <= now)
                .order_by(timers.c.due_at)
                .limit(limit)
            )
            return [Timer(r.id, r.kind, r.due_at, r.incident_id, dict(r.payload or {})) for r in rows]

    async def next_timer_due(self) -> datetime | None:
        async with self._tx() as conn:
            value = (
                await conn.execute(sa.select(sa.func.min(timers.c.due_at)).where(timers.c.status == PENDING))
            ).scalar()
            if value is None:
                return None
            return UTCDateTime().process_result_value(value, self.engine.dialect)

    async def claim_timer(self, timer_id: int, *, now: datetime) -> bool:
        """Fire a timer exactly once: a conditional update that only one caller can win."""
        async with self._tx() as conn:
            result = await conn.execute(
                timers.update()
                .where(timers.c.id == timer_id, timers.c.status == PENDING)
                .values(status="fired", fired_at=now)
            )
            return result.rowcount == 1


def _engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        # One connection: SQLite allows one writer, and queueing in the pool beats "database is locked".
        engine = create_async_engine(url, pool_size=1, max_overflow=0, connect_args={"timeout": 30})

        @sa.event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


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
        "steps": sorted(str(s) for s in incident.steps),
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
        steps={SetupStep(s) for s in (row.steps or [])},
        resolution=row.resolution,
        triggered_at=row.triggered_at,
        acknowledged_at=row.acknowledged_at,
        resolved_at=row.resolved_at,
    )


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
    )
