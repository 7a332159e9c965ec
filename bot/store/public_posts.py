"""Public posts (bot.domain.status_page): one a phase of an incident (a unique key), changed only by a conditional
update on their version, so that of two clicks one counts and a public incident is created once. A post's timeline
events are written in the same transaction as the post."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.domain.incident import Incident
from bot.domain.status_page import PostStatus, PublicPhase, PublicPost
from bot.domain.timeline import TimelineEvent
from bot.store.backend import Transactions
from bot.store.incidents import _append_events
from bot.store.tables import public_posts

__all__ = ["PublicPostRows"]

# the statements run for every incident's post, built once (see incidents.py)
_OF_INCIDENT = (
    public_posts.select().where(public_posts.c.incident_id == sa.bindparam("incident_id")).order_by(public_posts.c.id)
)
_VERSIONS = sa.select(public_posts.c.id, public_posts.c.version).where(
    public_posts.c.incident_id == sa.bindparam("incident_id")
)
_INSERT = public_posts.insert()


class _Changed(Exception):
    """A post to be superseded was decided meanwhile: the whole proposal is rolled back, to be decided again."""


def _post(row: Any) -> PublicPost:
    return PublicPost(
        row.id,
        row.incident_id,
        PublicPhase(row.phase),
        row.name,
        row.body,
        tuple((str(c), str(s)) for c, s in row.components),
        bool(row.updates),
        row.text_hash,
        PostStatus(row.status),
        row.created_at,
        row.decided_by,
        row.edited_by,
        row.reason,
        row.page_incident,
        row.shortlink,
        row.version,
    )


def _changes(before: PublicPost, after: PublicPost, now: datetime) -> sa.Update:
    return (
        public_posts.update()
        .where(public_posts.c.id == before.id, public_posts.c.version == before.version)
        .values(
            name=after.name,
            body=after.body,
            text_hash=after.text_hash,
            status=str(after.status),
            decided_by=after.decided_by,
            edited_by=after.edited_by,
            reason=after.reason,
            page_incident=after.page_incident,
            shortlink=after.shortlink,
            version=before.version + 1,
            updated_at=now,
        )
    )


class PublicPostRows(Transactions):
    async def add_public_post(
        self,
        incident: Incident,
        draft: PublicPost,
        *,
        superseded: Sequence[tuple[PublicPost, PublicPost]],
        seen: Sequence[PublicPost],
        events: list[TimelineEvent],
        now: datetime,
    ) -> PublicPost | None:
        """Store `draft` (its id is given here, and to the events that name a post), the posts it supersedes and the
        events, in one transaction, if the incident's posts are still those `seen` (as they were read). None when
        they are not, or its phase has a post already: read them again."""

        def work(conn: sa.Connection) -> PublicPost:
            now_there = conn.execute(_VERSIONS, {"incident_id": draft.incident_id}).all()
            if {(int(i), int(v)) for i, v in now_there} != {(p.id, p.version) for p in seen}:
                raise _Changed
            for before, after in superseded:
                if conn.execute(_changes(before, after, now)).rowcount != 1:
                    raise _Changed
            result = conn.execute(
                _INSERT,
                {
                    "incident_id": draft.incident_id,
                    "phase": str(draft.phase),
                    "name": draft.name,
                    "body": draft.body,
                    "components": [list(c) for c in draft.components],
                    "updates": draft.updates,
                    "text_hash": draft.text_hash,
                    "status": str(draft.status),
                    "reason": "",
                    "version": 0,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            post_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            _append_events(conn, incident, [_with_post(e, post_id) for e in events])
            return replace(draft, id=post_id, reason="", version=0, created_at=now)

        try:
            return await self.run(work)
        except (IntegrityError, _Changed):
            return None

    async def public_post(self, post_id: int) -> PublicPost | None:
        def work(conn: sa.Connection) -> PublicPost | None:
            row = conn.execute(public_posts.select().where(public_posts.c.id == post_id)).first()
            return _post(row) if row else None

        return await self.run(work, one_statement=True)

    async def public_posts(
        self, incident_id: int | None = None, *, statuses: Sequence[PostStatus] = ()
    ) -> list[PublicPost]:
        """Posts, oldest first: an incident's (or every incident's), all or those in `statuses`."""

        def work(conn: sa.Connection) -> list[PublicPost]:
            if incident_id is not None and not statuses:  # (an incident's posts, for every post proposed)
                return [_post(row) for row in conn.execute(_OF_INCIDENT, {"incident_id": incident_id})]
            query = public_posts.select().order_by(public_posts.c.id)
            if incident_id is not None:
                query = query.where(public_posts.c.incident_id == incident_id)
            if statuses:
                query = query.where(public_posts.c.status.in_([str(s) for s in statuses]))
            return [_post(row) for row in conn.execute(query)]

        return await self.run(work, one_statement=True)

    async def save_public_post(
        self,
        before: PublicPost,
        after: PublicPost,
        *,
        now: datetime,
        incident: Incident | None = None,
        events: list[TimelineEvent] | None = None,
    ) -> PublicPost | None:
        """Write a change (and the incident's `events`) only if nobody changed the post since `before` was read:
        the post as stored then (its new version), or None."""

        def work(conn: sa.Connection) -> bool:
            if conn.execute(_changes(before, after, now)).rowcount != 1:
                return False
            if incident is not None and events:
                _append_events(conn, incident, events)
            return True

        return replace(after, version=before.version + 1) if await self.run(work, urgent=True) else None


def _with_post(event: TimelineEvent, post_id: int) -> TimelineEvent:
    """An event written with a new post, naming it (its id is known only once it is inserted)."""
    if "post" not in event.data:
        return event
    return TimelineEvent(event.at, event.kind, event.actor, event.text, {**event.data, "post": post_id}, event.ref)
