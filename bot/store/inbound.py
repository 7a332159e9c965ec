"""The inbound queue: webhooks stored before they are answered (unique per source and delivery id, so a repeated
delivery is stored once), claimed under a lease that the worker renews (`<instance>/<boot>` holds it), given back
when the same instance starts again or taken up when the lease lapses, and finished once: done, ignored or failed
(with a notice timer, in the same transaction, through which a person hears of it)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from bot.store.backend import Alike, Transactions
from bot.store.rows import FAILED, PENDING, PROCESSING, InboundEvent, _inbound, _insert_timer, _like_escape
from bot.store.tables import UTCDateTime, inbound_events

# a delivery stored before is left as it is (a duplicate): no row, and no error that would undo the transaction.
# On PostgreSQL the statement is run again when its connection was found closed (it is sent alone: see
# record_inbound), and the first run may have been committed with its answer lost: a row of this very statement (the
# same holder, received at the same moment) is then its own, and its id is answered, not "a duplicate" (which would
# leave the event claimed by this process and unprocessed until its lease lapsed)
_AGAIN = postgresql.insert(inbound_events).excluded
_INSERT_NEW = {
    "postgresql": postgresql.insert(inbound_events)
    .on_conflict_do_update(
        index_elements=[inbound_events.c.source, inbound_events.c.delivery_id],
        set_={"claimed_by": _AGAIN.claimed_by},
        where=sa.and_(
            inbound_events.c.claimed_by == _AGAIN.claimed_by,
            inbound_events.c.received_at == _AGAIN.received_at,
        ),
    )
    .returning(inbound_events.c.id),
    "sqlite": sqlite.insert(inbound_events).on_conflict_do_nothing(
        index_elements=[inbound_events.c.source, inbound_events.c.delivery_id]
    ),
}

# several rows stored in one statement (see Alike): which of them are new is read back as one value, not a row each
_NEW_BETWEEN = sa.select(
    sa.func.json_group_array(
        sa.func.json_array(inbound_events.c.source, inbound_events.c.delivery_id, inbound_events.c.id)
    )
).where(inbound_events.c.id.between(sa.bindparam("first"), sa.bindparam("last")))

# the statements run for every event, built once (see incidents.py): only their parameters change
_ONE = inbound_events.select().where(inbound_events.c.id == sa.bindparam("event_id"))
_CLAIM = (
    inbound_events.update()
    .where(inbound_events.c.id == sa.bindparam("event_id"))
    .where(
        sa.or_(
            inbound_events.c.status == PENDING,
            sa.and_(inbound_events.c.status == PROCESSING, inbound_events.c.claimed_at < sa.bindparam("lapsed")),
        )
    )
    .values(
        status=PROCESSING,
        claimed_at=sa.bindparam("now", type_=UTCDateTime()),
        claimed_by=sa.bindparam("holder"),
        attempts=inbound_events.c.attempts + 1,
    )
)
_FINISH = inbound_events.update().where(inbound_events.c.id == sa.bindparam("event_id"))  # SET: the parameters'
_FINISH_HELD = _FINISH.where(inbound_events.c.claimed_by == sa.bindparam("holder"))


class InboundRows(Transactions):
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
        holder: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> int | None:
        """Store an inbound event; None when (source, delivery_id) was stored before (a duplicate delivery).
        `holder`: stored claimed by it already (processing, first attempt), so that the worker about to process it
        needs no claim of its own; its lease runs from when the row is written, `clock()` then (else from
        `received_at`: a row written a lease after it was received, the store being slow, was taken up at once by
        another replica while its holder went on with it)."""
        row = {
            "source": source,
            "delivery_id": delivery_id,
            "event_type": event_type,
            "incident_ref": incident_ref,
            "body": body,
            "status": status if holder is None else PROCESSING,
            "attempts": 0 if holder is None else 1,
            "received_at": received_at,
            "claimed_at": None if holder is None else clock or received_at,
            "claimed_by": holder,
        }

        def work(conn: sa.Connection) -> int | None:
            result = conn.execute(_INSERT_NEW[conn.dialect.name], _stamped(row))
            if conn.dialect.name == "postgresql":
                return result.scalar_one_or_none()
            if result.rowcount != 1:
                return None
            pk = result.inserted_primary_key
            return int(pk[0]) if pk else None

        try:
            # (one statement: a second run of it, after its connection was found closed, finds the row stored by
            # the first, if it was, and answers its id: see _INSERT_NEW)
            return await self.run(Alike(_record_together, row, work), urgent=True, one_statement=True)
        except IntegrityError:
            return None

    async def claim_inbound(
        self, event_id: int, *, now: datetime, lease: timedelta, holder: str = ""
    ) -> InboundEvent | None:
        """Take an event for processing: pending, or processing whose lease ran out (its worker died)."""

        def work(conn: sa.Connection) -> InboundEvent | None:
            params = {"event_id": event_id, "now": now, "lapsed": now - lease, "holder": holder}
            if conn.execute(_CLAIM, params).rowcount != 1:
                return None
            return _inbound(conn.execute(_ONE, {"event_id": event_id}).one())

        return await self.run(work)

    async def renew_inbound(self, event_ids: list[int], *, now: datetime, holder: str) -> None:
        """Extend the leases `holder` still has on these events (the work on them goes on)."""

        def work(conn: sa.Connection) -> None:
            conn.execute(
                inbound_events.update()
                .where(
                    inbound_events.c.id.in_(event_ids),
                    inbound_events.c.status == PROCESSING,
                    inbound_events.c.claimed_by == holder,
                )
                .values(claimed_at=now)
            )

        if event_ids:
            await self.run(work, urgent=True)  # (a lease: see bot/store/backend.py URGENT_CONNECTIONS)

    async def void_leases(self, *, instance: str, holder: str) -> int:
        """Give back the leases an earlier life of this instance held (`<instance>/<another boot>`): its work was
        cut off, so it may be taken up at once rather than when the lease runs out. The number given back."""

        def work(conn: sa.Connection) -> int:
            result = conn.execute(
                inbound_events.update()
                .where(
                    inbound_events.c.status == PROCESSING,
                    inbound_events.c.claimed_by.like(f"{_like_escape(instance)}/%", escape="\\"),
                    inbound_events.c.claimed_by != holder,
                )
                .values(status=PENDING)
            )
            return int(result.rowcount or 0)

        return await self.run(work)

    async def lapsed_inbound(
        self, *, now: datetime, lease: timedelta, retry_within: timedelta = timedelta(0)
    ) -> list[int]:
        """Events whose worker stopped renewing its lease (another replica died with them in hand), and events stored
        a lease ago that nobody ever claimed (the replica that stored one died before it began, or its webhook was
        answered 503 while the store was slow and the row landed after), and events waiting for a retry that did not
        come within `retry_within` of their last attempt (the retry's timer could not be stored, or its claim
        failed: the database was away just then)."""

        def work(conn: sa.Connection) -> list[int]:
            rows = conn.execute(
                sa.select(inbound_events.c.id)
                .where(
                    sa.or_(
                        sa.and_(inbound_events.c.status == PROCESSING, inbound_events.c.claimed_at < now - lease),
                        sa.and_(
                            inbound_events.c.status == PENDING,
                            inbound_events.c.attempts == 0,
                            inbound_events.c.received_at < now - lease,
                        ),
                        sa.and_(
                            inbound_events.c.status == PENDING,
                            inbound_events.c.attempts > 0,
                            inbound_events.c.claimed_at < now - lease - retry_within,
                        ),
                    )
                )
                .order_by(inbound_events.c.id)
            )
            return [int(r[0]) for r in rows]

        return await self.run(work)

    async def finish_inbound(
        self, event_id: int, *, status: str, now: datetime, error: str | None = None, holder: str | None = None
    ) -> None:
        """The event done, ignored, or back to pending (to be tried again). `holder`: only while it holds the event
        (a worker whose lease lapsed, and another took the event up, finishes nothing: the other's outcome stands)."""

        def work(conn: sa.Connection) -> None:
            processed_at = now if status != PENDING else None
            params = {"event_id": event_id, "status": status, "processed_at": processed_at, "last_error": error}
            if holder is None:
                conn.execute(_FINISH, params)
            else:
                conn.execute(_FINISH_HELD, {**params, "holder": holder})

        return await self.run(work, one_statement=True)  # (run twice, the row ends the same)

    async def fail_inbound(
        self, event_id: int, *, now: datetime, error: str, notice: str, holder: str | None = None
    ) -> bool:
        """Give up on an event: `failed` with the reason, and in the same transaction a timer of kind `notice`
        (due now) through which a person hears of it. False, and nothing written, if it was not being processed
        (by `holder`, if given: as `finish_inbound`)."""

        def work(conn: sa.Connection) -> bool:
            held = [inbound_events.c.claimed_by == holder] if holder is not None else []
            result = conn.execute(
                inbound_events.update()
                .where(inbound_events.c.id == event_id, inbound_events.c.status == PROCESSING, *held)
                .values(status=FAILED, processed_at=now, last_error=error)
            )
            if result.rowcount != 1:
                return False
            _insert_timer(conn, notice, now, now=now, payload={"inbound_id": event_id})
            return True

        return await self.run(work)

    async def inbound(self, event_id: int) -> InboundEvent | None:
        def work(conn: sa.Connection) -> InboundEvent | None:
            row = conn.execute(_ONE, {"event_id": event_id}).one_or_none()
            return _inbound(row) if row is not None else None

        return await self.run(work)

    async def inbound_between(
        self, source: str, event_type: str, *, since: datetime, until: datetime
    ) -> list[InboundEvent]:
        """The events of one source and type received in [since, until], oldest first (what a person asked, for
        a recording of the incident it led to)."""

        def work(conn: sa.Connection) -> list[InboundEvent]:
            c = inbound_events.c
            rows = conn.execute(
                inbound_events.select()
                .where(c.source == source, c.event_type == event_type, c.received_at >= since, c.received_at <= until)
                .order_by(c.received_at, c.id)
            )
            return [_inbound(r) for r in rows]

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
            rows = conn.execute(sa.select(inbound_events.c.status, sa.func.count()).group_by(inbound_events.c.status))
            return {str(status): int(count) for status, count in rows}

        return await self.run(work)


def _record_together(conn: sa.Connection, rows: list[dict[str, Any]]) -> list[int | None]:
    """record_inbound's rows in one INSERT on SQLite: each one's id, or None for a delivery stored before, or
    earlier among `rows`. The rows it inserted took the ids up to the last one, one after the other (the statement
    holds the database's one write lock); a count that does not agree fails the transaction, and each row is then
    stored alone. The statement is the driver's (SQLAlchemy took tens of milliseconds to compile one of 64 rows);
    the values go through the columns' own conversions, as they would through SQLAlchemy."""
    rows = [_stamped(row) for row in rows]
    names = tuple(rows[0])  # (record_inbound makes every row with the same columns)
    convert = [(name, inbound_events.c[name].type.bind_processor(conn.dialect)) for name in names]
    values = [to(row[name]) if to else row[name] for row in rows for name, to in convert]
    inserted = conn.exec_driver_sql(_insert_rows(names, len(rows)), tuple(values))
    count, last = inserted.rowcount, inserted.lastrowid
    if count == 0:
        return [None] * len(rows)
    between = {"first": last - count + 1, "last": last}
    new = {
        (source, delivery): int(pk)
        for source, delivery, pk in json.loads(conn.execute(_NEW_BETWEEN, between).scalar_one())
    }
    if len(new) != count:
        raise RuntimeError(f"{count} rows stored, {len(new)} found between ids {between['first']} and {last}")
    return [new.pop((row["source"], row["delivery_id"]), None) for row in rows]


def _stamped(row: dict[str, Any]) -> dict[str, Any]:
    """The row as it is written now: a lease that runs from the writing (`claimed_at` given as a clock) starts here."""
    claimed_at = row["claimed_at"]
    return {**row, "claimed_at": claimed_at()} if callable(claimed_at) else row


@functools.cache
def _insert_rows(names: tuple[str, ...], count: int) -> str:
    row = "(" + ", ".join("?" * len(names)) + ")"
    return (
        f"INSERT INTO inbound_events ({', '.join(names)}) VALUES {', '.join([row] * count)}"
        " ON CONFLICT (source, delivery_id) DO NOTHING"
    )
