"""The incident and its one phase-change function."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from bot.domain.errors import IllegalTransition
from bot.domain.events import PhaseChange, SeverityChange, record
from bot.domain.phase import TRANSITIONS, Phase, can_transition
from bot.domain.severity import Severity
from bot.domain.timeline import EventKind, TimelineEvent


class SetupStep(StrEnum):
    """Steps of opening an incident in Slack and PagerDuty. Each is done once; a restart resumes the rest."""

    ACKNOWLEDGE = "acknowledge"
    CHANNEL = "channel"
    TOPIC = "topic"
    INVITE = "invite"
    CARD = "card"
    ANNOUNCE = "announce"
    NOTE = "note"
    TRIAGE = "triage"
    DIAGNOSE = "diagnose"
    PROPOSE = "propose"  # the first proposal (or the request for help) after the diagnosis


PAGER_NAMES = {"pagerduty": "PagerDuty", "opsgenie": "OpsGenie"}  # by an incident's source


@dataclass
class Incident:
    source: str
    external_id: str
    title: str
    service: str
    severity: Severity
    phase: Phase
    triggered_at: datetime
    number: int | None = None
    urgency: str | None = None
    html_url: str | None = None
    escalation_policy_id: str | None = None
    channel_id: str | None = None
    channel_name: str | None = None
    commander: str | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    resolution: str | None = None
    steps: set[SetupStep] = field(default_factory=set)
    # steps started and perhaps carried out, but not known to be done (the process may have died in between):
    # before doing one again, look whether it was done (a channel, a message, a note) and adopt what is there
    begun: set[SetupStep] = field(default_factory=set)
    id: int | None = None

    @property
    def key(self) -> str:
        return f"{self.source}:{self.external_id}"

    @property
    def label(self) -> str:
        """How people name it: `INC-4211`."""
        return f"INC-{self.number}" if self.number is not None else f"INC-{self.id}"

    @property
    def is_open(self) -> bool:
        return self.phase.is_open

    @property
    def pager_name(self) -> str:
        """The paging service it is on, as people call it (a Slack-only incident would be paged on PagerDuty)."""
        return PAGER_NAMES.get(self.source, "PagerDuty")


def transition(incident: Incident, target: Phase, *, at: datetime, actor: str, reason: str = "") -> list[TimelineEvent]:
    """Move `incident` to `target` if the table allows it; return the timeline events that records.

    The only place a phase changes. Raises IllegalTransition (and changes nothing) otherwise.
    """
    current = incident.phase
    if not can_transition(current, target):
        raise IllegalTransition(
            f"{incident.key}: {current} -> {target} is not allowed",
            user_message=f"{incident.label} is {current.label.lower()}; it cannot become {target.label.lower()}.",
        )
    incident.phase = target
    kind = EventKind.PHASE_CHANGED
    if target is Phase.ACKNOWLEDGED:
        kind = EventKind.ACKNOWLEDGED
        incident.acknowledged_at = incident.acknowledged_at or at
    elif target is Phase.RESOLVED:
        kind = EventKind.RESOLVED
        incident.resolved_at = at
        incident.resolution = reason or incident.resolution
    elif target is Phase.TRIGGERED:
        kind = EventKind.REOPENED
        incident.resolved_at = None
        incident.resolution = None
        incident.acknowledged_at = None
    return [record(PhaseChange(str(current), str(target)), at=at, actor=actor, text=reason, kind=kind)]


def advance(incident: Incident, target: Phase, *, at: datetime, actor: str, reason: str = "") -> list[TimelineEvent]:
    """Move an open incident forward to `target` through the phases the table puts between (acknowledged ->
    triaging -> diagnosing -> awaiting approval ...), one transition and one event each. Nothing when it is there."""
    path = _path(incident.phase, target)
    if path is None:
        raise IllegalTransition(
            f"{incident.key}: no way from {incident.phase} to {target}",
            user_message=f"{incident.label} is {incident.phase.label.lower()}; it cannot become "
            f"{target.label.lower()}.",
        )
    events: list[TimelineEvent] = []
    for phase in path:
        events += transition(incident, phase, at=at, actor=actor, reason=reason if phase is target else "")
    return events


def _path(start: Phase, target: Phase) -> list[Phase] | None:
    """The shortest way through open phases (breadth first over the table), without the start."""
    if start is target:
        return []
    seen = {start}
    frontier: list[list[Phase]] = [[start]]
    while frontier:
        nxt: list[list[Phase]] = []
        for way in frontier:
            for phase in sorted(TRANSITIONS[way[-1]]):
                if phase in seen or (phase is not target and not phase.is_open) or phase is Phase.TRIGGERED:
                    continue
                if phase is target:
                    return [*way[1:], phase]
                seen.add(phase)
                nxt.append([*way, phase])
        frontier = nxt
    return None


def change_severity(incident: Incident, severity: Severity, *, at: datetime, actor: str) -> list[TimelineEvent]:
    if severity == incident.severity:
        return []
    previous = incident.severity
    incident.severity = severity
    return [record(SeverityChange(str(previous), str(severity)), at=at, actor=actor, text=f"{previous} -> {severity}")]
