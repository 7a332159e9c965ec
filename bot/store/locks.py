"""Locks held in the database, for several replicas on one database: a row per thing being worked on (`key`), with
who holds it (`<instance>/<boot>`) and until when. Taken when there is no row, or its lease lapsed, or it is the
taker's own; renewed while held; deleted when let go; an earlier life's rows voided when the instance starts again."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from bot.store.backend import Transactions
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


class LockRows(Transactions):
    async def take_lock(self, key: str, *, holder: str, now: datetime, until: datetime) -> bool:
        """Hold `key` until `until`: True when it was free (no row, or a lease that lapsed by `now`, or ours)."""

        def work(conn: sa.Connection) -> bool:
            params = {"key": key, "holder": holder, "now": now, "until": until}
            return conn.execute(_TAKE[conn.dialect.name], params).first() is not None

        return await self.run(work)

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

        return await self.run(work)

    async def release_lock(self, key: str, *, holder: str) -> None:
        await self.run(lambda conn: conn.execute(_RELEASE, {"key": key, "holder": holder}))

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
