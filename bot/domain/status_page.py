"""The public status page: what sre-agent proposes to tell customers, and the rules of a human's decision on it.

A public post is a communication to customers, so it is never made on sre-agent's own: each one (the public
incident's creation, and each update as the incident moves from investigating to identified, monitoring and
resolved) is proposed in the incident's channel with its exact text, which a person may edit and must approve. The
Approve button carries the hash of the text that was shown; a click counts only while it is still the text stored.

Only incidents that reach a user-facing service are told publicly (the service paged, or a service that depends on
it), and only the components of those services change status. What is proposed for a phase depends on the posts
before it (`next_post`): a later phase replaces a proposal nobody decided on yet; once a person rejected creating
the public incident, nothing more is proposed; a resolved incident that was never public stays so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from bot.domain.severity import Severity

__all__ = [
    "BODY_LIMIT",
    "NAME_LIMIT",
    "ComponentStatus",
    "Next",
    "PostDecision",
    "PostStatus",
    "PublicPhase",
    "PublicPost",
    "decide_post",
    "draft",
    "edit_post",
    "next_post",
    "post_hash",
    "refusal",
]

NAME_LIMIT = 255  # Statuspage's limit on an incident's name
BODY_LIMIT = 2_500  # what one update may say (Slack shows it whole in a message, and a form takes it)


class PublicPhase(StrEnum):
    """Statuspage's incident statuses, in the order an incident goes through them."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"

    @property
    def rank(self) -> int:
        return list(PublicPhase).index(self)

    @property
    def label(self) -> str:
        return self.value.capitalize()


class ComponentStatus(StrEnum):
    OPERATIONAL = "operational"
    DEGRADED = "degraded_performance"
    PARTIAL = "partial_outage"
    MAJOR = "major_outage"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class PostStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"  # being published now
    PUBLISHED = "published"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"  # a later phase's post took its place before anyone decided


@dataclass(frozen=True)
class PublicPost:
    id: int
    incident_id: int
    phase: PublicPhase
    name: str  # the public incident's title
    body: str  # what this update says
    components: tuple[tuple[str, str], ...]  # (Statuspage component id, status) for each affected component
    updates: bool  # False: it creates the public incident; True: it updates the one created before
    text_hash: str
    status: PostStatus
    created_at: datetime
    decided_by: str | None = None
    edited_by: str | None = None
    reason: str = ""  # why it was not published, or why the last try failed
    page_incident: str | None = None  # Statuspage's incident, once published
    shortlink: str | None = None
    version: int = 0  # the store's: every change is conditional on it


@dataclass(frozen=True)
class PostDecision:
    counted: bool
    post: PublicPost  # the new state when counted; otherwise unchanged
    message: str  # what the person is told


