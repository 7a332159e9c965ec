"""The Pager port for OpsGenie's Alert API v2 (and Jira Service Management Operations, whose alert API has the same
shape at another base URL), over aiohttp.

OpsGenie's writes are asynchronous: a write answers `202 {"result": "Request will be processed", "requestId"}` and
is carried out later, or not (the alert may be gone, the escalation unknown). Every write here is confirmed through
`GET /alerts/requests/{requestId}` before it counts, and a write OpsGenie could not carry out is an OpsGenieError
that says what it said: never assumed done.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime
from typing import Any

import aiohttp

from bot.adapters.opsgenie.events import alert_url, note_key, severity_from_opsgenie
from bot.adapters.retrying import OwnSession, request_json
from bot.domain.oncall import OnCall
from bot.domain.pager import PagedIncident
from bot.domain.severity import Severity
from bot.domain.wire import clean_text
from bot.errors import DuplicateIncident, OpsGenieError

log = logging.getLogger(__name__)

SOURCE_NAME = "sre-agent"  # the `source` OpsGenie records for sre-agent's requests
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(-\d+)?$", re.IGNORECASE)
_PRIORITIES = frozenset(f"P{n}" for n in range(1, 6))
MESSAGE_LIMIT = 130  # OpsGenie's limit on an alert's message
DESCRIPTION_LIMIT = 15_000
NOTE_LIMIT = 25_000


class OpsGenie:
    source = "opsgenie"

    def __init__(
        self,
        *,
        api_url: str,
        api_key: str,
        user: str = SOURCE_NAME,
        api_user: str | None = None,
        confirm_seconds: float = 10.0,
        retries: int = 3,
        request_timeout: float = 10.0,
        app_url: str | None = None,
    ) -> None:
        self.app_url = app_url
        self.api_url = api_url.rstrip("/")
        self.user = user
        # JSM Operations' REST API takes an Atlassian account and its API token; OpsGenie (and JSM's integration
        # API) an API key
        self._auth = aiohttp.BasicAuth(api_user, api_key) if api_user else None
        self.name = "JSM Operations" if api_user or "atlassian" in self.api_url else "OpsGenie"
        self.confirm_seconds = confirm_seconds
        self.retries = retries
        self._session = OwnSession(
            request_timeout, {} if api_user else {"Authorization": f"GenieKey {api_key}"}, self._auth
        )
        self._names: dict[str, str] = {}  # username -> full name

    async def close(self) -> None:
        await self._session.close()

    # ---- the wire ------------------------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        missing_ok: bool = False,
    ) -> tuple[int, dict[str, Any]]:
        """One request, retried on 429, 5xx and connection errors with backoff. Returns the status and the JSON
        object; 4xx (but a 404 when `missing_ok`) is an OpsGenieError with OpsGenie's own words."""
        try:
            answer = await request_json(
                self._session.get(),
                method,
                f"{self.api_url}{path}",
                retries=self.retries,
                again=lambda status: status == 429 or status >= 500,
                resend=True,
                params=params,
                body=body,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise OpsGenieError(
                f"{self.name} {what} failed: {exc!r}", user_message=f"{self.name} could not be reached to {what}."
            ) from exc
        status, data = answer.status, answer.data if isinstance(answer.data, dict) else {}
        if status == 404 and missing_ok:
            return status, data
        if status >= 400:
            detail = _error_message(data) or f"HTTP {status}"
            raise OpsGenieError(
                f"{self.name} {what} failed ({status}): {detail}",
                user_message=f"{self.name} refused to {what}: {detail}",
            )
        return status, data

    async def _write(self, method: str, path: str, *, what: str, body: dict[str, Any]) -> dict[str, Any]:
        """A write, confirmed: the request's outcome as OpsGenie reports it once processed (raises if it failed)."""
        body = {**body, "user": self.user, "source": SOURCE_NAME}
        _, answer = await self._call(method, path, what=what, params={"identifierType": "id"}, body=body)
        request_id = answer.get("requestId")
        if not isinstance(request_id, str) or not request_id:
            raise OpsGenieError(
                f"{self.name} {what}: no request id in {str(answer)[:200]}",
                user_message=f"{self.name} did not say whether it would {what}.",
            )
        return await self._confirm(request_id, what)

    async def _confirm(self, request_id: str, what: str) -> dict[str, Any]:
        """Wait for the request to be processed (404 until it is) and return its status; a failed one raises."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.confirm_seconds
        delay = 0.05
        while True:
            status, answer = await self._call(
                "GET", f"/alerts/requests/{request_id}", what=f"confirm that it would {what}", missing_ok=True
            )
            if status != 404:
                data = answer.get("data", answer)  # JSM Operations does not wrap it
                data = data if isinstance(data, dict) else {}
                if data.get("isSuccess", data.get("success")) is True:
                    return data
                said = clean_text(str(data.get("status") or "no reason given"), 300)
                raise OpsGenieError(
                    f"{self.name} did not {what}: {said} (request {request_id})",
                    user_message=f"{self.name} could not {what}: {said}",
                )
            if loop.time() + delay > deadline:
                raise OpsGenieError(
                    f"{self.name} had not processed the request to {what} after {self.confirm_seconds:g} s "
                    f"(request {request_id})",
                    user_message=f"{self.name} did not confirm that it would {what} within {self.confirm_seconds:g} s.",
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _alert(self, alert_id: str) -> dict[str, Any]:
        _, answer = await self._call(
            "GET", f"/alerts/{alert_id}", what="read the alert", params={"identifierType": "id"}
        )
        data = answer.get("data")
        return data if isinstance(data, dict) else {}

    # ---- the port ------------------------------------------------------------------------------------------------
    async def acknowledge(self, incident_id: str) -> None:
        await self._write("POST", f"/alerts/{incident_id}/acknowledge", what="acknowledge the alert", body={})

    async def resolve(self, incident_id: str, resolution: str | None = None) -> None:
        body = {"note": clean_text(resolution, NOTE_LIMIT)} if resolution else {}
        await self._write("POST", f"/alerts/{incident_id}/close", what="close the alert", body=body)

    async def status(self, incident_id: str) -> str:
        alert = await self._alert(incident_id)
        if alert.get("status") == "closed":
            return "resolved"
        return "acknowledged" if alert.get("acknowledged") is True else "triggered"

    async def add_note(self, incident_id: str, content: str) -> str:
        note = clean_text(content, NOTE_LIMIT)
        await self._write("POST", f"/alerts/{incident_id}/notes", what="add a note", body={"note": note})
        return note_key(note)

    async def publish_update(self, incident_id: str, message: str) -> None:
        await self.add_note(incident_id, message)  # OpsGenie's alerts have notes, no status updates

    async def note_with(self, incident_id: str, content: str) -> str | None:
        _, answer = await self._call(
            "GET",
            f"/alerts/{incident_id}/notes",
            what="read the notes",
            params={"identifierType": "id", "order": "asc", "limit": "100"},
        )
        notes = answer.get("data")
        for note in notes if isinstance(notes, list) else []:
            if isinstance(note, dict) and note.get("note") == content:
                return note_key(content)
        return None

    async def escalate(self, incident_id: str, level: int, *, policy_id: str) -> None:
        escalation = {"id": policy_id} if _UUID.match(policy_id) else {"name": policy_id}
        # JSM Operations' REST API names the escalation by id alone, at the top of the body
        body: dict[str, Any] = {"escalationId": policy_id} if self._auth else {"escalation": escalation}
        await self._write(
            "POST", f"/alerts/{incident_id}/escalate", what=f"escalate the alert to level {level}", body=body
        )

    async def assignees(self, incident_id: str) -> set[str]:
        _, answer = await self._call(
            "GET",
            f"/alerts/{incident_id}/recipients",
            what="read who was notified",
            params={"identifierType": "id"},
        )
        recipients = answer.get("data")
        return {
            str(r["user"]["username"])
            for r in (recipients if isinstance(recipients, list) else [])
            if isinstance(r, dict) and isinstance(r.get("user"), dict) and r["user"].get("username")
        }

    async def set_priority(self, incident_id: str, name: str) -> bool:
        if name not in _PRIORITIES:
            return False
        await self._write(
            "PUT", f"/alerts/{incident_id}/priority", what=f"set the priority to {name}", body={"priority": name}
        )
        return True

    async def oncalls(self, escalation_policy_id: str, *, level: int | None = 1) -> list[OnCall]:
        """Who is on call along an escalation: its rules in order are the levels; a rule's schedule gives who is on
        call in it now (`flat=true`: their usernames), a user rule the user."""
        by = "id" if _UUID.match(escalation_policy_id) else "name"
        _, answer = await self._call(
            "GET",
            f"/escalations/{escalation_policy_id}",
            what="read the escalation",
            params={"identifierType": by},
        )
        data = answer.get("data")
        rules = data.get("rules") if isinstance(data, dict) else None
        people: list[OnCall] = []
        seen: set[str] = set()
        for number, rule in enumerate(rules if isinstance(rules, list) else [], start=1):
            if (level is not None and number != level) or not isinstance(rule, dict):
                continue
            for username in await self._recipients(rule.get("recipient")):
                if username in seen:
                    continue
                seen.add(username)
                name = await self._full_name(username)
                people.append(OnCall(name=name, email=username, level=number, user_id=username))
        return people

    async def _recipients(self, recipient: Any) -> list[str]:
        if not isinstance(recipient, dict):
            return []
        kind = recipient.get("type")
        if kind == "user":
            return [str(recipient["username"])] if recipient.get("username") else []
        if kind == "schedule":
            ident, by = (recipient.get("id"), "id") if recipient.get("id") else (recipient.get("name"), "name")
            if not ident:
                return []
            _, answer = await self._call(
                "GET",
                f"/schedules/{ident}/on-calls",
                what="look up who is on call",
                params={"scheduleIdentifierType": by, "flat": "true"},
            )
            data = answer.get("data")
            names = data.get("onCallRecipients") if isinstance(data, dict) else None
            return [str(n) for n in names if isinstance(n, str)] if isinstance(names, list) else []
        log.info("%s escalation rule notifies a %s: not followed for who is on call", self.name, kind)
        return []

    async def _full_name(self, username: str) -> str:
        if username not in self._names:
            status, answer = await self._call("GET", f"/users/{username}", what="look up a user", missing_ok=True)
            data = answer.get("data") if status != 404 else None
            self._names[username] = str(data.get("fullName") or username) if isinstance(data, dict) else username
        return self._names[username]

    async def display_name(self, user_id: str, shown: str | None) -> str | None:
        if user_id == self.user:
            return shown
        try:
            return clean_text(await self._full_name(user_id), 255)
        except OpsGenieError as exc:  # a name is not worth losing the event over
            log.info("%s: no name for %s: %s", self.name, user_id, exc)
            return shown

    async def create_incident(
        self,
        *,
        title: str,
        service_id: str,
        urgency: str,
        priority: str | None,
        details: str,
        incident_key: str,
        escalation_policy_id: str | None = None,
    ) -> PagedIncident:
        """Create an alert for the service (its entity), with the escalation as its responder. OpsGenie folds an
        alert into an open one with the same alias (raising its count): that one is DuplicateIncident here."""
        status, answer = await self._call(
            "GET",
            f"/alerts/{incident_key}",
            what="look for an open alert",
            params={"identifierType": "alias"},
            missing_ok=True,
        )
        existing = answer.get("data") if status != 404 else None
        if isinstance(existing, dict) and existing.get("status") == "open":
            raise DuplicateIncident(
                f"{self.name} has an open alert with the alias {incident_key}",
                user_message=f"{self.name} has this alert open already.",
            )
        body: dict[str, Any] = {
            "message": clean_text(title, MESSAGE_LIMIT),
            "alias": incident_key,
            "entity": service_id,
            "details": {"service": service_id},
            "priority": priority if priority in _PRIORITIES else "P3",
        }
        if details:
            body["description"] = clean_text(details, DESCRIPTION_LIMIT)
        if escalation_policy_id:
            by = "id" if _UUID.match(escalation_policy_id) else "name"
            body["responders"] = [{"type": "escalation", by: escalation_policy_id}]
        body.update(user=self.user, source=SOURCE_NAME)
        _, answer = await self._call("POST", "/alerts", what="create the alert", body=body)
        request_id = answer.get("requestId")
        if not isinstance(request_id, str) or not request_id:
            raise OpsGenieError(
                f"{self.name} create the alert: no request id", user_message=f"{self.name} did not open it."
            )
        done = await self._confirm(request_id, "create the alert")
        alert_id = str(done.get("alertId") or "")
        if not alert_id:
            raise OpsGenieError(
                f"{self.name} created no alert id", user_message=f"{self.name} did not say which alert it opened."
            )
        return _incident(await self._alert(alert_id), escalation_policy_id, self.app_url)

    async def user_exists(self, email: str) -> bool:
        status, _ = await self._call("GET", f"/users/{email}", what="look up a user", missing_ok=True)
        return status != 404

    async def own_user_id(self) -> str | None:
        """The `user` sre-agent's requests are made as: OpsGenie names it so in the webhooks they cause."""
        return self.user


def _incident(alert: dict[str, Any], escalation: str | None, app_url: str | None) -> PagedIncident:
    if not alert.get("id"):
        raise OpsGenieError("OpsGenie answered without an alert", user_message="OpsGenie did not open it.")
    details: dict[str, Any] = alert["details"] if isinstance(alert.get("details"), dict) else {}
    service = str(details.get("service") or alert.get("entity") or "")
    tiny = str(alert.get("tinyId") or "")
    created = alert.get("createdAt")
    priority = alert.get("priority") if alert.get("priority") in _PRIORITIES else None
    return PagedIncident(
        id=str(alert["id"]),
        number=int(tiny) if tiny.isdigit() else None,
        status="resolved" if alert.get("status") == "closed" else "triggered",
        title=str(alert.get("message") or ""),
        urgency=None,
        priority=priority,
        service_id=service,
        service_name=service,
        escalation_policy_id=escalation,
        html_url=alert_url(app_url, str(alert["id"])),
        incident_key=str(alert["alias"]) if alert.get("alias") else None,
        created_at=datetime.fromisoformat(created.replace("Z", "+00:00")) if isinstance(created, str) else None,
        severity=severity_from_opsgenie(priority) if priority else Severity.P3,
    )


def _error_message(data: dict[str, Any]) -> str:
    """OpsGenie's `{"message", "errors": {field: msg}}`, or JSM Operations' `{"errors": [{"title"}]}`."""
    message = str(data.get("message") or "")
    errors = data.get("errors")
    if isinstance(errors, dict) and errors:
        message = f"{message} ({'; '.join(f'{k}: {v}' for k, v in errors.items())})".strip()
    elif isinstance(errors, list):
        titles = [str(e.get("title") or e.get("detail") or "") for e in errors if isinstance(e, dict)]
        message = message or "; ".join(t for t in titles if t)
    return clean_text(message, 300)
