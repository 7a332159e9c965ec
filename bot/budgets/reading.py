"""Reading the SLIs from the monitoring delegates: one batched request per delegate per tick, for all the SLOs due,
with each SLO's indicator (its queries as the SLO file writes them: the delegate knows PromQL or Datadog, sre-agent
does not) and the windows it needs. The delegate answers with a data part of the same shape as a counts file:

    {"slis": {"<slo>": {"<window>": {"total": N, "good": N} | {"total": N, "bad": N} | null}}}

A window it leaves out or gives as null has no data; an SLO it leaves out too. An answer that cannot be read, or a
delegate that is down, is logged and leaves its SLOs without data (reported as such, never as zero)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import aiohttp

from bot.adapters.a2a import A2AClient, A2AError
from bot.config.agents import AgentConfig
from bot.config.slos import SloDefinition
from bot.domain.diagnosis import Role
from bot.domain.slo import Counts

__all__ = ["Agents", "SliReader", "counts_of", "parse_window", "read_from_agents"]

log = logging.getLogger(__name__)

INSTRUCTION = (
    "Report the good and total event counts of these SLOs for each window ending now (sums over the window, "
    'not rates), as data: {"slis": {slo: {window: {"total": N, "good": N}}}}.'
)


def parse_window(values: Any) -> Counts:
    """One window's counts, `{"total": N, "good": N}` or `{"total": N, "bad": N}`; ValueError saying what is
    wrong with them."""
    if not isinstance(values, Mapping) or "total" not in values:
        raise ValueError('expected {"total": N, "good": N} or {"total": N, "bad": N}')
    for key in ("total", "good", "bad"):
        value = values.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"{key}: expected a number, got {value!r}")
    return Counts.of(total=values["total"], good=values.get("good"), bad=values.get("bad"))


def counts_of(values: Any) -> Counts | None:
    """One window's counts as a delegate gives them; None when there are none or they cannot be read."""
    try:
        return parse_window(values)
    except ValueError:
        return None


class Agents(Protocol):
    """The configured agents and a client for each (the Delegator is one)."""

    agents: list[AgentConfig]

    def client(self, agent: AgentConfig) -> A2AClient: ...


class SliReader:
    def __init__(self, delegator: Agents) -> None:
        self.delegator = delegator
        self._said_none = False

    async def read(self, definitions: Sequence[SloDefinition], at: datetime) -> dict[str, dict[str, Counts | None]]:
        """Each SLO's counts by window (every window it needs, None where no delegate gave it)."""
        out: dict[str, dict[str, Counts | None]] = {d.slo.name: dict.fromkeys(d.slo.windows()) for d in definitions}
        wanted = {d.slo.name: d for d in definitions}
        agents = [a for a in self.delegator.agents if a.role is Role.MONITORING]
        if not agents and not self._said_none:
            log.warning("no monitoring agent is configured (SRE_AGENTS_PATH): the SLOs have no data")
            self._said_none = True  # once, not every tick
        for agent in agents:
            asking = [name for name, counts in out.items() if all(c is None for c in counts.values())]
            if not asking:
                break
            data = {
                "request": "sli_counts",
                "at": at.isoformat(),
                "slis": [
                    {
                        "slo": name,
                        "service": wanted[name].slo.service,
                        "budgeting": wanted[name].slo.budgeting,
                        "indicator": wanted[name].indicator,
                        "time_slice": wanted[name].time_slice,
                        "windows": list(wanted[name].slo.windows()),
                    }
                    for name in asking
                ],
            }
            try:
                reply = await self.delegator.client(agent).ask(INSTRUCTION, data)
            except A2AError as exc:
                log.warning("SLI counts from %s: %s", agent.name, exc.reason)
                continue
            except Exception:  # a delegate's failure must not stop the tick
                log.exception("SLI counts from %s could not be read", agent.name)
                continue
            answered = next((d["slis"] for d in reply.data if isinstance(d.get("slis"), Mapping)), None)
            if answered is None:
                log.warning("SLI counts from %s: its answer carried no counts (%s)", agent.name, reply.state)
                continue
            for name in asking:
                by_window = answered.get(name)
                if not isinstance(by_window, Mapping):
                    continue
                for window in out[name]:
                    counts = counts_of(by_window.get(window))
                    if counts is None and by_window.get(window) is not None:
                        log.warning("SLI counts from %s for %s %s cannot be read", agent.name, name, window)
                    out[name][window] = counts
        return out


class _Clients:
    """The agents of a file, each with a client on one session (for the CLI, outside the app)."""

    def __init__(self, agents: list[AgentConfig], session: aiohttp.ClientSession) -> None:
        self.agents = agents
        self.session = session
        self._clients: dict[str, A2AClient] = {}

    def client(self, agent: AgentConfig) -> A2AClient:
        if agent.name not in self._clients:
            self._clients[agent.name] = A2AClient(
                agent.name,
                agent.url,
                self.session,
                timeout_s=agent.timeout_s,
                retries=agent.retries,
                skill=agent.skill,
            )
        return self._clients[agent.name]


async def read_from_agents(
    definitions: Sequence[SloDefinition], agents: list[AgentConfig], at: datetime
) -> dict[str, dict[str, Counts | None]]:
    """One batched request to each monitoring agent of `agents`, as the tick makes it."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)) as session:
        return await SliReader(_Clients(agents, session)).read(definitions, at)
