"""Deciding: a click on Approve / Reject / Done counts only through `bot.domain.approval.decide`, written with a
conditional update (the proposal's version) under the incident's lock: of twenty clicks at once one counts, the
others are told why not. Approved: the execution is claimed while the lock is held, and carried out after. A
proposal nobody decides on in time expires (its durable timer)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace

from blocks import remediation as words
from bot.domain.approval import Status, decide
from bot.domain.events import Decision, Expired, TaskDone, record
from bot.domain.incident import advance
from bot.domain.phase import Phase
from bot.domain.timeline import ACTOR_BOT, EventKind, TimelineEvent, slack_actor
from bot.errors import SreAgentError
from bot.lifecycle.channel import IncidentChannel
from bot.ports.clock import Clock
from bot.ports.metrics import NO_METRICS, Metrics
from bot.remediation.approvers import Approvers
from bot.remediation.board import ProposalBoard, shown
from bot.remediation.executing import Executor
from bot.remediation.proposing import Proposer
from bot.runtime.background import Background
from bot.runtime.locks import KeyedLocks
from bot.store import Store, Timer

__all__ = ["Click", "Decider"]

log = logging.getLogger(__name__)

REASON_CHECK_S = 1.5  # Slack's trigger for the reason modal lasts 3 s: check who clicks within this, else ask first
DECIDE_ATTEMPTS = 5


@dataclass(frozen=True)
class Click:
    proposal_id: int
    shown_hash: str
    user_id: str
    approve: bool
    reason: str = ""
    done: bool = False  # the Done button of a manual task (drawn for nothing else)


class Decider:
    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        locks: KeyedLocks,
        approvers: Approvers,
        board: ProposalBoard,
        proposer: Proposer,
        executor: Executor,
        channel: IncidentChannel,
        background: Background,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.metrics = metrics
        self.store = store
        self.clock = clock
        self.locks = locks
        self.approvers = approvers
        self.board = board
        self.proposer = proposer
        self.executor = executor
        self.channel = channel
        self.background = background

    async def click(self, click: Click) -> str:
        """Apply one Approve / Reject / Done click; returns what the clicker is told (privately)."""
        proposal = await self.store.proposal(click.proposal_id)
        if proposal is None:
            return words.GONE
        if click.done and not proposal.plan.manual:  # a Done no Slack message drew: refused, and on the trail
            log.warning("a Done click for proposal %s, which is no manual task, by %s", proposal.id, click.user_id)
            self.metrics.approval("refused")
            return words.NOT_A_TASK
        incident = await self.store.incident(proposal.incident_id)
        assert incident is not None
        allowed = await self.approvers.allowed(incident)
        phase = incident.phase
        async with self.locks.hold(incident.key):
            for _ in range(DECIDE_ATTEMPTS):
                incident = await self.store.incident(proposal.incident_id)
                proposal = await self.store.proposal(click.proposal_id)
                assert incident is not None and proposal is not None
                now = self.clock.now()
                decision = decide(
                    proposal,
                    user=click.user_id,
                    shown_hash=click.shown_hash,
                    approve=click.approve,
                    now=now,
                    allowed=allowed,
                    incident_open=incident.is_open,
                    reason=click.reason,
                )
                after = decision.proposal
                others = [  # proposals beside this one still waiting on a decision (a manual task and a plan)
                    p
                    for p in await self.store.proposals(proposal.incident_id)
                    if p.id != proposal.id and p.status is Status.PROPOSED
                ]
                if decision.counted and after.status is Status.APPROVED and after.plan.manual:
                    after = replace(after, status=Status.EXECUTED, outcome=f"done by {click.user_id}")
                changed = after != proposal
                said = Decision(
                    proposal.id,
                    proposal.plan.runbook,
                    proposal.plan_hash,
                    click.shown_hash,
                    click.approve,
                    click.reason,
                    tuple(after.approvers),
                    str(after.status),
                )
                events = [
                    record(said, kind=EventKind(kind), at=now, actor=slack_actor(click.user_id), text=decision.message)
                    for kind in decision.events
                ]
                if after.status is Status.EXECUTED and after.plan.manual:
                    events.append(
                        record(
                            TaskDone(proposal.id), at=now, actor=slack_actor(click.user_id), text=proposal.plan.action
                        )
                    )
                    # people did the fix; they say when it holds (unless a plan beside it still waits on a decision)
                    if incident.phase is Phase.AWAITING_APPROVAL and not others:
                        events += advance(incident, Phase.REMEDIATING, at=now, actor=slack_actor(click.user_id))
                if (
                    after.status in (Status.REJECTED, Status.EXPIRED)
                    and incident.phase is Phase.AWAITING_APPROVAL
                    and not others
                ):
                    events += advance(incident, Phase.DIAGNOSING, at=now, actor=slack_actor(click.user_id))
                if not changed:  # a refusal: nothing changes but the audit trail
                    await self.store.append_events(incident, events)
                    self.metrics.approval("refused" if not decision.counted else str(after.status))
                    return decision.message
                if await self.store.save_proposal(proposal, after, now=now, incident=incident, events=events):
                    break
            else:
                return words.CONTENDED
            self.metrics.approval(str(after.status))
            # committed: what must follow starts first (the execution is claimed while the lock is held, and carried
            # out after); what only shows it may fail without stopping anything
            if after.status is Status.APPROVED:
                claimed = await self.executor.claim(incident, after)
                if claimed is not None:
                    self.background.spawn(
                        self.executor.carry_out(incident, claimed), name=f"execute proposal {after.id}"
                    )
                    after = claimed
            await shown(self.board.redraw(after))
            follow: list[TimelineEvent] = []
            if after.status is Status.REJECTED:
                await shown(self.channel.say(incident, words.rejected(click.user_id, after.plan.action, click.reason)))
                if incident.is_open and incident.channel_id and not others:
                    await shown(self.proposer.propose_next(incident, follow))
            elif after.status is Status.EXPIRED:
                await shown(self.channel.say(incident, words.expired(after)))
            elif after.status is Status.EXECUTED:
                await shown(self.channel.say(incident, words.did(click.user_id, after.plan.action)))
            if follow:  # the decision's own change was written with it; what followed is written here
                await self.store.save_incident(incident, follow, now=now)
            if incident.phase is not phase:
                await shown(self.channel.refresh(incident))
        if after.status is Status.EXECUTED and after.plan.manual:
            return words.MARKED_DONE
        return decision.message

    async def refusal(self, click: Click) -> str | None:
        """Before asking a person for a reason to reject: what they would be told if the click cannot count (it is
        then recorded like any refused click); None when it can."""
        proposal = await self.store.proposal(click.proposal_id)
        incident = await self.store.incident(proposal.incident_id) if proposal else None
        if proposal is None or incident is None:
            return words.GONE
        try:  # within Slack's time for the modal; if the pager is slow, ask the reason now and check on submit
            allowed = await asyncio.wait_for(asyncio.shield(self.approvers.allowed(incident)), REASON_CHECK_S)
        except TimeoutError:
            return None
        decision = decide(
            proposal,
            user=click.user_id,
            shown_hash=click.shown_hash,
            approve=click.approve,
            now=self.clock.now(),
            allowed=allowed,
            incident_open=incident.is_open,
        )
        return None if decision.counted else await self.click(click)

    async def on_timer(self, timer: Timer) -> None:
        try:
            await self.expire(timer)
        except SreAgentError as exc:
            log.warning("%s timer %s: %s", timer.kind, timer.id, exc)

    async def expire(self, timer: Timer) -> None:
        """The durable expiry timer: a proposal nobody decided on in time stops counting."""
        proposal = await self.store.proposal(int(timer.payload["proposal"]))
        if proposal is None or proposal.status is not Status.PROPOSED:
            return
        incident = await self.store.incident(proposal.incident_id)
        assert incident is not None
        async with self.locks.hold(incident.key):
            proposal = await self.store.proposal(proposal.id)
            fresh = await self.store.incident(proposal.incident_id) if proposal else None
            assert proposal is not None and fresh is not None
            incident = fresh  # as it is now: the row is written back with the proposal
            now = self.clock.now()
            if proposal.status is not Status.PROPOSED or now < proposal.expires_at:
                return
            after = replace(proposal, status=Status.EXPIRED)
            events = [
                record(Expired(proposal.id, proposal.plan_hash), at=now, actor=ACTOR_BOT, text=proposal.plan.action)
            ]
            if incident.phase is Phase.AWAITING_APPROVAL:
                events += advance(incident, Phase.DIAGNOSING, at=now, actor=ACTOR_BOT)
            if not await self.store.save_proposal(proposal, after, now=now, incident=incident, events=events):
                return
            await shown(self.board.redraw(after))
            if incident.is_open:  # a closed incident's channel needs no news of it
                await shown(self.channel.say(incident, words.expired(after)))
                await shown(self.channel.refresh(incident))
