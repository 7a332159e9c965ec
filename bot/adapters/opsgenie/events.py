"""OpsGenie (and JSM Operations) outgoing webhooks parsed into the pager-neutral PagerEvent.

The body is `{"action": "Create" | "Acknowledge" | ..., "alert": {...}, "source": {...}, "integrationId", ...}`;
an `Escalate` body carries `escalationId`/`escalationName` at the top and only `alert.alertId`. OpsGenie sends no
delivery id, so `delivery_id` derives one from what identifies the change: the action, the alert and its
`updatedAt` (nanoseconds, new with every change); a repeated delivery has the same, so it is stored once. A second
`Create` for the same alert (OpsGenie sends one when a team is added to it) is one delivery too.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from bot.domain.errors import InvalidEvent
from bot.domain.pager import PagedIncident, PagerEvent, PagerEventKind
from bot.domain.severity import Severity
from bot.domain.wire import clean_text, load_json

SOURCE = "opsgenie"
# OpsGenie's ids are UUIDs, JSM Operations' the same with `-<epoch ms>` after them; aliases are the sender's own
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
MESSAGE_LIMIT = 1024  # OpsGenie cuts a message at 130 characters; leave room for other senders
NAME_LIMIT = 255
NOTE_LIMIT = 25_000  # OpsGenie's own limit on a note

_KINDS = {
    "Create": PagerEventKind.TRIGGERED,
    "Acknowledge": PagerEventKind.ACKNOWLEDGED,
    "UnAcknowledge": PagerEventKind.UNACKNOWLEDGED,
    "Close": PagerEventKind.RESOLVED,
    "AddNote": PagerEventKind.ANNOTATED,
    "Escalate": PagerEventKind.ESCALATED,
    "EscalateNext": PagerEventKind.ESCALATED,
    "UpdatePriority": PagerEventKind.PRIORITY_CHANGED,
}
_STATUS = {"Acknowledge": "acknowledged", "Close": "resolved"}
# whoever OpsGenie names when no person did it
_NOBODY = frozenset({"", "system", "opsgenie"})


def _identifier(value: str) -> str:
    if not re.fullmatch(ID_PATTERN, value):
        raise ValueError("not an OpsGenie id (1 to 128 letters, digits, '.', '_', ':' or '-')")
    return value


def _text(limit: int) -> Any:
    return AfterValidator(lambda value: clean_text(value, limit))


def _epoch(unit: float) -> Any:
    """An integer time since the epoch in `unit` seconds (createdAt is in milliseconds, updatedAt in nanoseconds)."""

    def read(value: Any) -> datetime:
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
            raise ValueError("expected a whole number of time since the epoch")
        try:
            return datetime.fromtimestamp(int(value) * unit, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError("time out of range") from None

    return BeforeValidator(read)


def _priority(value: Any) -> Any:
    """`P1`..`P5`; some senders write the number alone (3)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = f"P{value}"
    if not isinstance(value, str) or Severity.parse(value) is None:
        raise ValueError("expected a priority P1 to P5")
    return f"P{Severity.parse(value).rank}"  # type: ignore[union-attr]


Id = Annotated[str, AfterValidator(_identifier)]
Name = Annotated[str, _text(NAME_LIMIT)]


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Alert(_Loose):
    alertId: Id
    message: Annotated[str, _text(MESSAGE_LIMIT)] | None = None
    tinyId: Annotated[str, Field(pattern=r"^[0-9]{1,9}$")] | None = None
    alias: Name | None = None
    entity: Name | None = None
    priority: Annotated[str, BeforeValidator(_priority)] | None = None
    createdAt: Annotated[datetime, _epoch(1e-3)] | None = None
    updatedAt: Annotated[datetime, _epoch(1e-9)] | None = None
    username: Name | None = None
    userId: Name | None = None
    note: Annotated[str, _text(NOTE_LIMIT)] | None = None
    details: dict[str, Any] | None = None
    tags: list[Any] | None = None


class _Body(_Loose):
    action: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")]
    alert: _Alert
    escalationName: Name | None = None


