"""Timers: rows with a due time, so that a restarted process finds what was due while it was down. A due timer is
claimed under a lease (pending -> firing, `claimed_by` `<instance>/<boot>`, `lease_until`) by one caller only; the
holder renews the lease while the handler runs and marks the timer fired when it returns or raises. A firing timer
whose lease lapsed (its holder died) is due again, and the leases an earlier life of an instance held are given back
when it starts again. A timer may carry a key, unique among timers: one row for one recurring firing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.store.backend import Transactions
from bot.store.rows import FIRED, FIRING, PENDING, Timer, _insert_timer, _like_escape, _timer
from bot.store.tables import UTCDateTime, timers


def _due(now: datetime | sa.BindParameter[datetime]) -> sa.ColumnElement[bool]:
    """Pending and due, or being fired by a holder whose lease lapsed."""
    return sa.or_(
        sa.and_(timers.c.status == PENDING, timers.c.due_at <= now),
        sa.and_(timers.c.status == FIRING, timers.c.lease_until < now),
    )


# the statements the scheduler runs every time it looks and for every timer, built once (see incidents.py): the
# parameters named here are all that change
_NOW = sa.bindparam("now", type_=UTCDateTime())
_DUE = timers.select().where(_due(_NOW)).order_by(timers.c.due_at, timers.c.id).limit(sa.bindparam("limit"))
_CLAIM = (
    timers.update()
    .where(
        timers.c.id == sa.bindparam("timer_id"),
        sa.or_(timers.c.status == PENDING, sa.and_(timers.c.status == FIRING, timers.c.lease_until < _NOW)),
    )
    .values(status=FIRING, claimed_by=sa.bindparam("holder"), lease_until=sa.bindparam("until", type_=UTCDateTime()))
)
_FINISH = (
    timers.update()
    .where(
        timers.c.id == sa.bindparam("timer_id"),
        timers.c.status == FIRING,
        timers.c.claimed_by == sa.bindparam("holder"),
    )
    .values(status=FIRED, fired_at=sa.bindparam("at", type_=UTCDateTime()), lease_until=None)
)
_RUNNING: sa.BindParameter[list[int]] = sa.bindparam("running", expanding=True)
# the due timers, claimed in one statement, earliest first. On PostgreSQL those another replica is claiming at that
# moment are skipped (SKIP LOCKED), not waited for: both replicas read the same due timers and updated them one by
# one, each update waiting for the other replica's transaction to end, while that one went through its own list
_CLAIM_DUE = (
    timers.update()
    .where(
        timers.c.id.in_(
            sa.select(timers.c.id)
            .where(_due(_NOW), timers.c.id.not_in(_RUNNING))
            .order_by(timers.c.due_at, timers.c.id)
            .limit(sa.bindparam("limit"))
            .with_for_update(skip_locked=True)
        ),
        _due(_NOW),
    )
    .values(status=FIRING, claimed_by=sa.bindparam("holder"), lease_until=sa.bindparam("until", type_=UTCDateTime()))
    .returning(*timers.c)
)
_LATE = sa.select(timers.c.id).where(_due(_NOW), timers.c.id.in_(_RUNNING))
_NEXT_PENDING = sa.select(sa.func.min(timers.c.due_at)).where(timers.c.status == PENDING)
_NEXT_LEASE = sa.select(sa.func.min(timers.c.lease_until)).where(timers.c.status == FIRING)


class TimerRows(Transactions):
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
        """Timers to fire now: pending and due, or firing under a lease that lapsed (its holder stopped renewing)."""

        return await self.run(lambda conn: _due_timers(conn, now, limit))

    async def claim_due_timers(
        self, *, now: datetime, lease: timedelta, holder: str, running: set[int], limit: int = 100
    ) -> tuple[list[Timer], list[int], datetime | None]:
        """In one transaction, what the scheduler's loop needs each time it looks: the due timers it claimed for
        `holder` (another process may have won some), the due ones among `running` (their handlers run here and a
        renewal came late: not fired again), and when the next timer is due after these."""

        def work(conn: sa.Connection) -> tuple[list[Timer], list[int], datetime | None]:
            ids = sorted(running)
            params = {"now": now, "running": ids, "limit": limit, "holder": holder, "until": now + lease}
            claimed = sorted((_timer(r) for r in conn.execute(_CLAIM_DUE, params)), key=lambda t: (t.due_at, t.id))
            pending, lease_ends = _next_times(conn)
            still_due = (pending is not None and pending <= now) or (lease_ends is not None and lease_ends < now)
            # (what is due and was not claimed: mostly nothing, and then running ones due again need no look)
            late = sorted(conn.execute(_LATE, {"now": now, "running": ids}).scalars()) if ids and still_due else []
            return claimed, late, min((t for t in (pending, lease_ends) if t is not None), default=None)

        return await self.run(work, urgent=True)  # (a lease: see bot/store/backend.py URGENT_CONNECTIONS)

    async def pending_timers(self, kind: str) -> list[Timer]:
        """The timers of `kind` that are armed: pending, or being fired (not known to have finished)."""

        def work(conn: sa.Connection) -> list[Timer]:
            rows = conn.execute(timers.select().where(timers.c.status.in_([PENDING, FIRING]), timers.c.kind == kind))
            return [_timer(r) for r in rows]

        return await self.run(work)

    async def due_timer_count(self, now: datetime) -> int:
        """How many timers are due and not fired yet (work waiting for a worker)."""

        def work(conn: sa.Connection) -> int:
            return int(conn.execute(sa.select(sa.func.count()).select_from(timers).where(_due(now))).scalar() or 0)

        return await self.run(work)

    async def next_timer_due(self) -> datetime | None:
        """When a timer is next due: the earliest pending due time, or lease of a firing timer that may lapse."""

        return await self.run(_next_timer_due)

    async def claim_timer(self, timer_id: int, *, now: datetime, lease: timedelta, holder: str) -> bool:
        """Take a timer to fire it, under a lease for `holder` until now + `lease`: a conditional update that only
        one caller can win, while the timer is pending or its last holder's lease lapsed."""

        return await self.run(lambda conn: _claim_timer(conn, timer_id, now=now, lease=lease, holder=holder))

    async def renew_timers(self, timer_ids: list[int], *, now: datetime, lease: timedelta, holder: str) -> int:
        """Extend the leases `holder` still has on these timers (their handlers still run); how many it still had."""

        def work(conn: sa.Connection) -> int:
            result = conn.execute(
                timers.update()
                .where(timers.c.id.in_(timer_ids), timers.c.status == FIRING, timers.c.claimed_by == holder)
                .values(lease_until=now + lease)
            )
            return int(result.rowcount or 0)

        # (a lease: urgent, see bot/store/backend.py URGENT_CONNECTIONS)
        return await self.run(work, urgent=True) if timer_ids else 0

    async def finish_timer(self, timer_id: int, *, now: datetime, holder: str) -> bool:
        """The timer's handler returned or raised in `holder`: fired. False when `holder` no longer holds it: its
        lease lapsed and another took it over while it ran (that one marks it fired, or, stopped first, leaves it
        due again when its own lease lapses), or it was marked fired already."""

        def work(conn: sa.Connection) -> bool:
            return conn.execute(_FINISH, {"timer_id": timer_id, "at": now, "holder": holder}).rowcount == 1

        return await self.run(work, one_statement=True)  # (run twice, it finds the timer fired: False)

    async def postpone_timer(self, timer_id: int, *, until: datetime, holder: str) -> bool:
        """Give back a timer `holder` claimed and will not fire, due again at `until` (for whoever can fire it)."""

        def work(conn: sa.Connection) -> bool:
            result = conn.execute(
                timers.update()
                .where(timers.c.id == timer_id, timers.c.status == FIRING, timers.c.claimed_by == holder)
                .values(status=PENDING, due_at=until, claimed_by=None, lease_until=None)
            )
            return result.rowcount == 1

        return await self.run(work)

    async def void_timer_leases(self, *, instance: str, holder: str) -> int:
        """Give back the timers an earlier life of this instance was firing (`<instance>/<another boot>`): their
        handlers were cut off, so they are due again at once rather than when the lease runs out. How many."""

        def work(conn: sa.Connection) -> int:
            result = conn.execute(
                timers.update()
                .where(
                    timers.c.status == FIRING,
                    timers.c.claimed_by.like(f"{_like_escape(instance)}/%", escape="\\"),
                    timers.c.claimed_by != holder,
                )
                .values(status=PENDING, claimed_by=None, lease_until=None)
            )
            return int(result.rowcount or 0)

        return await self.run(work)

    async def prune_timers(self, *, before: datetime) -> int:
        """Forget the timers fired before `before` (a recurring kind leaves one row a firing); how many."""

        def work(conn: sa.Connection) -> int:
            result = conn.execute(timers.delete().where(timers.c.status == FIRED, timers.c.fired_at < before))
            return int(result.rowcount or 0)

        return await self.run(work)


def _due_timers(conn: sa.Connection, now: datetime, limit: int) -> list[Timer]:
    return [_timer(r) for r in conn.execute(_DUE, {"now": now, "limit": limit})]


def _claim_timer(conn: sa.Connection, timer_id: int, *, now: datetime, lease: timedelta, holder: str) -> bool:
    params = {"timer_id": timer_id, "now": now, "holder": holder, "until": now + lease}
    return conn.execute(_CLAIM, params).rowcount == 1


def _next_times(conn: sa.Connection) -> tuple[datetime | None, datetime | None]:
    """The earliest due time of a pending timer, and the earliest end of a firing one's lease."""
    pending, lease_ends = (conn.execute(query).scalar() for query in (_NEXT_PENDING, _NEXT_LEASE))
    convert = UTCDateTime().process_result_value
    return (
        None if pending is None else convert(pending, conn.dialect),
        None if lease_ends is None else convert(lease_ends, conn.dialect),
    )


def _next_timer_due(conn: sa.Connection) -> datetime | None:
    return min((t for t in _next_times(conn) if t is not None), default=None)
