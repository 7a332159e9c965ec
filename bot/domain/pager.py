"""What a paging service tells sre-agent, in its own terms and no service's: an incident it pages for, and the
events about it (triggered, acknowledged, resolved, reopened, annotated, priority changed, escalated). Each
service's webhook is parsed into these by its adapter (bot/adapters/pagerduty/events.py); the services read only
these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.domain.severity import Severity

# the dedup key (PagerDuty's incident_key, OpsGenie's alias) of an incident sre-agent asks the pager to open for a
# declaration or a burning SLO
DECLARED_KEY_PREFIX = "sre-agent-"


def declared(incident_key: str | None) -> bool:
    """Whether the pager's incident with this dedup key is one sre-agent asked it to open."""
    return incident_key is not None and incident_key.startswith(DECLARED_KEY_PREFIX)


def declaration_lock(incident_key: str) -> str:
    """The lock a declaration holds from asking the pager to open its incident until that incident is stored and
    opened, for the incident's dedup key. The pager's webhook about a `declared` incident takes it too: arriving
    meanwhile, it finds the declared incident once the lock is let go, rather than opening it as a page of its own
    (acknowledged for the on-call, and diagnosed afresh)."""
    return f"declaring:{incident_key}"


class PagerEventKind(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    UNACKNOWLEDGED = "unacknowledged"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    ESCALATED = "escalated"
    REASSIGNED = "reassigned"
    PRIORITY_CHANGED = "priority_changed"
    ANNOTATED = "annotated"
    OTHER = "other"  # stored, acknowledged and ignored


@dataclass(frozen=True)
class PagedIncident:
    """An incident as the paging service describes it."""

    id: str
    number: int | None
    status: str
    title: str
    urgency: str | None
    priority: str | None
    service_id: str
    service_name: str
    escalation_policy_id: str | None
    html_url: str | None
    incident_key: str | None
    created_at: datetime | None
    severity: Severity  # the adapter's mapping of its priority (or urgency) onto P1..P5


@dataclass(frozen=True)
class PagerEvent:
    """One event from the paging service. `event_type` is its own name for it (`incident.triggered`), for the
    timeline's text and the logs; `kind` is what sre-agent acts on."""

    id: str
    kind: PagerEventKind
    event_type: str
    occurred_at: datetime
    incident_id: str | None
    agent_name: str | None = None
    agent_id: str | None = None
    incident: PagedIncident | None = None
    note_id: str | None = None
    note_content: str | None = None

    @property
    def known(self) -> bool:
        return self.kind is not PagerEventKind.OTHER

    @property
    def by_human(self) -> bool:
        return self.agent_id is not None and (self.agent_name is not None)


class Outcome:
    """What became of an event: acted on, or acknowledged and ignored."""

    HANDLED = "handled"
    IGNORED = "ignored"
