"""Intake benchmark: N pages through the sandbox's PagerDuty Events API at a steady rate, the bot running as its own
process (`sre-agent serve`, exactly as in production, pointed at the sandbox), and one JSON object printed at the end.

    python bench/intake.py [--pages 200] [--rate 20] [--database-url URL]

webhook_ms       the bot's answer to each signed `incident.triggered` webhook, as PagerDuty's side measures it
page_to_card_ms  from that webhook leaving PagerDuty to the last of: PagerDuty acknowledged by sre-agent, the Slack
                 channel created, the incident card posted
incidents        incidents in the bot's store; channels, acknowledgements: what Slack and PagerDuty recorded

Targets on a 2-core machine at 20 pages/s: webhook p99 <= 25 ms, page-to-card p99 <= 250 ms, counts equal to N.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import aiohttp
from common import sandbox_and_bot, summary  # bench/common.py, beside this script

from sandbox.server import Sandbox

CARD_BLOCK = "incident_card.header"


async def send_pages(sandbox: Sandbox, routing_key: str, pages: int, rate: float) -> list[int]:
    """Events API v2 triggers, one every 1/rate seconds (scheduled on absolute times, so the rate holds)."""
    statuses: list[int] = []
    url = f"{sandbox.pagerduty_events_url}/v2/enqueue"
    start = time.monotonic()
    async with aiohttp.ClientSession() as http:

        async def one(i: int) -> None:
            body = {
                "routing_key": routing_key,
                "event_action": "trigger",
                "payload": {
                    "summary": f"checkout-service: error rate spike #{i}",
                    "source": "bench",
                    "severity": "critical",
                },
            }
            async with http.post(url, json=body) as response:
                statuses.append(response.status)

        tasks = []
        for i in range(pages):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return statuses


def measure(sandbox: Sandbox) -> dict[str, Any]:
    webhook_ms: list[float] = []
    started: dict[str, float] = {}
    for delivery in sandbox.pagerduty.deliveries.values():
        if delivery.event_type != "incident.triggered" or not delivery.attempts:
            continue
        first = delivery.attempts[0]
        webhook_ms.append(first["elapsed_ms"])
        data = delivery.event.get("data") or {}
        started[str(data.get("id"))] = first["at_monotonic"]

    number_to_incident = {inc.number: inc_id for inc_id, inc in sandbox.pagerduty.incidents.items()}
    acked: dict[str, float] = {}
    channel_of: dict[str, str] = {}
    channel_at: dict[str, float] = {}
    card_at: dict[str, float] = {}
    for entry in sandbox.feed:
        kind = entry["kind"]
        if kind == "pagerduty.status" and entry.get("status") == "acknowledged" and entry.get("by") == "sre-agent":
            acked.setdefault(entry["incident_id"], entry["at_monotonic"])
        elif kind == "slack.channel" and str(entry.get("name", "")).startswith("inc-"):
            number = int(str(entry["name"]).split("-")[1])
            incident_id = number_to_incident.get(number)
            if incident_id is not None:
                channel_of[entry["channel"]] = incident_id
                channel_at[incident_id] = entry["at_monotonic"]
        elif kind == "slack.message" and any(b.get("block_id") == CARD_BLOCK for b in entry.get("blocks") or []):
            incident_id = channel_of.get(entry["channel"])
            if incident_id is not None:
                card_at.setdefault(incident_id, entry["at_monotonic"])

    page_to_card = [
        (max(acked[i], channel_at[i], card_at[i]) - t0) * 1000
        for i, t0 in started.items()
        if i in acked and i in channel_at and i in card_at
    ]
    return {
        "webhook_ms": summary(webhook_ms),
        "page_to_card_ms": summary(page_to_card),
        "channels": len(channel_at),
        "acknowledgements": len(acked),
        "cards": len(card_at),
    }


async def run(pages: int, rate: float, database_url: str | None) -> dict[str, Any]:
    async with sandbox_and_bot(database_url) as setup:
        sandbox = setup.sandbox
        statuses = await send_pages(sandbox, sandbox.world.services[0].routing_key, pages, rate)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            result = measure(sandbox)
            if result["cards"] >= pages and result["acknowledgements"] >= pages:
                break
            await asyncio.sleep(0.2)
        await sandbox.drain(10)
        result = measure(sandbox)
        await asyncio.sleep(0.5)  # let the bot finish its last writes before counting them
        incidents = await setup.incidents_in_store()
    return {
        "pages": pages,
        "rate_per_s": rate,
        "webhook_ms": result["webhook_ms"],
        "page_to_card_ms": result["page_to_card_ms"],
        "incidents": incidents,
        "channels": result["channels"],
        "acknowledgements": result["acknowledgements"],
        "cards": result["cards"],
        "events_api_accepted": statuses.count(202),
        "store": "postgresql" if database_url else "sqlite",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="pages per second")
    parser.add_argument("--database-url", help="the bot's store (default: a fresh SQLite file)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.pages, args.rate, args.database_url))))


if __name__ == "__main__":
    main()
