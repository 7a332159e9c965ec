"""Postmortems: the newest draft of each incident's (its Markdown, its data and a digest of it), and the version
that was shared in the incident's channel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.store.backend import Transactions
from bot.store.tables import postmortems

__all__ = ["PostmortemRows", "StoredPostmortem"]


@dataclass(frozen=True)
class StoredPostmortem:
    incident_id: int
    digest: str
    markdown: str
    data: dict[str, Any]
    written_at: datetime
    posted_digest: str | None = None
    file_id: str | None = None
    permalink: str | None = None
    sharing_digest: str | None = None  # a version whose file was issued to be shared (maybe shared, maybe not)
    sharing_file_id: str | None = None


class PostmortemRows(Transactions):
    async def save_postmortem(
        self, incident_id: int, *, digest: str, markdown: str, data: dict[str, Any], now: datetime
    ) -> None:
        """Keep the newest draft (what was shared stays on record apart)."""

        def work(conn: sa.Connection) -> None:
            values = {"digest": digest, "markdown": markdown, "data": data, "written_at": now}
            updated = conn.execute(
                postmortems.update().where(postmortems.c.incident_id == incident_id).values(**values)
            ).rowcount
            if not updated:
                conn.execute(postmortems.insert().values(incident_id=incident_id, **values))

        await self.run(work)

    async def postmortem(self, incident_id: int) -> StoredPostmortem | None:
        def work(conn: sa.Connection) -> StoredPostmortem | None:
            row = conn.execute(postmortems.select().where(postmortems.c.incident_id == incident_id)).first()
            if row is None:
                return None
            return StoredPostmortem(
                row.incident_id,
                row.digest,
                row.markdown,
                dict(row.data),
                row.written_at,
                row.posted_digest,
                row.file_id,
                row.permalink,
                row.sharing_digest,
                row.sharing_file_id,
            )

        return await self.run(work)

    async def postmortem_sharing(self, incident_id: int, *, digest: str, file_id: str) -> None:
        """This version's file is about to be shared (kept before it is: after a crash, ask Slack whether it was)."""

        def work(conn: sa.Connection) -> None:
            conn.execute(
                postmortems.update()
                .where(postmortems.c.incident_id == incident_id)
                .values(sharing_digest=digest, sharing_file_id=file_id)
            )

        await self.run(work)

    async def postmortem_posted(self, incident_id: int, *, digest: str, file_id: str, permalink: str | None) -> None:
        def work(conn: sa.Connection) -> None:
            conn.execute(
                postmortems.update()
                .where(postmortems.c.incident_id == incident_id)
                .values(posted_digest=digest, file_id=file_id, permalink=permalink)
            )

        await self.run(work)
