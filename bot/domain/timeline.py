"""Timeline events: append-only, hash-chained, the source of metrics, postmortems and the audit trail."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

GENESIS_HASH = "0" * 64
ACTOR_BOT = "sre-agent"  # the actor of what sre-agent does by itself


def slack_actor(user_id: str) -> str:
    """A Slack user, as the timeline names them (`slack:U0DANA`)."""
    return f"slack:{user_id}"


class EventKind(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    PHASE_CHANGED = "phase_changed"
    SEVERITY_CHANGED = "severity_changed"
    CHANNEL_CREATED = "channel_created"
    RESPONDERS_INVITED = "responders_invited"
    RESPONDER_NOT_FOUND = "responder_not_found"
    ANNOUNCED = "announced"
    CARD_POSTED = "card_posted"
    PAGERDUTY_NOTE = "pagerduty_note"
    NOTE = "note"
    COMMANDER_CHANGED = "commander_changed"
    RESPONDED = "responded"  # a person said they are on it (`/incident ack`)
    SLACK_MESSAGE = "slack_message"
    TRIAGED = "triaged"
    DIAGNOSED = "diagnosed"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    # remediation: every proposal, decision (who, which hash), execution and verification
    PROPOSED = "proposed"
    APPROVAL_REFUSED = "approval_refused"
    PROPOSAL_APPROVED = "proposal_approved"
    PROPOSAL_REJECTED = "proposal_rejected"
    PROPOSAL_EXPIRED = "proposal_expired"
    EXECUTION_STARTED = "execution_started"
    EXECUTED = "executed"
    EXECUTION_FAILED = "execution_failed"
    TASK_DONE = "task_done"
    VERIFYING = "verifying"
    VERIFIED = "verified"
    VERIFICATION_FAILED = "verification_failed"
    VERIFICATION_UNKNOWN = "verification_unknown"  # no agent could report the signal: people decide
    HELP_REQUESTED = "help_requested"
    # SLOs: the share of each SLO's error budget the incident spent (the budget ledger), written when it resolves
    BUDGET_SPENT = "budget_spent"
    # the public status page: every post proposed, edited, decided, published (or not) and by whom
    PUBLIC_POST_PROPOSED = "public_post_proposed"
    PUBLIC_POST_EDITED = "public_post_edited"
    PUBLIC_POST_REJECTED = "public_post_rejected"
    PUBLIC_POST_APPROVED = "public_post_approved"
    PUBLIC_POSTED = "public_posted"
    PUBLIC_POST_FAILED = "public_post_failed"


@dataclass(frozen=True)
class TimelineEvent:
    """One thing that happened to an incident. `ref` names an external object (a PagerDuty note id, ...)
    so that echoes of the bot's own actions can be recognised."""

    at: datetime
    kind: EventKind
    actor: str
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    ref: str | None = None
    seq: int | None = None
    prev_hash: str | None = None
    hash: str | None = None


def first_broken(incident_key: str, events: list[TimelineEvent]) -> tuple[TimelineEvent, str] | None:
    """The first event whose link in the hash chain does not hold, and why; None when the whole chain holds.
    `events` are as stored, in sequence order."""
    prev = GENESIS_HASH
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq:
            return event, f"event number {expected_seq} is missing (found {event.seq})"
        if event.prev_hash != prev:
            return event, "it does not point at the event before it"
        if event.hash != chain_hash(prev, incident_key, expected_seq, event):
            return event, "its content does not match its hash: it was changed after it was written"
        prev = event.hash or ""
    return None


def chain_hash(prev_hash: str, incident_key: str, seq: int, event: TimelineEvent) -> str:
    """The hash that links `event` (number `seq` of `incident_key`) to the one before it."""
    canonical = json.dumps(
        {
            "prev": prev_hash,
            "incident": incident_key,
            "seq": seq,
            "at": event.at.isoformat(),
            "kind": str(event.kind),
            "actor": event.actor,
            "text": event.text,
            "data": event.data,
            "ref": event.ref,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(f"{canonical}".encode()).hexdigest()


def first_at(events: Sequence[TimelineEvent], kind: EventKind) -> datetime | None:
    return next((e.at for e in events if e.kind == kind), None)


def last_at(events: Sequence[TimelineEvent], kind: EventKind) -> datetime | None:
    return next((e.at for e in reversed(events) if e.kind == kind), None)


@dataclass(frozen=True)
class Metrics:
    time_to_acknowledge_s: float | None
    time_to_resolve_s: float | None


def metrics(events: list[TimelineEvent]) -> Metrics:
    """Time to acknowledge (first acknowledgement) and to resolve (last resolution), from the first trigger."""
    start = first_at(events, EventKind.TRIGGERED)
    ack = first_at(events, EventKind.ACKNOWLEDGED)
    resolved = last_at(events, EventKind.RESOLVED)

    def span(end: datetime | None) -> float | None:
        return round((end - start).total_seconds(), 3) if start and end else None

    return Metrics(time_to_acknowledge_s=span(ack), time_to_resolve_s=span(resolved))
