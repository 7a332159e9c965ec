"""Resolving an incident from Slack (a person's `/incident resolve`, the Resolve button, or sre-agent once a fix is
verified): the pager first, so that nothing changes here when it refuses; then the store, the proposals still
waiting (withdrawn), and the channel."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from blocks import messages
from bot.domain.events import BudgetSpent, record
from bot.domain.incident import Incident, transition
from bot.domain.phase import Phase
from bot.domain.status_page import PublicPhase
from bot.domain.timeline import ACTOR_BOT, slack_actor
from bot.errors import DomainError
from bot.lifecycle.channel import IncidentChannel
from bot.lifecycle.postmortems import POSTMORTEM
from bot.ports.clock import Clock
from bot.ports.pager import Pager
from bot.ports.status_page import PublicPhases
from bot.runtime.locks import KeyedLocks
from bot.runtime.scheduler import Scheduler
from bot.store import Store

__all__ = ["Resolver", "Withdrawal"]


class Withdrawal(Protocol):
    async def withdraw(self, incident: Incident) -> None:
        """The incident closed: its proposals still waiting stop counting (the caller holds its lock)."""


class Ledger(Protocol):
    async def spent(self, incident: Incident, now: datetime) -> list[BudgetSpent]:
        """The share of each SLO's budget the incident spent (see bot.budgets.standing)."""


class Resolver:
    def __init__(
        self,
        *,
        store: Store,
        pager: Pager,
        clock: Clock,
        locks: KeyedLocks,
        channel: IncidentChannel,
        withdrawal: Withdrawal | None = None,
        ledger: Ledger | None = None,
        scheduler: Scheduler | None = None,
        public: PublicPhases | None = None,
    ) -> None:
        self.public = public
        self.scheduler = scheduler
        self.ledger = ledger
        self.store = store
        self.pager = pager
        self.clock = clock
        self.locks = locks
        self.channel = channel
        self.withdrawal = withdrawal

    async def resolve(self, incident_id: int, *, user_id: str | None, summary: str) -> Incident:
        """Resolve from Slack: the pager first (so nothing changes here if it refuses), then the store and Slack."""
        incident = await self.store.incident(incident_id)
        if incident is None:
            raise DomainError(f"no incident {incident_id}", user_message="That incident no longer exists.")
        async with self.locks.hold(incident.key):
            incident = await self.store.incident(incident_id)
            assert incident is not None
            if not incident.is_open:
                raise DomainError(
                    f"{incident.key} is {incident.phase}",
                    user_message=f"{incident.label} is already {incident.phase.label.lower()}.",
                )
            actor = slack_actor(user_id) if user_id else ACTOR_BOT
            events = transition(incident, Phase.RESOLVED, at=self.clock.now(), actor=actor, reason=summary)
            if incident.source == self.pager.source:
                await self.pager.resolve(incident.external_id, summary or None)
            await self.store.save_incident(incident, events, now=self.clock.now())
            await self.closed(incident)
            await self.channel.refresh(incident)
            await self.channel.say(incident, messages.resolved_by(user_id, summary))
            return incident

    async def closed(self, incident: Incident) -> None:
        """After an incident closed (the caller holds its lock): its open proposals stop counting, and their
        messages say so at once; the error budget it spent goes on its timeline (the budget ledger); then its
        postmortem is written and shared (a durable timer, so a stop does not lose it)."""
        if self.withdrawal is not None:
            await self.withdrawal.withdraw(incident)
        if self.ledger is not None:
            now = self.clock.now()
            spent = await self.ledger.spent(incident, now)
            if spent:
                await self.store.append_events(
                    incident,
                    [
                        record(
                            s, at=now, actor=ACTOR_BOT, text=f"{s.slo}: {s.share * 100:.2f}% of its {s.period} budget"
                        )
                        for s in spent
                    ],
                )
        if self.public is not None:  # the public page, where it was told, hears it is over (once approved)
            await self.public.moved(incident, PublicPhase.RESOLVED)
        if self.scheduler is not None and incident.id is not None:  # its postmortem, last, even across a restart
            await self.scheduler.at(POSTMORTEM, self.clock.now(), incident_id=incident.id)
