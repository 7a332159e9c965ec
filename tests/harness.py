"""The test harness: the real app (create_app) on 127.0.0.1:0 against the sandbox peers, over real HTTP."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from bot.config.settings import Settings
from bot.ports.clock import Clock, ScaledClock
from bot.services import Services
from sandbox.a2a_agents import AgentSpec
from sandbox.botapp import RunningBot, bot_settings_for, settle, start_bot, wait_healthy
from sandbox.server import Sandbox
from sandbox.signing import pagerduty_headers
from sandbox.world import World

PAYLOADS = Path(__file__).resolve().parent / "payloads"  # sample deliveries as the real services send them
SIGNING_SECRET = "test-slack-signing-secret"
WEBHOOK_SECRETS = ["test-pd-secret-new", "test-pd-secret-old"]
BOT_EMAIL = "sre-agent@example.com"
EXAMPLE_CATALOG = Path(__file__).resolve().parents[1] / "examples" / "catalog.yml"


class Serve:
    """`python -m bot.cli serve` as its own process against the sandbox, started and SIGKILLed at will; its log (stderr)
    appended to `log` when given."""

    def __init__(self, sandbox: Sandbox, env: dict[str, str], port: int, *, log: Path | None = None) -> None:
        self.sandbox, self.env, self.port, self.log = sandbox, env, port, log
        self.url = f"http://127.0.0.1:{port}"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        stderr = self.log.open("ab") if self.log is not None else None
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                "serve",
                env=self.env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
            )
        finally:
            if stderr is not None:
                stderr.close()
        await wait_healthy(self.url, self.process)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


class Harness:
    def __init__(self, sandbox: Sandbox, database_url: str, *, clock: Clock | None = None, **overrides: Any) -> None:
        self.sandbox = sandbox
        self.clock = clock  # the bot's; share it with the sandbox for a fast virtual clock
        self.database_url = database_url
        self.overrides = overrides
        self.bot: RunningBot | None = None
        self.url = ""
        self.http: aiohttp.ClientSession | None = None

    def settings(self) -> Settings:
        """The sandbox's settings, with both webhook secrets (a rotation), the example catalog, and the overrides."""
        return bot_settings_for(
            self.sandbox,
            self.database_url,
            **{
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "PAGERDUTY_WEBHOOK_SECRETS": ",".join(WEBHOOK_SECRETS),
                "SRE_CATALOG_PATH": str(EXAMPLE_CATALOG),
                # a test that escalates unacknowledged pages says so (tests/test_unacknowledged.py)
                "SRE_ESCALATE_UNACKNOWLEDGED": "off",
                # and a test that posts on the public status page turns it on (tests/test_status_page.py)
                "STATUSPAGE_API_KEY": None,
                "STATUSPAGE_PAGE_ID": None,
                **self.overrides,
            },
        )

    async def start(self) -> None:
        self.bot = await start_bot(self.settings(), self.sandbox, clock=self.clock)
        self.url = self.bot.url
        if self.http is None:
            self.http = aiohttp.ClientSession()

    async def stop(self) -> None:
        bot, self.bot = self.bot, None  # no one reaches the bot's services while it stops
        if bot is not None:
            await bot.stop()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def close(self) -> None:
        await self.stop()
        if self.http is not None:
            await self.http.close()

    @property
    def services(self) -> Services:
        assert self.bot is not None
        return self.bot.services

    async def settle(self, rounds: int = 3) -> None:
        """Wait until the sandbox has no delivery in flight and the bot no event in hand, several times over."""
        await settle(self.sandbox, self.services, rounds)

    async def post_webhook(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        assert self.http is not None
        async with self.http.post(f"{self.url}/webhooks/pagerduty", data=body, headers=headers) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, {"text": text}

    async def send_pagerduty(
        self, event: dict[str, Any], *, webhook_id: str | None = None, secrets: list[str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        body = json.dumps(event).encode()
        headers = pagerduty_headers(secrets or WEBHOOK_SECRETS, body, webhook_id or str(uuid.uuid4()))
        return await self.post_webhook(body, headers)


@asynccontextmanager
async def started_sandbox(
    world: World, *, clock: Clock | None = None, agents: Sequence[AgentSpec] = (), **options: Any
) -> AsyncIterator[Sandbox]:
    """A sandbox with the tests' secrets and quick webhook retries (on `clock`'s time when given, serving `agents`,
    with the Sandbox's other `options`), started on a free port of 127.0.0.1; stopped after."""
    sb = Sandbox(
        world,
        slack_signing_secret=SIGNING_SECRET,
        pagerduty_webhook_secrets=WEBHOOK_SECRETS[:1],
        webhook_retry_delays=[0.05, 0.1, 0.2],
        clock=clock.now if clock is not None else None,
        agents=agents,
        **options,
    )
    await sb.start(host="127.0.0.1", port=0)
    try:
        yield sb
    finally:
        await sb.stop()


def agents_file(sandbox: Sandbox, folder: Path, **limits: float) -> str:
    """The sandbox's agents as an agents file (SRE_AGENTS_PATH) in `folder`, with `limits` (timeout_s, ...); its
    path."""
    path = folder / "agents.yml"
    path.write_text(yaml.safe_dump(sandbox.agents.agents_file(**limits)))
    return str(path)


@asynccontextmanager
async def fast_harness(
    world: World, database_url: str, *, speed: float = 200.0, **overrides: Any
) -> AsyncIterator[Harness]:
    """The bot and the sandbox on one virtual clock `speed` times faster than the wall, started; stopped after."""
    clock = ScaledClock(speed)
    async with started_sandbox(world, clock=clock) as sb:
        harness = Harness(sb, database_url, clock=clock, **overrides)
        try:
            await harness.start()
            yield harness
        finally:
            await harness.close()


def fresh_event(name: str, **data: Any) -> dict[str, Any]:
    """A sample PagerDuty payload with a new event id and `occurred_at` of now; `data` fields overridden."""
    body = json.loads((PAYLOADS / name).read_text())
    body["event"]["id"] = uuid.uuid4().hex[:16].upper()
    body["event"]["occurred_at"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    body["event"]["data"].update(data)
    return body


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """`app` served on 127.0.0.1 at a free port, for a peer of the tests' own: its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def eventually(check: Callable[[], Awaitable[bool] | bool], *, within: float = 5.0) -> None:
    """Poll `check` until it holds; fail after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


class LoopTurns:
    """How free the running loop is: a task that counts its turns (one every `every` seconds, or every pass of the
    loop with 0) while the block runs."""

    def __init__(self, every: float = 0.0) -> None:
        self.every = every
        self.count = 0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            self.count += 1
            await asyncio.sleep(self.every)

    async def __aenter__(self) -> LoopTurns:
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)
        self.count = 0
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


async def mention_again(sandbox: Sandbox, sent: dict[str, Any], user: str, channel: str, text: str) -> dict[str, Any]:
    """The event of a mention (`sent`: what send_mention returned) delivered again, as Slack retries: the same id."""
    event = {
        "type": "app_mention",
        "user": user,
        "text": f"<@{sandbox.world.bot.user_id}> {text}",
        "ts": sent["ts"],
        "channel": channel,
        "event_ts": sent["ts"],
    }
    return await sandbox.slack.send_event(event, event_id=sent["event_id"], retry_num=1)


# What the sandbox recorded, in the terms the acceptance criteria use ------------------------------------------


def posted_with(block_id: str) -> Callable[[dict[str, Any]], bool]:
    """A match for the arguments of a Slack call whose blocks include one with `block_id` (sandbox holds, faults)."""

    def match(args: dict[str, Any]) -> bool:
        return f'"block_id": "{block_id}"' in str(args.get("blocks")).replace("'", '"')

    return match


def with_block(sandbox: Sandbox, block_id: str, channel_id: str | None = None) -> list[Any]:
    """Messages the bot posted (in `channel_id`, else in any channel) carrying a block with `block_id`."""
    channels = [channel_id] if channel_id else list(sandbox.slack.channels)
    return [
        m
        for c in channels
        for m in sandbox.slack.messages_in(c)
        if any(b.get("block_id") == block_id for b in (m.blocks or []))
    ]


def cards(sandbox: Sandbox, channel_id: str | None = None) -> list[Any]:
    """Incident cards the bot posted (messages carrying the card's header block)."""
    return with_block(sandbox, "incident_card.header", channel_id)


def incident_channels(sandbox: Sandbox) -> list[Any]:
    return [c for c in sandbox.slack.channels.values() if c.name.startswith("inc-")]


def pd_status_changes(sandbox: Sandbox, status: str) -> list[Any]:
    return [
        c
        for c in sandbox.pagerduty.calls
        if c.method == "PUT"
        and isinstance(c.body, dict)
        and (c.body.get("incident") or {}).get("status") == status
        and c.status < 300
    ]


def texts(sandbox: Sandbox, channel_id: str) -> list[str]:
    return [m.text for m in sandbox.slack.messages_in(channel_id)]
