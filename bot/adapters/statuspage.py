"""The StatusPage port for Atlassian Statuspage's REST API v1 (`Authorization: OAuth <API key>`), over aiohttp.

An incident is created with `POST /pages/{page}/incidents` and updated with `PATCH .../incidents/{id}`; each write
carries the incident's status and the update's words, and the status of each affected component (`components`, a map
of component id to status, with `component_ids`), so that the page and its components change in one request.

Statuspage limits an API key to about one request a second and answers 420 or 429 beyond it: those, and 502-504, are
tried again with backoff (a request it turned away was not carried out). Anything else it refuses, and a request
whose outcome cannot be known (the connection dropped), is a StatusPageError that says so: a public incident is
never assumed created, and never created twice by a blind retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp

from bot.adapters.retrying import OwnSession, request_json
from bot.domain.wire import clean_text
from bot.errors import StatusPageError
from bot.ports.status_page import PublicIncident

_AGAIN = frozenset({420, 429, 502, 503, 504})  # turned away before anything was done


class Statuspage:
    name = "Statuspage"

    def __init__(
        self,
        *,
        api_url: str,
        api_key: str,
        page_id: str,
        notify: bool = True,
        retries: int = 3,
        request_timeout: float = 10.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.page_id = page_id
        self.notify = notify  # whether the page's subscribers are told of each update
        self.retries = retries
        self._session = OwnSession(request_timeout, {"Authorization": f"OAuth {api_key}"})

    async def close(self) -> None:
        await self._session.close()

    async def _call(self, method: str, path: str, *, what: str, body: dict[str, Any] | None = None) -> Any:
        """One request, tried again while Statuspage turns it away unprocessed; its JSON answer."""
        try:
            answer = await request_json(
                self._session.get(),
                method,
                f"{self.api_url}/pages/{self.page_id}{path}",
                retries=self.retries,
                again=lambda status: status in _AGAIN,
                resend=method == "GET",  # a write whose answer was lost may have been carried out
                body=body,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise StatusPageError(
                f"Statuspage {what} failed: {exc!r}",
                user_message=f"Statuspage could not be reached to {what}"
                + ("." if method == "GET" else "; whether it did is not known."),
            ) from exc
        if answer.status >= 400:
            detail = _error_message(answer.data) or f"HTTP {answer.status}"
            raise StatusPageError(
                f"Statuspage {what} failed ({answer.status}): {detail}",
                user_message=f"Statuspage refused to {what}: {detail}",
            )
        return answer.data

    def _incident_body(
        self, name: str, status: str, body: str, components: Sequence[tuple[str, str]]
    ) -> dict[str, Any]:
        return {
            "incident": {
                "name": name,
                "status": status,
                "body": body,
                "component_ids": [c for c, _ in components],
                "components": dict(components),
                "deliver_notifications": self.notify,
            }
        }

    async def create(self, name: str, status: str, body: str, components: Sequence[tuple[str, str]]) -> PublicIncident:
        data = await self._call(
            "POST",
            "/incidents",
            what="create the public incident",
            body=self._incident_body(name, status, body, components),
        )
        return _incident(data, "create the public incident")

    async def update(
        self, incident_id: str, name: str, status: str, body: str, components: Sequence[tuple[str, str]]
    ) -> PublicIncident:
        data = await self._call(
            "PATCH",
            f"/incidents/{incident_id}",
            what="update the public incident",
            body=self._incident_body(name, status, body, components),
        )
        return _incident(data, "update the public incident")

    async def unresolved(self, name: str) -> PublicIncident | None:
        data = await self._call("GET", "/incidents/unresolved", what="read the unresolved incidents")
        for item in data if isinstance(data, list) else []:
            if isinstance(item, dict) and item.get("name") == name and isinstance(item.get("id"), str):
                return _incident(item, "read the unresolved incidents")
        return None


def _incident(data: Any, what: str) -> PublicIncident:
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
        raise StatusPageError(
            f"Statuspage {what}: no incident in {str(data)[:200]}",
            user_message=f"Statuspage did not say whether it would {what}.",
        )
    link = data.get("shortlink")
    return PublicIncident(data["id"], str(data.get("status") or ""), link if isinstance(link, str) else None)


def _error_message(data: Any) -> str:
    """Statuspage's `{"error": "..."}` or `{"error": ["...", ...]}` (or a `message`)."""
    if not isinstance(data, dict):
        return ""
    error = data.get("error", data.get("message"))
    if isinstance(error, list):
        error = "; ".join(str(e) for e in error)
    return clean_text(str(error or ""), 300)
