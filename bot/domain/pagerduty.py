"""PagerDuty webhook v3 events as domain values, parsed and validated from the wire JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.domain.errors import InvalidEvent

INCIDENT_EVENTS = frozenset(
    {
        "incident.triggered",
        "incident.acknowledged",
        "incident.unacknowledged",
        "incident.resolved",
        "incident.reopened",
        "incident.escalated",
        "incident.reassigned",
        "incident.priority_updated",
    }
)
NOTE_EVENTS = frozenset({"incident.annotated"})


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Reference(_Loose):
    id: str
    summary: str | None = None


class _IncidentData(_Loose):
    id: str = Field(min_length=1)
    type: str | None = None
    number: int | None = None
    status: str
    title: str
    incident_key: str | None = None
    urgency: str | None = None
    priority: _Reference | None = None
    service: _Reference
    escalation_policy: _Reference | None = None
    html_url: str | None = None
    created_at: datetime | None = None


class _NoteData(_Loose):
    id: str
    content: str
    incident: _Reference


class _Agent(_Loose):
    id: str | None = None
    summary: str | None = None
    type: str | None = None


class _Envelope(_Loose):
    id: str = Field(min_length=1)
    event_type: str = Field(min_length=1)
    resource_type: str | None = None
    occurred_at: datetime
    agent: _Agent | None = None
    data: dict[str, Any]


@dataclass(frozen=True)
class PagerDutyIncident:
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


@dataclass(frozen=True)
class PagerDutyEvent:
    id: str
    event_type: str
    occurred_at: datetime
    incident_id: str | None
    agent_name: str | None = None
    agent_id: str | None = None
    incident: PagerDutyIncident | None = None
    note_id: str | None = None
    note_content: str | None = None

    @property
    def known(self) -> bool:
        return self.event_type in INCIDENT_EVENTS or self.event_type in NOTE_EVENTS

    @property
    def by_human(self) -> bool:
        return self.agent_id is not None and (self.agent_name is not None)


def _reason(error: ValidationError, prefix: str) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in (prefix, *first["loc"]))
    return f"{where}: {first['msg'].lower()}"


def parse_pagerduty_event(body: Any) -> PagerDutyEvent:
    """Validate a webhook v3 body. Known event types must carry their fields; unknown ones only the envelope.

    Raises InvalidEvent with the path of the first problem (`event.data.title: field required`).
    """
    if not isinstance(body, dict) or not isinstance(body.get("event"), dict):
        raise InvalidEvent("body: expected an object with an 'event' object")
    try:
        envelope = _Envelope.model_validate(body["event"])
    except ValidationError as error:
        raise InvalidEvent(_reason(error, "event")) from error
    agent = envelope.agent
    common: dict[str, Any] = {
        "id": envelope.id,
        "event_type": envelope.event_type,
        "occurred_at": envelope.occurred_at,
        "agent_name": agent.summary if agent else None,
        "agent_id": agent.id if agent and agent.type in (None, "user_reference", "user") else None,
    }
    try:
        if envelope.event_type in INCIDENT_EVENTS:
            data = _IncidentData.model_validate(envelope.data)
            incident = PagerDutyIncident(
                id=data.id,
                number=data.number,
                status=data.status,
                title=data.title,
                urgency=data.urgency,
                priority=data.priority.summary if data.priority else None,
                service_id=data.service.id,
                service_name=data.service.summary or data.service.id,
                escalation_policy_id=data.escalation_policy.id if data.escalation_policy else None,
                html_url=data.html_url,
                incident_key=data.incident_key,
                created_at=data.created_at,
            )
            return PagerDutyEvent(**common, incident_id=data.id, incident=incident)
        if envelope.event_type in NOTE_EVENTS:
            note = _NoteData.model_validate(envelope.data)
            return PagerDutyEvent(**common, incident_id=note.incident.id, note_id=note.id, note_content=note.content)
    except ValidationError as error:
        raise InvalidEvent(_reason(error, "event.data")) from error
    incident_id = envelope.data.get("id") if envelope.data.get("type") == "incident" else None
    return PagerDutyEvent(**common, incident_id=incident_id if isinstance(incident_id, str) else None)
