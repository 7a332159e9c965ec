"""Escalating a page nobody took: a durable timer per paged incident, due the severity's minutes after the page
(SRE_ESCALATE_UNACKNOWLEDGED). When it fires and no person has acted in the incident, sre-agent escalates to the next
on-call, saying why in Slack and on the pager. The timer is a row: it fires once, after a restart too."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from blocks import messages
from bot.domain.events import Escalated, payload_of
from bot.domain.incident import Incident
from bot.domain.severity import Severity
from bot.domain.timeline import EventKind
from bot.domain.unacknowledged import REASON, escalate_after, taken_by_a_person
from bot.errors import SreAgentError
from bot.lifecycle.actions import IncidentActions
from bot.lifecycle.channel import IncidentChannel
from bot.ports.pager import Pager
from bot.runtime.scheduler import Scheduler
from bot.store import Store
from bot.store.store import Timer

log = logging.getLogger(__name__)

UNACKNOWLEDGED = "escalate_unacknowledged"  # the timer's kind


class Unacknowledged:
    def __init__(
        self,
        *,
        store: Store,
        pager: Pager,
        scheduler: Scheduler,
        actions: IncidentActions,
        channel: IncidentChannel,
        policy: Mapping[Severity, float],
    ) -> None:
        self.channel = channel
        self.store = store
        self.pager = pager
        self.scheduler = scheduler
        self.actions = actions
        self.policy = policy

    async def arm(self, incident: Incident) -> None:
        """Set the incident's timer (once: its key is the incident's) where it was paged along an escalation and its
        severity is escalated at all. Called each time an opening runs: a stop before it was set cannot lose it."""
        after = escalate_after(self.policy, incident.severity)
        if after is None or incident.id is None or incident.source != self.pager.source:
            return
        if not incident.escalation_policy_id or not incident.is_open:
            return
        minutes = after.total_seconds() / 60
        await self.scheduler.at(
            UNACKNOWLEDGED,
            incident.triggered_at + after,
            incident_id=incident.id,
            payload={"minutes": minutes},
            key=f"unacknowledged:{incident.id}",
        )

    async def on_timer(self, timer: Timer) -> None:
        if timer.incident_id is None:
            return
        incident = await self.store.incident(timer.incident_id)
        if incident is None or not incident.is_open:
            return
        timeline = await self.store.timeline(timer.incident_id)
        reason = REASON.format(minutes=float(timer.payload.get("minutes", 0)))
        if taken_by_a_person(timeline):
            return
        for event in timeline:  # fired before, by a process that stopped before the timer was marked fired
            payload = payload_of(event)
            if event.kind is EventKind.ESCALATED and isinstance(payload, Escalated) and payload.reason == reason:
                return
        try:
            await self.actions.escalate(timer.incident_id, user_id=None, reason=reason)
        except SreAgentError as exc:  # no next level, the pager refused: the channel hears of it
            log.warning("could not escalate unacknowledged %s: %s", incident.key, exc)
            await self.channel.say(incident, messages.escalation_failed(reason, exc))