def note_key(content: str) -> str:
    """The id sre-agent gives a note: OpsGenie keeps none, so the same text is the same note (its echo is known)."""
    return "n" + hashlib.sha256(content.encode()).hexdigest()[:24]


def _delivery_id(body: _Body, text: str) -> str:
    """What identifies one delivery of this body (see the module's docstring)."""
    alert = body.alert
    if body.action == "Create":
        return f"Create:{alert.alertId}"
    if alert.updatedAt is not None:
        return f"{body.action}:{alert.alertId}:{int(alert.updatedAt.timestamp() * 1e6)}"
    return f"{body.action}:{alert.alertId}:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def _validated(body: Any) -> _Body:
    if not isinstance(body, dict):
        raise InvalidEvent("body: expected an object with 'action' and 'alert'")
    try:
        return _Body.model_validate(body)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise InvalidEvent(f"{where}: {clean_text(message[:1].lower() + message[1:], 300)}") from error


EscalationOf = Callable[[str], str | None]  # a service's name -> the escalation its pages follow (the catalog's)


def alert_url(app_url: str | None, alert_id: str) -> str | None:
    """The alert's page in OpsGenie's web app (OPSGENIE_APP_URL), where one is configured."""
    return f"{app_url}/alert/detail/{alert_id}/details" if app_url else None


def read_opsgenie_event(
    text: str,
    received_at: datetime | None = None,
    *,
    escalation_of: EscalationOf | None = None,
    app_url: str | None = None,
) -> PagerEvent:
    """A stored or received webhook body as the domain value. `received_at` stands in for the time of a body that
    carries none (an Escalate); `escalation_of` finds the escalation of the alert's service, which OpsGenie's body
    does not name; `app_url` is the web app the alert's link points into."""
    body = _validated(load_json(text))
    alert = body.alert
    occurred = alert.updatedAt or alert.createdAt or received_at
    if occurred is None:
        raise InvalidEvent("alert.updatedAt: field required")
    who = alert.username if alert.username and alert.username.lower() not in _NOBODY else None
    kind = _KINDS.get(body.action, PagerEventKind.OTHER)
    common: dict[str, Any] = {
        "id": _delivery_id(body, text),  # the delivery's: what the intake dedups on
        "kind": kind,
        "event_type": f"alert.{body.action}",
        "occurred_at": occurred,
        "incident_id": alert.alertId,
        "agent_name": who,
        "agent_id": who,  # OpsGenie names people by username; so do sre-agent's on-call lists from it
    }
    if kind is PagerEventKind.ANNOTATED:
        if not alert.note:
            raise InvalidEvent("alert.note: field required")
        return PagerEvent(**common, note_id=note_key(alert.note), note_content=alert.note)
    if kind is PagerEventKind.ESCALATED or alert.message is None:
        if kind in (PagerEventKind.TRIGGERED, PagerEventKind.PRIORITY_CHANGED):
            raise InvalidEvent("alert.message: field required")
        return PagerEvent(**common)
    service = _service(alert)
    incident = PagedIncident(
        id=alert.alertId,
        number=int(alert.tinyId) if alert.tinyId else None,
        status=_STATUS.get(body.action, "triggered"),
        title=alert.message,
        urgency=None,
        priority=alert.priority,
        service_id=service,
        service_name=service,
        escalation_policy_id=escalation_of(service) if escalation_of and service else None,
        html_url=alert_url(app_url, alert.alertId),
        incident_key=alert.alias,
        # an alert is not created after an event about it occurred: a later clock is not believed
        created_at=min(alert.createdAt, occurred) if alert.createdAt else None,
        severity=severity_from_opsgenie(alert.priority),
    )
    return PagerEvent(**common, incident=incident)


def _service(alert: _Alert) -> str:
    """The service an alert is about: its `service` detail, else its entity, else nothing."""
    named = (alert.details or {}).get("service")
    if isinstance(named, str) and named.strip():
        return clean_text(named.strip(), NAME_LIMIT)
    return alert.entity or ""


def severity_from_opsgenie(priority: str | None) -> Severity:
    """OpsGenie's priorities are P1 to P5, as sre-agent's severities are; none is P3 (OpsGenie's default)."""
    return (Severity.parse(priority) if priority else None) or Severity.P3
