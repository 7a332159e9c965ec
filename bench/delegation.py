"""Delegation benchmark: what asking the agents adds to an incident. Three sandbox agents (monitoring, Kubernetes,
cloud) each take `--agent-ms` to answer; the bot runs as its own process. For each page, how long after the incident
card the findings are posted (the target: within 500 ms when each agent takes 300 ms, since they are asked at once).

    python bench/delegation.py [--incidents 10] [--agent-ms 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from common import sandbox_and_bot, summary  # bench/common.py, beside this script

from sandbox.a2a_agents import parse_agents

ANSWERS = {
    "monitoring": "checkout-service error rate is 8.5% over the last 30m (normal: 0.2%).",
    "kubernetes": "3 pods in CrashLoopBackOff in namespace shop (last state: OOMKilled).",
    "cloud": "No cloud resource of checkout-service is saturated.",
}


async def run(incidents: int, agent_ms: int) -> dict[str, Any]:
    agents = parse_agents(
        [
            {"name": role, "role": role, "delay_ms": agent_ms, "answers": {"default": {"text": text}}}
            for role, text in ANSWERS.items()
        ]
    )
    async with sandbox_and_bot(agents=agents) as setup:
        sandbox = setup.sandbox
        gaps: list[float] = []
        for i in range(incidents):
            start = len(sandbox.feed)
            # a latency symptom: the plan asks all three roles
            sandbox.pagerduty.page("checkout-service", f"checkout-service requests timing out (#{i})", priority="P2")
            card_at = findings_at = None
            for _ in range(400):
                for entry in sandbox.feed[start:]:
                    if entry["kind"] != "slack.message":
                        continue
                    blocks = entry.get("blocks") or []
                    if card_at is None and any(b.get("block_id") == "incident_card.header" for b in blocks):
                        card_at = entry["at_monotonic"]
                    if findings_at is None and any(b.get("block_id") == "findings" for b in blocks):
                        findings_at = entry["at_monotonic"]
                if card_at is not None and findings_at is not None:
                    break
                await asyncio.sleep(0.025)
            if card_at is None or findings_at is None:
                raise SystemExit(f"incident {i}: no {'card' if card_at is None else 'findings'} after 10 s")
            gaps.append((findings_at - card_at) * 1000)
            await sandbox.drain(10)
        asked = len(sandbox.agents.requests)
    return {
        "incidents": incidents,
        "agents": len(agents),
        "agent_ms": agent_ms,
        "findings_after_card_ms": summary(gaps),
        "agent_requests": asked,  # every agent asked once per incident
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=10)
    parser.add_argument("--agent-ms", type=int, default=300)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.incidents, args.agent_ms))))


if __name__ == "__main__":
    main()
