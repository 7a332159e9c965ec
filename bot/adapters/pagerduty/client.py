"""The PagerDuty port: REST API v2 over aiohttp, on the app's loop.

What the API asks of a client, as pdpyras (PagerDuty's own library, which this port used before) does it: the
token (`Authorization: Token token=...`), the version (`Accept: application/vnd.pagerduty+json;version=2`), the
e-mail of the user sre-agent acts as (`From`, which writes need), the resource's wrapper taken off what comes back
(`{"incident": {...}}`), lists read page by page (`limit`, `offset`, `more`), a 429 asked again a few times (after
the seconds PagerDuty's `ratelimit-reset` says), and the environment's proxy and CA bundle (`HTTPS_PROXY`,
`NO_PROXY`, `REQUESTS_CA_BUNDLE`...) read once, when the client is made.

Why not pdpyras: it is synchronous (requests), so each call ran on a worker thread, and on a 2-core machine a call
cost 1.2 to 1.4 ms of CPU that way (requests' own work, and some 20 turns at the interpreter's lock between the thread
and the app's loop) against 0.2 to 0.25 ms here; in a storm of pages PagerDuty's threads were a fifth of the bot's
CPU for 2 calls an incident.

Which failures are asked again within a call: a 429 (any request), a 5xx of a read, and a request that could not be
sent or whose answer was lost, where sending it twice does no harm (GET, PUT). A POST (a note, an incident) is not
sent again: whether it was done is for its caller to look up when the step is done again.
"""

from __future__ import annotations

import logging
import math
import os
import ssl
import urllib.request
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from bot import __version__
from bot.adapters.pagerduty.events import severity_from_pagerduty
from bot.adapters.recent import Recent
from bot.adapters.retrying import Answer, OwnSession, request_json
from bot.domain.oncall import OnCall
from bot.domain.pager import PagedIncident
from bot.errors import ConfigError, DuplicateIncident, PagerDutyError

log = logging.getLogger(__name__)

PAGE = 100  # entries asked for a page of a list (PagerDuty's largest)
MOST = 10_000  # PagerDuty's classic pagination goes no further than this offset
REQUEST_TIMEOUT_S = 10.0
_IDEMPOTENT = frozenset({"GET", "PUT"})
Params = list[tuple[str, str]]


