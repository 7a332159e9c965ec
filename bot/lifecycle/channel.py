"""An incident's channel as people see it: the card and the announcement redrawn to show the incident as it is, a
line said in the channel, and which incident a channel belongs to."""

from __future__ import annotations

import logging

from blocks import incident as incident_blocks
from bot.adapters.slack.gateway import SlackGateway
from bot.domain.events import BudgetSpent, payload_of
from bot.domain.incident import Incident
from bot.domain.timeline import EventKind
from bot.errors import NotAnIncidentChannel, SlackError
from bot.store import Store

__all__ = ["ANNOUNCEMENT", "CARD", "IncidentChannel"]

log = logging.getLogger(__name__)

CARD = "card"  # the purposes of the messages that are redrawn (bot/lifecycle/posting.py keeps their ts)
ANNOUNCEMENT = "announcement"


class IncidentChannel:
    def __init__(self, *, store: Store, slack: SlackGateway) -> None:
        self.store = store
        self.slack = slack

    async def refresh(self, incident: Incident) -> None:
        """Redraw the card and the announcement so they show the incident as it is now."""
        assert incident.id is not None
        card = await self.store.message_ref(incident.id, CARD)
        if card:
            spent: list[BudgetSpent] = []
            if not incident.is_open:  # the budget ledger, written when it closed
                for event in await self.store.timeline(incident.id):
                    if event.kind is EventKind.BUDGET_SPENT and isinstance(p := payload_of(event), BudgetSpent):
                        spent.append(p)
            await self.slack.update(
                card[0], card[1], incident_blocks.card_text(incident), incident_blocks.incident_card(incident, spent)
            )
        announced = await self.store.message_ref(incident.id, ANNOUNCEMENT)
        if announced:
            text, blocks = incident_blocks.announcement(incident)
            try:
                await self.slack.update(announced[0], announced[1], text, blocks)
            except SlackError as exc:
                log.warning("could not update the announcement of %s: %s", incident.key, exc.error)

    async def say(self, incident: Incident, text: str) -> None:
        if incident.channel_id:
            await self.slack.post(incident.channel_id, text)

    async def incident_for(self, channel_id: str) -> Incident:
        """The incident whose channel this is; NotAnIncidentChannel (which says so to the person) if none."""
        incident = await self.store.incident_by_channel(channel_id)
        if incident is None:
            raise NotAnIncidentChannel(
                f"channel {channel_id} is not an incident channel",
                user_message="This works in an incident channel, and this channel is not one.",
            )
        return incident
