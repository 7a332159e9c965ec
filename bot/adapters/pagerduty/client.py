"""The PagerDuty port: REST v2 through pdpyras, in worker threads (pdpyras is synchronous).

pdpyras warns on import that its successor is the `pagerduty` package (same API shape); that one warning is
filtered here, where it is imported, and nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
import math
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message='The package "pdpyras" is deprecated')
    import pdpyras
from requests.adapters import HTTPAdapter

from bot.adapters.pagerduty.events import severity_from_pagerduty
from bot.adapters.recent import Recent
from bot.domain.oncall import OnCall
from bot.domain.pager import PagedIncident
from bot.errors import DuplicateIncident, PagerDutyError

log = logging.getLogger(__name__)
T = TypeVar("T")


class PagerDuty:
    source = "pagerduty"
    name = "PagerDuty"

    def __init__(
        self, *, api_url: str, token: str, from_email: str, rate_limit_retries: int = 3, threads: int = 16
    ) -> None:
        self.session = pdpyras.APISession(token, default_from=from_email)
        self.session.url = api_url
        self.session.retry[429] = rate_limit_retries
        self.session.max_http_attempts = 4
        # a connection refused or reset is tried twice more (after 3 s, then 6 s), not for minutes: the event's own
        # retries come after, and a thread asleep in a retry outlives the process's close
        self.session.max_network_attempts = 2
        self.session.timeout = 10
        # as many kept connections as threads that use them: a smaller pool makes a storm open and drop connections
        for scheme in ("http://", "https://"):
            self.session.mount(scheme, HTTPAdapter(pool_connections=1, pool_maxsize=threads))
        # requests reads the environment again on every request (the proxies and their exceptions, a CA bundle,
        # .netrc): a fifth of a call's CPU. What it says for PagerDuty's URL is read once, here, and kept.
        environment = self.session.merge_environment_settings(api_url, {}, None, None, None)
        self.session.proxies.update(environment["proxies"])
        self.session.verify = environment["verify"]
        self.session.trust_env = False
        self.from_email = from_email
        self._own_id: Recent[str, str] = Recent(lambda _: math.inf)  # "" once looked up and not found
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pagerduty")
        self._priority_ids: Recent[str, dict[str, str]] = Recent(lambda _: math.inf)

    async def display_name(self, user_id: str, shown: str | None) -> str | None:
        return shown  # PagerDuty's events name the person already

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self, what: str, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn)
        except pdpyras.PDClientError as exc:
            status = exc.response.status_code if exc.response is not None else None
            detail = _error_message(exc)
            raise PagerDutyError(
                f"PagerDuty {what} failed ({status}): {detail}",
                user_message=f"PagerDuty refused to {what}: {detail}",
            ) from exc

    async def acknowledge(self, incident_id: str) -> None:
        await self._set_status(incident_id, "acknowledged")

    async def resolve(self, incident_id: str, resolution: str | None = None) -> None:
        await self._set_status(incident_id, "resolved", resolution)

    async def _set_status(self, incident_id: str, status: str, resolution: str | None = None) -> None:
        body: dict[str, Any] = {"type": "incident_reference", "status": status}
        if resolution:
            body["resolution"] = resolution
        await self._run(
            f"mark the incident {status}",
            lambda: self.session.rput(f"/incidents/{incident_id}", json={"incident": body}),
        )

    async def add_note(self, incident_id: str, content: str) -> str:
        """Post a note; returns its id (so that the annotated webhook it causes is recognised as an echo)."""
        note = await self._run(
            "add a note",
            lambda: self.session.rpost(f"/incidents/{incident_id}/notes", json={"note": {"content": content}}),
        )
        return str(note["id"]) if isinstance(note, dict) else ""

    async def publish_update(self, incident_id: str, message: str) -> None:
        await self._run(
            "publish a status update",
            lambda: self.session.rpost(f"/incidents/{incident_id}/status_updates", json={"message": message}),
        )

    async def create_incident(
        self,
        *,
        title: str,
        service_id: str,
        urgency: str,
        priority: str | None,
        details: str,
        incident_key: str,
        escalation_policy_id: str | None = None,  # PagerDuty follows the service's own
    ) -> PagedIncident:
        """Open an incident on a PagerDuty service (it pages whoever is on call), as a person declaring it would."""
        body: dict[str, Any] = {
            "type": "incident",
            "title": title,
            "service": {"id": service_id, "type": "service_reference"},
            "urgency": urgency,
            "incident_key": incident_key,
        }
        if details:
            body["body"] = {"type": "incident_body", "details": details}
        priority_id = (await self._priorities()).get(priority) if priority else None
        if priority_id:
            body["priority"] = {"id": priority_id, "type": "priority_reference"}
        try:
            created = await self._run(
                "open the incident", lambda: self.session.rpost("/incidents", json={"incident": body})
            )
        except PagerDutyError as exc:
            if any("dedup key" in e for e in _error_details(exc.__cause__)):
                raise DuplicateIncident(
                    f"PagerDuty has an open incident with the key {incident_key}",
                    user_message="PagerDuty has this incident open already.",
                ) from exc
            raise
        return _incident_from_rest(created)

    async def assignees(self, incident_id: str) -> set[str]:
        """PagerDuty user ids the incident is assigned to now."""
        incident = await self._run("read the incident", lambda: self.session.rget(f"/incidents/{incident_id}"))
        assignments = incident.get("assignments") if isinstance(incident, dict) else None
        return {
            str(a["assignee"]["id"])
            for a in assignments or []
            if isinstance(a, dict) and isinstance(a.get("assignee"), dict) and a["assignee"].get("id")
        }

    async def status(self, incident_id: str) -> str:
        """The incident's status now: triggered, acknowledged or resolved."""
        incident = await self._run("read the incident", lambda: self.session.rget(f"/incidents/{incident_id}"))
        return str(incident.get("status", "")) if isinstance(incident, dict) else ""

    async def note_with(self, incident_id: str, content: str) -> str | None:
        """The id of a note on the incident whose content is `content`, None if it has none such."""
        notes = await self._run("read the notes", lambda: self.session.rget(f"/incidents/{incident_id}/notes"))
        for note in notes if isinstance(notes, list) else []:
            if isinstance(note, dict) and note.get("content") == content:
                return str(note.get("id", ""))
        return None

    async def escalate(self, incident_id: str, level: int, *, policy_id: str) -> None:
        body = {"type": "incident_reference", "escalation_level": level}
        await self._run(
            f"escalate the incident to level {level}",
            lambda: self.session.rput(f"/incidents/{incident_id}", json={"incident": body}),
        )

    async def set_priority(self, incident_id: str, name: str) -> bool:
        """Set the priority by name (``P1``); False, changing nothing, when the account has no such priority
        (priorities are an account feature PagerDuty lets admins turn off)."""
        priority_id = (await self._priorities()).get(name)
        if priority_id is None:
            return False
        body = {"type": "incident_reference", "priority": {"id": priority_id, "type": "priority_reference"}}
        await self._run(
            f"set the priority to {name}",
            lambda: self.session.rput(f"/incidents/{incident_id}", json={"incident": body}),
        )
        return True

    async def _priorities(self) -> dict[str, str]:
        """The account's priorities, by name: listed once."""
        return await self._priority_ids.get("", self._read_priorities)

    async def _read_priorities(self) -> dict[str, str]:
        entries = await self._run("list priorities", lambda: list(self.session.iter_all("priorities")))
        return {str(p.get("summary") or p.get("name")): str(p["id"]) for p in entries if p.get("id")}

    async def user_exists(self, email: str) -> bool:
        def fetch() -> list[dict[str, Any]]:
            return list(self.session.iter_all("users", params={"query": email}))

        users = await self._run("look up users", fetch)
        return any(str(u.get("email", "")).lower() == email.lower() for u in users)

    async def own_user_id(self) -> str | None:
        """The id of the user whose e-mail sre-agent acts with (From), looked up once."""
        try:
            found = await self._own_id.get(self.from_email, self._read_own_id)
        except PagerDutyError as exc:
            log.warning("could not look up sre-agent's own PagerDuty user: %s", exc)
            return None
        return found or None

    async def _read_own_id(self) -> str:
        def fetch() -> list[dict[str, Any]]:
            return list(self.session.iter_all("users", params={"query": self.from_email}))

        users = await self._run("look up users", fetch)
        mine = [u for u in users if str(u.get("email", "")).lower() == self.from_email.lower()]
        return str(mine[0]["id"]) if mine and mine[0].get("id") else ""

    async def oncalls(self, escalation_policy_id: str, *, level: int | None = 1) -> list[OnCall]:
        """Who is on call now for an escalation policy (at `level`, or every level when None)."""

        def fetch() -> list[dict[str, Any]]:
            return list(
                self.session.iter_all(
                    "oncalls",
                    params={
                        "escalation_policy_ids[]": [escalation_policy_id],
                        "earliest": "true",
                        "include[]": ["users"],
                    },
                )
            )

        entries = await self._run("look up who is on call", fetch)
        seen: set[str] = set()
        people: list[OnCall] = []
        for entry in sorted(entries, key=lambda e: int(e.get("escalation_level") or 0)):
            entry_level = int(entry.get("escalation_level") or 0)
            user = entry.get("user") or {}
            if (level is not None and entry_level != level) or not user.get("id") or user["id"] in seen:
                continue
            seen.add(user["id"])
            people.append(
                OnCall(
                    name=str(user.get("name") or user.get("summary") or user["id"]),
                    email=str(user.get("email") or ""),
                    level=entry_level,
                    user_id=str(user["id"]),
                )
            )
        return people


