"""Slack's per-method rate limit tiers in the sandbox's Slack peer, over real HTTP (aiohttp and slack_sdk)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from sandbox import Sandbox, World
from sandbox.slack_peer import SLACK_RATE_TIERS, TIER_2
from sandbox.slack_webapi import METHODS

SLACK_SECRET = "slack-signing-secret"
PD_SECRETS = ["webhook-secret"]

MakeSandbox = Callable[..., Awaitable[Sandbox]]


@pytest.fixture
async def make_sandbox() -> AsyncIterator[MakeSandbox]:
    started: list[Sandbox] = []

    async def make(**options: Any) -> Sandbox:
        sb = Sandbox(
            World.default(), slack_signing_secret=SLACK_SECRET, pagerduty_webhook_secrets=PD_SECRETS, **options
        )
        await sb.start(port=0)
        started.append(sb)
        return sb

    yield make
    for sb in started:
        await sb.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession, sb: Sandbox, method: str, token: str | None = None, **args: Any
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """One Web API call as the bot makes it: bearer token, form body. (status, body, headers)."""
    headers = {"Authorization": f"Bearer {token or sb.world.bot.token}"}
    async with http.post(f"{sb.slack_api_url}{method}", data=args, headers=headers) as resp:
        return resp.status, await resp.json(), dict(resp.headers)


def test_every_implemented_method_has_its_tier() -> None:
    assert set(METHODS) | {"apps.connections.open"} <= set(SLACK_RATE_TIERS)
    assert SLACK_RATE_TIERS["conversations.create"] == TIER_2 and TIER_2.calls == 20 and TIER_2.window_s == 60


async def test_tiers_are_off_by_default(make_sandbox: MakeSandbox, http: aiohttp.ClientSession) -> None:
    sb = await make_sandbox()
    statuses = [(await call(http, sb, "conversations.create", name=f"inc-{i}"))[0] for i in range(25)]
    assert statuses == [200] * 25  # 25 > Tier 2's 20 per minute


async def test_conversations_create_burst_beyond_tier_2(make_sandbox: MakeSandbox, http: aiohttp.ClientSession) -> None:
    sb = await make_sandbox(slack_rate_tiers=True, slack_rate_scale=30)  # 20 per 2 s
    started = time.monotonic()
    for i in range(20):
        status, body, _ = await call(http, sb, "conversations.create", name=f"inc-{i}")
        assert (status, body["ok"]) == (200, True)
    status, body, headers = await call(http, sb, "conversations.create", name="inc-over")
    assert time.monotonic() - started < 2.0, "the burst must fit in one scaled window"

    assert status == 429 and body == {"ok": False, "error": "ratelimited"}
    retry_after = int(headers["Retry-After"])
    assert 1 <= retry_after <= 2
    assert sb.slack.channel("inc-over") is None  # the call was not carried out
    last = sb.slack.calls_for("conversations.create")[-1]
    assert (last.status, last.ok, last.error, last.args["name"]) == (429, False, "ratelimited", "inc-over")
    # the tier is per method: another method still answers
    status, body, _ = await call(http, sb, "conversations.info", channel="C0INCIDENTS")
    assert (status, body["ok"]) == (200, True)

    await asyncio.sleep(retry_after)
    status, body, _ = await call(http, sb, "conversations.create", name="inc-over")
    assert (status, body["ok"]) == (200, True)
    assert sb.slack.channel("inc-over") is not None
    assert [c.status for c in sb.slack.calls_for("conversations.create")] == [200] * 20 + [429, 200]


async def test_chat_post_message_is_limited_per_channel(make_sandbox: MakeSandbox, http: aiohttp.ClientSession) -> None:
    sb = await make_sandbox(slack_rate_tiers=True, slack_rate_scale=3)  # per channel: 3 per 1 s
    a = (await call(http, sb, "conversations.create", name="inc-a"))[1]["channel"]["id"]
    b = (await call(http, sb, "conversations.create", name="inc-b"))[1]["channel"]["id"]

    for i in range(3):
        assert (await call(http, sb, "chat.postMessage", channel=a, text=f"a{i}"))[0] == 200
    status, body, headers = await call(http, sb, "chat.postMessage", channel="inc-a", text="a-over")  # by name too
    assert status == 429 and body["error"] == "ratelimited" and headers["Retry-After"] == "1"
    assert [m.text for m in sb.slack.messages_in(a)] == ["a0", "a1", "a2"]

    for i in range(3):  # another channel has its own allowance
        assert (await call(http, sb, "chat.postMessage", channel=b, text=f"b{i}"))[0] == 200
    assert (await call(http, sb, "chat.postMessage", channel=b, text="b-over"))[0] == 429

    # slack_sdk's own retry handler waits Retry-After and gets through
    client = AsyncWebClient(token=sb.world.bot.token, base_url=sb.slack_api_url)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    resp = await client.chat_postMessage(channel=a, text="a-after")
    assert resp["ok"] is True
    assert [m.text for m in sb.slack.messages_in(a)][-1] == "a-after"


async def test_control_route_turns_tiers_on_and_off(make_sandbox: MakeSandbox, http: aiohttp.ClientSession) -> None:
    sb = await make_sandbox()
    route = f"{sb.url}/_sandbox/slack/rate_tiers"
    async with http.post(route, json={}) as resp:
        assert await resp.json() == {"ok": True, "enabled": False, "scale": 1.0}
    async with http.post(route, json={"enabled": True, "scale": 30}) as resp:  # Tier 2: 20 per 2 s
        assert await resp.json() == {"ok": True, "enabled": True, "scale": 30.0}
    assert sb.slack.rate_tiers.enabled and sb.slack.rate_tiers.scale == 30

    statuses = [(await call(http, sb, "conversations.create", name=f"inc-{i}"))[0] for i in range(21)]
    assert statuses == [200] * 20 + [429]

    async with http.post(route, json={"enabled": False}) as resp:
        assert (await resp.json())["enabled"] is False
    assert (await call(http, sb, "conversations.create", name="inc-off"))[0] == 200

    for bad in ({"scale": 0}, {"scale": "fast"}, {"enabled": "yes"}):
        async with http.post(route, json=bad) as resp:
            assert resp.status == 400 and "error" in await resp.json()


async def test_socket_mode_open_is_limited_under_the_app_token(
    make_sandbox: MakeSandbox, http: aiohttp.ClientSession
) -> None:
    sb = await make_sandbox(slack_rate_tiers=True, slack_rate_scale=20)  # Tier 3: 50 per 3 s
    app_token = sb.world.bot.app_token
    statuses = [(await call(http, sb, "apps.connections.open", token=app_token))[0] for _ in range(51)]
    assert statuses == [200] * 50 + [429]
    assert len(sb.slack.socket.tickets) == 50  # the 429 issued no websocket URL
    # an unauthenticated call is answered before any tier counts it
    status, body, _ = await call(http, sb, "apps.connections.open", token="xapp-wrong")
    assert (status, body["error"]) == (200, "invalid_auth")
