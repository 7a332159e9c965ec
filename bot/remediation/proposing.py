"""Proposing: the best runbook plan not yet tried for what the agents found, posted with Approve / Reject bound to
its hash and an expiry on a durable timer, and beside it the manual tasks that also apply (Done buttons); or, when no
plan is left, a plain request for a person."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

from blocks import budgets as budget_words
from blocks import proposals as proposal_blocks
from blocks import remediation as words
from bot.adapters.slack.gateway import SlackGateway
from bot.domain.approval import Proposal, Status, approvals_needed
from bot.domain.budget_policy import Stance
from bot.domain.catalog import Catalog
from bot.domain.events import HelpRequested, Proposed, record
from bot.domain.incident import Incident, advance
from bot.domain.phase import Phase
from bot.domain.runbooks import Plan, Runbook, match
from bot.domain.timeline import ACTOR_BOT, TimelineEvent
from bot.errors import SreAgentError
from bot.lifecycle.delegation import signals_of
from bot.lifecycle.posting import Poster
from bot.ports.clock import Clock
from bot.remediation.approvers import Approvers
from bot.remediation.board import ProposalBoard, purpose
from bot.remediation.config import EXPIRE, RemediationConfig
from bot.runtime.scheduler import Scheduler
from bot.store import Store

__all__ = ["HELP", "Proposer", "Stances"]

log = logging.getLogger(__name__)

HELP = "help"  # the message purpose of the first request for help
MANUAL_TASK_EXPIRY = timedelta(days=7)


class Stances(Protocol):
    """Where a service's error budgets stand, as the policy reads them (see bot.budgets.standing)."""

    async def stance(self, service: str) -> Stance: ...


class Proposer:
    def __init__(
        self,
        *,
        store: Store,
        slack: SlackGateway,
        clock: Clock,
        poster: Poster,
        scheduler: Scheduler,
        catalog: Catalog,
        runbooks: Mapping[str, Runbook],
        approvers: Approvers,
        board: ProposalBoard,
        config: RemediationConfig,
        budgets: Stances,
    ) -> None:
        self.budgets = budgets
        self.store = store
        self.slack = slack
        self.clock = clock
        self.poster = poster
        self.scheduler = scheduler
        self.catalog = catalog
        self.runbooks = runbooks
        self.approvers = approvers
        self.board = board
        self.config = config

    async def propose_next(
        self, incident: Incident, events: list[TimelineEvent], *, after: str = "", again: bool = False
    ) -> None:
        """Post the best plan not yet proposed for this incident, with the manual tasks that also apply beside it
        (a person's work, with a Done button, that does not wait on the decision), or ask for a person when none is
        left. The caller holds the incident's lock and saves `incident` and `events`. `again`: this was begun before
        and the process may have died on the way; the proposals made then and still pending are shown (once)."""
        assert incident.id is not None and incident.channel_id
        proposals = await self.store.proposals(incident.id)
        unfinished = [p for p in proposals if p.status is Status.PROPOSED] if again else []
        if unfinished:
            for proposal in unfinished:
                await self._show(incident, proposal, events, after="", again=True)
            return
        rows = await self.store.evidence(incident.id)
        tried = {p.plan.runbook for p in proposals}
        service = self.catalog.get(incident.service)
        target: dict[str, Any] = {"service": incident.service}
        if service is not None and service.namespace:
            target["namespace"] = service.namespace
        plans = [p for p in match(list(self.runbooks.values()), signals_of(rows), target) if p.runbook not in tried]
        stance = await self.budgets.stance(incident.service)
        if stance.reversible_first:  # the budget is spent: what can be undone comes first
            plans.sort(key=lambda p: not p.reversible)
        if not plans:
            why = (
                "No other runbook applies to what the agents found."
                if tried
                else "No runbook matches what the agents found."
                if rows
                else "No agent could say what is wrong."
            )
            await self.ask_for_help(incident, events, f"{after} {why}".strip(), first=not proposals, again=again)
            return
        actions = [p for p in plans if not p.manual]
        tasks = [p for p in plans if p.manual]
        chosen = [*tasks, actions[0]] if actions else tasks[:1]
        for plan in chosen:
            now = self.clock.now()
            # a manual task is one person saying it is done, whenever that is; a plan to carry out waits for a
            # decision only so long
            needed = 1 if plan.manual else max(approvals_needed(plan), stance.approvers)
            expiry = MANUAL_TASK_EXPIRY if plan.manual else self.config.expiry
            proposal = await self.store.add_proposal(
                incident.id,
                plan,
                needed=needed,
                now=now,
                expires_at=now + expiry,
                policy=budget_words.policy_note(stance),
            )
            await self._show(incident, proposal, events, after=after if plan is chosen[0] else "", again=False)

    async def _show(
        self, incident: Incident, proposal: Proposal, events: list[TimelineEvent], *, after: str, again: bool
    ) -> None:
        """Post one proposal (once, when `again`), arm its expiry, and record it."""
        assert incident.id is not None and incident.channel_id
        plan = proposal.plan
        now = self.clock.now()
        title = self.board.title(plan)
        text = proposal_blocks.proposal_text(proposal, title)
        try:
            if after:
                await self.slack.post(incident.channel_id, words.next_plan(after, plan.action))
            ts = await self.poster.post_once(
                incident,
                purpose(proposal.id),
                incident.channel_id,
                text,
                proposal_blocks.proposal_blocks(proposal, title),
                again=again,
            )
        except BaseException:
            if not again:
                await self.store.discard_proposal(proposal.id)  # nobody saw it: nothing may refer to it
            raise
        if not any(t.payload.get("proposal") == proposal.id for t in await self.store.pending_timers(EXPIRE)):
            await self.scheduler.at(
                EXPIRE, proposal.expires_at, incident_id=incident.id, payload={"proposal": proposal.id}
            )
        if incident.phase is not Phase.AWAITING_APPROVAL:
            events += advance(incident, Phase.AWAITING_APPROVAL, at=now, actor=ACTOR_BOT)
        events.append(
            record(
                Proposed(
                    proposal.id,
                    plan.runbook,
                    plan.hash,
                    _plan_data(plan),
                    proposal.needed,
                    proposal.expires_at.isoformat(),
                ),
                at=now,
                actor=ACTOR_BOT,
                text=plan.action,
                ref=ts,
            )
        )

    async def ask_for_help(
        self, incident: Incident, events: list[TimelineEvent], why: str, *, first: bool = False, again: bool = False
    ) -> None:
        assert incident.channel_id and incident.id is not None
        try:
            people = sorted(await self.approvers.allowed(incident))
        except SreAgentError as exc:  # the request for help goes out all the same, to the channel
            log.warning("who to ask about %s could not be read: %s", incident.key, exc)
            people = []
        text = proposal_blocks.help_text(incident, why, people)
        if first:  # the request for help after the diagnosis: once, even if the process dies on the way
            ts = await self.poster.post_once(incident, HELP, incident.channel_id, text, again=again)
        else:
            ts = await self.slack.post(incident.channel_id, text)
        events.append(record(HelpRequested(tuple(people)), at=self.clock.now(), actor=ACTOR_BOT, text=why, ref=ts))


def _plan_data(plan: Plan) -> dict[str, Any]:
    return {
        "action": plan.action,
        "kind": plan.kind,
        "target": plan.target,
        "parameters": plan.parameters,
        "risk": str(plan.risk),
        "reversible": plan.reversible,
        "expected": plan.expected,
        "manual": plan.manual,
        "reasons": list(plan.reasons),
    }
