"""Locks held in the database, for several replicas on one database: a row per thing being worked on (`key`), with
who holds it (`<instance>/<boot>`) and until when. Taken when there is no row, or its lease lapsed, or it is the
taker's own; renewed while held; deleted when let go; an earlier life's rows voided when the instance starts again.
On PostgreSQL a lock let go is said on RELEASES (NOTIFY, with its key), so that a replica waiting for it can look
again at once rather than at its next poll."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from bot.store.backend import AsyncBackend, Transactions
from bot.store.rows import _like_escape
from bot.store.tables import UTCDateTime, locks

_VALUES = {
    "key": sa.bindparam("key"),
    "holder": sa.bindparam("holder"),
    "until": sa.bindparam("until", type_=UTCDateTime()),
}


_LAPSED_OR_OURS = sa.or_(
    locks.c.until < sa.bindparam("now", type_=UTCDateTime()), locks.c.holder == sa.bindparam("holder")
)
_PG_INSERT = postgresql.insert(locks).values(_VALUES)
_SQLITE_INSERT = sqlite.insert(locks).values(_VALUES)
# built once (see incidents.py): INSERT, or take over a row whose lease lapsed (or that is ours); RETURNING a row
# says that it was taken
_TAKE: dict[str, sa.Executable] = {
    "postgresql": _PG_INSERT.on_conflict_do_update(
        index_elements=[locks.c.key],
        set_={"holder": _PG_INSERT.excluded.holder, "until": _PG_INSERT.excluded.until},
        where=_LAPSED_OR_OURS,
    ).returning(locks.c.key),
    "sqlite": _SQLITE_INSERT.on_conflict_do_update(
        index_elements=[locks.c.key],
        set_={"holder": _SQLITE_INSERT.excluded.holder, "until": _SQLITE_INSERT.excluded.until},
        where=_LAPSED_OR_OURS,
    ).returning(locks.c.key),
}
_RELEASE = locks.delete().where(locks.c.key == sa.bindparam("key"), locks.c.holder == sa.bindparam("holder"))
RELEASES = "sre_agent_lock_released"  # the channel a let-go key is said on (PostgreSQL)
# PostgreSQL: the row deleted and, if it was, its key said, in one statement (heard when it commits)
_GONE = _RELEASE.returning(locks.c.key).cte("gone")
_RELEASE_AND_SAY = sa.select(sa.func.pg_notify(RELEASES, _GONE.c.key)).select_from(_GONE)


class LockRows(Transactions):
    async def take_lock(self, key: str, *, holder: str, now: datetime, until: datetime) -> bool:
        """Hold `key` until `until`: True when it was free (no row, or a lease that lapsed by `now`, or ours)."""

        def work(conn: sa.Connection) -> bool:
            params = {"key": key, "holder": holder, "now": now, "until": until}
            return conn.execute(_TAKE[conn.dialect.name], params).first() is not None

        return await self.run(work, one_statement=True)  # (run twice, it finds the row its own: True again)

    async def renew_locks(self, keys: list[str], *, holder: str, until: datetime) -> set[str]:
        """Extend the leases `holder` holds on `keys`; the keys it still held (a lapsed one may have been taken)."""
        if not keys:
            return set()

        def work(conn: sa.Connection) -> set[str]:
            result = conn.execute(
                locks.update()
                .where(locks.c.key.in_(keys), locks.c.holder == holder)
                .values(until=until)
                .returning(locks.c.key)
            )
            return {row.key for row in result}

        return await self.run(work, urgent=True)  # (a lease: see bot/store/backend.py URGENT_CONNECTIONS)

    async def release_lock(self, key: str, *, holder: str) -> None:
        def work(conn: sa.Connection) -> None:
            params = {"key": key, "holder": holder}
            conn.execute(_RELEASE_AND_SAY if conn.dialect.name == "postgresql" else _RELEASE, params)

        await self.run(work, one_statement=True)  # (run twice, it finds the row gone: nothing more is said)

    async def hear_releases(self, heard: Callable[[str], None], lost: Callable[[], None]) -> bool:
        """Have each key let go (by any process) said to `heard`, on this loop; `lost` when that stops. False where
        the database cannot say it (SQLite: one process, whose own locks wait on each other in memory)."""
        if not isinstance(self.backend, AsyncBackend):
            return False
        await self.backend.listen(RELEASES, heard, lost)
        return True

    async def void_locks(self, *, instance: str, holder: str) -> int:
        """Let go of what an earlier life of this instance held (`<instance>/<another boot>`): it was cut off, and
        its work is taken up again now rather than when the leases lapse. How many."""

        def work(conn: sa.Connection) -> int:
            result = conn.execute(
                locks.delete().where(
                    locks.c.holder.like(f"{_like_escape(instance)}/%", escape="\\"), locks.c.holder != holder
                )
            )
            return int(result.rowcount or 0)

        return await self.run(work)
