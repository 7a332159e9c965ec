"""The real bot (`bot.app.create_app`) served on 127.0.0.1 beside the sandbox: shared by the demo, the benchmarks
and the tests, so all three run exactly the same application."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.app import create_app, serve
from bot.config.settings import Settings
from bot.ports.clock import Clock
from bot.runtime.door import Served
from bot.services import SERVICES, Services
from sandbox.server import Sandbox

__all__ = ["RunningBot", "bot_settings_for", "settle", "start_bot"]


@dataclass
class RunningBot:
    served: Served
    url: str

    @property
    def services(self) -> Services:
        return self.served.runner.app[SERVICES]

    async def stop(self) -> None:
        await self.served.stop()


def bot_settings_for(sandbox: Sandbox, database_url: str, **overrides: Any) -> Settings:
    """Settings that point the bot at the sandbox's peers, with its store at ``database_url``."""
    values: dict[str, Any] = {
        **sandbox.bot_settings(),
        "SRE_DATABASE_URL": database_url,
        "SRE_HOST": "127.0.0.1",
        "SRE_PORT": 0,
    }
    values.update(overrides)
    return Settings(**values)


async def start_bot(settings: Settings, sandbox: Sandbox, *, clock: Clock | None = None) -> RunningBot:
    """Serve ``create_app(settings)`` as `sre-agent serve` does (bot.app.serve) on a free port of 127.0.0.1 and
    tell the sandbox where it is."""
    served = await serve(create_app(settings, clock=clock), "127.0.0.1", 0, access_log=False)
    bot = RunningBot(served, f"http://127.0.0.1:{served.port}")
    sandbox.bot_url = bot.url
    return bot


async def settle(sandbox: Sandbox, services: Services, rounds: int = 3) -> None:
    """Wait until the sandbox has no webhook delivery in flight and the bot no event or Slack work in hand,
    several times over."""
    quiet = 0
    while quiet < rounds:
        busy = (
            services.intake.busy
            or services.scheduler.busy
            or services.slack_inbox.busy
            or services.background.busy
            or any(d.state in ("pending", "retrying") for d in sandbox.pagerduty.deliveries.values())
            or any(d.state in ("pending", "retrying") for d in sandbox.opsgenie.deliveries.values())
            or sandbox.opsgenie.busy
        )
        await sandbox.drain()
        await services.intake.drain()
        await services.scheduler.drain()
        await services.slack_inbox.drain()
        await services.background.drain()
        await asyncio.sleep(0.02)
        quiet = 0 if busy else quiet + 1


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now (for `sre-agent serve` as its own process)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_healthy(url: str, process: asyncio.subprocess.Process, within: float = 30.0) -> None:
    """Until `GET url/healthz` answers 200; SystemExit if the process exits first or `within` seconds pass."""
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
            await asyncio.sleep(0.05)
    raise SystemExit("the bot did not become healthy in time")