class PagerDuty:
    source = "pagerduty"
    name = "PagerDuty"

    def __init__(self, *, api_url: str, token: str, from_email: str, rate_limit_retries: int = 3) -> None:
        self.api_url = api_url.rstrip("/")
        self.from_email = from_email
        self.retries = rate_limit_retries
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        headers = {
            "Authorization": f"Token token={token}",
            "Accept": "application/vnd.pagerduty+json;version=2",
            "From": from_email,
            "User-Agent": f"sre-agent/{__version__}",
        }
        tls = _trusting(ca_bundle) if ca_bundle else None
        self._session = OwnSession(REQUEST_TIMEOUT_S, headers, proxy=environment_proxy(self.api_url), tls=tls)
        self._own_id: Recent[str, str] = Recent(lambda _: math.inf)  # "" once looked up and not found
        self._priority_ids: Recent[str, dict[str, str]] = Recent(lambda _: math.inf)

    async def display_name(self, user_id: str, shown: str | None) -> str | None:
        return shown  # PagerDuty's events name the person already

    async def close(self) -> None:
        await self._session.close()

    # ---- the wire ------------------------------------------------------------------------------------------------

    async def _answer(
        self, method: str, path: str, what: str, *, params: Params | None = None, body: Any = None
    ) -> Answer:
        """PagerDuty's answer to one request, asked again as the module's docstring says; PagerDutyError when it could
        not be reached."""
        try:
            return await request_json(
                self._session.get(),
                method,
                f"{self.api_url}{path}",
                retries=self.retries,
                again=lambda status: status == 429 or (status >= 500 and method == "GET"),
                resend=method in _IDEMPOTENT,
                params=params,
                body=body,
                wait_header="ratelimit-reset",
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PagerDutyError(
                f"PagerDuty {what} failed: {exc!r}", user_message=f"PagerDuty could not be reached to {what}."
            ) from exc

    async def _call(
        self, method: str, path: str, what: str, *, params: Params | None = None, body: Any = None
    ) -> dict[str, Any]:
        """The JSON object PagerDuty answers; PagerDutyError with its own words when it refuses (4xx, 5xx)."""
        answer = await self._answer(method, path, what, params=params, body=body)
        return _accepted(answer, what)

    async def _entity(self, method: str, path: str, what: str, key: str, *, body: Any = None) -> dict[str, Any]:
        """The resource PagerDuty answers with, out of its wrapper (`{"incident": {...}}`)."""
        data = await self._call(method, path, what, body=body)
        entity = data.get(key)
        if not isinstance(entity, dict):
            raise PagerDutyError(
                f"PagerDuty {what}: the answer has no {key!r}: {str(data)[:200]}",
                user_message=f"PagerDuty did not say whether it could {what}.",
            )
        return entity

    async def _list(self, path: str, what: str, key: str, params: Params | None = None) -> list[dict[str, Any]]:
        """Every entry of a list, page by page (classic pagination: `limit`, `offset`, `more`)."""
        entries: list[dict[str, Any]] = []
        offset = 0
        while offset < MOST:
            data = await self._call(
                "GET", path, what, params=[*(params or []), ("limit", str(PAGE)), ("offset", str(offset))]
            )
            page = data.get(key)
            if not isinstance(page, list):
                raise PagerDutyError(
                    f"PagerDuty {what}: the answer has no {key!r} list: {str(data)[:200]}",
                    user_message=f"PagerDuty could not {what}.",
                )
            entries += [entry for entry in page if isinstance(entry, dict)]
            if not page or data.get("more") is not True:
                break
            offset += len(page)
        return entries

    # ---- the port ------------------------------------------------------------------------------------------------

    async def acknowledge(self, incident_id: str) -> None:
        await self._set_status(incident_id, "acknowledged")

    async def resolve(self, incident_id: str, resolution: str | None = None) -> None:
        await self._set_status(incident_id, "resolved", resolution)

    async def _set_status(self, incident_id: str, status: str, resolution: str | None = None) -> None:
        body: dict[str, Any] = {"type": "incident_reference", "status": status}
        if resolution:
            body["resolution"] = resolution
        await self._call("PUT", _incident(incident_id), f"mark the incident {status}", body={"incident": body})

    async def add_note(self, incident_id: str, content: str) -> str:
        """Post a note; returns its id (so that the annotated webhook it causes is recognised as an echo)."""
        path = f"{_incident(incident_id)}/notes"
        note = await self._entity("POST", path, "add a note", "note", body={"note": {"content": content}})
        return str(note.get("id") or "")

    async def publish_update(self, incident_id: str, message: str) -> None:
        path = f"{_incident(incident_id)}/status_updates"
        await self._call("POST", path, "publish a status update", body={"message": message})

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
        what = "open the incident"
        answer = await self._answer("POST", "/incidents", what, body={"incident": body})
        if answer.status >= 400 and any("dedup key" in e for e in _error_details(answer.data)):
            raise DuplicateIncident(
                f"PagerDuty has an open incident with the key {incident_key}",
                user_message="PagerDuty has this incident open already.",
            )
        created = _accepted(answer, what).get("incident")
        return _incident_from_rest(created)

    async def assignees(self, incident_id: str) -> set[str]:
        """PagerDuty user ids the incident is assigned to now."""
        incident = await self._entity("GET", _incident(incident_id), "read the incident", "incident")
        assignments = incident.get("assignments")
        return {
            str(a["assignee"]["id"])
            for a in (assignments if isinstance(assignments, list) else [])
            if isinstance(a, dict) and isinstance(a.get("assignee"), dict) and a["assignee"].get("id")
        }

    async def status(self, incident_id: str) -> str:
        """The incident's status now: triggered, acknowledged or resolved."""
        incident = await self._entity("GET", _incident(incident_id), "read the incident", "incident")
        return str(incident.get("status", ""))

    async def note_with(self, incident_id: str, content: str) -> str | None:
        """The id of a note on the incident whose content is `content`, None if it has none such."""
        data = await self._call("GET", f"{_incident(incident_id)}/notes", "read the notes")
        notes = data.get("notes")
        for note in notes if isinstance(notes, list) else []:
            if isinstance(note, dict) and note.get("content") == content:
                return str(note.get("id", ""))
        return None

    async def escalate(self, incident_id: str, level: int, *, policy_id: str) -> None:
        body = {"type": "incident_reference", "escalation_level": level}
        what = f"escalate the incident to level {level}"
        await self._call("PUT", _incident(incident_id), what, body={"incident": body})

    async def set_priority(self, incident_id: str, name: str) -> bool:
        """Set the priority by name (``P1``); False, changing nothing, when the account has no such priority
        (priorities are an account feature PagerDuty lets admins turn off)."""
        priority_id = (await self._priorities()).get(name)
        if priority_id is None:
            return False
        body = {"type": "incident_reference", "priority": {"id": priority_id, "type": "priority_reference"}}
        await self._call("PUT", _incident(incident_id), f"set the priority to {name}", body={"incident": body})
        return True

    async def _priorities(self) -> dict[str, str]:
        """The account's priorities, by name: listed once."""
        return await self._priority_ids.get("", self._read_priorities)

    async def _read_priorities(self) -> dict[str, str]:
        entries = await self._list("/priorities", "list priorities", "priorities")
        return {str(p.get("summary") or p.get("name")): str(p["id"]) for p in entries if p.get("id")}

    async def user_exists(self, email: str) -> bool:
        return bool(await self._users_with(email))

    async def _users_with(self, email: str) -> list[dict[str, Any]]:
        """The PagerDuty users whose e-mail is `email` (the search matches parts of names and e-mails too)."""
        users = await self._list("/users", "look up users", "users", [("query", email)])
        return [u for u in users if str(u.get("email", "")).lower() == email.lower()]

    async def own_user_id(self) -> str | None:
        """The id of the user whose e-mail sre-agent acts with (From), looked up once."""
        try:
            found = await self._own_id.get(self.from_email, self._read_own_id)
        except PagerDutyError as exc:
            log.warning("could not look up sre-agent's own PagerDuty user: %s", exc)
            return None
        return found or None

    async def _read_own_id(self) -> str:
        mine = await self._users_with(self.from_email)
        return str(mine[0]["id"]) if mine and mine[0].get("id") else ""

    async def oncalls(self, escalation_policy_id: str, *, level: int | None = 1) -> list[OnCall]:
        """Who is on call now for an escalation policy (at `level`, or every level when None)."""
        params = [("escalation_policy_ids[]", escalation_policy_id), ("earliest", "true"), ("include[]", "users")]
        entries = await self._list("/oncalls", "look up who is on call", "oncalls", params)
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


def environment_proxy(url: str) -> str | None:
    """The proxy the environment names for `url` (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, lower case first), None
    where there is none or `NO_PROXY` says to reach its host directly: what requests would use for it."""
    parts = urlsplit(url)
    if parts.hostname and urllib.request.proxy_bypass(parts.netloc):
        return None
    proxies = urllib.request.getproxies_environment()
    return proxies.get(parts.scheme) or proxies.get("all") or None


def _trusting(ca_bundle: str) -> ssl.SSLContext:
    """A TLS context that trusts the certificates of `ca_bundle` (a file or folder of PEM), as requests does."""
    try:
        if os.path.isdir(ca_bundle):
            return ssl.create_default_context(capath=ca_bundle)
        return ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"the CA bundle {ca_bundle} (REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE) cannot be read: {exc}"
        ) from exc


