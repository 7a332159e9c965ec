"""The first draft of a postmortem, written from an incident's timeline: every figure in it is read from the events,
nothing is invented, and what the timeline does not say is said to be unknown.

- Summary: what broke, for whom, for how long, and how it was fixed (or that it was not).
- Impact: the blast radius the triage found, and the error budget the incident spent, per SLO (the budget ledger).
- Timeline: every event, in order, with who or what did it.
- Root cause: the diagnosis (hypotheses with their confidence and the evidence they cite); a person's own view (a
  note or a pinned message that starts "Root cause:") wins over sre-agent's.
- Remediation: each proposal, who decided it and when, what was carried out and whether it was verified; what
  people noted they did by hand.
- Action items: the error budget policy's P0 for an incident that spent more than 20% of a period's budget, the
  diagnosis's recommendations that were not done, and the runbooks' follow-ups.
- Metrics: time to detect (from when the cause began, where the timeline says, to the trigger), acknowledge,
  mitigate (a verified fix) and resolve.

The same timeline always gives the same postmortem: no time of writing in it, and a stable order everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.domain.events import (
    BudgetSpent,
    Checked,
    Decision,
    Declared,
    Diagnosed,
    Executed,
    Proposed,
    Triaged,
    payload_of,
)
from bot.domain.runbooks import covers
from bot.domain.timeline import EventKind, TimelineEvent, first_at, last_at

__all__ = [
    "P0_BUDGET_SHARE",
    "ActionItem",
    "Cause",
    "Entry",
    "Impact",
    "Metrics",
    "Postmortem",
    "Step",
    "describe",
    "duration",
    "write",
]

P0_BUDGET_SHARE = 0.2  # an incident that spent more than this share of a period's budget gets a P0 action item
_HUMAN_CAUSE = re.compile(r"^\s*(?:root\s*cause|cause)\s*[:\-–]\s*(.+)", re.IGNORECASE | re.DOTALL)
_PEOPLE_NOTES = (EventKind.NOTE, EventKind.SLACK_MESSAGE, EventKind.PAGERDUTY_NOTE)
_BOT = "sre-agent"


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str
    actor: str
    text: str


@dataclass(frozen=True)
class Cause:
    text: str
    by: str  # "sre-agent", or who said it
    confidence: float | None = None  # sre-agent's; None for a person's
    cites: tuple[str, ...] = ()
    at: datetime | None = None
    recommendations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    """One proposal, from the plan to the verification."""

    proposal: int
    runbook: str
    action: str
    proposed_at: datetime
    needed: int
    approved_by: tuple[tuple[str, datetime], ...] = ()
    rejected: tuple[str, datetime, str] | None = None  # who, when, why
    expired_at: datetime | None = None
    executed: tuple[str, datetime, str] | None = None  # by which agent (or person), when, what it said
    failed: tuple[str, datetime, str] | None = None
    verified_at: datetime | None = None
    not_verified_at: datetime | None = None

    @property
    def outcome(self) -> str:
        if self.verified_at is not None:
            return "carried out and verified"
        if self.not_verified_at is not None:
            return "carried out, but the signal did not recover"
        if self.executed is not None:
            return "carried out, not verified"
        if self.failed is not None:
            return "failed"
        if self.rejected is not None:
            return "rejected"
        if self.expired_at is not None:
            return "expired undecided"
        if self.approved_by:
            return "approved, not carried out"
        return "not decided"


@dataclass(frozen=True)
class ActionItem:
    priority: str  # P0, P1, P2
    text: str
    source: str


@dataclass(frozen=True)
class Impact:
    service: str
    dependents: tuple[str, ...] = ()
    user_facing: tuple[str, ...] = ()
    users: int | None = None
    known: bool = False  # whether the service is in the catalog (else the blast radius is unknown)
    budgets: tuple[BudgetSpent, ...] = ()


@dataclass(frozen=True)
class Metrics:
    began_at: datetime | None  # when the cause began, where the timeline says (a deploy, a burn)
    triggered_at: datetime | None
    time_to_detect_s: float | None
    time_to_acknowledge_s: float | None
    time_to_mitigate_s: float | None
    time_to_resolve_s: float | None


@dataclass(frozen=True)
class Postmortem:
    label: str
    title: str
    service: str
    severity: str
    commander: str | None
    resolved: bool
    resolution: str
    summary: str
    impact: Impact
    timeline: tuple[Entry, ...]
    cause: Cause | None  # the view that wins: a person's if one was given, else sre-agent's best
    hypotheses: tuple[Cause, ...]  # sre-agent's, best first
    asked: tuple[str, ...]  # who was asked and what came of it ("monitoring: answered in 12 ms")
    remediation: tuple[Step, ...]
    manual: tuple[Entry, ...]  # what people noted they did
    action_items: tuple[ActionItem, ...]
    metrics: Metrics
    unknown: tuple[str, ...] = field(default=())  # what the timeline does not say


def write(
    *,
    label: str,
    title: str,
    service: str,
    severity: str,
    commander: str | None,
    resolution: str | None,
    events: Sequence[TimelineEvent],
    follow_ups: Mapping[str, Sequence[str]] | None = None,
) -> Postmortem:
    """The postmortem of an incident from its timeline (`events`, in order) and its runbooks' follow-ups (by
    runbook name)."""
    follow_ups = follow_ups or {}
    timeline = tuple(Entry(e.at, str(e.kind), e.actor, describe(e)) for e in events)
    unknown: list[str] = []

    triaged = _last(events, EventKind.TRIAGED, Triaged)
    budgets = tuple(p for e in events if isinstance(p := payload_of(e), BudgetSpent))
    impact = Impact(
        service,
        triaged.dependents if triaged else (),
        triaged.user_facing if triaged else (),
        triaged.users if triaged else None,
        bool(triaged and triaged.in_catalog),
        budgets,
    )
    if triaged is None or not triaged.in_catalog:
        unknown.append("the blast radius: the service is not in the catalog")
    if not budgets:
        unknown.append("the error budget spent: no SLO of the service had counts over the incident")

    diagnosed_event = next((e for e in reversed(events) if e.kind is EventKind.DIAGNOSED), None)
    diagnosed = payload_of(diagnosed_event) if diagnosed_event else None
    hypotheses: tuple[Cause, ...] = ()
    asked: tuple[str, ...] = ()
    if isinstance(diagnosed, Diagnosed):
        at = diagnosed_event.at if diagnosed_event else None
        hypotheses = tuple(
            Cause(h.text, _BOT, h.confidence, h.cites, at, h.recommendations) for h in diagnosed.hypotheses
        )
        asked = tuple(
            f"{a.agent} ({a.role}): {a.outcome}" + (f", {a.reason}" if a.reason else "") for a in diagnosed.evidence
        )
    human = _human_cause(events)
    cause = human or (hypotheses[0] if hypotheses else None)
    if cause is None:
        unknown.append("the root cause: no agent named one and nobody wrote one down")

    steps = _steps(events)
    manual = tuple(
        Entry(e.at, str(e.kind), e.actor, e.text)
        for e in events
        if e.kind in _PEOPLE_NOTES and _by_person(e.actor) and not _HUMAN_CAUSE.match(e.text)
    )
    metrics = _metrics(events, diagnosed_event)
    if metrics.began_at is None:
        unknown.append("when it began before it was detected: the timeline does not say")
    if metrics.time_to_acknowledge_s is None:
        unknown.append("time to acknowledge: nobody acknowledged it")
    if metrics.time_to_mitigate_s is None:
        unknown.append("time to mitigate: no fix was verified")
    resolved_at, reopened_at = last_at(events, EventKind.RESOLVED), last_at(events, EventKind.REOPENED)
    resolved = resolved_at is not None and (reopened_at is None or reopened_at < resolved_at)
    if not resolved:
        unknown.append("time to resolve: it is not resolved")
    items = _action_items(budgets, hypotheses, steps, follow_ups)
    summary = _summary(service, title, impact, cause, steps, metrics, resolved, resolution or "")
    return Postmortem(
        label,
        title,
        service,
        severity,
        commander,
        resolved,
        resolution or "",
        summary,
        impact,
        timeline,
        cause,
        hypotheses,
        asked,
        steps,
        manual,
        items,
        metrics,
        tuple(unknown),
    )


_SAID = {  # what an event was, in words, where its text alone does not say it
    EventKind.TRIGGERED: "triggered: {text}",
    EventKind.ACKNOWLEDGED: "acknowledged",
    EventKind.SEVERITY_CHANGED: "severity {from} -> {to}",
    EventKind.CHANNEL_CREATED: "incident channel {text} opened",
    EventKind.RESPONDERS_INVITED: "invited {text}",
    EventKind.RESPONDER_NOT_FOUND: "could not invite: {text}",
    EventKind.ANNOUNCED: "announced in the incidents channel",
    EventKind.CARD_POSTED: "incident card posted",
    EventKind.PAGERDUTY_NOTE: "pager note: {text}",
    EventKind.NOTE: "note: {text}",
    EventKind.COMMANDER_CHANGED: "commander: {text}",
    EventKind.RESPONDED: "on it: {text}",
    EventKind.SLACK_MESSAGE: "from Slack: {text}",
    EventKind.TRIAGED: "blast radius: {text}",
    EventKind.DIAGNOSED: "diagnosis: {text}",
    EventKind.ESCALATED: "escalated: {text}",
    EventKind.RESOLVED: "resolved: {text}",
    EventKind.REOPENED: "reopened: {text}",
    EventKind.PROPOSED: "proposed: {text}",
    EventKind.APPROVAL_REFUSED: "a click did not count: {text}",
    EventKind.PROPOSAL_APPROVED: "approved: {text}",
    EventKind.PROPOSAL_REJECTED: "rejected: {text}",
    EventKind.PROPOSAL_EXPIRED: "proposal expired: {text}",
    EventKind.EXECUTION_STARTED: "asked the agent to do it: {text}",
    EventKind.EXECUTED: "carried out: {text}",
    EventKind.EXECUTION_FAILED: "failed: {text}",
    EventKind.TASK_DONE: "done by hand: {text}",
    EventKind.VERIFYING: "verifying: {text}",
    EventKind.VERIFIED: "verified: {text}",
    EventKind.VERIFICATION_FAILED: "not verified: {text}",
    EventKind.VERIFICATION_UNKNOWN: "could not be verified: {text}",
    EventKind.HELP_REQUESTED: "asked people for help: {text}",
    EventKind.BUDGET_SPENT: "error budget spent: {text}",
    EventKind.PUBLIC_POST_PROPOSED: "status page post proposed: {text}",
    EventKind.PUBLIC_POST_EDITED: "status page post edited: {text}",
    EventKind.PUBLIC_POST_REJECTED: "status page post rejected: {text}",
    EventKind.PUBLIC_POST_APPROVED: "status page post approved: {text}",
    EventKind.PUBLIC_POSTED: "posted on the status page: {text}",
    EventKind.PUBLIC_POST_FAILED: "status page post failed: {text}",
}


def describe(event: TimelineEvent) -> str:
    """One timeline event in words: what it was, and what its text says."""
    data = event.data if isinstance(event.data, dict) else {}
    if event.kind is EventKind.PHASE_CHANGED:
        said = f"phase {data.get('from', '?')} -> {data.get('to', '?')}"
        return f"{said}: {event.text}" if event.text else said
    if event.kind is EventKind.PROPOSAL_APPROVED:
        count = len(data.get("approvers") or [])
        return f"approved the {data.get('runbook', '?')} plan ({count} approval{'s' if count != 1 else ''})"
    if event.kind is EventKind.PROPOSAL_REJECTED:
        reason = data.get("reason") or ""
        return f"rejected the {data.get('runbook', '?')} plan" + (f": {reason}" if reason else "")
    pattern = _SAID.get(event.kind)
    if pattern is None:
        return event.text or str(event.kind).replace("_", " ")
    said = pattern.format(text=event.text, **{"from": data.get("from", "?"), "to": data.get("to", "?")})
    return said.removesuffix(": ").strip()


def _last(events: Sequence[TimelineEvent], kind: EventKind, cls: type[Any]) -> Any:
    for e in reversed(events):
        if e.kind is kind and isinstance(p := payload_of(e), cls):
            return p
    return None


def _by_person(actor: str) -> bool:
    return actor.startswith("slack:") or actor.startswith("user:") or actor.startswith("pagerduty:")


def _human_cause(events: Sequence[TimelineEvent]) -> Cause | None:
    """The newest "Root cause: ..." a person wrote (a note, a pinned message, a note in the pager)."""
    for e in reversed(events):
        if e.kind in _PEOPLE_NOTES and _by_person(e.actor) and (m := _HUMAN_CAUSE.match(e.text)):
            return Cause(" ".join(m.group(1).split()), e.actor, at=e.at)
    return None


def _steps(events: Sequence[TimelineEvent]) -> tuple[Step, ...]:
    found: dict[int, dict[str, Any]] = {}
    for e in events:
        p = payload_of(e)
        if isinstance(p, Proposed):
            found[p.proposal] = {
                "proposal": p.proposal,
                "runbook": p.runbook,
                "action": str(p.plan.get("action") or e.text),
                "proposed_at": e.at,
                "needed": p.needed,
                "approved_by": (),
            }
            continue
        number = getattr(p, "proposal", None)
        step = found.get(number) if isinstance(number, int) else None
        if step is None:
            continue
        if isinstance(p, Decision) and e.kind is EventKind.PROPOSAL_APPROVED:
            step["approved_by"] = (*step["approved_by"], (e.actor, e.at))
        elif isinstance(p, Decision) and e.kind is EventKind.PROPOSAL_REJECTED:
            step["rejected"] = (e.actor, e.at, p.reason)
        elif e.kind is EventKind.PROPOSAL_EXPIRED:
            step["expired_at"] = e.at
        elif isinstance(p, Executed) and e.kind is EventKind.EXECUTED:
            step["executed"] = (p.agent or e.actor, e.at, e.text)
        elif isinstance(p, Executed) and e.kind is EventKind.EXECUTION_FAILED:
            step["failed"] = (p.agent or e.actor, e.at, e.text)
        elif e.kind is EventKind.TASK_DONE:
            step["executed"] = (e.actor, e.at, "done by hand")
        elif isinstance(p, Checked) and e.kind is EventKind.VERIFIED:
            step["verified_at"] = e.at
        elif isinstance(p, Checked) and e.kind is EventKind.VERIFICATION_FAILED:
            step["not_verified_at"] = e.at
    return tuple(Step(**found[n]) for n in sorted(found))


def _metrics(events: Sequence[TimelineEvent], diagnosed: TimelineEvent | None) -> Metrics:
    triggered = first_at(events, EventKind.TRIGGERED)
    began = _began(events, diagnosed)

    def since(at: datetime | None, start: datetime | None) -> float | None:
        return round((at - start).total_seconds(), 3) if at is not None and start is not None else None

    return Metrics(
        began,
        triggered,
        since(triggered, began),
        since(first_at(events, EventKind.ACKNOWLEDGED), triggered),
        since(first_at(events, EventKind.VERIFIED), triggered),
        since(last_at(events, EventKind.RESOLVED), triggered),
    )


def _began(events: Sequence[TimelineEvent], diagnosed: TimelineEvent | None) -> datetime | None:
    """When the cause began, where the timeline says: the start the declaration names (a burn's), or the one the
    diagnosis found (a deploy); never after the trigger."""
    starts: list[datetime] = []
    for e in events:
        p = payload_of(e)
        if isinstance(p, Declared) and p.began_at:
            starts.append(datetime.fromisoformat(p.began_at))
    if diagnosed is not None and isinstance(d := payload_of(diagnosed), Diagnosed) and d.began_at:
        starts.append(datetime.fromisoformat(d.began_at))
    triggered = first_at(events, EventKind.TRIGGERED)
    starts = [s for s in starts if triggered is None or s <= triggered]
    return min(starts) if starts else None


def _action_items(
    budgets: Sequence[BudgetSpent],
    hypotheses: Sequence[Cause],
    steps: Sequence[Step],
    follow_ups: Mapping[str, Sequence[str]],
) -> tuple[ActionItem, ...]:
    items: list[ActionItem] = []
    for spent in sorted(budgets, key=lambda s: (-s.share, s.slo)):
        if spent.share > P0_BUDGET_SHARE:
            items.append(
                ActionItem(
                    "P0",
                    f"Stop what spent {spent.share:.1%} of {spent.slo}'s {spent.period} error budget: fix the cause "
                    "before new features ship to this service",
                    "error budget policy",
                )
            )
    done = [s.action for s in steps if s.executed is not None]
    for cause in hypotheses[:1]:  # what the likely cause calls for, but what was done
        for text in cause.recommendations:
            if not any(covers(action, text) for action in done):
                items.append(ActionItem("P1", text, "diagnosis"))
    seen: set[str] = set()
    for step in steps:
        for text in follow_ups.get(step.runbook, ()):
            if text not in seen:
                seen.add(text)
                items.append(ActionItem("P2", text, f"runbook {step.runbook}"))
    return tuple(items)


def duration(seconds: float | None) -> str:
    """A span in words: "45 s", "6.5 min", "20.0 h", "3.2 days"; "unknown" for None."""
    if seconds is None:
        return "unknown"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _summary(
    service: str,
    title: str,
    impact: Impact,
    cause: Cause | None,
    steps: Sequence[Step],
    metrics: Metrics,
    resolved: bool,
    resolution: str,
) -> str:
    """One paragraph: what broke, for whom, how long, how it was fixed."""
    parts = [f"{title.rstrip('.')}." if title.startswith(service) else f"{service}: {title.rstrip('.')}."]
    if impact.known:
        seen = ", ".join(impact.user_facing) if impact.user_facing else "no user-facing service"
        users = f" (about {impact.users:,} users)" if impact.users else ""
        parts.append(f"Users saw it through {seen}{users}." if impact.user_facing else "Users did not see it.")
    if cause is not None:
        parts.append(f"Likely cause{'' if cause.by == _BOT else f' (per {cause.by})'}: {cause.text.rstrip('.')}.")
    fixed = [s for s in steps if s.verified_at is not None]
    if fixed:
        parts.append(f"Fixed by: {'; '.join(s.action for s in fixed)} (verified).")
    elif any(s.executed for s in steps):
        parts.append(f"Tried: {'; '.join(s.action for s in steps if s.executed)} (not verified).")
    if resolved and metrics.time_to_resolve_s is not None:
        parts.append(
            f"Resolved after {duration(metrics.time_to_resolve_s)}" + (f": {resolution}." if resolution else ".")
        )
    elif not resolved:
        parts.append("Not resolved yet.")
    return " ".join(parts)
