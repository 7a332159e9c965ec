"""PagerDuty account state and the JSON shapes PagerDuty uses (references, incidents, users, notes)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox.core import iso_s
from sandbox.world import EscalationPolicy, Person, Service, World

__all__ = ["PRIORITIES", "Incident", "Note", "PDCall", "PDError", "Shapes", "StatusUpdate", "new_pd_id"]

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ULID = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

# summary -> id (P1 id as in PagerDuty's samples)
PRIORITIES: dict[str, str] = {"P1": "PSO75BM", "P2": "PBZU5SU", "P3": "PT4KHLK", "P4": "PD2HT0K", "P5": "P8WQ9HV"}


def new_pd_id(prefix: str = "P", length: int = 7) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length - len(prefix)))


def new_event_id() -> str:
    return "01" + "".join(secrets.choice(_ULID) for _ in range(14))


class PDError(Exception):
    """A REST error answer ``{"error": {"message", "code", "errors"?}}``."""

    def __init__(self, status: int, message: str, code: int, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.errors = errors

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            err["errors"] = self.errors
        return {"error": err}


def not_found() -> PDError:
    return PDError(404, "Not Found", 2100)


def invalid(*errors: str) -> PDError:
    return PDError(400, "Invalid Input Provided", 2001, list(errors))


@dataclass
class PDCall:
    method: str
    path: str
    query: dict[str, Any]
    body: Any
    status: int
    at_monotonic: float
    at: str
    from_email: str | None
    elapsed_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "body": self.body,
            "status": self.status,
            "at_monotonic": self.at_monotonic,
            "at": self.at,
            "from_email": self.from_email,
            "elapsed_ms": self.elapsed_ms,
        }


@dataclass
class Note:
    id: str
    incident_id: str
    person_key: str
    content: str
    created_at: datetime
    at_monotonic: float


@dataclass
class StatusUpdate:
    id: str
    incident_id: str
    person_key: str
    message: str
    created_at: datetime
    at_monotonic: float


@dataclass
class Incident:
    id: str
    number: int
    title: str
    status: str  # triggered | acknowledged | resolved
    incident_key: str
    urgency: str
    priority: str | None  # "P1".."P5"
    service: Service
    escalation_policy: EscalationPolicy
    escalation_level: int
    assignees: list[str]  # person keys
    created_at: datetime
    at_monotonic: float
    notes: list[Note] = field(default_factory=list)
    status_updates: list[StatusUpdate] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)  # status changes: {status, by, at, at_monotonic}
    alert_count: int = 1
    resolution: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status != "resolved"


class Shapes:
    """Builds PagerDuty JSON objects. ``self`` links point at the API the sandbox serves (so pdpyras can follow them),
    ``html_url`` at ``https://{subdomain}.pagerduty.com``."""

    def __init__(self, world: World, api_base: str) -> None:
        self.world = world
        self.api_base = api_base
        self.web = f"https://{world.pagerduty.subdomain}.pagerduty.com"

    def user_ref(self, p: Person) -> dict[str, Any]:
        return {
            "id": p.pagerduty_id,
            "type": "user_reference",
            "summary": p.name,
            "self": f"{self.api_base}/users/{p.pagerduty_id}",
            "html_url": f"{self.web}/users/{p.pagerduty_id}",
        }

    def user(self, p: Person) -> dict[str, Any]:
        return {
            "id": p.pagerduty_id,
            "type": "user",
            "summary": p.name,
            "name": p.name,
            "email": p.email,
            "time_zone": "Etc/UTC",
            "color": "purple",
            "role": "user",
            "avatar_url": None,
            "description": None,
            "invitation_sent": False,
            "job_title": None,
            "teams": [],
            "contact_methods": [],
            "notification_rules": [],
            "self": f"{self.api_base}/users/{p.pagerduty_id}",
            "html_url": f"{self.web}/users/{p.pagerduty_id}",
        }

    def service_ref(self, s: Service) -> dict[str, Any]:
        return {
            "id": s.pagerduty_id,
            "type": "service_reference",
            "summary": s.name,
            "self": f"{self.api_base}/services/{s.pagerduty_id}",
            "html_url": f"{self.web}/service-directory/{s.pagerduty_id}",
        }

    def service(self, s: Service, status: str = "active") -> dict[str, Any]:
        ep = self.world.escalation_policy(s.escalation_policy)
        return {
            "id": s.pagerduty_id,
            "type": "service",
            "summary": s.name,
            "name": s.name,
            "description": None,
            "status": status,
            "auto_resolve_timeout": None,
            "acknowledgement_timeout": None,
            "escalation_policy": self.ep_ref(ep) if ep else None,
            "teams": [],
            "integrations": [],
            "incident_urgency_rule": {"type": "constant", "urgency": "high"},
            "alert_creation": "create_alerts_and_incidents",
            "created_at": "2025-01-01T00:00:00Z",
            "self": f"{self.api_base}/services/{s.pagerduty_id}",
            "html_url": f"{self.web}/service-directory/{s.pagerduty_id}",
        }

    def ep_ref(self, ep: EscalationPolicy) -> dict[str, Any]:
        return {
            "id": ep.id,
            "type": "escalation_policy_reference",
            "summary": ep.name,
            "self": f"{self.api_base}/escalation_policies/{ep.id}",
            "html_url": f"{self.web}/escalation_policies/{ep.id}",
        }

    def escalation_policy(self, ep: EscalationPolicy) -> dict[str, Any]:
        rules = []
        for i, level in enumerate(ep.levels):
            targets = [self.user_ref(self.world.person(k)) for k in level]
            rules.append(
                {
                    "id": f"R{ep.id[1:]}{i + 1}",
                    "escalation_delay_in_minutes": 30,
                    "targets": [dict(t, type="user_reference") for t in targets],
                }
            )
        return {
            "id": ep.id,
            "type": "escalation_policy",
            "summary": ep.name,
            "name": ep.name,
            "escalation_rules": rules,
            "num_loops": 0,
            "services": [self.service_ref(s) for s in self.world.services if s.escalation_policy == ep.id],
            "teams": [],
            "description": "",
            "self": f"{self.api_base}/escalation_policies/{ep.id}",
            "html_url": f"{self.web}/escalation_policies/{ep.id}",
        }

    def priority_ref(self, summary: str) -> dict[str, Any]:
        pid = PRIORITIES[summary]
        return {
            "id": pid,
            "type": "priority_reference",
            "summary": summary,
            "self": f"{self.api_base}/priorities/{pid}",
            "html_url": None,
        }

    def priority(self, summary: str, order: int) -> dict[str, Any]:
        pid = PRIORITIES[summary]
        return {
            "id": pid,
            "type": "priority",
            "summary": summary,
            "name": summary,
            "description": f"Priority {summary}",
            "order": order,
            "color": "a8171c",
            "account_default": False,
            "schema_version": 0,
            "self": f"{self.api_base}/priorities/{pid}",
            "html_url": None,
        }

    def incident_ref(self, inc: Incident) -> dict[str, Any]:
        return {
            "id": inc.id,
            "type": "incident_reference",
            "self": f"{self.api_base}/incidents/{inc.id}",
            "html_url": f"{self.web}/incidents/{inc.id}",
        }

    def incident(self, inc: Incident) -> dict[str, Any]:
        """Exactly the fields of the webhook samples' ``data``."""
        return {
            "id": inc.id,
            "type": "incident",
            "self": f"{self.api_base}/incidents/{inc.id}",
            "html_url": f"{self.web}/incidents/{inc.id}",
            "number": inc.number,
            "status": inc.status,
            "incident_key": inc.incident_key,
            "created_at": iso_s(inc.created_at),
            "title": inc.title,
            "service": self.service_ref(inc.service),
            "assignees": [self.user_ref(self.world.person(k)) for k in inc.assignees],
            "escalation_policy": self.ep_ref(inc.escalation_policy),
            "teams": [],
            "priority": self.priority_ref(inc.priority) if inc.priority else None,
            "urgency": inc.urgency,
            "conference_bridge": None,
            "resolve_reason": None,
        }

    def rest_incident(self, inc: Incident) -> dict[str, Any]:
        """The REST v2 incident: the webhook fields plus those only REST has (``incident_number``, ``summary``,
        ``assignments`` with their times, ``last_status_change_at``). Like PagerDuty's, it carries no escalation
        level: that shows only in whom the incident is assigned to."""
        at = iso_s(inc.created_at)
        return {
            **self.incident(inc),
            "summary": f"[#{inc.number}] {inc.title}",
            "incident_number": inc.number,
            "assignments": [{"at": at, "assignee": self.user_ref(self.world.person(k))} for k in inc.assignees],
            "assigned_via": "escalation_policy",
            "last_status_change_at": at,
        }

    def note(self, n: Note) -> dict[str, Any]:
        return {
            "id": n.id,
            "user": self.user_ref(self.world.person(n.person_key)),
            "channel": {"summary": "The PagerDuty website or APIs"},
            "content": n.content,
            "created_at": iso_s(n.created_at),
        }

    def status_update(self, su: StatusUpdate) -> dict[str, Any]:
        return {
            "id": su.id,
            "message": su.message,
            "sender": self.user_ref(self.world.person(su.person_key)),
            "created_at": iso_s(su.created_at),
            "type": "status_update",
            "subject": None,
            "html_message": None,
        }
