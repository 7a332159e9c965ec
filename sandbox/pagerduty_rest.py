"""PagerDuty REST API v2 routes under ``/pagerduty``: auth (``Token token=``), the ``From`` header on incident
writes, classic pagination (``limit``/``offset``/``more``/``total``), PagerDuty's error bodies."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from multidict import MultiMapping

from sandbox.pagerduty_state import PRIORITIES, PDCall, PDError, invalid, not_found
from sandbox.world import Person

if TYPE_CHECKING:
    from sandbox.pagerduty_peer import PagerDutyPeer

__all__ = ["handle"]

FROM_MESSAGE = 'You must specify a user\'s email address in the "From" header to perform this action'


class Ctx:
    def __init__(
        self,
        peer: PagerDutyPeer,
        method: str,
        parts: list[str],
        query: MultiMapping[str],
        body: Any,
        from_person: Person | None,
    ) -> None:
        self.peer = peer
        self.method = method
        self.parts = parts
        self.query = query
        self.body = body
        self.from_person = from_person

    def list_param(self, name: str) -> list[str]:
        return [*self.query.getall(f"{name}[]", []), *self.query.getall(name, [])]

    def int_param(self, name: str, default: int) -> int:
        v = self.query.get(name)
        if v is None or v == "":
            return default
        try:
            return int(v)
        except ValueError:
            raise invalid(f"{name} must be an integer") from None

    def paginate(self, key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        limit = max(1, min(self.int_param("limit", 25), 100))
        offset = max(0, self.int_param("offset", 0))
        page = items[offset : offset + limit]
        want_total = str(self.query.get("total", "false")).lower() == "true"
        return {
            key: page,
            "limit": limit,
            "offset": offset,
            "more": offset + len(page) < len(items),
            "total": len(items) if want_total else None,
        }

    def author(self) -> Person:
        assert self.from_person is not None  # checked for every write before dispatch
        return self.from_person


Route = Callable[[Ctx], tuple[int, dict[str, Any]]]

_WRITE_NEEDS_FROM = re.compile(r"^/incidents(/[^/]+(/(notes|status_updates))?)?$")


async def handle(peer: PagerDutyPeer, request: web.Request) -> web.Response:
    started = time.monotonic()
    path = "/" + request.match_info.get("tail", "").strip("/")
    method = request.method.upper()
    from_email = request.headers.get("From")
    raw = await request.read() if request.can_read_body else b""
    body: Any = None
    headers: dict[str, str] = {}
    malformed = False
    if raw:
        try:
            body = json.loads(raw)
        except ValueError:
            body, malformed = raw.decode("utf-8", "replace"), True
    try:
        status, out = _process(peer, request, method, path, body, from_email, malformed)
    except PDError as e:
        status, out = e.status, e.body()
        if e.status == 429:
            headers = {"ratelimit-limit": "960", "ratelimit-remaining": "0", "ratelimit-reset": "1"}
    await peer.holds.pause(method, path, status)
    mono, at = peer.rt.stamp()
    peer.calls.append(
        PDCall(
            method=method,
            path=path,
            query={k: request.query.getall(k) for k in request.query},
            body=body,
            status=status,
            at_monotonic=started,
            at=at,
            from_email=from_email,
            elapsed_ms=(mono - started) * 1000,
        )
    )
    return web.json_response(out, status=status, headers=headers)


def _process(
    peer: PagerDutyPeer,
    request: web.Request,
    method: str,
    path: str,
    body: Any,
    from_email: str | None,
    malformed: bool,
) -> tuple[int, dict[str, Any]]:
    auth = request.headers.get("Authorization", "")
    if auth != f"Token token={peer.world.pagerduty.api_token}":
        raise PDError(401, "Unauthorized", 2006)
    injected = peer.take_failure(method, path)
    if injected is not None:
        messages = {
            429: ("Too many requests", 2020),
            500: ("Internal Server Error", 2000),
            503: ("Service Unavailable", 2000),
            404: ("Not Found", 2100),
            403: ("Forbidden", 2010),
        }
        msg, code = messages.get(injected, ("Injected failure", 2000))
        raise PDError(injected, msg, code)
    if malformed:
        raise invalid("Malformed JSON body")
    from_person = peer.world.person_by_email(from_email) if from_email else None
    if method in ("POST", "PUT") and _WRITE_NEEDS_FROM.match(path):
        if from_person is None or from_person.pagerduty_id is None:
            raise PDError(400, FROM_MESSAGE, 2001, [FROM_MESSAGE])
        if body is not None and not isinstance(body, dict | list):
            raise invalid("Request body must be a JSON object")
    parts = [p for p in path.split("/") if p]
    ctx = Ctx(peer, method, parts, request.query, body, from_person)
    route = _route(method, parts)
    if route is None:
        raise not_found()
    return route(ctx)


def _route(method: str, parts: list[str]) -> Route | None:
    n = len(parts)
    if n == 0:
        return None
    head = parts[0]
    key = (method, head, n, parts[2] if n >= 3 else None)
    return _ROUTES.get(key)


# ---- incidents -----------------------------------------------------------------------------------
def _incident(ctx: Ctx) -> Any:
    inc = ctx.peer.incidents.get(ctx.parts[1])
    if inc is None:
        raise not_found()
    return inc


def list_incidents(ctx: Ctx) -> tuple[int, dict[str, Any]]:
    statuses = set(ctx.list_param("statuses"))
    services = set(ctx.list_param("service_ids"))
    key = ctx.query.get("incident_key")
    items = [
        ctx.peer.incident_json(i)
        for i in ctx.peer.incidents.values()
        if (not statuses or i.status in statuses)
        and (not services or i.service.pagerduty_id in services)
        and (not key or i.incident_key == key)
    ]
    if ctx.query.get("sort_by", "").endswith(":desc"):
        items.reverse()
    return 200, ctx.paginate("incidents", items)


def get_incident(ctx: Ctx) -> tuple[int, dict[str, Any]]:
    return 200, {"incident": ctx.peer.incident_json(_incident(ctx))}


def _wrapped(ctx: Ctx, key: str) -> dict[str, Any]:
    body = ctx.body
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise invalid(f"'{key}' is required")
    out: dict[str, Any] = body[key]
    return out


def _apply_update(ctx: Ctx, inc: Any, upd: dict[str, Any]) -> None:
    peer, who = ctx.peer, ctx.author()
    if upd.get("type") not in ("incident", "incident_reference"):
        raise invalid("Incident type must be 'incident' or 'incident_reference'")
    status = upd.get("status")
    if status is not None and status not in ("acknowledged", "resolved"):
        raise invalid(f"Invalid status {status!r}")
    level = upd.get("escalation_level")
    if level is not None and (not isinstance(level, int) or isinstance(level, bool)):
        raise invalid("escalation_level must be an integer")
    prio = upd.get("priority")
    prio_summary: str | None = None
    if isinstance(prio, dict):
        prio_summary = next((s for s, pid in PRIORITIES.items() if pid == prio.get("id")), None)
        if prio_summary is None:
            raise invalid("Priority not found")
    if isinstance(upd.get("title"), str) and upd["title"].strip():
        inc.title = upd["title"]
    if upd.get("urgency") in ("high", "low"):
        inc.urgency = upd["urgency"]
    if prio is not None or "priority" in upd:
        peer.set_priority(inc, prio_summary, who)
    if level is not None:
        peer.escalate(inc, level, who)
    if status is not None:
        if status == "resolved" and isinstance(upd.get("resolution"), str) and inc.status != "resolved":
            inc.resolution = upd["resolution"]
            peer.note(inc, who, upd["resolution"], webhook=False)
        peer.set_status(inc, status, who)


def update_incident(ctx: Ctx) -> tuple[int, dict[str, Any]]:
    inc = _incident(ctx)
    _apply_update(ctx, inc, _wrapped(ctx, "incident"))
    return 200, {"incident": ctx.peer.incident_json(inc)}


def bulk_update_incidents(ctx: Ctx) -> tuple[int, dict[str, Any]]:
    body = ctx.body
    if not isinstance(body, dict) or not isinstance(body.get("incidents"), list):
        raise invalid("'incidents' is required")
    out = []
    for upd in body["incidents"]:
        if not isinstance(upd, dict):
            raise invalid("each incident must be an object")
        inc = ctx.peer.incidents.get(str(upd.get("id")))
        if inc is None:
            raise not_found()
        _apply_update(ctx, inc, upd)
        out.append(ctx.peer.incident_json(inc))
    return 200, {"incidents": out}


def create_incident(ctx: Ctx) -> tuple[int, dict[str, Any]]:
    spec = _wrapped(ctx, "incident")
    if spec.get("type") != "incident":
        raise invalid("Incident type must be 'incident'")
    title = spec.get("title")
    if not isinstance(title, str) or not title.strip():
        raise invalid("Title cannot be empty")
    svc_ref = spec.get("service")
    if not isinstance(svc_ref, dict) or svc_ref.get("type") != "service_reference":
        raise invalid("Service must be a service_reference")
    service = ctx.peer.world.service_by_id(str(svc_ref.get("id")))
    if service is None:
        raise invalid("Service not found")
    urgency = spec.get("urgency", "high")
    if urgency not in ("high", "low"):
        raise invalid("Urgency must be high or low")
    prio_summary = None
    if isinstance(spec.get("priority"), dict):
        prio_summary = next((s for s, pid in PRIORITIES.items() if pid == spec["priority"].get("id")), None)
        if prio_summary is None:
            raise invalid("Priority not found")
    key = spec.get("incident_key")
    if key is not None and ctx.peer.open_incident_for_key(service, str(key)) is not None:
        raise invalid("Open incident with matching dedup key already exists on this service")
    inc = ctx.peer.create_incident(
        service,
        title,
        incident_key=str(key) if key else None,
        urgency=urgency,
        priority=prio_summary,
        agent=ctx.author(),
        via="rest",
    )
    return 201, {"incident": ctx.peer.incident_json(inc)}


def list_notes(ctx: Ctx) -> tuple[int, dict[str, Any]]:
    inc = _incident(ctx)
    return 200, {"notes": [ctx.peer.shapes.note(n) for n in inc.notes]}


def create_note(ctx: Ctx) -> tuple[int, dict[str, Any]]:
    inc = _incident(ctx)
    note = _wrapped(ctx, "note")
    content = note.get("content")
    if not isinstance(content, str) or not content.strip():
        raise invalid("Note content cannot be empty")
    if len(content) > 25_000:
        raise invalid("Note content is too long")
    n = ctx.peer.note(inc, ctx.author(), content)
    return 201, {"note": ctx.peer.shapes.note(n)}


def create_status_update(ctx: Ctx) -> tuple[int, dict[str, Any]]:
    inc = _incident(ctx)
    body = ctx.body
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message.strip():
        raise invalid("Message cannot be empty")
    su = ctx.peer.status_update(inc, ctx.author(), message)
    return 200, {"status_update": ctx.peer.shapes.status_update(su)}


# ---- on-call, users, catalog ---------------------------------------------------------------------
def list_oncalls(ctx: Ctx) -> tuple[int, dict[str, Any]]:
    w, sh = ctx.peer.world, ctx.peer.shapes
    ep_ids = set(ctx.list_param("escalation_policy_ids"))
    user_ids = set(ctx.list_param("user_ids"))
    include = set(ctx.list_param("include"))
    items: list[dict[str, Any]] = []
    for ep in w.escalation_policies:
        if ep_ids and ep.id not in ep_ids:
            continue
        for lvl, keys in enumerate(ep.levels, start=1):
            for key in keys:
                p = w.person(key)
                if user_ids and p.pagerduty_id not in user_ids:
                    continue
                items.append(
                    {
                        "escalation_policy": sh.escalation_policy(ep)
                        if "escalation_policies" in include
                        else sh.ep_ref(ep),
                        "escalation_level": lvl,
                        "schedule": None,
                        "user": sh.user(p) if "users" in include else sh.user_ref(p),
                        "start": None,
                        "end": None,
                    }
                )
    return 200, ctx.paginate("oncalls", items)


def _user(ctx: Ctx) -> Person:
    p = ctx.peer.world.person_by_pagerduty_id(ctx.parts[1])
    if p is None:
        raise not_found()
    return p


def get_user(ctx: Ctx) -> tuple[int, dict[str, Any]]:
    return 200, {"user": ctx.peer.shapes.user(_user(ctx))}


def list_users(ctx: Ctx) -> tuple[int, dict[str, Any]]:
    q = (ctx.query.get("query") or "").lower()
    items = [
        ctx.peer.shapes.user(p)
        for p in ctx.peer.world.people
        if p.pagerduty_id and (not q or q in p.name.lower() or q in p.email.lower())
    ]
    return 200, ctx.paginate("users", items)


def list_priorities(ctx: Ctx) -> tuple[int, dict[str, Any]]:
    items = [ctx.peer.shapes.priority(s, i) for i, s in enumerate(PRIORITIES, start=1)]
    return 200, ctx.paginate("priorities", items)


def _service_status(ctx: Ctx, service_id: str) -> str:
    open_ = [i for i in ctx.peer.incidents.values() if i.service.pagerduty_id == service_id and i.is_open]
    if any(i.status == "triggered" for i in open_):
        return "critical"
    return "warning" if open_ else "active"


def get_service(ctx: Ctx) -> tuple[int, dict[str, Any]]:
    s = ctx.peer.world.service_by_id(ctx.parts[1])
    if s is None:
        raise not_found()
    return 200, {"service": ctx.peer.shapes.service(s, _service_status(ctx, s.pagerduty_id))}


def list_services(ctx: Ctx) -> tuple[int, dict[str, Any]]:
    q = (ctx.query.get("query") or "").lower()
    items = [
        ctx.peer.shapes.service(s, _service_status(ctx, s.pagerduty_id))
        for s in ctx.peer.world.services
        if not q or q in s.name.lower()
    ]
    return 200, ctx.paginate("services", items)


def get_escalation_policy(ctx: Ctx) -> tuple[int, dict[str, Any]]:
    ep = ctx.peer.world.escalation_policy(ctx.parts[1])
    if ep is None:
        raise not_found()
    return 200, {"escalation_policy": ctx.peer.shapes.escalation_policy(ep)}


def list_escalation_policies(ctx: Ctx) -> tuple[int, dict[str, Any]]:
    items = [ctx.peer.shapes.escalation_policy(ep) for ep in ctx.peer.world.escalation_policies]
    return 200, ctx.paginate("escalation_policies", items)


_ROUTES: dict[tuple[str, str, int, str | None], Route] = {
    ("GET", "incidents", 1, None): list_incidents,
    ("POST", "incidents", 1, None): create_incident,
    ("PUT", "incidents", 1, None): bulk_update_incidents,
    ("GET", "incidents", 2, None): get_incident,
    ("PUT", "incidents", 2, None): update_incident,
    ("GET", "incidents", 3, "notes"): list_notes,
    ("POST", "incidents", 3, "notes"): create_note,
    ("POST", "incidents", 3, "status_updates"): create_status_update,
    ("GET", "oncalls", 1, None): list_oncalls,
    ("GET", "users", 1, None): list_users,
    ("GET", "users", 2, None): get_user,
    ("GET", "priorities", 1, None): list_priorities,
    ("GET", "services", 1, None): list_services,
    ("GET", "services", 2, None): get_service,
    ("GET", "escalation_policies", 1, None): list_escalation_policies,
    ("GET", "escalation_policies", 2, None): get_escalation_policy,
}
