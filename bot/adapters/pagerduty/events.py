"""PagerDuty webhook v3 events parsed and validated from the wire JSON into the pager-neutral PagerEvent."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from bot.domain.errors import InvalidEvent
from bot.domain.pager import PagedIncident, PagerEvent, PagerEventKind
from bot.domain.severity import Severity
from bot.domain.wire import clean_text, is_plain_url, load_json

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


# What each field may hold, so that whatever is accepted can be stored, shown and used to the end (the README's
# "What a webhook may carry"). Identifiers go into PagerDuty API paths and database keys: PagerDuty's own are short
# letters and digits.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_INCIDENT_NUMBER = 2**31 - 1  # PagerDuty numbers incidents from 1; the store keeps a 32-bit integer
TITLE_LIMIT = 1024  # PagerDuty's own limit on an incident title
NAME_LIMIT = 255
NOTE_LIMIT = 25_000
URL_LIMIT = 2048
EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_.]{0,63}$"


def _timestamp(value: Any) -> datetime:
    """An ISO 8601 string; one without a time zone is UTC (PagerDuty writes UTC); held as aware UTC."""
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 timestamp string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 timestamp: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp out of range") from None


def _identifier(value: str) -> str:
    if not re.fullmatch(ID_PATTERN, value):
        raise ValueError("not a PagerDuty id (1 to 64 letters, digits, '.', '_' or '-')")
    return value


def _event_type(value: str) -> str:
    if not re.fullmatch(EVENT_TYPE_PATTERN, value):
        raise ValueError("not an event type (such as incident.triggered)")
    return value


def _text(limit: int) -> Any:
    return AfterValidator(lambda value: clean_text(value, limit))


def _url(value: str | None) -> str | None:
    """Only a plain http(s) URL is kept as a link; anything else is dropped (the link is only shown)."""
    if value is None or len(value) > URL_LIMIT or not is_plain_url(value):
        return None
    return value


Id = Annotated[str, AfterValidator(_identifier)]
Timestamp = Annotated[datetime, BeforeValidator(_timestamp)]
Title = Annotated[str, _text(TITLE_LIMIT)]
Name = Annotated[str, _text(NAME_LIMIT)]
Note = Annotated[str, _text(NOTE_LIMIT)]
Url = Annotated[str | None, AfterValidator(_url)]


class _Reference(_Loose):
    id: Id
    summary: Name | None = None


class _IncidentData(_Loose):
    id: Id
    type: str | None = None
    number: Annotated[int, Field(strict=True, ge=1, le=MAX_INCIDENT_NUMBER)] | None = None
    status: Literal["triggered", "acknowledged", "resolved"]
    title: Title
    incident_key: Name | None = None
    urgency: Literal["high", "low"] | None = None
    priority: _Reference | None = None
    service: _Reference
    escalation_policy: _Reference | None = None
    html_url: Url = None
    created_at: Timestamp | None = None


class _NoteData(_Loose):
    id: Id
    content: Note
    incident: _Reference


class _Agent(_Loose):
    id: Id | None = None
    summary: Name | None = None
    type: Name | None = None


class _Envelope(_Loose):
    id: Id
    event_type: Annotated[str, AfterValidator(_event_type)]
    resource_type: Name | None = None
    occurred_at: Timestamp
    agent: _Agent | None = None
    data: dict[str, Any]


_KINDS = {
    "incident.triggered": PagerEventKind.TRIGGERED,
    "incident.acknowledged": PagerEventKind.ACKNOWLEDGED,
    "incident.unacknowledged": PagerEventKind.UNACKNOWLEDGED,
    "incident.resolved": PagerEventKind.RESOLVED,
    "incident.reopened": PagerEventKind.REOPENED,
    "incident.escalated": PagerEventKind.ESCALATED,
    "incident.reassigned": PagerEventKind.REASSIGNED,
    "incident.priority_updated": PagerEventKind.PRIORITY_CHANGED,
    "incident.annotated": PagerEventKind.ANNOTATED,
}


def _reason(error: ValidationError, prefix: str) -> str:
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in (prefix, *first["loc"]))
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {clean_text(message[:1].lower() + message[1:], 300)}"


def read_pagerduty_event(text: str, received_at: datetime | None = None) -> PagerEvent:
    """A stored or received webhook body (text) as the domain value: bounded JSON, then parse_pagerduty_event.
    The webhook route and the intake's worker both read a body through this one function, so what was accepted
    reads the same when it is processed. (`received_at` is the intake's for every reader; PagerDuty's events carry
    their own time.)"""
    return parse_pagerduty_event(load_json(text))


def parse_pagerduty_event(body: Any) -> PagerEvent:
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
        "kind": _KINDS.get(envelope.event_type, PagerEventKind.OTHER),
        "event_type": envelope.event_type,
        "occurred_at": envelope.occurred_at,
        "agent_name": agent.summary if agent else None,
        "agent_id": agent.id if agent and agent.type in (None, "user_reference", "user") else None,
    }
    try:
        if envelope.event_type in INCIDENT_EVENTS:
            data = _IncidentData.model_validate(envelope.data)
            incident = PagedIncident(
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
                # an incident is not created after an event about it occurred: a later clock is not believed
                created_at=min(data.created_at, envelope.occurred_at) if data.created_at else None,
                severity=severity_from_pagerduty(data.priority.summary if data.priority else None, data.urgency),
            )
            return PagerEvent(**common, incident_id=data.id, incident=incident)
        if envelope.event_type in NOTE_EVENTS:
            note = _NoteData.model_validate(envelope.data)
            return PagerEvent(**common, incident_id=note.incident.id, note_id=note.id, note_content=note.content)
    except ValidationError as error:
        raise InvalidEvent(_reason(error, "event.data")) from error
    incident_id = envelope.data.get("id") if envelope.data.get("type") == "incident" else None
    usable = isinstance(incident_id, str) and re.fullmatch(ID_PATTERN, incident_id) is not None
    return PagerEvent(**common, incident_id=incident_id if usable else None)


# Without a priority, PagerDuty's urgency is all there is: high pages wake people (P2), low ones wait (P4).
_URGENCY = {"high": Severity.P2, "low": Severity.P4}


def severity_from_pagerduty(priority_summary: str | None, urgency: str | None) -> Severity:
    """PagerDuty priority ('P1'..'P5', or custom names like 'SEV-2') wins; else urgency; else P3."""
    if priority_summary:
        parsed = Severity.parse(priority_summary)
        if parsed is not None:
            return parsed
    return _URGENCY.get((urgency or "").lower(), Severity.P3)