def _incident_from_rest(data: Any) -> PagedIncident:
    """The fields sre-agent keeps, from a REST v2 incident (``incident_number`` where webhooks say ``number``)."""
    if not isinstance(data, dict) or not data.get("id"):
        raise PagerDutyError("PagerDuty answered without an incident", user_message="PagerDuty did not open it.")

    def ref(key: str) -> dict[str, Any]:
        value = data.get(key)
        return value if isinstance(value, dict) else {}

    number = data.get("incident_number", data.get("number"))
    created = data.get("created_at")
    return PagedIncident(
        id=str(data["id"]),
        number=int(number) if isinstance(number, int) else None,
        status=str(data.get("status") or "triggered"),
        title=str(data.get("title") or ""),
        urgency=data.get("urgency") if isinstance(data.get("urgency"), str) else None,
        priority=str(ref("priority").get("summary")) if ref("priority").get("summary") else None,
        service_id=str(ref("service").get("id") or ""),
        service_name=str(ref("service").get("summary") or ""),
        escalation_policy_id=str(ref("escalation_policy")["id"]) if ref("escalation_policy").get("id") else None,
        html_url=str(data["html_url"]) if data.get("html_url") else None,
        incident_key=str(data["incident_key"]) if data.get("incident_key") else None,
        created_at=datetime.fromisoformat(created.replace("Z", "+00:00")) if isinstance(created, str) else None,
        severity=severity_from_pagerduty(
            str(ref("priority").get("summary")) if ref("priority").get("summary") else None,
            data.get("urgency") if isinstance(data.get("urgency"), str) else None,
        ),
    )


def _error_details(exc: BaseException | None) -> list[str]:
    """The `errors` PagerDuty lists with an error (e.g. "Open incident with matching dedup key already exists")."""
    response = getattr(exc, "response", None)
    try:
        errors = response.json().get("error", {}).get("errors") if response is not None else None
    except ValueError:
        return []
    return [str(e) for e in errors] if isinstance(errors, list) else []


def _error_message(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if response is not None:
        try:
            error = response.json().get("error", {})
            return str(error.get("message") or response.text[:200])
        except ValueError:
            return str(response.text[:200])
    return str(exc)
