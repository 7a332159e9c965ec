"""What each kind of timeline event carries: one typed payload a kind (a few kinds have two shapes), and the one
way to write an event. The postmortem, the metrics and the audit trail read these, so a new kind or a new field is
added here, never as a free-form dict in a service.

A service writes `record(Payload(...), at=..., actor=..., text=..., ref=...)`; the event's stored `data` is the
payload's fields as JSON (the same keys as before these types existed, so older rows read the same and their hash
chain is untouched). `payload_of(event)` reads a stored event back; a field an older row lacks takes its default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, ClassVar, TypeVar

from bot.domain.timeline import ACTOR_BOT, EventKind, TimelineEvent

P = TypeVar("P", bound="Payload")


def _key(name: str, default: Any) -> Any:
    """A field stored under another key (`from` is a Python keyword)."""
    return field(default=default, metadata={"key": name})


def _json(value: Any) -> Any:
    if isinstance(value, Payload):
        return value.data()
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Payload:
    """The base of every payload: KINDS are the event kinds it is written for (the first is the default)."""

    KINDS: ClassVar[tuple[EventKind, ...]] = ()

    def data(self) -> dict[str, Any]:
        return {f.metadata.get("key", f.name): _json(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_data(cls: type[P], data: dict[str, Any]) -> P:
        """The payload of a stored event; fields it lacks (an older row) take their defaults."""
        given = {}
        for f in dataclasses.fields(cls):
            key = f.metadata.get("key", f.name)
            if key in data:
                value = data[key]
                given[f.name] = tuple(value) if isinstance(value, list) else value  # JSON arrays were tuples
        return cls(**given)


# Opening -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plain(Payload):
    """Something happened and its text says what (a note, a card or announcement posted, PagerDuty's own
    escalation); no data."""

    KINDS = (
        EventKind.NOTE,
        EventKind.CARD_POSTED,
        EventKind.ANNOUNCED,
        EventKind.PAGERDUTY_NOTE,
        EventKind.ESCALATED,
        EventKind.RESPONDED,
    )


@dataclass(frozen=True)
class Paged(Payload):
    KINDS = (EventKind.TRIGGERED,)
    service: str = ""
    severity: str = ""
    urgency: str | None = None


@dataclass(frozen=True)
class Declared(Payload):
    KINDS = (EventKind.TRIGGERED,)
    declared: bool = True
    service: str = ""
    severity: str = ""
    description: str = ""
    began_at: str = ""  # ISO: when what is declared began, where known (a burn's start)


@dataclass(frozen=True)
class PhaseChange(Payload):
    KINDS = (EventKind.PHASE_CHANGED, EventKind.ACKNOWLEDGED, EventKind.RESOLVED, EventKind.REOPENED)
    from_: str = _key("from", "")
    to: str = ""


@dataclass(frozen=True)
class SeverityChange(Payload):
    KINDS = (EventKind.SEVERITY_CHANGED,)
    from_: str = _key("from", "")
    to: str = ""


@dataclass(frozen=True)
class CommanderChange(Payload):
    KINDS = (EventKind.COMMANDER_CHANGED,)
    from_: str | None = _key("from", None)
    to: str = ""


@dataclass(frozen=True)
class ChannelCreated(Payload):
    KINDS = (EventKind.CHANNEL_CREATED,)
    channel: str = ""


@dataclass(frozen=True)
class RespondersInvited(Payload):
    KINDS = (EventKind.RESPONDERS_INVITED,)
    users: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResponderNotFound(Payload):
    KINDS = (EventKind.RESPONDER_NOT_FOUND,)
    email: str | None = None
    pagerduty_user: str | None = None


@dataclass(frozen=True)
class Triaged(Payload):
    KINDS = (EventKind.TRIAGED,)
    dependents: tuple[str, ...] = ()
    user_facing: tuple[str, ...] = ()
    users: int | None = None
    suggested: str = ""
    reasons: tuple[str, ...] = ()
    slo: Any = None
    in_catalog: bool = False


@dataclass(frozen=True)
class Hypothesis(Payload):
    text: str = ""
    confidence: float = 0.0
    cites: tuple[str, ...] = ()
    recommendations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Asked(Payload):
    agent: str = ""
    role: str = ""
    outcome: str = ""
    duration_ms: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class Diagnosed(Payload):
    KINDS = (EventKind.DIAGNOSED,)
    symptom: str = ""
    hypotheses: tuple[Hypothesis, ...] = ()
    evidence: tuple[Asked, ...] = ()
    began_at: str = ""  # ISO: when the likely cause began, where the agents said (a deploy's time)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Diagnosed:
        return cls(
            symptom=str(data.get("symptom", "")),
            hypotheses=tuple(Hypothesis.from_data(h) for h in data.get("hypotheses") or ()),
            evidence=tuple(Asked.from_data(e) for e in data.get("evidence") or ()),
            began_at=str(data.get("began_at") or ""),
        )


@dataclass(frozen=True)
class Escalated(Payload):
    KINDS = (EventKind.ESCALATED,)
    from_: int = _key("from", 0)
    to: int = 0
    paged: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class SlackMessage(Payload):
    KINDS = (EventKind.SLACK_MESSAGE,)
    ts: str = ""
    via: str = ""
    added_by: str = ""
    found: bool = False


# Remediation -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proposed(Payload):
    KINDS = (EventKind.PROPOSED,)
    proposal: int = 0
    runbook: str = ""
    plan_hash: str = ""
    plan: dict[str, Any] = field(default_factory=dict)
    needed: int = 1
    expires_at: str = ""


@dataclass(frozen=True)
class HelpRequested(Payload):
    KINDS = (EventKind.HELP_REQUESTED,)
    asked: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision(Payload):
    """A click on a proposal: counted (approved, rejected), refused, or too late (expired)."""

    KINDS = (
        EventKind.PROPOSAL_APPROVED,
        EventKind.PROPOSAL_REJECTED,
        EventKind.APPROVAL_REFUSED,
        EventKind.PROPOSAL_EXPIRED,
    )
    proposal: int = 0
    runbook: str = ""
    plan_hash: str = ""
    shown_hash: str = ""
    approve: bool = False
    reason: str = ""
    approvers: tuple[str, ...] = ()
    status: str = ""


@dataclass(frozen=True)
class TaskDone(Payload):
    KINDS = (EventKind.TASK_DONE,)
    proposal: int = 0


@dataclass(frozen=True)
class Expired(Payload):
    KINDS = (EventKind.PROPOSAL_EXPIRED,)
    proposal: int = 0
    plan_hash: str = ""


@dataclass(frozen=True)
class ExecutionStarted(Payload):
    KINDS = (EventKind.EXECUTION_STARTED,)
    proposal: int = 0
    plan_hash: str = ""
    agent: str | None = None
    approvers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Executed(Payload):
    """An execution's end: carried out, or failed."""

    KINDS = (EventKind.EXECUTED, EventKind.EXECUTION_FAILED)
    proposal: int = 0
    plan_hash: str = ""
    agent: str | None = None


