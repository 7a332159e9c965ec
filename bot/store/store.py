"""The store: the only package that speaks SQL. Every method is one short transaction (see `backend` for how one
runs on SQLite and on PostgreSQL); the methods are grouped by table, one module each (`inbound`, `incidents`,
`remediation`, `timers`, `slos`, `locks`...), and `Store` is all of them over one backend."""

from __future__ import annotations

import sqlalchemy as sa

from bot.store.backend import (
    MIGRATIONS,
    AsyncBackend,
    Backend,
    SqliteBackend,
    Work,
    _upgrade,
    alembic_config,
    backend_for,
)
from bot.store.inbound import InboundRows
from bot.store.incidents import IncidentRows
from bot.store.locks import LockRows
from bot.store.offers import OfferRows
from bot.store.postmortems import PostmortemRows
from bot.store.public_posts import PublicPostRows
from bot.store.remediation import RemediationRows
from bot.store.rows import (
    BEGUN,
    DONE,
    FAILED,
    FIRED,
    FIRING,
    IGNORED,
    PENDING,
    PROCESSING,
    InboundEvent,
    Timer,
)
from bot.store.slos import SloRows
from bot.store.timers import TimerRows

__all__ = [
    "BEGUN",
    "DONE",
    "FAILED",
    "FIRED",
    "FIRING",
    "IGNORED",
    "MIGRATIONS",
    "PENDING",
    "PROCESSING",
    "AsyncBackend",
    "Backend",
    "InboundEvent",
    "SqliteBackend",
    "Store",
    "Timer",
    "Work",
    "alembic_config",
    "backend_for",
]


class Store(
    InboundRows,
    IncidentRows,
    RemediationRows,
    TimerRows,
    SloRows,
    OfferRows,
    PostmortemRows,
    PublicPostRows,
    LockRows,
):
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

    @property
    def shared(self) -> bool:
        """True where several processes may serve from this database at once (PostgreSQL; SQLite serves one)."""
        return not isinstance(self.backend, SqliteBackend)

    async def migrate(self) -> None:
        await self.run(_upgrade)

    async def leave_loop(self) -> None:
        """An event loop other than the first that used the store (the front door's) is done with it."""
        await self.backend.leave_loop()

    async def close(self) -> None:
        await self.backend.close()

    async def ping(self) -> None:
        await self.run(lambda conn: conn.execute(sa.text("SELECT 1")))
