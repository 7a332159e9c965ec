"""Approvals benchmark: how fast an Approve click turns into the change request at the agent, and that it does so once
however many clicks arrive together. For each of N pages the bot (its own process, `sre-agent serve`) diagnoses,
proposes "Increase memory limit from 512Mi to 768Mi", and the on-call engineer's Approve button is clicked `--clicks`
times at once.

    python bench/approvals.py [--incidents 10] [--clicks 20]

ack_ms              the bot's answer to each click, as Slack's side (the sandbox) measures it
click_to_change_ms  from the first click of a burst leaving Slack to the Kubernetes agent receiving the change
changes             change requests the agent received: exactly one per incident, however many clicks
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from common import sandbox_and_bot, summary  # bench/common.py, beside this script

from sandbox.a2a_agents import parse_agents
from sandbox.server import Sandbox

AGENTS = [
    {
        "name": "monitoring",
        "role": "monitoring",
        "answers": {
            "default": {
                "text": "checkout-service error rate is 8.5% over the last 30m (normal: 0.2%).",
                "data": {"error_rate": 0.085},
            }
        },
    },
    {
        "name": "k8s-autopilot",
        "role": "kubernetes",
        "answers": {
            "default": {
                "text": "3 pods in CrashLoopBackOff (last state: OOMKilled).",
                "data": {"pods": {"CrashLoopBackOff": 3, "OOMKilled": 3}},
            }
        },
    },
]
APPROVE = "proposal.approve"


def _proposal(sandbox: Sandbox, known: set[str]) -> tuple[str, str] | None:
    """(channel, ts) of a proposal message not seen before."""
    for channel in sandbox.slack.channels.values():
        for message in sandbox.slack.messages_in(channel.id):
            if message.ts in known:
                continue
            if any(b.get("block_id") == "proposal" for b in message.blocks or []):
                return channel.id, message.ts
    return None


async def run(incidents: int, clicks: int) -> dict[str, Any]:
    async with sandbox_and_bot(agents=parse_agents(AGENTS)) as setup:
        sandbox = setup.sandbox
        acks: list[float] = []
        to_change: list[float] = []
        failed = 0
        known: set[str] = set()
        for i in range(incidents):
            sandbox.pagerduty.page("checkout-service", f"checkout-service: error rate 8.5% (#{i})", priority="P2")
            found = None
            for _ in range(400):
                found = _proposal(sandbox, known)
                if found:
                    break
                await asyncio.sleep(0.025)
            if found is None:
                raise SystemExit(f"incident {i}: no proposal after 10 s")
            known.add(found[1])
            before = len(sandbox.agents.change_requests)
            feed_from = len(sandbox.feed)
            sent = time.monotonic()
            results = await asyncio.gather(
                *(sandbox.slack.send_action("U0DANA", found[0], found[1], APPROVE) for _ in range(clicks))
            )
            acks += [r["elapsed_ms"] for r in results if r["status"] == 200]
            failed += sum(r["status"] != 200 for r in results)
            for _ in range(400):
                change = next((e for e in sandbox.feed[feed_from:] if e["kind"] == "a2a.change"), None)
                if change is not None:
                    to_change.append((change["at_monotonic"] - sent) * 1000)
                    break
                await asyncio.sleep(0.01)
            else:
                raise SystemExit(f"incident {i}: no change request after 4 s")
            await asyncio.sleep(0.3)  # time for any second execution to show up (there must be none)
            if len(sandbox.agents.change_requests) - before != 1:
                raise SystemExit(f"incident {i}: {len(sandbox.agents.change_requests) - before} change requests")
        return {
            "incidents": incidents,
            "clicks_per_proposal": clicks,
            "ack_ms": summary(acks),
            "click_to_change_ms": summary(to_change),
            "changes": len(sandbox.agents.change_requests),
            "failed": failed,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10)
    parser.add_argument("--clicks", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.incidents, args.clicks))))


if __name__ == "__main__":
    main()
