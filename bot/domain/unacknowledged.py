"""When a page nobody has acknowledged is escalated (pure: the policy, and whether a person has taken it).

sre-agent acknowledges a page on the pager as it opens the incident, which stops the pager's own escalation. So it
escalates itself when no person takes the incident within the severity's time: a person's acknowledgement on the
pager, `/incident ack`, taking command, approving or noting anything: any event on the timeline that a person (not
sre-agent, not the pager by itself) made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta

from bot.domain.severity import Severity
from bot.domain.timeline import TimelineEvent

DEFAULT_POLICY = "P1=5,P2=10,P3=30"  # minutes; P4 and P5 are not escalated
REASON = "nobody acknowledged it within {minutes:g} minutes"


def parse_policy(text: str) -> dict[Severity, float]:
    """`P1=5,P2=10,P3=30` -> minutes by severity; an empty text or `off` escalates none. ValueError says what is
    wrong."""
    text = text.strip()
    if not text or text.lower() == "off":
        return {}
    policy: dict[Severity, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        severity = Severity.parse(name.strip())
        if not sep or severity is None:
            raise ValueError(f"{part.strip()!r}: expected SEVERITY=MINUTES, like P1=5")
        try:
            minutes = float(value)
        except ValueError:
            raise ValueError(f"{part.strip()!r}: {value.strip()!r} is not a number of minutes") from None
        if not 0 < minutes <= 24 * 60:
            raise ValueError(f"{part.strip()!r}: minutes must be more than 0 and at most 1440")
        policy[severity] = minutes
    return policy


def escalate_after(policy: Mapping[Severity, float], severity: Severity) -> timedelta | None:
    minutes = policy.get(severity)
    return timedelta(minutes=minutes) if minutes is not None else None


def by_a_person(actor: str) -> bool:
    """`slack:U0DANA`, `pagerduty:Dana Ortiz`, `opsgenie:Dana Ortiz` are people; `sre-agent` and a pager alone
    (`pagerduty`) are not."""
    kind, _, who = actor.partition(":")
    return bool(who) and kind != "sre-agent"


def taken_by_a_person(timeline: Iterable[TimelineEvent]) -> bool:
    return any(by_a_person(event.actor) for event in timeline)
