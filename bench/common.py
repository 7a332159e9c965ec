"""What the benchmarks share: the sandbox, and the bot as its own process (`sre-agent serve`, exactly as in
production) pointed at it; percentiles."""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from sandbox.a2a_agents import AgentSpec
from sandbox.botapp import free_port, wait_healthy
from sandbox.server import Sandbox
from sandbox.world import World

EXAMPLE_CATALOG = Path(__file__).resolve().parents[1] / "examples" / "catalog.yml"


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile, rounded to 0.01."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return round(ordered[index], 2)


def summary(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": round(max(values), 2) if values else None,
    }


@dataclass
class Setup:
    sandbox: Sandbox
    bot_url: str
    sqlite_path: Path | None

    def incidents_in_store(self) -> int | None:
        if self.sqlite_path is None:
            return None
        with sqlite3.connect(self.sqlite_path) as db:
            return int(db.execute("select count(*) from incidents").fetchone()[0])


@asynccontextmanager
async def sandbox_and_bot(
    database_url: str | None = None, agents: list[AgentSpec] | None = None
) -> AsyncIterator[Setup]:
    """The sandbox in this process (with `agents`, if any), the bot in its own process, its store a fresh SQLite
    file unless `database_url`."""
    sandbox = Sandbox(
        World.default(),
        slack_signing_secret=secrets.token_hex(16),
        pagerduty_webhook_secrets=[secrets.token_hex(16)],
        agents=agents or [],
    )
    await sandbox.start()
    port = free_port()
    bot_url = f"http://127.0.0.1:{port}"
    sandbox.bot_url = bot_url
    with tempfile.TemporaryDirectory(prefix="sre-agent-bench-") as tmp:
        sqlite_path = None if database_url else Path(tmp) / "bench.db"
        env = {
            **os.environ,
            **sandbox.bot_settings(),
            "SRE_HOST": "127.0.0.1",
            "SRE_PORT": str(port),
            "SRE_LOG_LEVEL": "WARNING",
            "SRE_CATALOG_PATH": str(EXAMPLE_CATALOG),
        }
        env.pop("SRE_DATABASE_URL", None)
        if agents:
            agents_path = Path(tmp) / "agents.yml"
            agents_path.write_text(yaml.safe_dump(sandbox.agents.agents_file()), encoding="utf-8")
            env["SRE_AGENTS_PATH"] = str(agents_path)
        if database_url:
            env["SRE_DATABASE_URL"] = database_url
        else:
            env["SRE_SQLITE_PATH"] = str(sqlite_path)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "serve",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
        )
        try:
            await wait_healthy(bot_url, process)
            yield Setup(sandbox, bot_url, sqlite_path)
        finally:
            process.terminate()
            await process.wait()
            await sandbox.stop()