@dataclass(frozen=True)
class Verifying(Payload):
    KINDS = (EventKind.VERIFYING,)
    proposal: int = 0
    signal: str = ""
    below: float = 0.0
    window_s: float = 0.0
    interval_s: float = 0.0
    timeout_s: float = 0.0


@dataclass(frozen=True)
class Checked(Payload):
    """A verification's end: the fix holds, or it does not; the readings it was judged on."""

    KINDS = (EventKind.VERIFIED, EventKind.VERIFICATION_FAILED, EventKind.VERIFICATION_UNKNOWN)
    proposal: int = 0
    plan_hash: str = ""
    readings: tuple[Any, ...] = ()


@dataclass(frozen=True)
class BudgetSpent(Payload):
    """The share of an SLO's error budget over its period that the incident spent (negative: none; it is 0 then),
    from the SLO's counts when it began and when it ended."""

    KINDS = (EventKind.BUDGET_SPENT,)
    slo: str = ""
    period: str = ""
    share: float = 0.0
    bad: int = 0  # bad events (or slices) counted between the two
    since: str = ""  # the snapshots' times, ISO
    until: str = ""


@dataclass(frozen=True)
class PublicPostEvent(Payload):
    """A post for the public status page: proposed (with its exact words), edited, decided, published or failed."""

    KINDS = (
        EventKind.PUBLIC_POST_PROPOSED,
        EventKind.PUBLIC_POST_EDITED,
        EventKind.PUBLIC_POST_REJECTED,
        EventKind.PUBLIC_POST_APPROVED,
        EventKind.PUBLIC_POSTED,
        EventKind.PUBLIC_POST_FAILED,
    )
    post: int = 0
    phase: str = ""
    text_hash: str = ""
    name: str = ""
    body: str = ""
    components: tuple[Any, ...] = ()
    page_incident: str = ""  # the status page's incident, once there is one


