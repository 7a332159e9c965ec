"""The proposals as people see them in Slack: each one's message (found again by its purpose), redrawn when its
state changes; what a closed incident leaves waiting, withdrawn; and the rule that showing what happened may fail
without stopping what must follow."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from dataclasses import replace
from typing import Any

from blocks import proposals as proposal_blocks
from bot.adapters.slack.gateway import SlackGateway
from bot.domain.approval import Proposal, Status
from bot.domain.events import Expired, record
from bot.domain.incident import Incident
from bot.domain.runbooks import Plan, Runbook
from bot.domain.timeline import ACTOR_BOT
from bot.ports.clock import Clock
from bot.store import Store

__all__ = ["ProposalBoard", "purpose", "shown"]

log = logging.getLogger(__name__)


def purpose(proposal_id: int) -> str:
    """The purpose a proposal's message is kept under (bot/lifecycle/posting.py)."""
    return f"proposal:{proposal_id}"


async def shown(work: Awaitable[Any]) -> None:
    """Showing what happened (a redrawn message, a line in the channel) after the state changed: a failure is
    logged and does not stop what must follow."""
    try:
        await work
    except Exception as exc:  # noqa: BLE001 - a Slack error, a timeout, a dropped connection: all the same here
        log.warning("could not show a remediation step in Slack: %r", exc)


class ProposalBoard:
    def __init__(self, *, store: Store, slack: SlackGateway, clock: Clock, runbooks: Mapping[str, Runbook]) -> None:
        self.store = store
        self.slack = slack
        self.clock = clock
        self.runbooks = runbooks

    def title(self, plan: Plan) -> str:
        runbook = self.runbooks.get(plan.runbook)
        return runbook.title if runbook else plan.runbook

    async def redraw(self, proposal: Proposal) -> None:
        ref = await self.store.message_ref(proposal.incident_id, purpose(proposal.id))
        if ref is not None:
            title = self.title(proposal.plan)
            await self.slack.update(
                ref[0],
                ref[1],
                proposal_blocks.proposal_text(proposal, title),
                proposal_blocks.proposal_blocks(proposal, title),
            )

    async def withdraw(self, incident: Incident) -> None:
        """The incident closed: proposals still waiting (or approved, not started) will not be carried out. The
        caller holds the incident's lock."""
        assert incident.id is not None
        now = self.clock.now()
        for proposal in await self.store.proposals(incident.id, statuses=(Status.PROPOSED, Status.APPROVED)):
            after = replace(
                proposal, status=Status.EXPIRED, outcome=f"withdrawn: the incident was {incident.phase.label.lower()}"
            )
            event = record(Expired(proposal.id, proposal.plan_hash), at=now, actor=ACTOR_BOT, text=after.outcome)
            if await self.store.save_proposal(proposal, after, now=now, incident=incident, events=[event]):
                await shown(self.redraw(after))
