"""Remediation: from what the agents found to a runbook's exact plan, a human decision, one execution by delegation,
a verification of the signals, and an escalation when any of it does not work.

- A proposal is posted with Approve / Reject bound to the plan's hash; it expires on a durable timer.
- A click counts only through `bot.domain.approval.decide`, written with a conditional update (the proposal's
  version), under the incident's lock: of twenty clicks at once one counts, the others are told why not.
- Execution starts once (`Store.claim_execution`, a conditional state change) and is done by the runbook's kind of
  agent over A2A. When that agent's own approval gate asks for input, it is answered once, with the decision recorded
  for this exact plan (its hash, who approved, when), and nothing else.
- Verification re-asks the signal on the runbook's interval (durable timers) until it holds for its window.
- A failed or timed-out action, or a verification that does not hold: the channel is told, PagerDuty escalates to the
  next level with a note, the next on-call is invited, and the next proposal (or a plain request for help) follows.

Every proposal, decision, refusal, execution and verification is a timeline event on the incident's hash chain.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from blocks import proposals as proposal_blocks
from blocks.text import escape, truncate
from blocks.text import user as user_ref
from bot.adapters.a2a import A2AClient, A2AError, AgentReply
from bot.config.agents import AgentConfig
from bot.domain.approval import DEFAULT_EXPIRY, Proposal, Status, approvals_needed, decide
from bot.domain.diagnosis import Role
from bot.domain.events import (
    Checked,
    Decision,
    Executed,
    ExecutionStarted,
    Expired,
    HelpRequested,
    Proposed,
    TaskDone,
    Verifying,
    record,
)
from bot.domain.incident import Incident, advance
from bot.domain.phase import Phase
from bot.domain.runbooks import Plan, Runbook, match
from bot.domain.timeline import EventKind, TimelineEvent
from bot.domain.verification import Progress, Verdict, check, reading
from bot.errors import SreAgentError
from bot.lifecycle.commander import ACTOR_BOT, Commander
from bot.lifecycle.delegation import Delegator, signals_of
from bot.runtime.background import Background
from bot.runtime.scheduler import Scheduler
from bot.store.store import Timer

__all__ = ["EXPIRE", "VERIFY", "RemediationConfig", "Remediator"]

log = logging.getLogger(__name__)

EXPIRE = "proposal_expiry"
VERIFY = "verify"
HELP = "help"  # the message purpose of the first request for help
ALLOWED_TTL_S = 30.0  # who may approve is read again from PagerDuty after this long
MANUAL_TASK_EXPIRY = timedelta(days=7)
REASON_CHECK_S = 1.5  # Slack's trigger for the reason modal lasts 3 s: check who clicks within this, else ask first
DECIDE_ATTEMPTS = 5
MAX_READINGS = 40

# Which kind of agent reports which signal when a fix is verified.
_SIGNAL_ROLE = {"error_rate": Role.MONITORING, "latency_p99_ms": Role.MONITORING, "cpu": Role.MONITORING,
                "connections": Role.MONITORING, "restarts": Role.KUBERNETES, "memory": Role.KUBERNETES}


@dataclass(frozen=True)
class RemediationConfig:
    approvers: tuple[str, ...] = ()  # Slack user ids and user group ids, besides the people on call
    expiry: timedelta = DEFAULT_EXPIRY
    auto_resolve: bool = False  # resolve by itself once a fix is verified (else offer a Resolve button)


@dataclass(frozen=True)
class Click:
    proposal_id: int
    shown_hash: str
    user_id: str
    approve: bool
    reason: str = ""


def _actor(user_id: str) -> str:
    return f"slack:{user_id}"


def _purpose(proposal_id: int) -> str:
    return f"proposal:{proposal_id}"


class Remediator:
    def __init__(
        self,
        *,
        commander: Commander,
        escalate: Callable[..., Any],
        delegator: Delegator,
        runbooks: list[Runbook],
        background: Background,
        scheduler: Scheduler,
        config: RemediationConfig | None = None,
    ) -> None:
        self.commander = commander
        self.store = commander.store
        self.slack = commander.slack
        self.clock = commander.clock
        self.escalate_incident = escalate  # IncidentActions.escalate
        self.delegator = delegator
        self.runbooks = {rb.name: rb for rb in runbooks}
        self.background = background
        self.scheduler = scheduler
        self.config = config or RemediationConfig()
        self._allowed: dict[int, tuple[float, asyncio.Task[tuple[frozenset[str], bool]]]] = {}

    # proposing ----------------------------------------------------------------------------------------------------

    async def propose_next(
        self, incident: Incident, events: list[TimelineEvent], *, after: str = "", again: bool = False
    ) -> None:
        """Post the best plan not yet proposed for this incident, or ask for a person when none is left.
        The caller holds the incident's lock and saves `incident` and `events`. `again`: this was begun before and
        the process may have died on the way; a proposal made then and still pending is the one shown (once)."""
        assert incident.id is not None and incident.channel_id
        proposals = await self.store.proposals(incident.id)
        unfinished = [p for p in proposals if p.status is Status.PROPOSED] if again else []
        if unfinished:
            proposal = unfinished[0]
            plan = proposal.plan
        else:
            rows = await self.store.evidence(incident.id)
            tried = {p.plan.runbook for p in proposals}
            service = self.commander.catalog.get(incident.service)
            target: dict[str, Any] = {"service": incident.service}
            if service is not None and service.namespace:
                target["namespace"] = service.namespace
            plans = [p for p in match(list(self.runbooks.values()), signals_of(rows), target)
                     if p.runbook not in tried]
            if not plans:
                why = ("No other runbook applies to what the agents found." if tried else
                       "No runbook matches what the agents found." if rows else "No agent could say what is wrong.")
                await self._ask_for_help(incident, events, f"{after} {why}".strip(), first=not proposals,
                                         again=again)
                return
            plan = plans[0]
            now = self.clock.now()
            # a manual task is one person saying it is done, whenever that is; a plan to carry out waits for a
            # decision only so long
            needed = 1 if plan.manual else approvals_needed(plan)
            expiry = MANUAL_TASK_EXPIRY if plan.manual else self.config.expiry
            proposal = await self.store.add_proposal(incident.id, plan, needed=needed, now=now,
                                                     expires_at=now + expiry)
        now = self.clock.now()
        title = self._title(plan)
        text = proposal_blocks.proposal_text(proposal, title)
        try:
            if after:
                await self.slack.post(incident.channel_id, f":arrow_right: {escape(after)} Next: {escape(plan.action)}")
            ts = await self.commander.poster.post_once(
                incident, _purpose(proposal.id), incident.channel_id, text,
                proposal_blocks.proposal_blocks(proposal, title), again=bool(unfinished),
            )
        except BaseException:
            if not unfinished:
                await self.store.discard_proposal(proposal.id)  # nobody saw it: nothing may refer to it
            raise
        if not any(t.payload.get("proposal") == proposal.id for t in await self.store.pending_timers(EXPIRE)):
            await self.scheduler.at(EXPIRE, proposal.expires_at, incident_id=incident.id,
                                    payload={"proposal": proposal.id})
        if incident.phase is not Phase.AWAITING_APPROVAL:
            events += advance(incident, Phase.AWAITING_APPROVAL, at=now, actor=ACTOR_BOT)
        events.append(record(
            Proposed(proposal.id, plan.runbook, plan.hash, _plan_data(plan), proposal.needed,
                     proposal.expires_at.isoformat()),
            at=now, actor=ACTOR_BOT, text=plan.action, ref=ts,
        ))

    async def _ask_for_help(self, incident: Incident, events: list[TimelineEvent], why: str, *,
                            first: bool = False, again: bool = False) -> None:
        assert incident.channel_id and incident.id is not None
        try:
            people = sorted(await self.allowed(incident))
        except SreAgentError as exc:  # the request for help goes out all the same, to the channel
            log.warning("who to ask about %s could not be read: %s", incident.key, exc)
            people = []
        text = proposal_blocks.help_text(incident, why, people)
        if first:  # the request for help after the diagnosis: once, even if the process dies on the way
            ts = await self.commander.poster.post_once(incident, HELP, incident.channel_id, text, again=again)
        else:
            ts = await self.slack.post(incident.channel_id, text)
        events.append(record(HelpRequested(tuple(people)), at=self.clock.now(), actor=ACTOR_BOT, text=why, ref=ts))

    def _title(self, plan: Plan) -> str:
        runbook = self.runbooks.get(plan.runbook)
        return runbook.title if runbook else plan.runbook

    # who may decide -----------------------------------------------------------------------------------------------

    async def allowed(self, incident: Incident) -> frozenset[str]:
        """The Slack users who may decide: on call for the service in PagerDuty (every level), and the configured
        approvers (users and the members of user groups). Read again after ALLOWED_TTL_S."""
        assert incident.id is not None
        cached = self._allowed.get(incident.id)
        now = time.monotonic()
        if cached is None or now > cached[0] or (cached[1].done() and cached[1].exception()):
            for stale in [key for key, (until, _) in self._allowed.items() if now > until]:
                del self._allowed[stale]  # incidents nobody clicks for any more
            task = asyncio.get_running_loop().create_task(self._read_allowed(incident))
            cached = (now + ALLOWED_TTL_S, task)
            self._allowed[incident.id] = cached
        users, complete = await asyncio.shield(cached[1])
        if not complete and self._allowed.get(incident.id) is cached:
            del self._allowed[incident.id]  # PagerDuty could not say: ask it again at the next click
        return users

    async def _read_allowed(self, incident: Incident) -> tuple[frozenset[str], bool]:
        """(who may decide, whether PagerDuty could say who is on call)."""
        users: set[str] = set()
        complete = True
        service = self.commander.catalog.get(incident.service)
        policy = incident.escalation_policy_id or (service.escalation_policy_id if service else None)
        if policy:
            try:
                people = await self.commander.pager.oncalls(policy, level=None)
                users |= {u for u in await self.slack.lookup_users([p.email for p in people]) if u}
            except SreAgentError as exc:  # the configured approvers still may
                log.warning("who is on call for %s could not be read: %s", incident.key, exc)
                complete = False
        for approver in self.config.approvers:
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
            if (incident is None or not incident.is_open or proposal.expires_at <= now
                    or user_id in proposal.approvers):
                continue
            try:
                may = user_id in await self.allowed(incident)
            except SreAgentError as exc:  # the Home tab is drawn without it
                log.warning("who may decide on %s could not be read: %s", incident.key, exc)
                continue
            if may:
                found.append((incident, proposal))
        return found

    # deciding -----------------------------------------------------------------------------------------------------

    async def click(self, click: Click) -> str:
        """Apply one Approve / Reject / Done click; returns what the clicker is told (privately)."""
        proposal = await self.store.proposal(click.proposal_id)
        if proposal is None:
            return "That proposal no longer exists: nothing was done."
        incident = await self.store.incident(proposal.incident_id)
        assert incident is not None
        allowed = await self.allowed(incident)
        phase = incident.phase
        async with self.commander.locks.hold(incident.key):
            for _ in range(DECIDE_ATTEMPTS):
                incident = await self.store.incident(proposal.incident_id)
                proposal = await self.store.proposal(click.proposal_id)
                assert incident is not None and proposal is not None
                now = self.clock.now()
                decision = decide(proposal, user=click.user_id, shown_hash=click.shown_hash, approve=click.approve,
                                  now=now, allowed=allowed, incident_open=incident.is_open, reason=click.reason)
                after = decision.proposal
                if decision.counted and after.status is Status.APPROVED and after.plan.manual:
                    after = replace(after, status=Status.EXECUTED, outcome=f"done by {click.user_id}")
                changed = after != proposal
                said = Decision(proposal.id, proposal.plan.runbook, proposal.plan_hash, click.shown_hash, click.approve,
                                click.reason, tuple(after.approvers), str(after.status))
                events = [record(said, kind=EventKind(kind), at=now, actor=_actor(click.user_id), text=decision.message)
                          for kind in decision.events]
                if after.status is Status.EXECUTED and after.plan.manual:
                    events.append(record(TaskDone(proposal.id), at=now, actor=_actor(click.user_id),
                                         text=proposal.plan.action))
                    if incident.phase is Phase.AWAITING_APPROVAL:  # people did the fix; they say when it holds
                        events += advance(incident, Phase.REMEDIATING, at=now, actor=_actor(click.user_id))
                if after.status in (Status.REJECTED, Status.EXPIRED) and incident.phase is Phase.AWAITING_APPROVAL:
                    events += advance(incident, Phase.DIAGNOSING, at=now, actor=_actor(click.user_id))
                if not changed:  # a refusal: nothing changes but the audit trail
                    await self.store.append_events(incident, events)
                    return decision.message
                if await self.store.save_proposal(proposal, after, now=now, incident=incident, events=events):
                    break
            else:
                return "Others are deciding this at the same moment; look at the message again."
            # committed: what must follow starts first (the execution is claimed while the lock is held, and carried
            # out after); what only shows it may fail without stopping anything
            if after.status is Status.APPROVED:
                claimed = await self._claim(incident, after)
                if claimed is not None:
                    self.background.spawn(self._carry_out(incident, claimed), name=f"execute proposal {after.id}")
                    after = claimed
            await _shown(self._redraw(after))
            follow: list[TimelineEvent] = []
            if after.status is Status.REJECTED:
                await _shown(self.commander.say(incident, f":no_entry: {user_ref(click.user_id)} rejected "
                                                          f"*{escape(after.plan.action)}*: {escape(click.reason)}"))
                if incident.is_open and incident.channel_id:
                    await _shown(self.propose_next(incident, follow))
            elif after.status is Status.EXPIRED:
                await _shown(self.commander.say(incident, _expired_text(after)))
            elif after.status is Status.EXECUTED:
                await _shown(self.commander.say(incident, f":white_check_mark: {user_ref(click.user_id)} did "
                                                          f"*{escape(after.plan.action)}*."))
            if follow:  # the decision's own change was written with it; what followed is written here
                await self.store.save_incident(incident, follow, now=now)
            if incident.phase is not phase:
                await _shown(self.commander.refresh(incident))
        if after.status is Status.EXECUTED and after.plan.manual:
            return "Marked done; it is on the incident's timeline."
        return decision.message

    async def refusal(self, click: Click) -> str | None:
        """Before asking a person for a reason to reject: what they would be told if the click cannot count (it is
        then recorded like any refused click); None when it can."""
        proposal = await self.store.proposal(click.proposal_id)
        incident = await self.store.incident(proposal.incident_id) if proposal else None
        if proposal is None or incident is None:
            return "That proposal no longer exists: nothing was done."
        try:  # within Slack's time for the modal; if PagerDuty is slow, ask the reason now and check on submit
            allowed = await asyncio.wait_for(asyncio.shield(self.allowed(incident)), REASON_CHECK_S)
        except TimeoutError:
            return None
        decision = decide(proposal, user=click.user_id, shown_hash=click.shown_hash, approve=click.approve,
                          now=self.clock.now(), allowed=allowed, incident_open=incident.is_open)
        return None if decision.counted else await self.click(click)

    async def expire(self, timer: Timer) -> None:
        """The durable expiry timer: a proposal nobody decided on in time stops counting."""
        proposal = await self.store.proposal(int(timer.payload["proposal"]))
        if proposal is None or proposal.status is not Status.PROPOSED:
            return
        incident = await self.store.incident(proposal.incident_id)
        assert incident is not None
        async with self.commander.locks.hold(incident.key):
            proposal = await self.store.proposal(proposal.id)
            fresh = await self.store.incident(proposal.incident_id) if proposal else None
            assert proposal is not None and fresh is not None
            incident = fresh  # as it is now: the row is written back with the proposal
            now = self.clock.now()
            if proposal.status is not Status.PROPOSED or now < proposal.expires_at:
                return
            after = replace(proposal, status=Status.EXPIRED)
            events = [record(Expired(proposal.id, proposal.plan_hash), at=now, actor=ACTOR_BOT,
                             text=proposal.plan.action)]
            if incident.phase is Phase.AWAITING_APPROVAL:
                events += advance(incident, Phase.DIAGNOSING, at=now, actor=ACTOR_BOT)
            if not await self.store.save_proposal(proposal, after, now=now, incident=incident, events=events):
                return
            await _shown(self._redraw(after))
            if incident.is_open:  # a closed incident's channel needs no news of it
                await _shown(self.commander.say(incident, _expired_text(after)))
                await _shown(self.commander.refresh(incident))

    async def withdraw(self, incident: Incident) -> None:
        """The incident closed: proposals still waiting (or approved, not started) will not be carried out. The
        caller holds the incident's lock."""
        assert incident.id is not None
        now = self.clock.now()
        for proposal in await self.store.proposals(incident.id, statuses=(Status.PROPOSED, Status.APPROVED)):
            after = replace(proposal, status=Status.EXPIRED,
                            outcome=f"withdrawn: the incident was {incident.phase.label.lower()}")
            event = record(Expired(proposal.id, proposal.plan_hash), at=now, actor=ACTOR_BOT, text=after.outcome)
            if await self.store.save_proposal(proposal, after, now=now, incident=incident, events=[event]):
                await _shown(self._redraw(after))

    async def _redraw(self, proposal: Proposal) -> None:
        ref = await self.store.message_ref(proposal.incident_id, _purpose(proposal.id))
        if ref is not None:
            title = self._title(proposal.plan)
            await self.slack.update(ref[0], ref[1], proposal_blocks.proposal_text(proposal, title),
                                    proposal_blocks.proposal_blocks(proposal, title))

    # executing ----------------------------------------------------------------------------------------------------

    async def execute(self, proposal_id: int) -> None:
        """Carry out an approved proposal, once: the claim is a conditional update only one caller wins."""
        proposal = await self.store.proposal(proposal_id)
        if proposal is None or proposal.plan.manual:
            return
        incident = await self.store.incident(proposal.incident_id)
        assert incident is not None and incident.id is not None
        async with self.commander.locks.hold(incident.key):
            incident = await self.store.incident(incident.id)
            assert incident is not None
            claimed = await self._claim(incident, proposal)
        if claimed is not None:
            await self._carry_out(incident, claimed)

    async def _claim(self, incident: Incident, proposal: Proposal) -> Proposal | None:
        """Under the incident's lock: start the execution (the proposal as it now is), or None when it is not to be
        (claimed by someone else, or the incident closed since it was approved)."""
        now = self.clock.now()
        agent = self._agent(proposal)
        if not incident.is_open:  # closed since it was approved: it is not carried out, now or after a restart
            stale = await self.store.proposal(proposal.id)
            if stale is not None and stale.status is Status.APPROVED:
                after = replace(stale, status=Status.EXPIRED,
                                outcome=f"not carried out: the incident was {incident.phase.label.lower()} first")
                event = record(Expired(stale.id, stale.plan_hash), at=now, actor=ACTOR_BOT, text=after.outcome)
                if await self.store.save_proposal(stale, after, now=now, incident=incident, events=[event]):
                    await _shown(self._redraw(after))
            return None
        events = advance(incident, Phase.REMEDIATING, at=now, actor=ACTOR_BOT)
        events.append(record(
            ExecutionStarted(proposal.id, proposal.plan_hash, agent.name if agent else None, tuple(proposal.approvers)),
            at=now, actor=ACTOR_BOT, text=proposal.plan.action,
        ))
        if not await self.store.claim_execution(proposal.id, now=now, incident=incident, events=events):
            return None
        return replace(proposal, status=Status.EXECUTING, agent=agent.name if agent else None)

    def _agent(self, proposal: Proposal) -> AgentConfig | None:
        runbook = self.runbooks.get(proposal.plan.runbook)
        return self.delegator.agent_for(runbook.delegate) if runbook and runbook.delegate else None

    async def _carry_out(self, incident: Incident, proposal: Proposal) -> None:
        """Ask the runbook's agent to do it (after the claim); the outcome decides what follows."""
        agent = self._agent(proposal)
        runbook = self.runbooks.get(proposal.plan.runbook)
        role = runbook.delegate if runbook else None
        words = (f":gear: Asking *{escape(agent.name)}* to do it: *{escape(proposal.plan.action)}*" if agent
                 else "")

        async def show() -> None:
            await _shown(self._redraw(proposal))
            await _shown(self.commander.refresh(incident))
            if words:
                await _shown(self.commander.say(incident, words))

        # Slack shows it while the agent is asked (not before: the agent waits for nobody); the outcome is
        # shown after it
        shown = asyncio.get_running_loop().create_task(show())
        try:
            if agent is None:
                await self._finished(proposal, ok=False, outcome=f"no {role or 'capable'} agent is configured to do it",
                                     after=shown)
                return
            try:
                reply = await self._send_change(incident, proposal, agent.name)
            except A2AError as exc:
                await self._finished(proposal, ok=False, outcome=exc.reason, after=shown)
                return
            except Exception as exc:  # whatever went wrong, the incident goes on: failed, escalated
                log.exception("executing proposal %s failed", proposal.id)
                await self._finished(proposal, ok=False, outcome=f"sre-agent could not ask the agent ({exc!r})",
                                     after=shown)
                return
            await self._conclude(proposal, reply, after=shown)
        finally:
            await shown

    async def _send_change(self, incident: Incident, proposal: Proposal, agent_name: str) -> AgentReply:
        agent = next(a for a in self.delegator.agents if a.name == agent_name)
        client = self.delegator.client(agent)
        assert incident.id is not None
        plan = proposal.plan
        data = {"change": plan.action, "kind": plan.kind, "service": plan.target.get("service"),
                "namespace": plan.target.get("namespace"), "target": plan.target, "parameters": plan.parameters,
                "plan_hash": proposal.plan_hash, "incident": incident.label, "runbook": plan.runbook}
        context = await self.store.agent_context(incident.id, agent.name)

        async def keep(first: AgentReply) -> None:  # before waiting on it: a restart can follow the task
            await self.store.set_execution_task(proposal.id, agent=agent.name, task_id=first.task_id,
                                                context_id=first.context_id or context)

        reply = await client.send(f"Carry out this approved change for {incident.label}: {plan.action}", data,
                                  context_id=context, resend=False, timeout_s=agent.action_timeout_s, on_task=keep)
        return await self._answer_gate(proposal, client, reply, agent.action_timeout_s)

    async def _answer_gate(self, proposal: Proposal, client: A2AClient, reply: AgentReply,
                           timeout_s: float) -> AgentReply:
        """The agent's own approval gate: answered once, with the decision stored for this plan, nothing else."""
        if not reply.needs_input:
            return reply
        stored = await self.store.proposal(proposal.id)
        if (stored is None or stored.status is not Status.EXECUTING or stored.plan_hash != proposal.plan_hash
                or stored.plan.hash != stored.plan_hash  # the plan as stored is still the plan that was approved
                or len(stored.approvers) < stored.needed or reply.task_id is None):
            raise A2AError(client.name, "refused", "it asked for a decision sre-agent has no record of")
        decision = {"decision": "approved", "plan_hash": stored.plan_hash, "approvers": list(stored.approvers),
                    "proposal": stored.id, "change": stored.plan.action}
        names = ", ".join(stored.approvers)
        answer = await client.send(f"approve: {stored.plan.action} (plan {stored.plan_hash[:12]}), approved in Slack "
                                   f"by {names}", decision, context_id=reply.context_id, task_id=reply.task_id,
                                   resend=False, timeout_s=timeout_s)
        if answer.needs_input:
            raise A2AError(client.name, "refused", "it asked again after the recorded decision was given; "
                           "sre-agent answers an approval gate once")
        return answer

    async def _conclude(self, proposal: Proposal, reply: AgentReply, *, after: Awaitable[None] | None = None) -> None:
        ok = reply.state == "completed"
        text = reply.text or (f"the task ended {reply.state}" if not ok else "done")
        await self._finished(proposal, ok=ok, outcome=text if ok else f"the task ended {reply.state}: {text}",
                             after=after)

    async def _finished(self, proposal: Proposal, *, ok: bool, outcome: str,
                        after: Awaitable[None] | None = None) -> None:
        """The action ended. `after`: what Slack still has to show of its start, shown before its end (but only
        after the end is stored and what follows is armed)."""
        incident = await self.store.incident(proposal.incident_id)
        assert incident is not None and incident.id is not None
        runbook = self.runbooks.get(proposal.plan.runbook)
        async with self.commander.locks.hold(incident.key):
            incident = await self.store.incident(incident.id)
            assert incident is not None
            now = self.clock.now()
            kind = EventKind.EXECUTED if ok else EventKind.EXECUTION_FAILED
            events = [record(Executed(proposal.id, proposal.plan_hash, proposal.agent), kind=kind, at=now,
                             actor=ACTOR_BOT, text=truncate(outcome, 2000))]
            verification = runbook.verification if runbook else None
            if ok and verification is not None and incident.is_open:
                events += advance(incident, Phase.VERIFYING, at=now, actor=ACTOR_BOT)
                events.append(record(
                    Verifying(proposal.id, verification.signal, verification.below, verification.window_s,
                              verification.interval_s, verification.timeout_s),
                    at=now, actor=ACTOR_BOT,
                    text=f"{verification.signal} below {verification.below:g} for {verification.window_s:g} s",
                ))
            if not await self.store.finish_execution(proposal.id, ok=ok, outcome=outcome, now=now, incident=incident,
                                                     events=events):
                return
            verifying = ok and verification is not None and incident.is_open
            if verifying:  # first what must follow (a restart re-arms it if it is lost: see resume)
                assert verification is not None
                await self._check_after(incident, proposal.id, verification.interval_s, now)
            if after is not None:
                await _shown(after)
            finished = await self.store.proposal(proposal.id)
            assert finished is not None
            await _shown(self._redraw(finished))
            await _shown(self.commander.refresh(incident))
            if ok:
                await _shown(self.commander.say(incident, f":white_check_mark: Done: "
                                                          f"{escape(truncate(outcome, 1500))}"))
                if verifying:
                    await _shown(self.commander.say(incident, _verifying_text(verification)))
                elif incident.is_open:
                    await _shown(self.commander.say(incident, "This runbook has no verification: the people on call "
                                                              "decide whether it helped."))
                return
        await self._failed(incident, f"*{proposal.plan.action}* failed: {outcome}")

    async def _check_after(self, incident: Incident, proposal_id: int, interval_s: float, now: datetime,
                           payload: dict[str, Any] | None = None) -> None:
        """Arm the next verification check (a durable timer)."""
        payload = payload or {"proposal": proposal_id, "started_at": now.isoformat(), "good_since": None, "checks": 0,
                              "readings": []}
        await self.scheduler.at(VERIFY, now + timedelta(seconds=interval_s), incident_id=incident.id, payload=payload)

    # verifying ----------------------------------------------------------------------------------------------------

    async def verify(self, timer: Timer) -> None:
        """One check of a fix: read the runbook's signal again and decide whether it held, failed or needs time."""
        proposal = await self.store.proposal(int(timer.payload["proposal"]))
        if proposal is None:
            return
        incident = await self.store.incident(proposal.incident_id)
        runbook = self.runbooks.get(proposal.plan.runbook)
        if incident is None or not incident.is_open or runbook is None or runbook.verification is None:
            return
        v = runbook.verification
        role = _SIGNAL_ROLE.get(v.signal, Role.MONITORING)
        try:
            signals = await self.delegator.read(
                incident, role, f"Is {v.signal.replace('_', ' ')} of {incident.service} back to normal? "
                                "Report its value now.", (v.signal,))
        except Exception:  # a check that cannot read counts as unknown; the chain of checks goes on
            log.exception("verification check of proposal %s could not read %s", proposal.id, v.signal)
            signals = None
        value = reading(signals, v.signal) if signals is not None else None
        payload = timer.payload
        progress = Progress(datetime.fromisoformat(payload["started_at"]),
                            datetime.fromisoformat(payload["good_since"]) if payload.get("good_since") else None,
                            checks=int(payload.get("checks", 0)))
        now = self.clock.now()
        verdict, progress = check(v, progress, value, now)
        readings = [*payload.get("readings", []), {"at": now.isoformat(), "value": value}][-MAX_READINGS:]
        if verdict is Verdict.WAITING:
            await self._check_after(incident, proposal.id, v.interval_s, now, {
                **payload, "good_since": progress.good_since.isoformat() if progress.good_since else None,
                "checks": progress.checks, "readings": readings})
            return
        shown = _value(v.signal, value)
        current = await self.store.incident(incident.id) if incident.id is not None else None
        if current is None or not current.is_open:
            return  # resolved while the agent was asked: nothing more to say about the fix
        if verdict is Verdict.HOLDS:
            await self._verified(incident, proposal, v.signal, shown, v.below, v.window_s, readings)
        else:
            async with self.commander.locks.hold(incident.key):
                await self.store.append_events(incident, [record(
                    Checked(proposal.id, proposal.plan_hash, tuple(readings)), kind=EventKind.VERIFICATION_FAILED,
                    at=now, actor=ACTOR_BOT,
                    text=f"{v.signal} is {shown}, not below {_value(v.signal, v.below)} for {v.window_s:g} s")])
            await self._failed(incident, f"*{proposal.plan.action}* did not fix it: {v.signal.replace('_', ' ')} is "
                                         f"{shown}, not below {_value(v.signal, v.below)} for "
                                         f"{_duration(v.window_s)}")

    async def _verified(self, incident: Incident, proposal: Proposal, signal: str, shown: str, below: float,
                        window_s: float, readings: list[dict[str, Any]]) -> None:
        assert incident.channel_id
        words = (f":white_check_mark: *Verified*: {signal.replace('_', ' ')} is {shown}, below "
                 f"{_value(signal, below)} for {_duration(window_s)} after *{escape(proposal.plan.action)}*.")
        async with self.commander.locks.hold(incident.key):
            now = self.clock.now()
            await self.store.append_events(incident, [record(
                Checked(proposal.id, proposal.plan_hash, tuple(readings)), kind=EventKind.VERIFIED, at=now,
                actor=ACTOR_BOT, text=f"{signal} {shown}")])
            if not self.config.auto_resolve:
                await _shown(self.slack.post(incident.channel_id, words + " Resolve the incident when you agree.",
                                             proposal_blocks.verified_blocks(incident,
                                                                             words + " Resolve it when you agree.")))
                return
            await _shown(self.slack.post(incident.channel_id, words))
        assert incident.id is not None
        try:
            await self.commander.resolve(incident.id, user_id=None, summary=f"verified: {signal} {shown}")
        except SreAgentError as exc:  # e.g. PagerDuty refused: a person resolves it
            log.warning("could not resolve %s after the fix was verified: %s", incident.key, exc)
            text = f"sre-agent could not resolve it: {escape(exc.user_message)} Resolve it when you can."
            await _shown(self.slack.post(incident.channel_id, text, proposal_blocks.verified_blocks(incident, text)))

    # failing ------------------------------------------------------------------------------------------------------

    async def _failed(self, incident: Incident, what: str) -> None:
        """Tell the channel, escalate on PagerDuty, and go on with the next proposal or a request for help."""
        assert incident.id is not None
        await _shown(self.commander.say(incident, f":x: {escape(what)}"))
        current = await self.store.incident(incident.id)
        if current is None or not current.is_open:
            return  # resolved meanwhile: the failure is told and recorded, nobody needs paging about it
        try:
            await self.escalate_incident(incident.id, user_id=None, reason=what.replace("*", ""))
        except SreAgentError as exc:  # PagerDuty refused or is away: say so, and go on with the next proposal
            log.warning("could not escalate %s: %s", incident.key, exc)
            await _shown(self.commander.say(incident, f":warning: Not escalated: {escape(exc.user_message)}"))
        async with self.commander.locks.hold(incident.key):
            fresh = await self.store.incident(incident.id)
            assert fresh is not None
            if not fresh.is_open:
                return
            events: list[TimelineEvent] = []
            if fresh.phase in (Phase.REMEDIATING, Phase.VERIFYING):
                events += advance(fresh, Phase.DIAGNOSING, at=self.clock.now(), actor=ACTOR_BOT)
            try:
                await self.propose_next(fresh, events, after="That did not work.")
            finally:
                await self.store.save_incident(fresh, events, now=self.clock.now())
            await _shown(self.commander.refresh(fresh))

    # restarts -----------------------------------------------------------------------------------------------------

    async def resume(self) -> None:
        """After a restart: carry out what was approved and not yet started; look again at what was running; go on
        verifying a fix whose next check was lost (its window starts again)."""
        expiring = {int(t.payload.get("proposal", 0)) for t in await self.store.pending_timers(EXPIRE)}
        for waiting in await self.store.proposals(statuses=(Status.PROPOSED,)):
            if waiting.id not in expiring:  # its timer was lost (fired as the process stopped): set it again
                await self.scheduler.at(EXPIRE, waiting.expires_at, incident_id=waiting.incident_id,
                                        payload={"proposal": waiting.id})
        checking = {int(t.payload.get("proposal", 0)) for t in await self.store.pending_timers(VERIFY)}
        for proposal in await self.store.proposals(statuses=(Status.EXECUTED,)):
            runbook = self.runbooks.get(proposal.plan.runbook)
            if proposal.id in checking or runbook is None or runbook.verification is None or proposal.plan.manual:
                continue
            incident = await self.store.incident(proposal.incident_id)
            if incident is None or incident.phase is not Phase.VERIFYING:
                continue
            timeline = await self.store.timeline(proposal.incident_id)
            if any(e.kind in (EventKind.VERIFIED, EventKind.VERIFICATION_FAILED)
                   and e.data.get("proposal") == proposal.id for e in timeline):
                continue
            await self._check_after(incident, proposal.id, runbook.verification.interval_s, self.clock.now())
        for proposal in await self.store.proposals(statuses=(Status.APPROVED, Status.EXECUTING)):
            if proposal.plan.manual:
                continue
            if proposal.status is Status.APPROVED:
                self.background.spawn(self.execute(proposal.id), name=f"execute proposal {proposal.id}")
            else:
                self.background.spawn(self._look_again(proposal), name=f"follow proposal {proposal.id}")

    async def _look_again(self, proposal: Proposal) -> None:
        agent = next((a for a in self.delegator.agents if a.name == proposal.agent), None)
        if agent is None or proposal.task_id is None:
            await self._finished(proposal, ok=False, outcome="sre-agent restarted while it was asking the agent; "
                                 "whether the change was made is not known: check before you try again")
            return
        client = self.delegator.client(agent)
        try:
            reply = await self._answer_gate(proposal, client, await client.follow(
                proposal.task_id, timeout_s=agent.action_timeout_s), agent.action_timeout_s)
        except A2AError as exc:
            await self._finished(proposal, ok=False, outcome=exc.reason)
            return
        except Exception as exc:  # whatever went wrong, the incident goes on: failed, escalated
            log.exception("following proposal %s after a restart failed", proposal.id)
            await self._finished(proposal, ok=False, outcome=f"sre-agent could not look at the agent's task ({exc!r})")
            return
        await self._conclude(proposal, reply)

    async def on_timer(self, timer: Timer) -> None:
        try:
            if timer.kind == EXPIRE:
                await self.expire(timer)
            elif timer.kind == VERIFY:
                await self.verify(timer)
        except SreAgentError as exc:
            log.warning("%s timer %s: %s", timer.kind, timer.id, exc)


