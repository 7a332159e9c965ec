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
import os
import secrets
import socket
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from sandbox.server import Sandbox
from sandbox.world import World

CARD_BLOCK = "incident_card.header"


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return round(ordered[index], 2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_healthy(url: str, process: asyncio.subprocess.Process, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise SystemExit(f"the bot exited with status {process.returncode} before it was ready")
            try:
                async with http.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the bot did not become healthy in time")


async def send_pages(sandbox: Sandbox, routing_key: str, pages: int, rate: float) -> list[int]:
    """Events API v2 triggers, one every 1/rate seconds (scheduled on absolute times, so the rate holds)."""
    statuses: list[int] = []
    url = f"{sandbox.pagerduty_events_url}/v2/enqueue"
    start = time.monotonic()
    async with aiohttp.ClientSession() as http:

        async def one(i: int) -> None:
            body = {"routing_key": routing_key, "event_action": "trigger",
                    "payload": {"summary": f"checkout-service: error rate spike #{i}", "source": "bench",
                                "severity": "critical"}}
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
        "webhook_ms": {"p50": percentile(webhook_ms, 50), "p99": percentile(webhook_ms, 99),
                       "max": round(max(webhook_ms), 2) if webhook_ms else None},
        "page_to_card_ms": {"p50": percentile(page_to_card, 50), "p99": percentile(page_to_card, 99),
                            "max": round(max(page_to_card), 2) if page_to_card else None},
        "channels": len(channel_at),
        "acknowledgements": len(acked),
        "cards": len(card_at),
    }


async def run(pages: int, rate: float, database_url: str | None) -> dict[str, Any]:
    world = World.default()
    sandbox = Sandbox(world, slack_signing_secret=secrets.token_hex(16),
                      pagerduty_webhook_secrets=[secrets.token_hex(16)])
    await sandbox.start()
    port = free_port()
    bot_url = f"http://127.0.0.1:{port}"
    sandbox.bot_url = bot_url
    with tempfile.TemporaryDirectory(prefix="sre-agent-bench-") as tmp:
        db_path = Path(tmp) / "bench.db"
        env = {
            **os.environ,
            **sandbox.bot_settings(),
            "SRE_HOST": "127.0.0.1",
            "SRE_PORT": str(port),
            "SRE_LOG_LEVEL": "WARNING",
        }
        if database_url:
            env["SRE_DATABASE_URL"] = database_url
        else:
            env.pop("SRE_DATABASE_URL", None)
            env["SRE_SQLITE_PATH"] = str(db_path)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "serve", env=env, stdout=asyncio.subprocess.DEVNULL,
        )
        try:
            await wait_healthy(bot_url, process)
            statuses = await send_pages(sandbox, world.services[0].routing_key, pages, rate)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                result = measure(sandbox)
                if result["cards"] >= pages and result["acknowledgements"] >= pages:
                    break
                await asyncio.sleep(0.2)
            await sandbox.drain(10)
            result = measure(sandbox)
        finally:
            process.terminate()
            await process.wait()
            await sandbox.stop()
        incidents = None
        if not database_url:
            with sqlite3.connect(db_path) as db:
                incidents = db.execute("select count(*) from incidents").fetchone()[0]
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
