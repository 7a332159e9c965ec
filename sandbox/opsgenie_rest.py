"""The REST API of the sandbox's OpsGenie peer (`sandbox.opsgenie_peer`): Alert API v2 as OpsGenie speaks it: GenieKey
auth, writes answered 202 with a request id and carried out a moment later, the request-status endpoint, notes,
recipients, escalations, schedules' on-calls and users."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from sandbox.core import iso_ms
from sandbox.opsgenie_peer import INTEGRATION_ID, PRIORITIES, SYSTEM, Alert, OGCall, OpsGeniePeer, alert_json, og_id
from sandbox.world import EscalationPolicy

__all__ = ["OpsGenieRest"]


class OpsGenieRest:
    def __init__(self, peer: OpsGeniePeer) -> None:
        self.peer = peer

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        tail = "/" + request.match_info["tail"]
        try:
            body: Any = await request.json() if request.can_read_body else None
        except ValueError:
            body = None
        status, answer = await self._route(request, tail, body)
        answer.setdefault("took", round(time.monotonic() - started, 3))
        answer.setdefault("requestId", str(uuid.uuid4()))
        self.peer.calls.append(
            OGCall(request.method, tail, dict(request.query), body, status, self.peer.rt.now().isoformat())
        )
        self.peer.rt.feed.emit("opsgenie.call", method=request.method, path=tail, status=status)
        return web.json_response(answer, status=status)

    async def _route(self, request: web.Request, tail: str, body: Any) -> tuple[int, dict[str, Any]]:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("GenieKey "):
            return 401, {"message": "Key format is not valid!"}
        if auth.removeprefix("GenieKey ").strip() != self.peer.api_key:
            return 401, {"message": "Could not authenticate"}
        if not tail.startswith("/v2/"):
            return 404, {"message": "Not found"}
        path = tail.removeprefix("/v2")
        injected = self.peer._http_fault(request.method, path)
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
            policy = self.peer.escalation(parts[1], query.get("identifierType", "id"))
            if policy is None:
                return 404, {"message": "Escalation with given identifier not found"}
            return 200, {"data": self._escalation_json(policy)}
        if parts[0] == "schedules" and len(parts) == 3 and parts[2] == "on-calls" and request.method == "GET":
            found = self.peer._schedule(parts[1], query.get("scheduleIdentifierType", "id"))
            if found is None:
                return 404, {"message": "Schedule with given identifier not found"}
            policy, level = found
            parent = {
                "id": og_id("schedule", policy.id, str(level)),
                "name": f"{policy.name} level {level}",
                "enabled": True,
            }
            people = self.peer._level(policy, level)
            if query.get("flat") == "true":
                return 200, {"data": {"_parent": parent, "onCallRecipients": people}}
            participants = [{"type": "user", "name": email} for email in people]
            return 200, {"data": {"_parent": parent, "onCallParticipants": participants}}
        if parts[0] == "users" and len(parts) == 2 and request.method == "GET":
            person = self.peer._user(parts[1])
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
            done = self.peer.requests.get(parts[1])
            if done is None:
                return 404, {"message": "Request not found. It might not be processed, yet."}
            return 200, {"data": done}
        if not parts:
            return 404, {"message": "Not found"}
        ident = parts[0]
        if len(parts) == 1 and method == "GET":
            alert = self.peer.get_alert(ident, by)
            if alert is None:
                return 404, {"message": "Alert does not exist"}
            return 200, {"data": alert_json(alert)}
        action = parts[1] if len(parts) == 2 else ""
        if method == "GET" and action == "notes":
            alert = self.peer.get_alert(ident, by)
            if alert is None:
                return 404, {"message": "Alert does not exist"}
            order = query.get("order", "desc")
            notes = alert.notes if order == "asc" else list(reversed(alert.notes))
            return 200, {"data": notes[: int(query.get("limit", "100"))], "paging": {}}
        if method == "GET" and action == "recipients":
            alert = self.peer.get_alert(ident, by)
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
            alert = self.peer.get_alert(ident, by)
            if alert is None:
                return False, "Alert does not exist", None
            if name == "Acknowledge":
                self.peer.acknowledge(alert, user)
                return True, "Acknowledged", alert
            if name == "UnAcknowledge":
                self.peer.unacknowledge(alert, user)
                return True, "UnAcknowledged", alert
            if name == "Close":
                self.peer.close(alert, user, note if isinstance(note, str) else "")
                return True, "Closed", alert
            if name == "AddNote":
                assert isinstance(note, str)
                self.peer.add_note(alert, note, user)
                return True, "Added note", alert
            if name == "UpdatePriority":
                self.peer.set_priority(alert, str(body["priority"]), user)
                return True, "Updated priority", alert
            assert isinstance(escalation, dict)
            policy = (
                self.peer.escalation(str(escalation["id"]))
                if escalation.get("id")
                else self.peer.escalation(str(escalation["name"]), "name")
            )
            if policy is None:
                return False, "Escalation does not exist", alert
            if isinstance(note, str) and note.strip():
                alert.notes.append({"note": note, "owner": user, "createdAt": iso_ms(self.peer.rt.now())})
            said = self.peer.escalate(alert, policy, user)
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
                    self.peer.escalation(str(responder["id"]))
                    if responder.get("id")
                    else self.peer.escalation(str(responder.get("name")), "name")
                )
        given = body.get("details")
        details: dict[str, Any] = given if isinstance(given, dict) else {}

        def carry_out() -> tuple[bool, str, Alert | None]:
            alert, new = self.peer.create(
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
        fault = self.peer._request_fault(action)

        async def later() -> None:
            await asyncio.sleep(self.peer.processing_delay)
            if fault is not None:
                ok, status, alert = False, fault, None
            else:
                ok, status, alert = carry_out()
            self.peer.requests[request_id] = {
                "success": ok,
                "isSuccess": ok,
                "action": action,
                "processedAt": iso_ms(self.peer.rt.now()),
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
        self.peer._tasks.add(task)
        task.add_done_callback(self.peer._tasks.discard)
