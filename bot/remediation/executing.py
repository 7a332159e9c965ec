"""Carrying out an approved plan, once: the execution is claimed by a conditional state change only one caller
wins, and done by the runbook's kind of agent over A2A. When that agent's own approval gate asks for input, it is
answered once, with the decision recorded for this exact plan (its hash, who approved), and nothing else. The
outcome decides what follows: verification, or a failure. The conversation with the agent is in `asking`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from dataclasses import replace

from blocks import remediation as words
from blocks.text import truncate
from bot.adapters.a2a import A2AError, AgentReply
from bot.config.agents import AgentConfig
from bot.domain.agent_gate import Outcome, outcome_of
from bot.domain.approval import Proposal, Status
from bot.domain.events import Executed, ExecutionStarted, Expired, Verifying, record
from bot.domain.incident import Incident, advance
from bot.domain.phase import Phase
from bot.domain.runbooks import Runbook
from bot.domain.timeline import ACTOR_BOT, EventKind
from bot.lifecycle.channel import IncidentChannel
from bot.lifecycle.delegation import Delegator
from bot.ports.clock import Clock
from bot.remediation.asking import AgentChange
from bot.remediation.board import ProposalBoard, shown
from bot.remediation.failing import Failures
from bot.remediation.verifying import Verifier
from bot.runtime.locks import KeyedLocks
from bot.store import Store

__all__ = ["Executor"]

log = logging.getLogger(__name__)


class Executor:
    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        locks: KeyedLocks,
        delegator: Delegator,
        runbooks: Mapping[str, Runbook],
        board: ProposalBoard,
        channel: IncidentChannel,
        verifier: Verifier,
        failures: Failures,
        asking: AgentChange,
    ) -> None:
        self.store = store
        self.clock = clock
        self.locks = locks
        self.delegator = delegator
        self.runbooks = runbooks
        self.board = board
        self.channel = channel
        self.verifier = verifier
        self.failures = failures
        self.asking = asking

    async def execute(self, proposal_id: int) -> None:
        """Carry out an approved proposal, once: the claim is a conditional update only one caller wins."""
        proposal = await self.store.proposal(proposal_id)
        if proposal is None or proposal.plan.manual:
            return
        incident = await self.store.incident(proposal.incident_id)
        assert incident is not None and incident.id is not None
        async with self.locks.hold(incident.key):
            incident = await self.store.incident(incident.id)
            assert incident is not None
            claimed = await self.claim(incident, proposal)
        if claimed is not None:
            await self.carry_out(incident, claimed)

    async def claim(self, incident: Incident, proposal: Proposal) -> Proposal | None:
        """Under the incident's lock: start the execution (the proposal as it now is), or None when it is not to be
        (claimed by someone else, or the incident closed since it was approved)."""
        now = self.clock.now()
        agent = self._agent(proposal)
        if not incident.is_open:  # closed since it was approved: it is not carried out, now or after a restart
            stale = await self.store.proposal(proposal.id)
            if stale is not None and stale.status is Status.APPROVED:
                after = replace(
                    stale,
                    status=Status.EXPIRED,
                    outcome=f"not carried out: the incident was {incident.phase.label.lower()} first",
                )
                event = record(Expired(stale.id, stale.plan_hash), at=now, actor=ACTOR_BOT, text=after.outcome)
                if await self.store.save_proposal(stale, after, now=now, incident=incident, events=[event]):
                    await shown(self.board.redraw(after))
            return None
        events = advance(incident, Phase.REMEDIATING, at=now, actor=ACTOR_BOT)
        events.append(
            record(
                ExecutionStarted(
                    proposal.id, proposal.plan_hash, agent.name if agent else None, tuple(proposal.approvers)
                ),
                at=now,
                actor=ACTOR_BOT,
                text=proposal.plan.action,
            )
        )
        if not await self.store.claim_execution(proposal.id, now=now, incident=incident, events=events):
            return None
        return replace(proposal, status=Status.EXECUTING, agent=agent.name if agent else None)

    def _agent(self, proposal: Proposal) -> AgentConfig | None:
        runbook = self.runbooks.get(proposal.plan.runbook)
        return self.delegator.agent_for(runbook.delegate) if runbook and runbook.delegate else None

    async def carry_out(self, incident: Incident, proposal: Proposal) -> None:
        """Ask the runbook's agent to do it (after the claim); the outcome decides what follows."""
        agent = self._agent(proposal)
        runbook = self.runbooks.get(proposal.plan.runbook)
        role = runbook.delegate if runbook else None
        asking = words.asking(agent.name, proposal.plan.action) if agent else ""

        async def show() -> None:
            await shown(self.board.redraw(proposal))
            await shown(self.channel.refresh(incident))
            if asking:
                await shown(self.channel.say(incident, asking))

        # Slack shows it while the agent is asked (not before: the agent waits for nobody); the outcome is
        # shown after it
        showing = asyncio.get_running_loop().create_task(show())
        try:
            if agent is None:
                await self._finished(
                    proposal, ok=False, outcome=f"no {role or 'capable'} agent is configured to do it", after=showing
                )
                return
            try:
                reply = await self.asking.ask(incident, proposal, agent)
            except A2AError as exc:
                await self._finished(proposal, ok=False, outcome=exc.reason, after=showing)
                return
            except Exception as exc:  # whatever went wrong, the incident goes on: failed, escalated
                log.exception("executing proposal %s failed", proposal.id)
                await self._finished(
                    proposal, ok=False, outcome=f"sre-agent could not ask the agent ({exc!r})", after=showing
                )
                return
            await self._conclude(proposal, reply, after=showing)
        finally:
            await showing

    async def look_again(self, proposal: Proposal) -> None:
        """After a restart, a change that was being carried out: follow the agent's task to its end."""
        agent = next((a for a in self.delegator.agents if a.name == proposal.agent), None)
        if agent is None or proposal.task_id is None:
            await self._finished(
                proposal,
                ok=False,
                outcome="sre-agent restarted while it was asking the agent; "
                "whether the change was made is not known: check before you try again",
            )
            return
        try:
            reply = await self.asking.follow(proposal, agent, proposal.task_id)
        except A2AError as exc:
            await self._finished(proposal, ok=False, outcome=exc.reason)
            return
        except Exception as exc:  # whatever went wrong, the incident goes on: failed, escalated
            log.exception("following proposal %s after a restart failed", proposal.id)
            await self._finished(proposal, ok=False, outcome=f"sre-agent could not look at the agent's task ({exc!r})")
            return
        await self._conclude(proposal, reply)

    async def _conclude(self, proposal: Proposal, reply: AgentReply, *, after: Awaitable[None] | None = None) -> None:
        """A task that ended "completed" is not yet a change made: the agent must say so (its tool cards, its
        outcome) or, where it says neither, the runbook's verification must show it; otherwise it failed."""
        said = outcome_of(reply.state, reply.text, reply.data, reply.tools)
        if said.outcome is Outcome.NOT_SAID:
            runbook = self.runbooks.get(proposal.plan.runbook)
            if runbook is None or runbook.verification is None:
                why = f"the agent did not say the change was made, and nothing verifies it: {said.why}"
                await self._finished(proposal, ok=False, outcome=why, after=after)
                return
            await self._finished(proposal, ok=True, outcome=said.why, after=after, confirmed=False)
            return
        await self._finished(proposal, ok=said.outcome is Outcome.CARRIED_OUT, outcome=said.why, after=after)

    async def _finished(
        self,
        proposal: Proposal,
        *,
        ok: bool,
        outcome: str,
        after: Awaitable[None] | None = None,
        confirmed: bool = True,
    ) -> None:
        """The action ended. `after`: what Slack still has to show of its start, shown before its end (but only
        after the end is stored and what follows is armed)."""
        incident = await self.store.incident(proposal.incident_id)
        assert incident is not None and incident.id is not None
        runbook = self.runbooks.get(proposal.plan.runbook)
        async with self.locks.hold(incident.key):
            incident = await self.store.incident(incident.id)
            assert incident is not None
            now = self.clock.now()
            kind = EventKind.EXECUTED if ok else EventKind.EXECUTION_FAILED
            events = [
                record(
                    Executed(proposal.id, proposal.plan_hash, proposal.agent),
                    kind=kind,
                    at=now,
                    actor=ACTOR_BOT,
                    text=truncate(outcome, 2000),
                )
            ]
            verification = runbook.verification if runbook else None
            if ok and verification is not None and incident.is_open:
                events += advance(incident, Phase.VERIFYING, at=now, actor=ACTOR_BOT)
                events.append(
                    record(
                        Verifying(
                            proposal.id,
                            verification.signal,
                            verification.below,
                            verification.window_s,
                            verification.interval_s,
                            verification.timeout_s,
                        ),
                        at=now,
                        actor=ACTOR_BOT,
                        text=f"{verification.signal} below {verification.below:g} for {verification.window_s:g} s",
                    )
                )
            if not await self.store.finish_execution(
                proposal.id, ok=ok, outcome=outcome, now=now, incident=incident, events=events
            ):
                return
            verifying = ok and verification is not None and incident.is_open
            if verifying:  # first what must follow (a restart re-arms it if it is lost: see resuming)
                assert verification is not None
                await self.verifier.check_after(incident, proposal.id, verification.interval_s, now)
            if after is not None:
                await shown(after)
            finished = await self.store.proposal(proposal.id)
            assert finished is not None
            await shown(self.board.redraw(finished))
            await shown(self.channel.refresh(incident))
            if ok:
                said = words.done(outcome) if confirmed else words.unconfirmed(proposal.plan.action, outcome)
                await shown(self.channel.say(incident, said))
                if verifying:
                    assert verification is not None
                    await shown(self.channel.say(incident, words.verifying(verification)))
                elif incident.is_open:
                    await shown(self.channel.say(incident, words.NO_VERIFICATION))
                return
        await self.failures.failed(incident, words.action_failed(proposal.plan.action, outcome))
