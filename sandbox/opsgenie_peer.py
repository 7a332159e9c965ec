"""OpsGenie peer: the Alert API v2 as OpsGenie speaks it (GenieKey auth, asynchronous writes answered 202 with a
request id and carried out a moment later, the request-status endpoint, alias dedup), escalations and schedules built
from the world's escalation policies, users, and outgoing webhooks with a shared secret in a header (OpsGenie signs
nothing). People's actions (acknowledge, close, note) come through `acknowledge` and friends, as from its app.

The world's escalation policy `Checkout on-call` is OpsGenie escalation `Checkout on-call` whose rule n notifies
schedule `Checkout on-call level n`, on call there: the policy's level n. Usernames are people's e-mails.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from sandbox.core import Runtime, iso_ms
from sandbox.pagerduty_webhooks import Delivery, WebhookDeliverer
from sandbox.world import EscalationPolicy, Person, Service, World

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

    def escalation_name(self, service: Service) -> str:
        policy = self.world.escalation_policy(service.escalation_policy)
        assert policy is not None
        return policy.name

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
        self._emit_raw(
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
        return self._emit_raw(body)

    def _emit_raw(self, body: dict[str, Any]) -> Delivery:
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

    # ---- the REST API ----------------------------------------------------------------------------
    async def handle_rest(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        tail = "/" + request.match_info["tail"]
        try:
            body: Any = await request.json() if request.can_read_body else None
        except ValueError:
            body = None
        status, answer = await self._route(request, tail, body)
        answer.setdefault("took", round(time.monotonic() - started, 3))
        answer.setdefault("requestId", str(uuid.uuid4()))
        self.calls.append(OGCall(request.method, tail, dict(request.query), body, status, self.rt.now().isoformat()))
        self.rt.feed.emit("opsgenie.call", method=request.method, path=tail, status=status)
        return web.json_response(answer, status=status)

    async def _route(self, request: web.Request, tail: str, body: Any) -> tuple[int, dict[str, Any]]:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("GenieKey "):
            return 401, {"message": "Key format is not valid!"}
        if auth.removeprefix("GenieKey ").strip() != self.api_key:
            return 401, {"message": "Could not authenticate"}
        if not tail.startswith("/v2/"):
            return 404, {"message": "Not found"}
        path = tail.removeprefix("/v2")
        injected = self._http_fault(request.method, path)
        if injected is not None:
            return injected, {"message": "Internal Server Error" if injected >= 500 else "Too many requests"}
        if request.method == "POST" and not isinstance(body, dict):
            return 400, {
                "message": "Request body is not processable. Please check the errors.",
                "errors": {"body": "must be a JSON object"},
            }
        parts = path.strip("/").split("/")
        query = request.query
        if parts[0] == "alerts":
            return self._alerts(request.method, parts[1:], query, body or {})
        if parts[0] == "escalations" and len(parts) == 2 and request.method == "GET":
            policy = self.escalation(parts[1], query.get("identifierType", "id"))
            if policy is None:
                return 404, {"message": "Escalation with given identifier not found"}
            return 200, {"data": self._escalation_json(policy)}
        if parts[0] == "schedules" and len(parts) == 3 and parts[2] == "on-calls" and request.method == "GET":
            found = self._schedule(parts[1], query.get("scheduleIdentifierType", "id"))
            if found is None:
                return 404, {"message": "Schedule with given identifier not found"}
            policy, level = found
            parent = {
                "id": og_id("schedule", policy.id, str(level)),
                "name": f"{policy.name} level {level}",
                "enabled": True,
            }
            people = self._level(policy, level)
            if query.get("flat") == "true":
                return 200, {"data": {"_parent": parent, "onCallRecipients": people}}
            participants = [{"type": "user", "name": email} for email in people]
            return 200, {"data": {"_parent": parent, "onCallParticipants": participants}}
        if parts[0] == "users" and len(parts) == 2 and request.method == "GET":
            person = self._user(parts[1])
            if person is None:
                return 404, {"message": "No user exists with username [" + parts[1] + "]"}
            return 200, {
                "data": {
                    "id": og_id("user", person.email),
                    "username": person.email,
                    "fullName": person.name,
                    "role": {"id": "User", "name": "User"},
                }
            }
        return 404, {"message": "Not found"}

    def _escalation_json(self, policy: EscalationPolicy) -> dict[str, Any]:
        rules = [
            {
                "condition": "if-not-acked",
                "notifyType": "default",
                "delay": {"timeAmount": 0 if level == 1 else 10 * (level - 1), "timeUnit": "minutes"},
                "recipient": {
                    "type": "schedule",
                    "id": og_id("schedule", policy.id, str(level)),
                    "name": f"{policy.name} level {level}",
                },
            }
            for level in range(1, len(policy.levels) + 1)
        ]
        return {"id": og_id("escalation", policy.id), "name": policy.name, "description": "", "rules": rules}

    def alert_json(self, alert: Alert) -> dict[str, Any]:
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

    def _alerts(self, method: str, parts: list[str], query: Any, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        by = query.get("identifierType", "id")
        if by not in ("id", "alias", "tiny"):
            return 422, {
                "message": "Request body is not processable. Please check the errors.",
                "errors": {"identifierType": "must be one of [id, alias, tiny]"},
            }
        if not parts and method == "POST":
            return self._create(body)
        if len(parts) == 2 and parts[0] == "requests" and method == "GET":
            done = self.requests.get(parts[1])
            if done is None:
                return 404, {"message": "Request not found. It might not be processed, yet."}
            return 200, {"data": done}
        if not parts:
            return 404, {"message": "Not found"}
        ident = parts[0]
        if len(parts) == 1 and method == "GET":
            alert = self.get_alert(ident, by)
            if alert is None:
                return 404, {"message": "Alert does not exist"}
            return 200, {"data": self.alert_json(alert)}
        action = parts[1] if len(parts) == 2 else ""
        if method == "GET" and action == "notes":
            alert = self.get_alert(ident, by)
            if alert is None:
                return 404, {"message": "Alert does not exist"}
            order = query.get("order", "desc")
            notes = alert.notes if order == "asc" else list(reversed(alert.notes))
            return 200, {"data": notes[: int(query.get("limit", "100"))], "paging": {}}
        if method == "GET" and action == "recipients":
            alert = self.get_alert(ident, by)
            if alert is None:
                return 404, {"message": "Alert does not exist"}
            data = [
                {
                    "user": {"id": og_id("user", email), "username": email},
                    "state": "notified",
                    "method": "",
                    "createdAt": iso_ms(alert.created_at),
                }
                for email in alert.recipients
            ]
            return 200, {"data": data}
        writes: dict[tuple[str, str], str] = {
            ("POST", "acknowledge"): "Acknowledge",
            ("POST", "unacknowledge"): "UnAcknowledge",
            ("POST", "close"): "Close",
            ("POST", "notes"): "AddNote",
            ("POST", "escalate"): "Escalate",
            ("PUT", "priority"): "UpdatePriority",
        }
        name = writes.get((method, action))
        if name is None:
            return 404, {"message": "Not found"}
        user = str(body.get("user") or SYSTEM)[:100]
        note = body.get("note")
        if name == "AddNote" and (not isinstance(note, str) or not note.strip()):
            return 422, {
                "message": "Request body is not processable. Please check the errors.",
                "errors": {"note": "must not be blank"},
            }
        if name == "UpdatePriority" and body.get("priority") not in PRIORITIES:
            return 422, {
                "message": "Request body is not processable. Please check the errors.",
                "errors": {"priority": "must be one of [P1, P2, P3, P4, P5]"},
            }
        escalation = body.get("escalation")
        if name == "Escalate" and not (
            isinstance(escalation, dict) and (escalation.get("id") or escalation.get("name"))
        ):
            return 422, {
                "message": "Request body is not processable. Please check the errors.",
                "errors": {"escalation": "must be given"},
            }

        def carry_out() -> tuple[bool, str, Alert | None]:
            alert = self.get_alert(ident, by)
            if alert is None:
                return False, "Alert does not exist", None
            if name == "Acknowledge":
                self.acknowledge(alert, user)
                return True, "Acknowledged", alert
            if name == "UnAcknowledge":
                self.unacknowledge(alert, user)
                return True, "UnAcknowledged", alert
            if name == "Close":
                self.close(alert, user, note if isinstance(note, str) else "")
                return True, "Closed", alert
            if name == "AddNote":
                assert isinstance(note, str)
                self.add_note(alert, note, user)
                return True, "Added note", alert
            if name == "UpdatePriority":
                self.set_priority(alert, str(body["priority"]), user)
                return True, "Updated priority", alert
            assert isinstance(escalation, dict)
            policy = (
                self.escalation(str(escalation["id"]))
                if escalation.get("id")
                else self.escalation(str(escalation["name"]), "name")
            )
            if policy is None:
                return False, "Escalation does not exist", alert
            if isinstance(note, str) and note.strip():
                alert.notes.append({"note": note, "owner": user, "createdAt": iso_ms(self.rt.now())})
            said = self.escalate(alert, policy, user)
            return said.startswith("Escalated"), said, alert

        return self._accept(name, carry_out)

    def _create(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        message = body.get("message")
        if not isinstance(message, str) or not message.strip():
            return 422, {
                "message": "Request body is not processable. Please check the errors.",
                "errors": {"message": "Message can not be empty."},
            }
        priority = body.get("priority", "P3")
        if priority not in PRIORITIES:
            return 422, {
                "message": "Request body is not processable. Please check the errors.",
                "errors": {"priority": "should be one of [P1, P2, P3, P4, P5]"},
            }
        escalation: EscalationPolicy | None = None
        for responder in body.get("responders") or []:
            if isinstance(responder, dict) and responder.get("type") == "escalation":
                escalation = (
                    self.escalation(str(responder["id"]))
                    if responder.get("id")
                    else self.escalation(str(responder.get("name")), "name")
                )
        given = body.get("details")
        details: dict[str, Any] = given if isinstance(given, dict) else {}

        def carry_out() -> tuple[bool, str, Alert | None]:
            alert, new = self.create(
                message=message,
                alias=str(body["alias"]) if body.get("alias") else None,
                entity=str(body.get("entity") or ""),
                description=str(body.get("description") or ""),
                details={str(k): str(v) for k, v in details.items()},
                priority=priority,
                escalation=escalation,
                by=str(body.get("user") or SYSTEM),
            )
            return True, "Created alert" if new else "Alert deduplicated", alert

        return self._accept("Create", carry_out)

    def _accept(
        self, action: str, carry_out: Callable[[], tuple[bool, str, Alert | None]]
    ) -> tuple[int, dict[str, Any]]:
        """202 now; the write is carried out after `processing_delay`, and its outcome kept for the status endpoint."""
        request_id = str(uuid.uuid4())
        fault = self._request_fault(action)

        async def later() -> None:
            await asyncio.sleep(self.processing_delay)
            if fault is not None:
                ok, status, alert = False, fault, None
            else:
                ok, status, alert = carry_out()
            self.requests[request_id] = {
                "success": ok,
                "isSuccess": ok,
                "action": action,
                "processedAt": iso_ms(self.rt.now()),
                "integrationId": INTEGRATION_ID,
                "status": status,
                "alertId": alert.id if alert is not None else "",
                "alias": alert.alias if alert is not None else "",
            }

        self._spawn(later())
        return 202, {"result": "Request will be processed", "requestId": request_id}

    def _spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            await work

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def summary(self) -> list[dict[str, Any]]:
        return [
            {**self.alert_json(a), "recipients": list(a.recipients), "notes": [n["note"] for n in a.notes]}
            for a in self.alerts.values()
        ]
