"""Asking the runbook's agent to carry out an approved change, over A2A: the request names the exact plan (its hash),
the task is kept before sre-agent waits on it (so a restart can follow it), and the agent's own approval gate is
answered once, with the decision recorded for this plan (who approved it), and only when it asks for that plan: one
action, of the plan's kind, on its target, with its numbers (bot/domain/agent_gate.py). A gate for anything else, or
asked again, is closed with a rejection and the reason, and the change counts as failed."""

from __future__ import annotations

from bot.adapters.a2a import A2AClient, A2AError, AgentReply
from bot.config.agents import AgentConfig
from bot.domain.agent_gate import GateRequest, mismatch
from bot.domain.approval import Proposal, Status
from bot.domain.incident import Incident
from bot.lifecycle.delegation import Delegator
from bot.store import Store

__all__ = ["AgentChange", "GateRefused"]


class AgentChange:
    def __init__(self, *, store: Store, delegator: Delegator) -> None:
        self.store = store
        self.delegator = delegator

    async def ask(self, incident: Incident, proposal: Proposal, agent: AgentConfig) -> AgentReply:
        """Ask `agent` to make the change; its reply once the task ended (its gate answered on the way)."""
        client = self.delegator.client(agent)
        assert incident.id is not None
        plan = proposal.plan
        data = {
            "change": plan.action,
            "kind": plan.kind,
            "service": plan.target.get("service"),
            "namespace": plan.target.get("namespace"),
            "target": plan.target,
            "parameters": plan.parameters,
            "plan_hash": proposal.plan_hash,
            "incident": incident.label,
            "runbook": plan.runbook,
        }
        context = await self.store.agent_context(incident.id, agent.name)

        async def keep(first: AgentReply) -> None:  # before waiting on it: a restart can follow the task
            await self.store.set_execution_task(
                proposal.id, agent=agent.name, task_id=first.task_id, context_id=first.context_id or context
            )

        reply = await client.send(
            f"Carry out this approved change for {incident.label}: {plan.action}",
            data,
            context_id=context,
            resend=False,
            timeout_s=agent.action_timeout_s,
            on_task=keep,
        )
        return await self._answer_gate(proposal, client, reply, agent.action_timeout_s)

    async def follow(self, proposal: Proposal, agent: AgentConfig, task_id: str) -> AgentReply:
        """After a restart: the agent's task that was carrying the change out, followed to its end."""
        client = self.delegator.client(agent)
        reply = await client.follow(task_id, timeout_s=agent.action_timeout_s)
        return await self._answer_gate(proposal, client, reply, agent.action_timeout_s)

    async def _answer_gate(
        self, proposal: Proposal, client: A2AClient, reply: AgentReply, timeout_s: float
    ) -> AgentReply:
        """The agent's own approval gate: answered once, for the plan stored as approved, when the gate asks for
        exactly that plan; any other gate is closed with a rejection and the reason (GateRefused)."""
        if not reply.needs_input:
            return reply
        stored = await self.store.proposal(proposal.id)
        if (
            stored is None
            or stored.status is not Status.EXECUTING
            or stored.plan_hash != proposal.plan_hash
            or stored.plan.hash != stored.plan_hash  # the plan as stored is still the plan that was approved
            or len(stored.approvers) < stored.needed
            or reply.task_id is None
        ):
            why = "sre-agent has no record of an approval for it"
            await client.decline(reply, why)
            raise GateRefused(client.name, reply.gate(), why)
        request = reply.gate()
        other = mismatch(stored.plan, request)
        if other is not None:
            await client.decline(reply, f"not the approved plan: {other}")
            raise GateRefused(client.name, request, f"not the approved plan: {other}")
        names = ", ".join(stored.approvers)
        answer = await client.approve(
            reply,
            {
                "message": f"{stored.plan.action} (plan {stored.plan_hash[:12]}), approved in Slack by {names}",
                "plan_hash": stored.plan_hash,
                "approvers": list(stored.approvers),
                "proposal": stored.id,
                "change": stored.plan.action,
            },
            timeout_s=timeout_s,
        )
        if answer.needs_input:
            why = "it asked again after the decision was given; sre-agent answers an approval gate once"
            await client.decline(answer, why)
            raise GateRefused(client.name, answer.gate(), why)
        return answer


class GateRefused(A2AError):
    """An approval gate sre-agent closed with a rejection: what it asked, and why."""

    def __init__(self, agent: str, request: GateRequest, why: str) -> None:
        asked = request.described
        super().__init__(agent, "refused", f"its approval gate asked for {asked}: {why}" if asked else why)
        self.request = request
        self.why = why
