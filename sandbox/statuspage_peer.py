"""The sandbox's Atlassian Statuspage: one page with components, its REST API v1 as Statuspage speaks it
(`Authorization: OAuth <key>`, `{"incident": {...}}` bodies, `{"error": ...}` refusals, 420 when asked too often),
incidents with their updates, and the components' status as each update sets it. Faults: `fail()`.

Its components are those of the example catalog's user-facing services (examples/catalog.yml names their ids)."""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sandbox.core import Runtime, iso_ms

__all__ = ["DEFAULT_COMPONENTS", "SPCall", "StatuspagePeer"]

DEFAULT_COMPONENTS = {
    "ckt4mz8q1r0w": "Checkout",
    "pay7n3v5x2kd": "Payments",
    "srch9f2b6h1j": "Search",
    "ath5q8w3e7ty": "Sign-in",
}
INCIDENT_STATUSES = ("investigating", "identified", "monitoring", "resolved")
COMPONENT_STATUSES = ("operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage")
_ID_CHARS = string.ascii_lowercase + string.digits


def _new_id() -> str:
    return "".join(secrets.choice(_ID_CHARS) for _ in range(12))


@dataclass
class SPCall:
    method: str
    path: str
    body: Any
    status: int
    at: str


@dataclass
class PublicIncident:
    id: str
    name: str
    status: str
    created_at: str
    shortlink: str
    updates: list[dict[str, Any]] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    resolved_at: str | None = None