async def _shown(work: Awaitable[Any]) -> None:
    """Showing what happened (a redrawn message, a line in the channel) after the state changed: a failure is
    logged and does not stop what must follow."""
    try:
        await work
    except Exception as exc:  # noqa: BLE001 - a Slack error, a timeout, a dropped connection: all the same here
        log.warning("could not show a remediation step in Slack: %r", exc)


def _plan_data(plan: Plan) -> dict[str, Any]:
    return {"action": plan.action, "kind": plan.kind, "target": plan.target, "parameters": plan.parameters,
            "risk": str(plan.risk), "reversible": plan.reversible, "expected": plan.expected, "manual": plan.manual,
            "reasons": list(plan.reasons)}


def _value(signal: str, value: float | None) -> str:
    if value is None:
        return "unknown (no agent could say)"
    if signal in ("error_rate", "cpu", "connections"):
        return f"{value:.1%}"
    if signal == "latency_p99_ms":
        return f"{value:.0f} ms"
    return f"{value:g}"


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def _verifying_text(v: Any) -> str:
    return (f":mag: Verifying: {v.signal.replace('_', ' ')} must stay below {_value(v.signal, v.below)} for "
            f"{_duration(v.window_s)}; checking every {_duration(v.interval_s)}, for at most "
            f"{_duration(v.timeout_s)}.")


def _expired_text(proposal: Proposal) -> str:
    return (f":hourglass: The proposal *{escape(proposal.plan.action)}* expired without a decision; nothing was "
            "done. Say what to do next in the channel, or `/incident escalate`.")
