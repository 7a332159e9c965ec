"""When a fix does not work (the action failed or timed out, or the signal did not come back): the channel is told,
the pager escalates to the next level with a note, the next on-call is invited, and the next proposal (or a plain
request for help) follows."""

from __future__ import annotations

import logging
from typing import Protocol

from blocks import remediation as words
from bot.domain.incident import Incident, advance
from bot.domain.phase import Phase
from bot.domain.timeline import ACTOR_BOT, TimelineEvent
from bot.errors import SreAgentError
from bot.lifecycle.channel import IncidentChannel
from bot.ports.clock import Clock
from bot.remediation.board import shown
from bot.remediation.proposing import Proposer
from bot.runtime.locks import KeyedLocks
from bot.store import Store

__all__ = ["Escalating", "Failures"]

log = logging.getLogger(__name__)


class Escalating(Protocol):
    async def escalate(self, incident_id: int, *, user_id: str | None, reason: str = "") -> Incident:
        """Page the next level of the escalation policy (bot/lifecycle/actions.py)."""


class Failures:
    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        locks: KeyedLocks,
        channel: IncidentChannel,
        escalation: Escalating,
        proposer: Proposer,
    ) -> None:
        self.store = store
        self.clock = clock
        self.locks = locks
        self.channel = channel
        self.escalation = escalation
        self.proposer = proposer

    async def failed(self, incident: Incident, what: str) -> None:
        """Tell the channel, escalate on the pager, and go on with the next proposal or a request for help."""
        assert incident.id is not None
        await shown(self.channel.say(incident, words.failed(what)))
        current = await self.store.incident(incident.id)
        if current is None or not current.is_open:
            return  # resolved meanwhile: the failure is told and recorded, nobody needs paging about it
        try:
            await self.escalation.escalate(incident.id, user_id=None, reason=what.replace("*", ""))
        except SreAgentError as exc:  # the pager refused or is away: say so, and go on with the next proposal
            log.warning("could not escalate %s: %s", incident.key, exc)
            await shown(self.channel.say(incident, words.not_escalated(exc.user_message)))
        async with self.locks.hold(incident.key):
            fresh = await self.store.incident(incident.id)
            assert fresh is not None
            if not fresh.is_open:
                return
            events: list[TimelineEvent] = []
            if fresh.phase in (Phase.REMEDIATING, Phase.VERIFYING):
                events += advance(fresh, Phase.DIAGNOSING, at=self.clock.now(), actor=ACTOR_BOT)
            try:
                await self.proposer.propose_next(fresh, events, after="That did not work.")
            finally:
                await self.store.save_incident(fresh, events, now=self.clock.now())
            await shown(self.channel.refresh(fresh))
