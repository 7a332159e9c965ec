"""Delegation: asking the agents that can look (monitoring, Kubernetes, cloud) what they see, in parallel, and
turning their answers into evidence and ranked hypotheses. sre-agent never queries a metric store or a cluster itself.

Each agent is asked in the incident's own A2A context (one per incident per agent). An agent that is not configured,
down, slow or refusing makes its evidence "unavailable" with the reason; the incident goes on without it. An agent
that asks for a decision while it is asked a question (its own approval gate) is answered with a rejection at once,
and the findings say so: a change is proposed and approved in Slack, and a gate left open would take whatever is next
said in that context as its answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from bot.adapters.a2a import A2AClient, A2AError, AgentReply, Breaker, choose_interface
from bot.config.agents import AgentConfig
from bot.domain.catalog import Catalog, Service
from bot.domain.diagnosis import Evidence, Hypothesis, Outcome, Question, Role, Symptom, plan, rank, symptom_of
from bot.domain.incident import Incident
from bot.domain.signals import Signals, from_answer, from_data, from_text, merge
from bot.ports.clock import Clock
from bot.ports.metrics import NO_METRICS, Metrics
from bot.store import Store

__all__ = ["Delegator", "Findings", "signals_of"]

log = logging.getLogger(__name__)

WINDOW = "30m"
# which kind of agent usually reports which signal, where no agent reported it in the incident
_SIGNAL_ROLE = {
    "error_rate": Role.MONITORING,
    "latency_p99_ms": Role.MONITORING,
    "cpu": Role.MONITORING,
    "connections": Role.MONITORING,
    "restarts": Role.KUBERNETES,
    "memory": Role.KUBERNETES,
}
LOOK_WINDOW = "1d"  # what changed, asked outside an incident: over the day the budget's burn is read over


@dataclass(frozen=True)
class Findings:
    symptom: Symptom
    evidence: tuple[Evidence, ...]
    hypotheses: tuple[Hypothesis, ...]
    asked_at: datetime | None = None  # when the agents were asked

    @property
    def began_at(self) -> datetime | None:
        """When the likely cause began, where the agents said how long before they answered."""
        top = self.hypotheses[0] if self.hypotheses else None
        if top is None or top.since_s is None or self.asked_at is None:
            return None
        return self.asked_at - timedelta(seconds=top.since_s)

    @property
    def unavailable(self) -> tuple[Evidence, ...]:
        return tuple(e for e in self.evidence if e.outcome is not Outcome.ANSWERED)


class Delegator:
    def __init__(
        self,
        agents: list[AgentConfig],
        *,
        store: Store,
        clock: Clock,
        catalog: Catalog,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.agents = agents
        self.metrics = metrics
        self.store = store
        self.clock = clock
        self.catalog = catalog
        self.session: aiohttp.ClientSession | None = None  # the app's shared session, set when it starts
        self._clients: dict[str, A2AClient] = {}

    @property
    def configured(self) -> bool:
        return bool(self.agents)

    def agent_for(self, role: Role) -> AgentConfig | None:
        """The first configured agent of a role: the one that acts and is asked again (verification)."""
        return next((a for a in self.agents if a.role is role), None)

    async def read(
        self, incident: Incident, agents: list[AgentConfig], instruction: str, wanted: tuple[str, ...]
    ) -> Signals | None:
        """Ask these agents again (in the incident's contexts, all at once) and merge what they report; None when
        none could answer. Not stored as evidence: the caller records what it used."""
        service = self.catalog.get(incident.service)
        data = {
            "incident": incident.label,
            "service": incident.service,
            "namespace": service.namespace if service else None,
            "window": "5m",
            "signals": list(wanted),
        }
        assert incident.id is not None
        incident_id = incident.id

        async def one(agent: AgentConfig) -> Signals | None:
            context = await self.store.agent_context(incident_id, agent.name)
            try:
                reply = await self.client(agent).ask(instruction, data, context_id=context)
            except A2AError as exc:
                log.info("agent %s could not answer a check of %s: %s", agent.name, incident.key, exc.reason)
                return None
            return from_answer(reply.data, reply.text) if reply.state == "completed" else None

        found = [s for s in await asyncio.gather(*(one(a) for a in agents)) if s is not None]
        return merge(found) if found else None

    async def who_can_see(
        self, incident: Incident, wanted: tuple[str, ...], also: list[AgentConfig]
    ) -> tuple[list[AgentConfig], list[AgentConfig]]:
        """The agents to ask about these signals: first those that reported any of them when the incident was
        diagnosed; then, for what they cannot say, `also` (the agent that made the change) and the agents of the
        role that usually reports them."""
        assert incident.id is not None
        reported = {
            row["agent"]
            for row in await self.store.evidence(incident.id)
            if row["outcome"] == Outcome.ANSWERED
            and any(getattr(signals_of([row]), name, None) is not None for name in wanted)
        }
        first = [a for a in self.agents if a.name in reported]
        roles = {_SIGNAL_ROLE.get(name, Role.MONITORING) for name in wanted}
        then = [a for a in [*also, *(a for a in self.agents if a.role in roles)] if a not in first]
        return first, list(dict.fromkeys(then))

    def client(self, agent: AgentConfig) -> A2AClient:
        client = self._clients.get(agent.name)
        if client is None:
            assert self.session is not None, "the delegator's HTTP session is set when the app starts"
            client = A2AClient(
                agent.name,
                agent.url,
                self.session,
                timeout_s=agent.timeout_s,
                retries=agent.retries,
                breaker=Breaker(),
                skill=agent.skill,
                metrics=self.metrics,
            )
            self._clients[agent.name] = client
        return client

    async def read_cards(self) -> None:
        """Read every agent's card at start, so the first incident does not wait for it and a misconfigured agent
        shows in the log at once. A card that cannot be read now is read again when the agent is first asked."""
        for agent in self.agents:
            try:
                card = await self.client(agent).card(refresh=True)
            except (A2AError, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("agent %s (%s): card not readable at start: %s", agent.name, agent.url, exc)
                continue
            chosen = choose_interface(card)
            if chosen is None:
                log.warning("agent %s offers no A2A version sre-agent speaks", agent.name)
            else:
                log.info("agent %s (%s) speaks A2A %s", agent.name, agent.role, chosen[0])
            skills = [str(s.get("id")) for s in card.get("skills") or [] if isinstance(s, dict)]
            if agent.skill and agent.skill not in skills:
                log.warning(
                    "agent %s: its card has no skill %r (it has %s)",
                    agent.name,
                    agent.skill,
                    ", ".join(skills) or "none",
                )

    async def diagnose(self, incident: Incident) -> Findings:
        """Ask every question of the plan, all at once, in the incident's contexts; rank what comes back."""
        symptom = symptom_of(incident.title)
        asked_at = self.clock.now()
        evidence = await self._ask_all(
            incident.service, symptom, WINDOW, lambda agent, question: self._ask(incident, agent, question)
        )
        return Findings(symptom, evidence, tuple(rank(list(evidence), incident.service)), asked_at)

    async def look(self, service_name: str, symptom: Symptom = Symptom.LATENCY, window: str = LOOK_WINDOW) -> Findings:
        """Ask every question of the plan about a service outside any incident (the budget question: what changed
        over `window`), each agent in a context of its own; nothing is stored."""
        service = self.catalog.get(service_name)

        async def ask(agent: AgentConfig, question: Question) -> Evidence:
            item, _ = await self._put(agent, question, _question_data(service_name, service, window, question), None)
            return item

        asked_at = self.clock.now()
        evidence = await self._ask_all(service_name, symptom, window, ask)
        return Findings(symptom, evidence, tuple(rank(list(evidence), service_name)), asked_at)

    async def _ask_all(
        self,
        service_name: str,
        symptom: Symptom,
        window: str,
        ask: Callable[[AgentConfig, Question], Awaitable[Evidence]],
    ) -> tuple[Evidence, ...]:
        """Every question of the plan to every agent of its role, all at once; a role nobody fills is said so."""
        service = self.catalog.get(service_name)
        asked: list[Awaitable[Evidence]] = []
        for question in plan(symptom, service_name, service.namespace if service else None, window):
            agents = [a for a in self.agents if a.role is question.role]
            if not agents:
                asked.append(_nobody(question))
            asked += [ask(agent, question) for agent in agents]
        return tuple(await asyncio.gather(*asked))

    async def _ask(self, incident: Incident, agent: AgentConfig, question: Question) -> Evidence:
        assert incident.id is not None
        service = self.catalog.get(incident.service)
        data = {"incident": incident.label, **_question_data(incident.service, service, WINDOW, question)}
        context = await self.store.agent_context(incident.id, agent.name)
        asked_at = self.clock.now()
        item, reply = await self._put(agent, question, data, context)
        await self.store.add_evidence(
            incident.id,
            item,
            asked_at=asked_at,
            context_id=(reply.context_id if reply else None) or context,
            task_id=reply.task_id if reply else None,
        )
        return item

    async def _put(
        self, agent: AgentConfig, question: Question, data: dict[str, Any], context: str | None
    ) -> tuple[Evidence, AgentReply | None]:
        """One question to one agent: the evidence (unavailable, with the reason, when it could not answer)."""
        started = time.monotonic()
        try:
            reply = await self.client(agent).ask(question.instruction, data, context_id=context)
        except A2AError as exc:
            item = Evidence(
                agent.name,
                question.role,
                question.instruction,
                Outcome.UNAVAILABLE,
                duration_ms=_ms(started),
                reason=exc.reason,
            )
            return item, None
        return _evidence(agent, question, reply, _ms(started)), reply


def _question_data(name: str, service: Service | None, window: str, question: Question) -> dict[str, Any]:
    """The structured part of a question: the service, where it runs, the window and the signals wanted."""
    return {
        "service": name,
        "namespace": service.namespace if service else None,
        "release": service.release if service else None,
        "window": window,
        "signals": list(question.wanted),
    }


def signals_of(rows: list[dict[str, Any]]) -> Signals:
    """What the stored answers of an incident's diagnosis report, merged (the same reading as at the time)."""
    return merge(
        [
            from_data(d)
            for row in rows
            if row["outcome"] == Outcome.ANSWERED
            for d in (row["data"] or [])
            if isinstance(d, dict)
        ]
        + [from_text(row["answer"]) for row in rows if row["outcome"] == Outcome.ANSWERED]
    )


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


async def _nobody(question: Question) -> Evidence:
    return Evidence(
        "(none)",
        question.role,
        question.instruction,
        Outcome.UNAVAILABLE,
        reason=f"no {question.role} agent is configured",
    )


def _evidence(agent: AgentConfig, question: Question, reply: AgentReply, duration_ms: float) -> Evidence:
    signals = from_answer(reply.data, reply.text)
    if reply.state == "completed":
        outcome, reason = Outcome.ANSWERED, ""
    elif reply.needs_input:
        asked = reply.gate().described
        outcome = Outcome.INPUT_REQUIRED
        reason = f"asked to {asked}" if asked else "asked for a decision"
        reason = f"{reason[:300]}; sre-agent declined (a change is proposed and approved here, in Slack)"
    else:
        outcome, reason = Outcome.FAILED, f"the task ended {reply.state}"
    return Evidence(
        agent.name,
        question.role,
        question.instruction,
        outcome,
        reply.text,
        signals,
        duration_ms,
        reason,
        tuple(d for d in reply.data if isinstance(d, dict)),
    )
