"""The public status page through an incident (bot.domain.status_page decides; this keeps and shows it).

When an incident that reaches a user-facing service moves (triaged: investigating; a cause found: identified; a fix
being verified: monitoring; resolved), a durable timer (one a phase, by its key) proposes the post for that phase in
the incident's channel: its exact words and components, with Approve / Edit / Reject. Nothing is public until a
person approves; the approval is a conditional write, so of two clicks one counts and the public incident is created
once, then updated through the phases. A post approved when the process stopped is published at the next start,
after looking whether the page has it already.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from blocks import status_page as post_blocks
from blocks.text import escape
from bot.adapters.slack.gateway import SlackGateway
from bot.domain.catalog import Catalog, Service
from bot.domain.events import PublicPostEvent, record
from bot.domain.incident import Incident
from bot.domain.status_page import (
    PostStatus,
    PublicPhase,
    PublicPost,
    decide_post,
    draft,
    edit_post,
    next_post,
    post_hash,
    refusal,
)
from bot.domain.timeline import ACTOR_BOT, EventKind, TimelineEvent, slack_actor
from bot.domain.triage import dependents
from bot.errors import DomainError, SreAgentError, StatusPageError, StoreUnavailable
from bot.lifecycle.posting import Poster
from bot.ports.clock import Clock
from bot.ports.status_page import PublicIncident, StatusPage
from bot.runtime.locks import KeyedLocks
from bot.runtime.scheduler import Scheduler
from bot.store import Store, Timer

__all__ = ["PUBLIC_STATUS", "PostClick", "PublicStatus", "purpose"]

log = logging.getLogger(__name__)

PUBLIC_STATUS = "public_status"  # the durable timer that proposes an incident's post for a phase
ATTEMPTS = 5
GONE = "That post no longer exists: nothing was done."
CONTENDED = "Someone decided on this post at the same moment; look at it again."
UNCONFIGURED = "No status page is configured any more (STATUSPAGE_API_KEY, STATUSPAGE_PAGE_ID): nothing was posted."


class Approving(Protocol):
    async def allowed(self, incident: Incident) -> frozenset[str]:
        """Who may decide in this incident (bot.remediation.approvers)."""


@dataclass(frozen=True)
class PostClick:
    post_id: int
    shown_hash: str
    user_id: str
    approve: bool


def purpose(post_id: int) -> str:
    """The purpose a post's message is kept under (bot/lifecycle/posting.py)."""
    return f"public-post:{post_id}"


def _event(post: PublicPost, kind: EventKind, *, actor: str, at: datetime, text: str) -> TimelineEvent:
    payload = PublicPostEvent(
        post.id,
        str(post.phase),
        post.text_hash,
        post.name,
        post.body,
        tuple(list(c) for c in post.components),
        post.page_incident or "",
    )
    return record(payload, kind=kind, at=at, actor=actor, text=text)