def _incident(incident_id: str) -> str:
    return f"/incidents/{quote(incident_id, safe='')}"


def _accepted(answer: Answer, what: str) -> dict[str, Any]:
    """The JSON object of an answer PagerDuty gave with a 2xx; PagerDutyError with its own words for any other."""
    data = answer.data if isinstance(answer.data, dict) else {}
    if answer.status >= 400:
        detail = _error_message(data) or f"HTTP {answer.status}"
        raise PagerDutyError(
            f"PagerDuty {what} failed ({answer.status}): {detail}",
            user_message=f"PagerDuty refused to {what}: {detail}",
        )
    return data


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


def _error_details(data: Any) -> list[str]:
    """The `errors` PagerDuty lists with an error (e.g. "Open incident with matching dedup key already exists")."""
    error = data.get("error") if isinstance(data, dict) else None
    errors = error.get("errors") if isinstance(error, dict) else None
    return [str(e) for e in errors] if isinstance(errors, list) else []


def _error_message(data: dict[str, Any]) -> str:
    """PagerDuty's own words for an error (`error.message`, and what it lists under `error.errors`)."""
    error = data.get("error")
    if not isinstance(error, dict):
        return str(data)[:200] if data else ""
    return ": ".join(part for part in (str(error.get("message") or ""), "; ".join(_error_details(data))) if part)[:300]
