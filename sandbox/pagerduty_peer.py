"""PagerDuty peer: account state, incident lifecycle (with v3 webhooks), the Events API v2, human actions, and the
REST API v2 entry point (routes in `sandbox.pagerduty_rest`)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sandbox import pagerduty_rest
from sandbox.core import Runtime, iso_ms
from sandbox.holds import Hold, Holds
from sandbox.pagerduty_state import (
    PRIORITIES,
    Incident,
    Note,
    PDCall,
    PDError,
    Shapes,
    StatusUpdate,
    new_event_id,
    new_pd_id,
)
from sandbox.pagerduty_webhooks import Delivery, WebhookDeliverer
from sandbox.world import Person, Service, World

__all__ = ["Delivery", "Incident", "Note", "PDCall", "PagerDutyPeer"]

_SEVERITIES = ("critical", "error", "warning", "info")
EVENTS_CLIENT = {"type": "events_api_v2"}


@dataclass
class _Failure:
    method: str
    path_prefix: str
    status: int
    remaining: int


class PagerDutyPeer:
    def __init__(
        self,
        world: World,
        rt: Runtime,
        *,
        webhook_secrets: list[str],
        retry_delays: list[float],
        webhook_timeout: float = 5.0,
    ) -> None:
        self.world = world
        self.rt = rt
        self.incidents: dict[str, Incident] = {}
        self.notes: dict[str, Note] = {}
        self._open_by_key: dict[tuple[str, str], Incident] = {}
        self._next_number = world.pagerduty.next_incident_number
        self.calls: list[PDCall] = []
        self.event_calls: list[dict[str, Any]] = []
        self.webhooks = WebhookDeliverer(rt, webhook_secrets, retry_delays, timeout=webhook_timeout)
        self._failures: list[_Failure] = []
        self.holds = Holds()
        self._shapes: Shapes | None = None

    # ---- shapes ----------------------------------------------------------------------------------
    @property
    def shapes(self) -> Shapes:
        base = f"{self.rt.url}/pagerduty" if self.rt.url else "https://api.pagerduty.com"
        if self._shapes is None or self._shapes.api_base != base:
            self._shapes = Shapes(self.world, base)
        return self._shapes

    def incident_json(self, inc: Incident) -> dict[str, Any]:
        """The incident as the REST API shows it (webhooks carry ``shapes.incident``)."""
        return self.shapes.rest_incident(inc)

    @property
    def deliveries(self) -> dict[str, Delivery]:
        return self.webhooks.deliveries

    def get_incident(self, ref: str) -> Incident:
        """By id or by number."""
        inc = self.incidents.get(ref)
        if inc is None and str(ref).isdigit():
            inc = next((i for i in self.incidents.values() if i.number == int(ref)), None)
        if inc is None:
            raise KeyError(f"unknown incident {ref!r}")
        return inc

    # ---- webhooks --------------------------------------------------------------------------------
    def _emit(
        self,
        event_type: str,
        inc: Incident,
        agent: Person | None,
        client: dict[str, Any] | None,
        data: dict[str, Any] | None = None,
    ) -> Delivery:
        event = {
            "id": new_event_id(),
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": iso_ms(self.rt.now()),
            "agent": self.shapes.user_ref(agent) if agent is not None else None,
            "client": client,
            "data": data if data is not None else self.shapes.incident(inc),
        }
        return self.webhooks.enqueue(event)

    def pause_deliveries(self) -> None:
        self.webhooks.pause()

    def resume_deliveries(self) -> None:
        self.webhooks.resume()

    async def redeliver(self, delivery_id: str, times: int = 1, concurrently: bool = True) -> list[dict[str, Any]]:
        return await self.webhooks.redeliver(delivery_id, times, concurrently)

    def deliver_raw(self, event: dict[str, Any], webhook_id: str | None = None) -> Delivery:
        return self.webhooks.deliver_raw(event, webhook_id)

    # ---- lifecycle (shared by REST, Events API and human actions) --------------------------------
    def _history(self, inc: Incident, status: str, by: str | None, via: str) -> None:
        mono, at = self.rt.stamp()
        inc.history.append({"status": status, "by": by, "via": via, "at": at, "at_monotonic": mono})
        self.rt.feed.emit(
            "pagerduty.status", incident_id=inc.id, number=inc.number, status=status, by=by, via=via, title=inc.title
        )

    def create_incident(
        self,
        service: Service,
        title: str,
        *,
        incident_key: str | None = None,
        urgency: str = "high",
        priority: str | None = None,
        agent: Person | None = None,
        client: dict[str, Any] | None = None,
        via: str = "events_api",
        incident_id: str | None = None,
        number: int | None = None,
        webhooks: bool = True,
    ) -> Incident:
        """A new incident (its id and number given, or new); `webhooks=False`: PagerDuty knows it but says nothing
        (a test then sends the webhook body of its own making)."""
        ep = self.world.escalation_policy(service.escalation_policy)
        assert ep is not None
        mono, _ = self.rt.stamp()
        inc_id = incident_id or new_pd_id("Q", 14)
        while inc_id in self.incidents and incident_id is None:
            inc_id = new_pd_id("Q", 14)
        inc = Incident(
            id=inc_id,
            number=self._next_number if number is None else number,
            title=title,
            status="triggered",
            incident_key=incident_key or uuid.uuid4().hex,
            urgency=urgency,
            priority=priority,
            service=service,
            escalation_policy=ep,
            escalation_level=1,
            assignees=list(ep.levels[0]),
            created_at=self.rt.now(),
            at_monotonic=mono,
        )
        self._next_number += 1
        self.incidents[inc.id] = inc
        self._open_by_key[(service.pagerduty_id, inc.incident_key)] = inc
        self.rt.feed.emit(
            "pagerduty.incident",
            incident_id=inc.id,
            number=inc.number,
            title=title,
            service=service.name,
            urgency=urgency,
            priority=priority,
            incident_key=inc.incident_key,
            assignees=list(inc.assignees),
            via=via,
        )
        self._history(inc, "triggered", agent.key if agent else None, via)
        if webhooks:
            self._emit("incident.triggered", inc, agent, client)
        return inc

    def open_incident_for_key(self, service: Service, key: str) -> Incident | None:
        return self._open_by_key.get((service.pagerduty_id, key))

    def set_status(
        self, inc: Incident, status: str, agent: Person | None, client: dict[str, Any] | None = None, via: str = "rest"
    ) -> bool:
        """triggered -> acknowledged -> resolved. Same status again: accepted, no change, no webhook."""
        if status == inc.status:
            return False
        if inc.status == "resolved":
            raise PDError(400, "Incident Already Resolved", 2001, ["Incident Already Resolved"])
        if status not in ("acknowledged", "resolved"):
            raise PDError(400, "Invalid Input Provided", 2001, [f"Invalid status {status!r}"])
        inc.status = status
        if status == "resolved":
            self._open_by_key.pop((inc.service.pagerduty_id, inc.incident_key), None)
        self._history(inc, status, agent.key if agent else None, via)
        self._emit(f"incident.{status}", inc, agent, client)
        return True

    def escalate(self, inc: Incident, level: int, agent: Person | None, via: str = "rest") -> bool:
        levels = inc.escalation_policy.levels
        if not 1 <= level <= len(levels):
            raise PDError(
                400, "Invalid Input Provided", 2001, [f"Escalation level must be between 1 and {len(levels)}"]
            )
        if inc.status == "resolved":
            raise PDError(400, "Incident Already Resolved", 2001, ["Incident Already Resolved"])
        if level == inc.escalation_level and inc.status == "triggered":
            return False
        inc.escalation_level = level
        inc.assignees = list(levels[level - 1])
        inc.status = "triggered"
        self._history(inc, "triggered", agent.key if agent else None, f"{via}:escalated:{level}")
        self._emit("incident.escalated", inc, agent, None)
        return True

    def set_priority(self, inc: Incident, priority: str | None, agent: Person | None) -> bool:
        if priority == inc.priority:
            return False
        inc.priority = priority
        self._emit("incident.priority_updated", inc, agent, None)
        return True

    def reopen_incident(self, inc: Incident, agent: Person | None, via: str = "web") -> None:
        if inc.status != "resolved":
            raise PDError(400, "Invalid Input Provided", 2001, ["Only a resolved incident can be reopened"])
        inc.status = "triggered"
        inc.escalation_level = 1
        inc.assignees = list(inc.escalation_policy.levels[0])
        self._open_by_key[(inc.service.pagerduty_id, inc.incident_key)] = inc
        self._history(inc, "triggered", agent.key if agent else None, f"{via}:reopened")
        self._emit("incident.reopened", inc, agent, None)

    def note(self, inc: Incident, person: Person, content: str, *, webhook: bool = True) -> Note:
        mono, _ = self.rt.stamp()
        n = Note(
            id=new_pd_id("P", 8),
            incident_id=inc.id,
            person_key=person.key,
            content=content,
            created_at=self.rt.now(),
            at_monotonic=mono,
        )
        inc.notes.append(n)
        self.notes[n.id] = n
        self.rt.feed.emit(
            "pagerduty.note", incident_id=inc.id, number=inc.number, note_id=n.id, by=person.key, content=content
        )
        if webhook:
            data = {
                "incident": self.shapes.incident_ref(inc),
                "id": n.id,
                "content": content,
                "trimmed": False,
                "type": "incident_note",
            }
            self._emit("incident.annotated", inc, person, None, data)
        return n

    def status_update(self, inc: Incident, person: Person, message: str) -> StatusUpdate:
        mono, _ = self.rt.stamp()
        su = StatusUpdate(
            id=new_pd_id("P", 7),
            incident_id=inc.id,
            person_key=person.key,
            message=message,
            created_at=self.rt.now(),
            at_monotonic=mono,
        )
        inc.status_updates.append(su)
        self.rt.feed.emit(
            "pagerduty.note",
            incident_id=inc.id,
            number=inc.number,
            note_id=su.id,
            by=person.key,
            content=message,
            status_update=True,
        )
        data = {
            "incident": self.shapes.incident_ref(inc),
            "id": su.id,
            "message": message,
            "sender": self.shapes.user_ref(person),
            "type": "status_update",
        }
        self._emit("incident.status_update_published", inc, person, None, data)
        return su

    # ---- human actions (PagerDuty UI) ------------------------------------------------------------
    def _person(self, key: str) -> Person:
        p = self.world.person_by_key(key) or self.world.person_by_pagerduty_id(key) or self.world.person_by_email(key)
        if p is None or p.pagerduty_id is None:
            raise KeyError(f"unknown PagerDuty person {key!r}")
        return p

    def page(
        self,
        service_name: str,
        title: str,
        *,
        priority: str | None = None,
        urgency: str | None = None,
        dedup_key: str | None = None,
    ) -> Incident:
        """Like an Events API trigger for that service (open incident with the same dedup key: returned unchanged)."""
        service = self.world.service(service_name)
        if priority is not None and priority not in PRIORITIES:
            raise ValueError(f"unknown priority {priority!r} (P1..P5)")
        if urgency is not None and urgency not in ("high", "low"):
            raise ValueError("urgency must be high or low")
        if dedup_key:
            existing = self.open_incident_for_key(service, dedup_key)
            if existing is not None:
                existing.alert_count += 1
                return existing
        return self.create_incident(
            service, title, incident_key=dedup_key, urgency=urgency or "high", priority=priority, via="page"
        )

    def acknowledge(self, incident_id: str, person_key: str) -> Incident:
        inc = self.get_incident(incident_id)
        self.set_status(inc, "acknowledged", self._person(person_key), via="web")
        return inc

    def resolve(self, incident_id: str, person_key: str) -> Incident:
        inc = self.get_incident(incident_id)
        self.set_status(inc, "resolved", self._person(person_key), via="web")
        return inc

    def reopen(self, incident_id: str, person_key: str) -> Incident:
        inc = self.get_incident(incident_id)
        self.reopen_incident(inc, self._person(person_key))
        return inc

    def add_note(self, incident_id: str, person_key: str, content: str) -> Note:
        return self.note(self.get_incident(incident_id), self._person(person_key), content)

    # ---- fault injection -------------------------------------------------------------------------
    def hold(self, method: str, path_prefix: str) -> Hold:
        """The next successful REST call of `method` under `path_prefix` is carried out, and answered only once
        the returned hold is released."""
        return self.holds.add(
            lambda m, path, status: m == method.upper() and path.startswith(path_prefix) and status < 300
        )

    def fail(self, method: str, path_prefix: str, status: int, count: int = 1) -> None:
        """The next ``count`` REST calls matching ``method`` ("*" for any) and ``path_prefix`` (e.g. "/incidents")
        answer ``status``."""
        self._failures.append(_Failure(method.upper(), path_prefix, status, count))

    def take_failure(self, method: str, path: str) -> int | None:
        for f in self._failures:
            if f.remaining > 0 and f.method in ("*", method) and path.startswith(f.path_prefix):
                f.remaining -= 1
                if f.remaining <= 0:
                    self._failures.remove(f)
                return f.status
        return None

    # ---- Events API v2 ---------------------------------------------------------------------------
    async def handle_events(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        raw = await request.read()
        status, body = self._enqueue(raw)
        mono, at = self.rt.stamp()
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        self.event_calls.append(
            {
                "body": parsed,
                "status": status,
                "response": body,
                "at": at,
                "at_monotonic": started,
                "elapsed_ms": (mono - started) * 1000,
            }
        )
        return web.json_response(body, status=status)

    def _enqueue(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        def bad(*errors: str) -> tuple[int, dict[str, Any]]:
            return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)}

        try:
            ev = json.loads(raw)
        except ValueError:
            return 400, {"status": "invalid request", "message": "Invalid JSON", "errors": ["Malformed JSON"]}
        if not isinstance(ev, dict):
            return bad("Event object must be a JSON object")
        rk = ev.get("routing_key")
        if not isinstance(rk, str) or not rk:
            return bad("'routing_key' is missing or blank")
        action = ev.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            return bad("'event_action' is missing or invalid")
        service = self.world.service_by_routing_key(rk)
        if service is None:
            return bad("Invalid routing key")
        dedup = ev.get("dedup_key")
        if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
            return bad("'dedup_key' must be a string of at most 255 characters")
        if action == "trigger":
            payload = ev.get("payload")
            errors: list[str] = []
            if not isinstance(payload, dict):
                return bad("'payload' is missing or not an object")
            summary = payload.get("summary")
            if not isinstance(summary, str) or not summary.strip():
                errors.append("'payload.summary' is missing or blank")
            elif len(summary) > 1024:
                errors.append("'payload.summary' must be at most 1024 characters")
            if not isinstance(payload.get("source"), str) or not payload.get("source"):
                errors.append("'payload.source' is missing or blank")
            if payload.get("severity") not in _SEVERITIES:
                errors.append("'payload.severity' must be one of critical, error, warning, info")
            if "custom_details" in payload and not isinstance(payload["custom_details"], dict | str | list):
                errors.append("'payload.custom_details' is invalid")
            if errors:
                return bad(*errors)
            key = dedup or uuid.uuid4().hex
            existing = self.open_incident_for_key(service, key)
            if existing is not None:
                existing.alert_count += 1
            else:
                urgency = "high" if payload["severity"] in ("critical", "error") else "low"
                self.create_incident(
                    service,
                    str(summary),
                    incident_key=key,
                    urgency=urgency,
                    priority=None,
                    client=None,
                    via="events_api",
                )
            return 202, {"status": "success", "message": "Event processed", "dedup_key": key}
        if not dedup:
            return bad("'dedup_key' is required for acknowledge and resolve")
        inc = self.open_incident_for_key(service, dedup)
        if inc is not None:
            target = "acknowledged" if action == "acknowledge" else "resolved"
            if not (target == "acknowledged" and inc.status == "acknowledged"):
                self.set_status(inc, target, None, EVENTS_CLIENT, via="events_api")
        return 202, {"status": "success", "message": "Event processed", "dedup_key": dedup}

    # ---- REST ------------------------------------------------------------------------------------
    async def handle_rest(self, request: web.Request) -> web.Response:
        return await pagerduty_rest.handle(self, request)
