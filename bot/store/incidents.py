"""Incidents, their timelines and their Slack messages. An incident row is written with the events that describe
its change, in one transaction; the timeline is append-only and hash-chained (each event's hash covers the one
before it), so that tampering shows. Message references name the Slack messages the bot keeps up to date."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from bot.domain.incident import Incident
from bot.domain.phase import Phase
from bot.domain.timeline import GENESIS_HASH, EventKind, TimelineEvent, chain_hash
from bot.store.backend import Transactions
from bot.store.rows import _incident, _incident_values
from bot.store.tables import incidents, slack_messages, timeline_events

# the statements run for every incident, built once: a statement built per call costs more than SQLite's own work
# (each value coerced and the statement's cache key computed again); here only the parameters change
_BY_ID = incidents.select().where(incidents.c.id == sa.bindparam("incident_id")).limit(1)
_BY_EXTERNAL = (
    incidents.select()
    .where(incidents.c.source == sa.bindparam("source"), incidents.c.external_id == sa.bindparam("external_id"))
    .limit(1)
)
_BY_CHANNEL = incidents.select().where(incidents.c.channel_id == sa.bindparam("channel_id")).limit(1)
_UPDATE = incidents.update().where(incidents.c.id == sa.bindparam("incident_id"))  # SET: the parameters' columns
_LOCK_ROW = sa.select(incidents.c.id).where(incidents.c.id == sa.bindparam("incident_id")).with_for_update()
_WITH_REF = (
    sa.select(timeline_events.c.id)
    .where(timeline_events.c.incident_id == sa.bindparam("incident_id"), timeline_events.c.ref == sa.bindparam("ref"))
    .limit(1)
)
_MESSAGE_REF = sa.select(slack_messages.c.channel, slack_messages.c.ts).where(
    slack_messages.c.incident_id == sa.bindparam("incident_id"), slack_messages.c.purpose == sa.bindparam("purpose")
)
_INSERT_EVENTS = timeline_events.insert()
_INSERT_INCIDENT = incidents.insert()


def _keep_message(insert: Any) -> Any:
    """A message reference stored, or found stored already the same (a second run of the statement): its id; none
    when the incident has another message for that purpose."""
    statement = insert(slack_messages)
    return statement.on_conflict_do_update(
        index_elements=[slack_messages.c.incident_id, slack_messages.c.purpose],
        set_={"ts": statement.excluded.ts},
        where=sa.and_(
            slack_messages.c.channel == statement.excluded.channel, slack_messages.c.ts == statement.excluded.ts
        ),
    ).returning(slack_messages.c.id)


_KEEP_MESSAGE = {"postgresql": _keep_message(postgresql.insert), "sqlite": _keep_message(sqlite.insert)}
_LAST_EVENT = (
    sa.select(timeline_events.c.seq, timeline_events.c.hash)
    .where(timeline_events.c.incident_id == sa.bindparam("incident_id"))
    .order_by(timeline_events.c.seq.desc())
    .limit(1)
)


class IncidentRows(Transactions):
    async def create_incident(self, incident: Incident, events: list[TimelineEvent], *, now: datetime) -> bool:
        """Insert a new incident with its first events; False (nothing written) if it exists already."""
        try:

            def work(conn: sa.Connection) -> bool:
                result = conn.execute(
                    _INSERT_INCIDENT, {**_incident_values(incident), "created_at": now, "updated_at": now}
                )
                incident.id = int(result.inserted_primary_key[0])  # type: ignore[index]
                _append_events(conn, incident, events, locked=True, new=True)  # (nobody else sees the row yet)
                return True

            return await self.run(work)
        except IntegrityError:
            return False

    async def save_incident(self, incident: Incident, events: list[TimelineEvent], *, now: datetime) -> None:
        """Write the incident's fields and append `events` to its timeline, in one transaction."""
        assert incident.id is not None

        def work(conn: sa.Connection) -> None:
            _write_incident(conn, incident, events, now)

        return await self.run(work)

    async def append_events(self, incident: Incident, events: list[TimelineEvent]) -> None:
        def work(conn: sa.Connection) -> None:
            _append_events(conn, incident, events)

        return await self.run(work)

    async def incident_by_external(self, source: str, external_id: str) -> Incident | None:
        return await self._one_incident(_BY_EXTERNAL, {"source": source, "external_id": external_id})

    async def incident(self, incident_id: int) -> Incident | None:
        return await self._one_incident(_BY_ID, {"incident_id": incident_id})

    async def incident_by_channel(self, channel_id: str) -> Incident | None:
        return await self._one_incident(_BY_CHANNEL, {"channel_id": channel_id})

    async def _one_incident(self, query: sa.Select[Any], params: dict[str, Any]) -> Incident | None:
        def work(conn: sa.Connection) -> Incident | None:
            row = (conn.execute(query, params)).first()
            return _incident(row) if row else None

        return await self.run(work, one_statement=True)

    async def incidents(self, *, open_only: bool = False) -> list[Incident]:
        query = incidents.select().order_by(incidents.c.id)
        if open_only:
            query = query.where(incidents.c.phase.not_in([str(Phase.RESOLVED), str(Phase.POSTMORTEM)]))

        def work(conn: sa.Connection) -> list[Incident]:
            return [_incident(r) for r in conn.execute(query)]

        return await self.run(work)

    async def incident_named(self, label: str) -> Incident | None:
        """An incident by its label (INC-4211: its pager number, else its id) or its id; by number first."""
        wanted = label.strip().upper().removeprefix("INC-")
        found = [i for i in await self.incidents() if str(i.number) == wanted or str(i.id) == wanted]
        by_number = [i for i in found if str(i.number) == wanted]
        chosen = by_number or found
        return chosen[0] if chosen else None

    async def incident_counts(self) -> dict[str, int]:
        """How many incidents are in each phase."""

        def work(conn: sa.Connection) -> dict[str, int]:
            rows = conn.execute(sa.select(incidents.c.phase, sa.func.count()).group_by(incidents.c.phase))
            return {str(phase): int(count) for phase, count in rows}

        return await self.run(work)

    async def timeline(self, incident_id: int) -> list[TimelineEvent]:
        def work(conn: sa.Connection) -> list[TimelineEvent]:
            rows = conn.execute(
                timeline_events.select()
                .where(timeline_events.c.incident_id == incident_id)
                .order_by(timeline_events.c.seq)
            )
            return [_event(r) for r in rows]

        return await self.run(work)

    async def events_of_kind(self, kind: EventKind, *, since: datetime) -> list[tuple[int, TimelineEvent]]:
        """Every incident's events of one kind written since `since`, oldest first, with the incident's id."""

        def work(conn: sa.Connection) -> list[tuple[int, TimelineEvent]]:
            rows = conn.execute(
                timeline_events.select()
                .where(timeline_events.c.kind == str(kind), timeline_events.c.at >= since)
                .order_by(timeline_events.c.at, timeline_events.c.incident_id, timeline_events.c.seq)
            )
            return [(int(r.incident_id), _event(r)) for r in rows]

        return await self.run(work)

    async def has_ref(self, incident_id: int, ref: str) -> bool:
        def work(conn: sa.Connection) -> bool:
            return conn.execute(_WITH_REF, {"incident_id": incident_id, "ref": ref}).first() is not None

        return await self.run(work, one_statement=True)

    # Slack message references -------------------------------------------------------------------

    async def message_ref(self, incident_id: int, purpose: str) -> tuple[str, str] | None:
        def work(conn: sa.Connection) -> tuple[str, str] | None:
            row = conn.execute(_MESSAGE_REF, {"incident_id": incident_id, "purpose": purpose}).first()
            return (str(row[0]), str(row[1])) if row else None

        return await self.run(work, one_statement=True)

    async def save_message_ref(self, incident_id: int, purpose: str, channel: str, ts: str, *, now: datetime) -> None:
        """Remember the incident's message for `purpose`. A ValueError when it has another one for it already."""

        def work(conn: sa.Connection) -> None:
            row = {"incident_id": incident_id, "purpose": purpose, "channel": channel, "ts": ts, "created_at": now}
            if conn.execute(_KEEP_MESSAGE[conn.dialect.name], row).first() is None:
                raise ValueError(f"incident {incident_id} has another {purpose} message than {channel} {ts} already")

        # (one statement: run twice, it finds the same row and says so)
        return await self.run(work, one_statement=True)


