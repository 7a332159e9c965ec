"""The status page port: what the services ask of the public status page (Atlassian Statuspage, through
`bot/adapters/statuspage`). The services are typed against this Protocol, never against the adapter.

An adapter raises `bot.errors.StatusPageError` with a user_message when the page refuses or cannot be reached."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.domain.incident import Incident
from bot.domain.status_page import PublicPhase


@dataclass(frozen=True)
class PublicIncident:
    """An incident on the public page, as the page has it after a write."""

    id: str
    status: str
    shortlink: str | None = None


class StatusPage(Protocol):
    name: str  # how people call it (`Statuspage`)

    async def create(self, name: str, status: str, body: str, components: Sequence[tuple[str, str]]) -> PublicIncident:
        """Open a public incident with its first update, setting each (component id, status)."""

    async def update(
        self, incident_id: str, name: str, status: str, body: str, components: Sequence[tuple[str, str]]
    ) -> PublicIncident:
        """Post an update on the public incident (its status and words), setting each (component id, status)."""

    async def unresolved(self, name: str) -> PublicIncident | None:
        """An unresolved public incident of this name: the one a crash kept from being recorded, if any."""

    async def close(self) -> None: ...


class PublicPhases(Protocol):
    """What the lifecycle tells about the public page (bot/lifecycle/public_status.py): where an incident got to."""

    async def moved(self, incident: Incident, phase: PublicPhase) -> None:
        """The incident reached `phase`; customers may need to hear of it."""
