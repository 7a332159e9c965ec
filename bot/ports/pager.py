"""The pager port: what the services ask of the paging service (PagerDuty; OpsGenie and JSM Operations through
one adapter). The services are typed against this Protocol, never against an adapter; the
contract suite (tests/test_pager_contract.py) holds every adapter to it against its sandbox peer.

An adapter raises `bot.errors.UpstreamError` (a subclass of its own) with a user_message when the service refuses
or cannot be reached."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from bot.domain.oncall import OnCall
from bot.domain.pager import PagedIncident, PagerEvent

# how a pager's stored webhook body (text) and when it came are read as the event; raises InvalidEvent
Reader = Callable[[str, datetime | None], PagerEvent]


class Pager(Protocol):
    source: str  # the name incidents from it are stored under (`pagerduty`), and its webhook's route
    name: str  # how people call it (`PagerDuty`)

    async def acknowledge(self, incident_id: str) -> None:
        """Acknowledge the incident (nobody else is paged for it meanwhile)."""

    async def resolve(self, incident_id: str, resolution: str | None = None) -> None:
        """Resolve it, with what fixed it where the service keeps such a thing."""

    async def status(self, incident_id: str) -> str:
        """`triggered`, `acknowledged` or `resolved`, as the service says now."""

    async def add_note(self, incident_id: str, content: str) -> str:
        """Add a note; its id (so that the service's echo of it is recognised)."""

    async def note_with(self, incident_id: str, content: str) -> str | None:
        """The id of a note with exactly this content, None if there is none (a note a crash kept unrecorded)."""

    async def publish_update(self, incident_id: str, message: str) -> None:
        """Tell the incident's stakeholders how it goes (the findings, a fix verified or not): a PagerDuty status
        update, an OpsGenie note."""

    async def escalate(self, incident_id: str, level: int, *, policy_id: str) -> None:
        """Page escalation level `level` of the incident's policy `policy_id` (the next one: OpsGenie can only
        escalate to the next rule). Why is said in a note of its own."""

    async def assignees(self, incident_id: str) -> set[str]:
        """The user ids (as `oncalls` gives them) the incident is with now: PagerDuty's assignees, or everyone
        OpsGenie has notified of the alert (escalating adds people there rather than reassigning)."""

    async def set_priority(self, incident_id: str, name: str) -> bool:
        """Set the priority by name (`P1`); False, changing nothing, where the service has no such priority."""

    async def oncalls(self, escalation_policy_id: str, *, level: int | None = 1) -> list[OnCall]:
        """Who is on call now for an escalation policy, at `level` (every level when None)."""

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
        """Open an incident on a service (it pages whoever is on call), as a person declaring it would. While an
        incident with the same `incident_key` is open there: DuplicateIncident, nothing opened. The escalation is the
        service's own on PagerDuty; OpsGenie is told it (as the alert's responder)."""

    async def user_exists(self, email: str) -> bool:
        """Whether the service has a user with this e-mail (the one sre-agent acts as)."""

    async def own_user_id(self) -> str | None:
        """The id of the user sre-agent acts as there (so that its own actions coming back are known); None when it
        cannot be told."""

    async def display_name(self, user_id: str, shown: str | None) -> str | None:
        """How people call the user who did something there (`Dana Ortiz`), given the id and the name an event
        showed: PagerDuty's events carry the name; OpsGenie's only a username, looked up here (the username where the
        lookup fails)."""

    async def close(self) -> None:
        """Release what the adapter holds (threads, sessions)."""