def _write_incident(conn: sa.Connection, incident: Incident, events: list[TimelineEvent], now: datetime) -> None:
    """The incident's fields, and `events` appended to its timeline, inside a caller's transaction."""
    conn.execute(_UPDATE, {"incident_id": incident.id, **_incident_values(incident), "updated_at": now})
    _append_events(conn, incident, events, locked=True)  # the UPDATE holds the incident's row


def _append_events(
    conn: sa.Connection, incident: Incident, events: list[TimelineEvent], *, locked: bool = False, new: bool = False
) -> None:
    """`events` appended to the incident's timeline, each chained to the hash of the one before. Two transactions
    appending to one incident at once (its opening, and a status page post proposed meanwhile) take turns on the
    incident's row, so that the second reads the first's last event (PostgreSQL; SQLite writes one at a time).
    `locked`: this transaction holds the row already (it wrote it); `new`: it inserted the row (no event yet)."""
    if not events:
        return
    if not locked and conn.dialect.name == "postgresql":
        conn.execute(_LOCK_ROW, {"incident_id": incident.id})
    last = None if new else conn.execute(_LAST_EVENT, {"incident_id": incident.id}).first()
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
    conn.execute(_INSERT_EVENTS, rows)


def _event(r: Any) -> TimelineEvent:
    return TimelineEvent(
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
