"""Two `sre-agent serve` processes on one PostgreSQL behind a round-robin balancer (sandbox/balancer.py) behave as
one: every page (each delivered several times, the copies spread over both) is one incident with one channel, one
card, one acknowledgement and one proposal; Approve clicked on both replicas at once carries a plan out once; each
proposal's expiry timer fires once; the scheduled budget digest is posted once per scheduled time. Their logs are
JSON lines, none holding a secret."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from blocks.ids import BlockId
from sandbox.balancer import Balancer
from sandbox.botapp import free_port
from sandbox.scenario import load_scenario
from sandbox.server import Sandbox
from tests.conftest import POSTGRES_ENV, _drop_postgres_database, _postgres_database
from tests.harness import Serve, eventually, incident_channels, with_block

SERVICE = "checkout-service"
PAGES = 8
APPROVED = 4  # the first pages' proposals are approved (on both replicas at once); the others expire
COPIES = 3  # each webhook delivered this many more times, concurrently
EXPIRY_MINUTES = 0.1
STORM = 60  # pages ...
STORM_RATE = 50  # ... at this many a second


@dataclass
class Replicas:
    sandbox: Sandbox
    serves: list[Serve]
    balancer: Balancer
    logs: list[Path]
    secrets: list[str]


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[Replicas]:
    admin_url = os.environ.get(POSTGRES_ENV)
    if not admin_url:
        pytest.skip(f"{POSTGRES_ENV} is not set: several replicas need PostgreSQL (SQLite serves one process)")
    name, url = await _postgres_database(admin_url)
    scenario = load_scenario("checkout-crash-storm")
    budget = load_scenario("checkout-budget")
    sandbox = Sandbox(
        scenario.world,
        slack_signing_secret=secrets.token_hex(16),
        pagerduty_webhook_secrets=[secrets.token_hex(16)],
        agents=scenario.agents,
        webhook_retry_delays=[0.2, 0.5, 1, 2, 4],
    )
    await sandbox.start(host="127.0.0.1", port=0)
    (tmp_path / "catalog.yml").write_text(yaml.safe_dump(scenario.catalog))
    (tmp_path / "agents.yml").write_text(yaml.safe_dump(sandbox.agents.agents_file(timeout_s=5, action_timeout_s=20)))
    (tmp_path / "slos.yml").write_text(yaml.safe_dump_all(budget.slos, sort_keys=False))
    ports = [free_port(), free_port()]
    serves, logs = [], []
    for i, port in enumerate(ports):
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("SRE_", "SLACK_", "PAGERDUTY_"))},
            **sandbox.bot_settings(),
            "SRE_HOST": "127.0.0.1",
            "SRE_PORT": str(port),
            "SRE_INSTANCE_NAME": f"replica-{i}",
            "SRE_LOG_LEVEL": "INFO",
            "SRE_LOG_FORMAT": "json",
            "SRE_CATALOG_PATH": str(tmp_path / "catalog.yml"),
            "SRE_AGENTS_PATH": str(tmp_path / "agents.yml"),
            "SRE_SLOS_PATH": str(tmp_path / "slos.yml"),
            "SRE_SLO_DIGEST": "* * * * *",  # every minute, so that a firing comes within the test
            "SRE_SLO_TICK_MINUTES": "1",
            "SRE_PROPOSAL_EXPIRY_MINUTES": str(EXPIRY_MINUTES),
            "SRE_ESCALATE_UNACKNOWLEDGED": "off",
            "SRE_DATABASE_URL": url.replace("+asyncpg", ""),
        }
        logs.append(tmp_path / f"replica-{i}.log")
        serves.append(Serve(sandbox, env, port, log=logs[-1]))
    for serve in serves:  # one after the other: the first creates the schema
        await serve.start()
    balancer = Balancer([s.url for s in serves])
    sandbox.bot_url = await balancer.start()
    told = [*sandbox.pagerduty_webhook_secrets, sandbox.slack_signing_secret, scenario.world.bot.token]
    try:
        yield Replicas(sandbox, serves, balancer, logs, told)
    finally:
        for serve in serves:
            await serve.stop()
        await balancer.close()
        await sandbox.stop()
        await _drop_postgres_database(admin_url, name)


def _per_incident(sandbox: Sandbox) -> dict[str, dict[str, int]]:
    """For each PagerDuty incident: what Slack and PagerDuty hold of it."""
    out = {}
    for incident in sandbox.pagerduty.incidents.values():
        channels = [c for c in incident_channels(sandbox) if f"-{incident.number}-" in c.name]
        channel = channels[0].id if channels else None
        out[incident.id] = {
            "channels": len(channels),
            "cards": len(with_block(sandbox, BlockId.CARD_HEADER, channel)) if channel else 0,
            "acknowledgements": sum(1 for h in incident.history if h["status"] == "acknowledged"),
            "notes": len(incident.notes),
            "proposals": len(with_block(sandbox, BlockId.PROPOSAL, channel)) if channel else 0,
        }
    return out


ONE_EACH = {"channels": 1, "cards": 1, "acknowledgements": 1, "notes": 1, "proposals": 1}


def _button(message: Any, action_id: str) -> bool:
    return any(
        isinstance(e, dict) and e.get("action_id") == action_id
        for b in message.blocks or []
        for e in b.get("elements") or []
    )


async def test_two_replicas_behave_as_one(replicas: Replicas) -> None:
    sandbox = replicas.sandbox
    for i in range(PAGES):
        sandbox.pagerduty.page(SERVICE, f"checkout-service: error rate 8.5% (storm {i})", urgency="high")
    triggered = [d for d in sandbox.pagerduty.deliveries.values() if d.event_type == "incident.triggered"]
    again = await asyncio.gather(*(sandbox.pagerduty.redeliver(d.id, COPIES) for d in triggered))
    # 202, or 503 where the database was too slow to store a copy in time (a busy machine): it is delivered again
    odd = [a for answers in again for a in answers if a["status"] not in (202, 503)]
    assert not odd, odd

    def all_proposed() -> bool:
        return list(_per_incident(sandbox).values()) == [ONE_EACH] * PAGES

    await eventually(all_proposed, within=60)
    assert len(sandbox.pagerduty.incidents) == PAGES
    assert min(replicas.balancer.sent.values()) >= PAGES  # both replicas took webhooks

    # Approve clicked by the on-call on both replicas at once (the balancer alternates): carried out once each
    channels = sorted(incident_channels(sandbox), key=lambda c: c.name)
    clicks = []
    for channel in channels[:APPROVED]:
        [proposal] = with_block(sandbox, BlockId.PROPOSAL, channel.id)
        for _ in range(2):
            clicks.append(sandbox.slack.send_action("U0DANA", channel.id, proposal.ts, "proposal.approve"))
    answers = await asyncio.gather(*clicks)
    assert all(a["status"] == 200 for a in answers), answers
    await eventually(lambda: len(sandbox.agents.change_requests) >= APPROVED, within=30)

    # the other proposals expire: each expiry timer fires once, on one replica
    def expired(channel: Any) -> list[Any]:
        return [m for m in sandbox.slack.messages_in(channel.id) if "expired without a decision" in m.text]

    await eventually(lambda: all(expired(c) for c in channels[APPROVED:]), within=EXPIRY_MINUTES * 60 + 30)

    # the digest, at the next whole minute, once
    def digests() -> list[Any]:
        incidents_channel = sandbox.world.incidents_channel.id
        return [m for m in sandbox.slack.messages_in(incidents_channel) if m.text.startswith(":bar_chart:")]

    await eventually(lambda: bool(digests()), within=75)
    await asyncio.sleep(3)  # nothing late: no second card, execution, expiry notice or digest
    assert list(_per_incident(sandbox).values()) == [ONE_EACH] * PAGES
    assert len(sandbox.agents.change_requests) == APPROVED
    assert sorted(r["incident"] for r in sandbox.agents.change_requests) == sorted(
        r["incident"] for r in {r["incident"]: r for r in sandbox.agents.change_requests}.values()
    )
    assert all(len(expired(c)) == 1 for c in channels[APPROVED:])
    assert all(not expired(c) for c in channels[:APPROVED])
    minutes = [m.text.split("(")[1][:16] for m in digests()]
    assert len(minutes) == len(set(minutes)), minutes  # one digest per scheduled time

    # both replicas logged as JSON, naming incidents, and never a secret
    lines = [line for log in replicas.logs for line in log.read_text().splitlines() if line.strip()]
    assert lines, "the replicas logged nothing"
    parsed = [json.loads(line) for line in lines]  # every line one JSON object
    assert all({"time", "level", "logger", "message"} <= set(p) for p in parsed)
    assert any("pager_incident" in p or "incident" in p for p in parsed)
    text = "\n".join(lines)
    assert not [s for s in replicas.secrets if s in text]


async def test_a_storm_of_pages_is_one_incident_each(replicas: Replicas) -> None:
    """Many pages at once, each delivered several times, spread over both replicas with the echoes of their own
    acknowledgements and notes: every incident is opened once, by whichever replica holds it at each step."""
    sandbox = replicas.sandbox
    for i in range(STORM):
        sandbox.pagerduty.page(SERVICE, f"checkout-service: error rate 8.5% (storm {i})", urgency="high")
        await asyncio.sleep(1 / STORM_RATE)
    triggered = [d for d in sandbox.pagerduty.deliveries.values() if d.event_type == "incident.triggered"]
    again = await asyncio.gather(*(sandbox.pagerduty.redeliver(d.id, COPIES) for d in triggered))
    # 202, or 503 where the database was too slow to store a copy in time (a busy machine): it is delivered again
    odd = [a for answers in again for a in answers if a["status"] not in (202, 503)]
    assert not odd, odd

    def all_proposed() -> bool:
        return list(_per_incident(sandbox).values()) == [ONE_EACH] * STORM

    try:
        await eventually(all_proposed, within=150)
    finally:
        wrong = {k: v for k, v in _per_incident(sandbox).items() if v != ONE_EACH}
        assert not wrong, f"{len(wrong)} of {STORM} incidents: {wrong}"
    await asyncio.sleep(3)  # nothing late
    assert list(_per_incident(sandbox).values()) == [ONE_EACH] * STORM
    assert len(incident_channels(sandbox)) == STORM
    text = "\n".join(log.read_text() for log in replicas.logs)
    assert "IntegrityError" not in text and "UniqueViolation" not in text


async def test_a_second_serve_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    """SQLite serves one process: a second `serve` on the same file stops at once and says why."""
    scenario = load_scenario("checkout-crash-storm")
    sandbox = Sandbox(
        scenario.world, slack_signing_secret=secrets.token_hex(16), pagerduty_webhook_secrets=[secrets.token_hex(16)]
    )
    await sandbox.start(host="127.0.0.1", port=0)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SRE_", "SLACK_", "PAGERDUTY_"))},
        **sandbox.bot_settings(),
        "SRE_HOST": "127.0.0.1",
        "SRE_SQLITE_PATH": str(tmp_path / "one.db"),
    }
    first = Serve(sandbox, {**env, "SRE_PORT": str(free_port())}, 0)
    first.url = f"http://127.0.0.1:{first.env['SRE_PORT']}"
    try:
        await first.start()
        started = time.monotonic()
        second = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "serve",
            env={**env, "SRE_PORT": str(free_port())},
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(second.communicate(), timeout=30)
        assert second.returncode == 2 and time.monotonic() - started < 30
        said = err.decode()
        assert "one.db" in said and "another sre-agent serve" in said and "SRE_DATABASE_URL" in said, said
    finally:
        await first.stop()
        await sandbox.stop()