def post_hash(phase: PublicPhase, name: str, body: str, components: Sequence[tuple[str, str]], *, updates: bool) -> str:
    """The hash of everything a post would make public (and whether it creates or updates)."""
    text = json.dumps(
        {"phase": str(phase), "name": name, "body": body, "components": [list(c) for c in components], "u": updates},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def impact(severity: Severity) -> ComponentStatus:
    """How an incident of this severity shows on its components."""
    if severity is Severity.P1:
        return ComponentStatus.MAJOR
    if severity is Severity.P2:
        return ComponentStatus.PARTIAL
    return ComponentStatus.DEGRADED


def _names(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def draft(
    phase: PublicPhase, names: Sequence[str], components: Sequence[str], severity: Severity
) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """The name, the words and the component statuses sre-agent proposes for `phase`: plain words for customers,
    nothing of what the agents found inside (a person edits them before approving where more should be said)."""
    what = _names(names)
    status = impact(severity)
    name = f"{status.label} of {what}"[:NAME_LIMIT]
    bodies = {
        PublicPhase.INVESTIGATING: f"We are investigating {status.label.lower()} of {what}. Some customers may see "
        "errors or slow responses. We will post an update as soon as we know more.",
        PublicPhase.IDENTIFIED: f"We have identified the cause of the {status.label.lower()} of {what} and are "
        "working on a fix.",
        PublicPhase.MONITORING: f"A fix has been applied to {what}. We are monitoring the results.",
        PublicPhase.RESOLVED: f"This incident has been resolved: {what} {'is' if len(names) == 1 else 'are'} "
        "operating normally.",
    }
    shown = ComponentStatus.OPERATIONAL if phase is PublicPhase.RESOLVED else status
    return name, bodies[phase], tuple((c, str(shown)) for c in components)


@dataclass(frozen=True)
class Next:
    """What a phase brings about: the posts still waiting that it replaces, and whether it proposes one of its own
    (and if so, whether that one updates a public incident or creates it)."""

    superseded: tuple[PublicPost, ...]
    propose: bool
    updates: bool = False


def next_post(posts: Sequence[PublicPost], phase: PublicPhase) -> Next:
    """What to do when the incident reaches `phase`, given its posts so far."""
    if any(p.phase.rank >= phase.rank for p in posts):
        return Next((), False)  # this phase (or a later one) was proposed already: once each, never backwards
    waiting = tuple(p for p in posts if p.status is PostStatus.PROPOSED)
    public = any(p.status in (PostStatus.PUBLISHED, PostStatus.APPROVED) and not p.updates for p in posts)
    refused = any(p.status is PostStatus.REJECTED and not p.updates for p in posts)
    if not public and (refused or phase is PublicPhase.RESOLVED):
        # a person chose not to go public, or it is over before it was: what waits has nothing more to say
        return Next(waiting, False)
    return Next(waiting, True, updates=public)


def refusal(post: PublicPost, user: str, shown_hash: str, allowed: frozenset[str]) -> str | None:
    """Why this person's click on this post (drawn with `shown_hash`) cannot count; None when it can."""
    if shown_hash != post.text_hash:
        return "This post's text has changed since it was shown: nothing was done. Read it again."
    if post.status is not PostStatus.PROPOSED:
        return f"This post is {post.status} already: nothing more happens."
    if user not in allowed:
        return "Only the people on call for this service or the configured approvers may decide what is made public."
    return None


def decide_post(
    post: PublicPost, *, user: str, shown_hash: str, approve: bool, allowed: frozenset[str], reason: str = ""
) -> PostDecision:
    """One Approve or Reject."""
    refused = refusal(post, user, shown_hash, allowed)
    if refused is not None:
        return PostDecision(False, post, refused)
    if not approve:
        rejected = replace(post, status=PostStatus.REJECTED, decided_by=user, reason=reason or "rejected")
        said = "Rejected: nothing is made public."
        if not post.updates:
            said += " Nothing more will be proposed for the status page in this incident."
        return PostDecision(True, rejected, said)
    approved = replace(post, status=PostStatus.APPROVED, decided_by=user)  # a failed try's reason stays: see publish
    return PostDecision(True, approved, "Approved: it is being posted on the status page.")


def edit_post(
    post: PublicPost, *, user: str, shown_hash: str, name: str, body: str, allowed: frozenset[str]
) -> PostDecision:
    """A person's own words for the post, before anyone approves it: its hash changes with them, so buttons drawn
    for the text before no longer count."""
    refused = refusal(post, user, shown_hash, allowed)
    if refused is not None:
        return PostDecision(False, post, refused)
    name, body = name.strip(), body.strip()
    if not name or not body:
        return PostDecision(False, post, "A public post needs a title and words: nothing was changed.")
    if len(name) > NAME_LIMIT or len(body) > BODY_LIMIT:
        return PostDecision(
            False, post, f"Keep the title within {NAME_LIMIT} characters and the words within {BODY_LIMIT}."
        )
    if (name, body) == (post.name, post.body):
        return PostDecision(False, post, "The words are as they were: nothing was changed.")
    digest = post_hash(post.phase, name, body, post.components, updates=post.updates)
    edited = replace(post, name=name, body=body, text_hash=digest, edited_by=user)
    return PostDecision(True, edited, "Edited: read it once more, then approve it to post it.")
