"""The PagerDuty client as its environment sets it up: requests' proxies (and CA bundle) are read once, when the
client is made, not again on every call (that was a fifth of a call's CPU), and are still what the calls go
through."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.adapters.pagerduty.client import PagerDuty
from tests.harness import serving

EMAIL = "sre-agent@example.com"


@pytest.fixture
async def proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP proxy that answers PagerDuty's user search itself: (its URL, the absolute URLs asked of it)."""
    asked: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        asked.append(str(request.url))
        users = {"users": [{"id": "PBOT", "email": EMAIL}], "limit": 100, "offset": 0, "more": False, "total": None}
        return web.Response(text=json.dumps(users), content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    async with serving(app) as url:
        yield url, asked


async def test_calls_go_through_the_proxy_the_environment_named_when_the_client_was_made(
    proxy: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, asked = proxy
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", url)
    pd = PagerDuty(api_url="http://pagerduty.invalid", token="t", from_email=EMAIL, threads=1)
    monkeypatch.delenv("HTTP_PROXY")  # read once: the client keeps it
    try:
        assert await pd.user_exists(EMAIL)  # (pagerduty.invalid has no address: only the proxy could answer)
    finally:
        await pd.close()
    assert [u.split("?")[0] for u in asked] == ["http://pagerduty.invalid/users"], asked


async def test_a_host_the_environment_says_to_reach_directly_is_not_proxied(
    proxy: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, asked = proxy
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there: a proxied call would fail
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    pd = PagerDuty(api_url=url, token="t", from_email=EMAIL, threads=1)
    try:
        assert await pd.user_exists(EMAIL)
    finally:
        await pd.close()
    assert len(asked) == 1 and asked[0].startswith(f"{url}/users"), asked


def test_the_ca_bundle_the_environment_names_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/company-ca.pem")
    pd = PagerDuty(api_url="https://api.pagerduty.com", token="t", from_email=EMAIL, threads=1)
    assert pd.session.verify == "/etc/ssl/certs/company-ca.pem" and not pd.session.trust_env
