"""Who may decide on a proposal: the people on call for the service in the pager (every level), and the configured
approvers (Slack users, and the members of user groups). Read again after ALLOWED_TTL_S; a click never waits on a
second read of the same list."""

from __future__ import annotations

import functools
import logging

from bot.adapters.recent import Recent
from bot.adapters.slack.gateway import SlackGateway
from bot.domain.approval import Proposal, Status
from bot.domain.catalog import Catalog
from bot.domain.incident import Incident
from bot.errors import SreAgentError
from bot.ports.clock import Clock
from bot.ports.pager import Pager
from bot.store import Store

__all__ = ["ALLOWED_TTL_S", "Approvers"]

log = logging.getLogger(__name__)

ALLOWED_TTL_S = 30.0  # who may approve is read again from the pager after this long


def _kept(allowed: tuple[frozenset[str], bool]) -> float | None:
    return ALLOWED_TTL_S if allowed[1] else None


class Approvers:
    def __init__(
        self,
        *,
        store: Store,
        slack: SlackGateway,
        pager: Pager,
        clock: Clock,
        catalog: Catalog,
        approvers: tuple[str, ...] = (),
    ) -> None:
        self.store = store
        self.slack = slack
        self.pager = pager
        self.clock = clock
        self.catalog = catalog
        self.approvers = approvers
        # by (service, policy); not kept when the pager could not say who is on call (asked again at the next click)
        self._allowed: Recent[tuple[str, str | None], tuple[frozenset[str], bool]] = Recent(_kept)

    async def allowed(self, incident: Incident) -> frozenset[str]:
        """The Slack users who may decide: on call for the service in the pager (every level), and the configured
        approvers (users and the members of user groups). Read again after ALLOWED_TTL_S."""
        service = self.catalog.get(incident.service)
        policy = incident.escalation_policy_id or (service.escalation_policy_id if service else None)
        return await self._cached(incident.service, policy)

    async def for_service(self, name: str) -> frozenset[str]:
        """The same, for a change to a service outside any incident (a budget offer)."""
        service = self.catalog.get(name)
        return await self._cached(name, service.escalation_policy_id if service else None)

    async def _cached(self, service: str, policy: str | None) -> frozenset[str]:
        users, _ = await self._allowed.get((service, policy), functools.partial(self._read_allowed, service, policy))
        return users

    async def _read_allowed(self, service: str, policy: str | None) -> tuple[frozenset[str], bool]:
        """(who may decide, whether the pager could say who is on call)."""
        users: set[str] = set()
        complete = True
        if policy:
            try:
                people = await self.pager.oncalls(policy, level=None)
                users |= {u for u in await self.slack.lookup_users([p.email for p in people]) if u}
            except SreAgentError as exc:  # the configured approvers still may
                log.warning("who is on call for %s could not be read: %s", service, exc)
                complete = False
        for approver in self.approvers:
            if approver.startswith("S"):
                users |= set(await self.slack.group_members(approver))
            else:
                users.add(approver)
        return frozenset(users), complete

    async def waiting_for(self, user_id: str) -> list[tuple[Incident, Proposal]]:
        """The proposals still open that this person may decide and has not approved, oldest first (App Home)."""
        now = self.clock.now()
        found: list[tuple[Incident, Proposal]] = []
        for proposal in await self.store.proposals(statuses=(Status.PROPOSED,)):
            incident = await self.store.incident(proposal.incident_id)
            if incident is None or not incident.is_open or proposal.expires_at <= now or user_id in proposal.approvers:
                continue
            try:
                may = user_id in await self.allowed(incident)
            except SreAgentError as exc:  # the Home tab is drawn without it
                log.warning("who may decide on %s could not be read: %s", incident.key, exc)
                continue
            if may:
                found.append((incident, proposal))
        return found
