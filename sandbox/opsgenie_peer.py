"""OpsGenie peer: the Alert API v2 as OpsGenie speaks it (GenieKey auth, asynchronous writes answered 202 with a
request id and carried out a moment later, the request-status endpoint, alias dedup), escalations and schedules built
from the world's escalation policies, users, and outgoing webhooks with a shared secret in a header (OpsGenie signs
nothing). People's actions (acknowledge, close, note) come through `acknowledge` and friends, as from its app.

The world's escalation policy `Checkout on-call` is OpsGenie escalation `Checkout on-call` whose rule n notifies
schedule `Checkout on-call level n`, on call there: the policy's level n. Usernames are people's e-mails.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox.core import Runtime, iso_ms
from sandbox.pagerduty_webhooks import Delivery, WebhookDeliverer
from sandbox.world import EscalationPolicy, Person, World

__all__ = ["OG_API_KEY", "OG_WEBHOOK_HEADER", "Alert", "OGCall", "OpsGeniePeer"]

OG_API_KEY = "sandbox-og-key-0000-0000-000000000000"
OG_WEBHOOK_HEADER = "X-SRE-Webhook-Secret"
INTEGRATION_ID = "4513b7ea-3b91-438f-b7e4-e3e54af9147c"
_NS = uuid.UUID("6f1f7a52-5a53-4e0b-9a4a-0d2f6c1b7e10")
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
SYSTEM = "System"  # who OpsGenie names for what an integration (not a person) did


def og_id(*parts: str) -> str:
    """A stable OpsGenie-shaped id (a UUID) for a thing of the world."""
    return str(uuid.uuid5(_NS, "/".join(parts)))


def _ns(dt: datetime) -> int:
    return int(dt.timestamp() * 1_000_000) * 1000


@dataclass
class OGCall:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    at: str


@dataclass
class Alert:
    id: str
    tiny_id: str
    alias: str
    message: str
    description: str
    entity: str
    details: dict[str, str]
    priority: str
    escalation: EscalationPolicy | None
    created_at: datetime
    updated_at: datetime
    status: str = "open"  # open | closed
    acknowledged: bool = False
    count: int = 1
    level: int = 1  # the escalation's rule notified last
    notes: list[dict[str, Any]] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)  # usernames notified, in order
    log: list[tuple[str, str]] = field(default_factory=list)  # (action, by)

    @property
    def service(self) -> str:
        return self.details.get("service") or self.entity


@dataclass
class _RequestFault:
    action: str  # an alert action ("Acknowledge", "Close", ...) or "*"
    status: str
    remaining: int


def alert_json(alert: Alert) -> dict[str, Any]:
    """An alert as `GET /v2/alerts/{id}` shows it."""
    return {
        "id": alert.id,
        "tinyId": alert.tiny_id,
        "alias": alert.alias,
        "message": alert.message,
        "status": alert.status,
        "acknowledged": alert.acknowledged,
        "isSeen": alert.acknowledged,
        "tags": [],
        "snoozed": False,
        "count": alert.count,
        "createdAt": iso_ms(alert.created_at),
        "updatedAt": iso_ms(alert.updated_at),
        "source": "sre-agent",
        "owner": "",
        "priority": alert.priority,
        "entity": alert.entity,
        "description": alert.description,
        "details": alert.details,
        "responders": (
            [{"type": "escalation", "id": og_id("escalation", alert.escalation.id)}] if alert.escalation else []
        ),
    }


class OpsGenieDeliverer(WebhookDeliverer):
    """OpsGenie's webhook: the body as it is, the integration's custom header carrying the shared secret."""

    path = "/webhooks/opsgenie"
    feed_kind = "opsgenie.webhook"

    def __init__(self, rt: Runtime, secret: str, retry_delays: list[float], *, timeout: float, header: str) -> None:
        super().__init__(rt, [secret], retry_delays, timeout=timeout)
        self.header = header

    def _wrap(self, body: dict[str, Any]) -> dict[str, Any]:
        return body

    def _event(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "event_type": f"alert.{body.get('action', '')}"}

    def _headers(self, raw: bytes, webhook_id: str) -> dict[str, str]:
        return {"Content-Type": "application/json", self.header: self.secrets[0]}

    def _incident_of(self, d: Delivery) -> Any:
        alert = d.event.get("alert")
        return alert.get("alertId") if isinstance(alert, dict) else None


class OpsGeniePeer:
    def __init__(
        self,
        world: World,
        rt: Runtime,
        *,
        webhook_secret: str,
        retry_delays: list[float],
        webhook_timeout: float = 5.0,
        api_key: str = OG_API_KEY,
        header: str = OG_WEBHOOK_HEADER,
        processing_delay: float = 0.01,
    ) -> None:
        self.world = world
        self.rt = rt
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.processing_delay = processing_delay  # a write is carried out this long after its 202
        self.alerts: dict[str, Alert] = {}
        self.requests: dict[str, dict[str, Any]] = {}  # request id -> its status, once processed
        self.calls: list[OGCall] = []
        self.webhooks = OpsGenieDeliverer(rt, webhook_secret, retry_delays, timeout=webhook_timeout, header=header)
        self._next_tiny = 1
        self._http_faults: list[tuple[str, str, int, list[int]]] = []
        self._request_faults: list[_RequestFault] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._escalations = {og_id("escalation", e.id): e for e in world.escalation_policies}

    # ---- the world as OpsGenie has it ------------------------------------------------------------
    def escalation(self, ident: str, by: str = "id") -> EscalationPolicy | None:
        if by == "name":
            return next((e for e in self.world.escalation_policies if e.name == ident), None)
        return self._escalations.get(ident)

    def _schedule(self, ident: str, by: str) -> tuple[EscalationPolicy, int] | None:
        for policy in self.world.escalation_policies:
            for level in range(1, len(policy.levels) + 1):
                name = f"{policy.name} level {level}"
                if (by == "name" and ident == name) or (
                    by == "id" and ident == og_id("schedule", policy.id, str(level))
                ):
                    return policy, level
        return None

    def _level(self, policy: EscalationPolicy, level: int) -> list[str]:
        return [self.world.person(key).email for key in policy.levels[level - 1]]

    def _user(self, ident: str) -> Person | None:
        return self.world.person_by_email(ident) or next(
            (p for p in self.world.people if og_id("user", p.email) == ident), None
        )

    def get_alert(self, ident: str, by: str = "id") -> Alert | None:
        if by == "alias":
            return next((a for a in self.alerts.values() if a.alias == ident and a.status == "open"), None) or next(
                (a for a in reversed(self.alerts.values()) if a.alias == ident), None
            )
        if by == "tiny":
            return next((a for a in self.alerts.values() if a.tiny_id == ident), None)
        return self.alerts.get(ident)

    # ---- what happens to alerts (from the API, or from people in OpsGenie's app) -----------------
    def create(
        self,
        *,
        message: str,
        alias: str | None = None,
        entity: str = "",
        description: str = "",
        details: dict[str, str] | None = None,
        priority: str = "P3",
        escalation: EscalationPolicy | None = None,
        by: str = SYSTEM,
    ) -> tuple[Alert, bool]:
        """A new alert, or the open one with the same alias counted once more (False: not new)."""
        alias = alias or str(uuid.uuid4())
        existing = self.get_alert(alias, "alias")
        if existing is not None and existing.status == "open":
            existing.count += 1
            existing.updated_at = self.rt.now()
            return existing, False
        now = self.rt.now()
        alert = Alert(
            id=str(uuid.uuid4()),
            tiny_id=str(self._next_tiny),
            alias=alias,
            message=message[:130],
            description=description,
            entity=entity,
            details=dict(details or {}),
            priority=priority,
            escalation=escalation,
            created_at=now,
            updated_at=now,
        )
        self._next_tiny += 1
        if escalation is not None:
            alert.recipients = self._level(escalation, 1)
        self.alerts[alert.id] = alert
        alert.log.append(("Create", by))
        self.rt.feed.emit(
            "opsgenie.alert",
            alert_id=alert.id,
            tiny_id=alert.tiny_id,
            action="Create",
            by=by,
            entity=alert.entity,
            priority=alert.priority,
            message=alert.message,
        )
        self._emit("Create", alert, by)
        return alert, True

    def page(self, service_name: str, message: str, *, priority: str = "P2", alias: str | None = None) -> Alert:
        """An alert from a monitoring integration for a service of the world, along its escalation."""
        service = self.world.service(service_name)
        alert, _ = self.create(
            message=message,
            alias=alias,
            entity=service.name,
            details={"service": service.name},
            priority=priority,
            escalation=self.world.escalation_policy(service.escalation_policy),
        )
        return alert

    def _touch(self, alert: Alert, action: str, by: str, **more: Any) -> None:
        alert.updated_at = self.rt.now()
        alert.log.append((action, by))
        self.rt.feed.emit("opsgenie.alert", alert_id=alert.id, tiny_id=alert.tiny_id, action=action, by=by, **more)

    def acknowledge(self, alert: Alert, by: str) -> None:
        if alert.acknowledged or alert.status == "closed":
            return
        alert.acknowledged = True
        self._touch(alert, "Acknowledge", by)
        self._emit("Acknowledge", alert, by)

    def unacknowledge(self, alert: Alert, by: str) -> None:
        if not alert.acknowledged or alert.status == "closed":
            return
        alert.acknowledged = False
        self._touch(alert, "UnAcknowledge", by)
        self._emit("UnAcknowledge", alert, by)

    def close(self, alert: Alert, by: str, note: str = "") -> None:
        if alert.status == "closed":
            return
        alert.status = "closed"
        if note:
            alert.notes.append({"note": note, "owner": by, "createdAt": iso_ms(self.rt.now())})
        self._touch(alert, "Close", by)
        self._emit("Close", alert, by)

    def add_note(self, alert: Alert, note: str, by: str) -> None:
        alert.notes.append(
            {"note": note, "owner": by, "createdAt": iso_ms(self.rt.now()), "offset": str(len(alert.notes))}
        )
        self._touch(alert, "AddNote", by, note=note)
        self._emit("AddNote", alert, by, note=note)

    def set_priority(self, alert: Alert, priority: str, by: str) -> None:
        if alert.priority == priority:
            return
        alert.priority = priority
        self._touch(alert, "UpdatePriority", by)
        self._emit("UpdatePriority", alert, by)

    def escalate(self, alert: Alert, policy: EscalationPolicy, by: str) -> str:
        """Escalate to the escalation's next rule: its people are notified too. The status OpsGenie reports."""
        if alert.status == "closed":
            return "Alert is closed"
        alert.escalation = policy
        if alert.level < len(policy.levels):
            alert.level += 1
        for email in self._level(policy, alert.level):
            if email not in alert.recipients:
                alert.recipients.append(email)
        self._touch(alert, "Escalate", by)
        self.webhooks.deliver_raw(
            {
                "action": "Escalate",
                "escalationId": og_id("escalation", policy.id),
                "escalationName": policy.name,
                "escalationNotify": {"type": "schedule", "name": f"{policy.name} level {alert.level}"},
                "escalationTime": 0,
                "alert": {"alertId": alert.id},
                "source": {"name": by, "type": "API"},
                "integrationId": INTEGRATION_ID,
                "integrationName": "sre-agent webhook",
            }
        )
        return f"Escalated alert to {policy.name}"

    # ---- webhooks --------------------------------------------------------------------------------
    def _emit(self, action: str, alert: Alert, by: str, *, note: str | None = None) -> Delivery:
        person = self._user(by)
        body: dict[str, Any] = {
            "action": action,
            "alert": {
                "alertId": alert.id,
                "message": alert.message,
                "tags": [],
                "tinyId": alert.tiny_id,
                "entity": alert.entity,
                "alias": alert.alias,
                "createdAt": int(alert.created_at.timestamp() * 1000),
                "updatedAt": _ns(alert.updated_at),
                "username": by,
                "userId": og_id("user", person.email) if person is not None else "",
                "description": alert.description,
                "priority": alert.priority,
                "details": alert.details,
                "source": by,
            },
            "source": {"name": "", "type": "API" if person is None else "web"},
            "integrationName": "sre-agent webhook",
            "integrationId": INTEGRATION_ID,
            "integrationType": "Webhook",
        }
        if note is not None:
            body["alert"]["note"] = note
        return self.webhooks.deliver_raw(body)

    @property
    def deliveries(self) -> dict[str, Delivery]:
        return self.webhooks.deliveries

    # ---- fault injection -------------------------------------------------------------------------
    def fail(self, method: str, path_prefix: str, status: int, count: int = 1) -> None:
        """The next `count` calls of `method` ("*" for any) under `path_prefix` (after /v2) answer `status`."""
        self._http_faults.append((method.upper(), path_prefix, status, [count]))

    def fail_requests(self, action: str, status: str, count: int = 1) -> None:
        """The next `count` accepted writes of `action` (`Acknowledge`, `Close`, `AddNote`, ..., or "*") are not
        carried out: their request status says `status`, as OpsGenie's does for a write it could not do."""
        self._request_faults.append(_RequestFault(action, status, count))

    def _http_fault(self, method: str, path: str) -> int | None:
        for fault in self._http_faults:
            m, prefix, status, left = fault
            if m in ("*", method) and path.startswith(prefix) and left[0] > 0:
                left[0] -= 1
                if left[0] == 0:
                    self._http_faults.remove(fault)
                return status
        return None

    def _request_fault(self, action: str) -> str | None:
        for fault in self._request_faults:
            if fault.action in ("*", action) and fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._request_faults.remove(fault)
                return fault.status
        return None

    @property
    def busy(self) -> bool:
        """Whether a write it accepted is still to be carried out."""
        return bool(self._tasks)

    async def close_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