class StatuspagePeer:
    def __init__(
        self,
        rt: Runtime,
        *,
        api_key: str = "sandbox-statuspage-key",
        page_id: str = "sbxpage0acme",
        components: dict[str, str] | None = None,
    ) -> None:
        self.rt = rt
        self.api_key = api_key
        self.page_id = page_id
        self.components: dict[str, dict[str, Any]] = {
            cid: {"id": cid, "name": name, "status": "operational", "page_id": page_id}
            for cid, name in (components or DEFAULT_COMPONENTS).items()
        }
        self.incidents: dict[str, PublicIncident] = {}
        self.calls: list[SPCall] = []
        self._faults: list[tuple[str, int, list[int]]] = []

    # ---- faults and reading ----------------------------------------------------------------------------------------
    def fail(self, method: str, status: int, count: int = 1) -> None:
        """The next `count` calls of `method` ("*" for any) answer `status` (420: asked too often; 5xx; ...)."""
        self._faults.append((method.upper(), status, [count]))

    def _fault(self, method: str) -> int | None:
        for fault in self._faults:
            m, status, left = fault
            if m in ("*", method) and left[0] > 0:
                left[0] -= 1
                if left[0] == 0:
                    self._faults.remove(fault)
                return status
        return None

    def open_incident(self, name: str, status: str = "investigating", body: str = "") -> str:
        """A public incident opened as a person does it in Statuspage's own app (not through the API); its id."""
        answer, created = self._create({"name": name, "status": status, "body": body})
        if answer != 201:
            raise ValueError(f"cannot open {name!r}: {created}")
        return str(created["id"])

    def writes(self) -> list[SPCall]:
        """The incident writes it carried out."""
        return [c for c in self.calls if c.method in ("POST", "PATCH") and c.status < 300]

    # ---- the API -----------------------------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.Response:
        tail = "/" + request.match_info["tail"]
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = ...
        status, answer = self._route(request, tail, body)
        self.calls.append(SPCall(request.method, tail, body, status, self.rt.now().isoformat()))
        self.rt.feed.emit("statuspage.call", method=request.method, path=tail, status=status)
        return web.json_response(answer, status=status)

    def _route(self, request: web.Request, tail: str, body: Any) -> tuple[int, Any]:
        auth = request.headers.get("Authorization", "")
        if auth.removeprefix("OAuth ").strip() != self.api_key or not auth.startswith("OAuth "):
            return 401, {"error": "Could not authenticate"}
        parts = tail.strip("/").split("/")
        if parts[:2] != ["v1", "pages"] or len(parts) < 4:
            return 404, {"error": "Not found"}
        if parts[2] != self.page_id:
            return 404, {"error": "Page not found"}
        injected = self._fault(request.method)
        if injected is not None:
            return injected, {"error": "Rate limited" if injected in (420, 429) else "Internal server error"}
        what, rest = parts[3], parts[4:]
        method = request.method
        if what == "components" and method == "GET" and not rest:
            return 200, list(self.components.values())
        if what != "incidents":
            return 404, {"error": "Not found"}
        if method == "GET" and rest == ["unresolved"]:
            return 200, [self._json(i) for i in self.incidents.values() if i.status != "resolved"]
        if method == "GET" and not rest:
            return 200, [self._json(i) for i in self.incidents.values()]
        if method == "GET" and len(rest) == 1:
            found = self.incidents.get(rest[0])
            return (200, self._json(found)) if found else (404, {"error": "Not found"})
        if body is ... or not isinstance(body, dict) or not isinstance(body.get("incident"), dict):
            return 400, {"error": "incident is missing or the body is not JSON"}
        if method == "POST" and not rest:
            return self._create(body["incident"])
        if method == "PATCH" and len(rest) == 1:
            found = self.incidents.get(rest[0])
            return self._update(found, body["incident"]) if found else (404, {"error": "Not found"})
        return 405, {"error": "Method not allowed"}

    def _problems(self, fields: dict[str, Any], *, creating: bool) -> list[str]:
        problems = []
        name = fields.get("name")
        if creating and (not isinstance(name, str) or not name.strip()):
            problems.append("Name can't be blank")
        if fields.get("status", "investigating") not in INCIDENT_STATUSES:
            problems.append(f"Status is not included in the list: {fields.get('status')!r}")
        components = fields.get("components") or {}
        if not isinstance(components, dict):
            problems.append("Components must be a map of component id to status")
            return problems
        for cid, status in components.items():
            if cid not in self.components:
                problems.append(f"Component {cid} not found")
            elif status not in COMPONENT_STATUSES:
                problems.append(f"Component status is not included in the list: {status!r}")
        return problems

    def _create(self, fields: dict[str, Any]) -> tuple[int, Any]:
        problems = self._problems(fields, creating=True)
        if problems:
            return 422, {"error": problems}
        incident_id = _new_id()
        found = PublicIncident(
            incident_id,
            str(fields["name"]),
            str(fields.get("status") or "investigating"),
            iso_ms(self.rt.now()),
            f"https://stspg.io/{incident_id[:7]}",
        )
        self.incidents[incident_id] = found
        self._apply(found, fields)
        self.rt.feed.emit("statuspage.incident", incident=incident_id, status=found.status, created=True)
        return 201, self._json(found)

    def _update(self, found: PublicIncident, fields: dict[str, Any]) -> tuple[int, Any]:
        problems = self._problems(fields, creating=False)
        if problems:
            return 422, {"error": problems}
        if isinstance(fields.get("name"), str) and fields["name"].strip():
            found.name = fields["name"]
        found.status = str(fields.get("status") or found.status)
        self._apply(found, fields)
        self.rt.feed.emit("statuspage.incident", incident=found.id, status=found.status, created=False)
        return 200, self._json(found)

    def _apply(self, found: PublicIncident, fields: dict[str, Any]) -> None:
        """An update on the incident, and the components' new status."""
        now = iso_ms(self.rt.now())
        affected = []
        for cid, status in (fields.get("components") or {}).items():
            component = self.components[cid]
            affected.append({"code": cid, "name": component["name"], "old_status": component["status"]})
            affected[-1]["new_status"] = component["status"] = status
            if cid not in found.components:
                found.components.append(cid)
        found.updates.append(
            {
                "id": _new_id(),
                "incident_id": found.id,
                "status": found.status,
                "body": str(fields.get("body") or ""),
                "created_at": now,
                "display_at": now,
                "affected_components": affected or None,
                "deliver_notifications": bool(fields.get("deliver_notifications", True)),
            }
        )
        if found.status == "resolved":
            found.resolved_at = now

    def _json(self, found: PublicIncident) -> dict[str, Any]:
        return {
            "id": found.id,
            "page_id": self.page_id,
            "name": found.name,
            "status": found.status,
            "created_at": found.created_at,
            "resolved_at": found.resolved_at,
            "shortlink": found.shortlink,
            "incident_updates": list(reversed(found.updates)),  # newest first, as Statuspage lists them
            "components": [self.components[c] for c in found.components],
        }