# Writing and reading -----------------------------------------------------------------------------------------------


def record(
    payload: Payload,
    *,
    at: datetime,
    actor: str,
    text: str = "",
    ref: str | None = None,
    kind: EventKind | None = None,
) -> TimelineEvent:
    """The timeline event for `payload`, of `kind` (one of the payload's KINDS; its first by default)."""
    kind = kind or payload.KINDS[0]
    if kind not in payload.KINDS:
        raise ValueError(f"a {type(payload).__name__} is not written for {kind} events")
    return TimelineEvent(at=at, kind=kind, actor=actor, text=text, data=payload.data(), ref=ref)


def note_ref(source: str, note_id: str | None) -> str:
    """How a note on the pager's incident is referred to on the timeline (so the pager's echo of it is known)."""
    return f"{source}-note:{note_id}"


def pager_note(text: str, *, source: str, note_id: str | None, at: datetime) -> TimelineEvent:
    """sre-agent wrote `text` as a note on the pager's incident."""
    return record(
        Plain(), kind=EventKind.PAGERDUTY_NOTE, at=at, actor=ACTOR_BOT, text=text, ref=note_ref(source, note_id)
    )


_READERS: dict[EventKind, tuple[type[Payload], ...]] = {}
for _cls in (
    Paged,
    Declared,
    PhaseChange,
    SeverityChange,
    CommanderChange,
    ChannelCreated,
    RespondersInvited,
    ResponderNotFound,
    Triaged,
    Diagnosed,
    Escalated,
    SlackMessage,
    Proposed,
    HelpRequested,
    Decision,
    TaskDone,
    Expired,
    ExecutionStarted,
    Executed,
    Verifying,
    Checked,
    BudgetSpent,
    PublicPostEvent,
    Plain,
):
    for _kind in _cls.KINDS:
        _READERS.setdefault(_kind, ())
        _READERS[_kind] += (_cls,)


def payload_of(event: TimelineEvent) -> Payload:
    """The typed payload of a stored event. Where a kind has two shapes the data tells which (a declared
    incident's trigger says `declared`; sre-agent's own escalation says where `to`; a click that came too late
    carries the hash it was `shown`)."""
    if event.kind is EventKind.TRIGGERED:
        return (Declared if event.data.get("declared") else Paged).from_data(event.data)
    if event.kind is EventKind.ESCALATED:
        return (Escalated if "to" in event.data else Plain).from_data(event.data)
    if event.kind is EventKind.PROPOSAL_EXPIRED:
        return (Decision if "shown_hash" in event.data else Expired).from_data(event.data)
    return _READERS.get(event.kind, (Plain,))[0].from_data(event.data)
