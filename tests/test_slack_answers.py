"""Slack's answers that are not the Web API's (a proxy's error page, a body that is not JSON) fail as a SlackError
naming the HTTP status, as Slack's own errors do; a dropped connection is sent again only where the call may be made
twice."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web

from bot.adapters.prometheus import Prometheus
from bot.adapters.slack.gateway import SlackGateway, build_client
from bot.errors import SlackError
from sandbox import Sandbox, World
from tests.harness import serving, started_sandbox

Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def _peer(answer: Answer) -> AsyncIterator[tuple[str, list[str]]]:
    """A server on 127.0.0.1 that answers every /api/ call with `answer`, and the paths it was sent."""
    seen: list[str] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(request.path)
        return await answer(request)

    app = web.Application()
    app.router.add_post("/api/{method}", handle)
    async with serving(app) as url:
        yield f"{url}/api/", seen


@asynccontextmanager
async def _gateway(base_url: str, token: str = "xoxb-test-token") -> AsyncIterator[SlackGateway]:
    metrics = Prometheus()
    gateway = SlackGateway(build_client(token, base_url, metrics=metrics), metrics=metrics)
    gateway.client.session = aiohttp.ClientSession()
    try:
        yield gateway
    finally:
        await gateway.client.session.close()


@pytest.mark.parametrize(
    ("status", "content_type", "body", "error"),
    [
        (502, "text/html", b"<html>Bad gateway</html>", "http_502"),
        (503, "text/plain", b"upstream connect error", "http_503"),
        (200, "text/plain", b"ok", "http_200"),
        (200, "application/json", b"{not json", "http_200"),  # (was an AttributeError: no `data` to read)
        (500, "application/json", b'{"ok": false, "error": "internal_error"}', "internal_error"),
    ],
)
async def test_an_answer_that_is_not_the_web_apis_is_a_slack_error(
    status: int, content_type: str, body: bytes, error: str
) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=status, body=body, content_type=content_type)

    async with _peer(answer) as (url, seen), _gateway(url) as slack:
        with pytest.raises(SlackError) as raised:
            await slack.update("C1", "1700000000.000100", "edited")
    assert (raised.value.method, raised.value.error) == ("chat.update", error)
    assert len(seen) == 1  # an answer is not a dropped connection: not sent again


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with started_sandbox(World.default()) as sb:
        yield sb


async def test_a_dropped_connection_is_sent_again_where_the_call_may_be_made_twice(sandbox: Sandbox) -> None:
    """The topic set, and the connection dropped before its answer: set again (setting it twice does no harm),
    counted as a retry. A message (chat.postMessage) is not sent again: tests/test_pagerduty_flow.py."""
    channel = sandbox.world.incidents_channel.id
    sandbox.slack.hang_up("conversations.setTopic")
    async with _gateway(sandbox.slack_api_url, sandbox.world.bot.token) as slack:
        await slack.set_topic(channel, "P2 · checkout-service")
        assert isinstance(slack.metrics, Prometheus)
        retries = slack.metrics.exposition(phases={}, inbound={}, queue=0, timers_due=0).decode()
    assert [c.status for c in sandbox.slack.calls_for("conversations.setTopic")] == [200, 200]
    assert 'sre_agent_slack_api_retries_total{reason="connection"} 1.0' in retries