class PublicStatus:
    def __init__(
        self,
        *,
        store: Store,
        slack: SlackGateway,
        clock: Clock,
        locks: KeyedLocks,
        poster: Poster,
        scheduler: Scheduler,
        catalog: Catalog,
        approvers: Approving,
        page: StatusPage | None,
    ) -> None:
        self.store = store
        self.slack = slack
        self.clock = clock
        self.locks = locks
        self.poster = poster
        self.scheduler = scheduler
        self.catalog = catalog
        self.approvers = approvers
        self.page = page

    def affected(self, incident: Incident) -> list[Service]:
        """The user-facing services the incident reaches: its own and those that depend on it (from the catalog;
        a service it does not know is not said to be user-facing)."""
        names = [incident.service, *dependents(incident.service, self.catalog)]
        found = [self.catalog.get(name) for name in names]
        return [s for s in found if s is not None and s.user_facing]

    async def moved(self, incident: Incident, phase: PublicPhase) -> None:
        """The incident reached `phase`: its post is proposed by a durable timer (once a phase), where there is a
        status page and customers are affected."""
        if self.page is None or incident.id is None or not self.affected(incident):
            return
        now = self.clock.now()
        key = f"public:{incident.id}:{phase}"
        await self.scheduler.at(PUBLIC_STATUS, now, incident_id=incident.id, payload={"phase": str(phase)}, key=key)

    async def on_timer(self, timer: Timer) -> None:
        """One phase's post. The phases of an incident are taken one at a time, in the order their timers fire (the
        lock is taken before anything else, so a later phase never overtakes an earlier one fired with it)."""
        if timer.incident_id is None:
            return
        async with self.locks.hold(f"public:{timer.incident_id}"):
            incident = await self.store.incident(timer.incident_id)
            if incident is None:
                return
            try:
                await self.propose(incident, PublicPhase(str(timer.payload.get("phase"))))
            except StoreUnavailable:
                raise  # (the timer fires again)
            except SreAgentError as exc:
                log.warning("%s: the status page post could not be proposed: %s", incident.key, exc)

    async def propose(self, incident: Incident, phase: PublicPhase) -> None:
        """The post for `phase` (the posts still waiting for an earlier one give way to it), stored, then shown.
        Fired again (its process died), it shows the one stored. The caller holds the incident's `public:` lock."""
        assert incident.id is not None
        for _ in range(ATTEMPTS):
            posts = await self.store.public_posts(incident.id)
            mine = next((p for p in posts if p.phase is phase), None)
            if mine is not None:
                await self._show(incident, mine, again=True)
                return
            step = next_post(posts, phase)
            now = self.clock.now()
            superseded = [
                (p, replace(p, status=PostStatus.SUPERSEDED, reason=_why(step.propose, phase))) for p in step.superseded
            ]
            if not step.propose:
                for before, after in superseded:
                    saved = await self.store.save_public_post(before, after, now=now)
                    if saved is not None:
                        await self._redraw(saved)
                return
            new = self._draft(incident, phase, posts, step.updates)
            proposed = _event(new, EventKind.PUBLIC_POST_PROPOSED, actor=ACTOR_BOT, at=now, text=_said(new))
            post = await self.store.add_public_post(
                incident, new, superseded=superseded, seen=posts, events=[proposed], now=now
            )
            if post is None:
                continue  # decided or proposed meanwhile: read again
            for _, after in superseded:
                await self._redraw(after)
            await self._show(incident, post, again=False)
            return
        log.warning("%s: the %s post could not be proposed (the posts kept changing)", incident.key, phase)

    def _draft(self, incident: Incident, phase: PublicPhase, posts: list[PublicPost], updates: bool) -> PublicPost:
        services = self.affected(incident)
        name, body, components = draft(
            phase,
            [s.public_name or s.name for s in services],
            [s.status_component for s in services if s.status_component],
            incident.severity,
        )
        if updates:  # the public incident keeps the title it was given (perhaps edited by a person)
            public = [p for p in posts if p.status in (PostStatus.PUBLISHED, PostStatus.APPROVED)]
            name = public[-1].name if public else name
        digest = post_hash(phase, name, body, components, updates=updates)
        assert incident.id is not None
        return PublicPost(
            0, incident.id, phase, name, body, components, updates, digest, PostStatus.PROPOSED, self.clock.now()
        )

    def labels(self) -> dict[str, str]:
        """How each component is called (the catalog's public names)."""
        return {s.status_component: s.public_name or s.name for s in self.catalog if s.status_component}

    async def _show(self, incident: Incident, post: PublicPost, *, again: bool) -> None:
        if not incident.channel_id:
            return
        await self.poster.post_once(
            incident,
            purpose(post.id),
            incident.channel_id,
            post_blocks.post_text(post),
            post_blocks.post_blocks(post, self.labels()),
            again=again,
        )

    async def _redraw(self, post: PublicPost) -> None:
        """The post's message as it stands now; a failure to show it is logged (the decision stands)."""
        try:
            ref = await self.store.message_ref(post.incident_id, purpose(post.id))
            if ref is not None:
                await self.slack.update(
                    ref[0], ref[1], post_blocks.post_text(post), post_blocks.post_blocks(post, self.labels())
                )
        except SreAgentError as exc:
            log.warning("status page post %s: its message could not be redrawn: %s", post.id, exc)

    # ---- decisions -------------------------------------------------------------------------------------------------
    async def _read(self, post_id: int) -> tuple[PublicPost, Incident, frozenset[str]]:
        post = await self.store.public_post(post_id)
        incident = await self.store.incident(post.incident_id) if post is not None else None
        if post is None or incident is None:
            raise DomainError(f"no public post {post_id}", user_message=GONE)
        if self.page is None:
            raise DomainError("no status page", user_message=UNCONFIGURED)
        return post, incident, await self.approvers.allowed(incident)

    async def for_edit(self, post_id: int, shown_hash: str, user_id: str) -> PublicPost:
        """The post (as drawn with `shown_hash`), for this person to edit; a DomainError says why they may not."""
        post, _, allowed = await self._read(post_id)
        refused = refusal(post, user_id, shown_hash, allowed)
        if refused is not None:
            raise DomainError(f"public post {post_id}: not for {user_id} to edit", user_message=refused)
        return post

    async def click(self, click: PostClick) -> str:
        """One Approve / Reject; returns what the clicker is told (privately). An approval publishes at once."""
        post, incident, allowed = await self._read(click.post_id)
        for _ in range(ATTEMPTS):
            decision = decide_post(
                post, user=click.user_id, shown_hash=click.shown_hash, approve=click.approve, allowed=allowed
            )
            if not decision.counted:
                return decision.message
            kind = EventKind.PUBLIC_POST_APPROVED if click.approve else EventKind.PUBLIC_POST_REJECTED
            event = _event(decision.post, kind, actor=slack_actor(click.user_id), at=self.clock.now(), text=_said(post))
            saved = await self.store.save_public_post(
                post, decision.post, now=self.clock.now(), incident=incident, events=[event]
            )
            if saved is not None:
                break
            post, incident, allowed = await self._read(click.post_id)
        else:
            return CONTENDED
        await self._redraw(saved)
        if saved.status is PostStatus.APPROVED:
            return await self.publish(saved, incident)
        return decision.message

    async def edited(self, post_id: int, shown_hash: str, user_id: str, name: str, body: str) -> str:
        """A person's words for the post, from the edit form; returns what they are told."""
        post, incident, allowed = await self._read(post_id)
        decision = edit_post(post, user=user_id, shown_hash=shown_hash, name=name, body=body, allowed=allowed)
        if not decision.counted:
            return decision.message
        after = decision.post
        event = _event(
            after, EventKind.PUBLIC_POST_EDITED, actor=slack_actor(user_id), at=self.clock.now(), text=_said(after)
        )
        saved = await self.store.save_public_post(post, after, now=self.clock.now(), incident=incident, events=[event])
        if saved is None:
            return CONTENDED
        await self._redraw(saved)
        return decision.message

    async def publish(self, post: PublicPost, incident: Incident, *, again: bool = False) -> str:
        """Post an approved post (of `incident`) on the page: the public incident created (or, `again` or after a
        failed try, the one the page has already adopted), or updated. A refusal puts it back to waiting, with why."""
        assert self.page is not None and incident.id is not None
        components = list(post.components)
        try:
            if post.updates:
                public = await self._public_incident(incident.id)
                result = await self.page.update(public, post.name, str(post.phase), post.body, components)
            else:
                found: PublicIncident | None = None
                if again or post.reason:  # a try before may have created it without this process knowing
                    found = await self.page.unresolved(post.name)
                result = found or await self.page.create(post.name, str(post.phase), post.body, components)
        except StatusPageError as exc:
            waiting = replace(post, status=PostStatus.PROPOSED, reason=exc.user_message)
            event = _event(
                waiting, EventKind.PUBLIC_POST_FAILED, actor=ACTOR_BOT, at=self.clock.now(), text=exc.user_message
            )
            if await self.store.save_public_post(
                post, waiting, now=self.clock.now(), incident=incident, events=[event]
            ):
                await self._redraw(waiting)
            return f":warning: {escape(exc.user_message)} Nothing was posted; approve it again to try again."
        done = replace(
            post, status=PostStatus.PUBLISHED, page_incident=result.id, shortlink=result.shortlink, reason=""
        )
        event = _event(done, EventKind.PUBLIC_POSTED, actor=ACTOR_BOT, at=self.clock.now(), text=_said(done))
        if not await self.store.save_public_post(post, done, now=self.clock.now(), incident=incident, events=[event]):
            return CONTENDED
        await self._redraw(done)
        return f"Posted on the status page ({done.phase.label.lower()})."

    async def _public_incident(self, incident_id: int) -> str:
        for post in reversed(await self.store.public_posts(incident_id)):
            if post.page_incident:
                return post.page_incident
        raise StatusPageError(
            f"incident {incident_id}: no public incident to update",
            user_message="there is no public incident to update (its creation was not posted).",
        )

    async def resume(self) -> None:
        """At start: posts approved when the process stopped are published (after looking whether the page has them
        already). A post proposed and perhaps never shown needs nothing here: its timer fires again and shows it."""
        if self.page is None:
            return
        for post in await self.store.public_posts(statuses=(PostStatus.APPROVED,)):
            incident = await self.store.incident(post.incident_id)
            if incident is not None:
                await self.publish(post, incident, again=True)


def _why(replaced: bool, phase: PublicPhase) -> str:
    """Why a post waiting for a decision will not be posted."""
    if replaced:
        return f"replaced by the {phase.label.lower()} post"
    if phase is PublicPhase.RESOLVED:
        return "the incident was resolved before anything was made public"
    return "nothing is made public in this incident"


def _said(post: PublicPost) -> str:
    """A post on the timeline: its phase and title."""
    return f"{post.phase}: {post.name}"
