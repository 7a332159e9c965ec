"""The PagerDuty client on the wire, against peers of the test's own: the environment's proxy and CA bundle read once,
when the client is made, and still what the calls go through; PagerDuty's headers; lists read page by page; which
refusals are asked again within a call (a 429 after PagerDuty's `ratelimit-reset`, a read's 5xx) and which are not (a
write's 5xx: the step looks for it when it is done again); the wrapper taken off what comes back."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web

from bot.adapters.pagerduty.client import PagerDuty
from bot.errors import ConfigError, PagerDutyError
from tests.harness import serving

EMAIL = "sre-agent@example.com"
USERS = {"users": [{"id": "PBOT", "email": EMAIL}], "limit": 100, "offset": 0, "more": False, "total": None}


@pytest.fixture(autouse=True)
def _no_proxy_or_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("all_proxy", raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


Handler = Callable[[web.Request], Any]


@pytest.fixture
async def peer() -> AsyncIterator[tuple[str, list[web.Request], dict[str, Handler]]]:
    """A PagerDuty of the test's own: (its URL, the requests it was asked, the handler for each path)."""
    asked: list[web.Request] = []
    routes: dict[str, Handler] = {}

    async def answer(request: web.Request) -> web.StreamResponse:
        asked.append(request)
        await request.read()
        handler = routes.get(request.path)
        if handler is None:
            return web.json_response({"error": {"message": "Not Found", "code": 2100}}, status=404)
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    async with serving(app) as url:
        yield url, asked, routes


async def test_calls_go_through_the_proxy_the_environment_named_when_the_client_was_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []

    async def proxy(request: web.Request) -> web.Response:
        asked.append(str(request.url))
        return web.json_response(USERS)

    app = web.Application()
    app.router.add_get("/{tail:.*}", proxy)
    async with serving(app) as url:
        monkeypatch.setenv("HTTP_PROXY", url)
        pd = PagerDuty(api_url="http://pagerduty.invalid", token="t", from_email=EMAIL)
        monkeypatch.delenv("HTTP_PROXY")  # read once: the client keeps it
        try:
            assert await pd.user_exists(EMAIL)  # (pagerduty.invalid has no address: only the proxy could answer)
        finally:
            await pd.close()
    assert [u.split("?")[0] for u in asked] == ["http://pagerduty.invalid/users"], asked


async def test_a_host_the_environment_says_to_reach_directly_is_not_proxied(
    peer: tuple[str, list[web.Request], dict[str, Handler]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, asked, routes = peer

    async def users(_request: web.Request) -> web.Response:
        return web.json_response(USERS)

    routes["/users"] = users
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there: a proxied call would fail
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    pd = PagerDuty(api_url=url, token="t", from_email=EMAIL)
    try:
        assert await pd.user_exists(EMAIL)
    finally:
        await pd.close()
    assert [r.path for r in asked] == ["/users"]


async def test_the_ca_bundle_the_environment_names_is_what_the_peer_is_checked_against(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An HTTPS PagerDuty whose certificate a company CA signed: trusted with REQUESTS_CA_BUNDLE naming that CA when
    the client was made, refused without it."""
    ca = trustme.CA()
    bundle = tmp_path / "company-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(served)

    async def users(_request: web.Request) -> web.Response:
        return web.json_response(USERS)

    app = web.Application()
    app.router.add_get("/users", users)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=served)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"https://127.0.0.1:{port}"
    try:
        untrusting = PagerDuty(api_url=url, token="t", from_email=EMAIL, rate_limit_retries=0)
        try:
            with pytest.raises(PagerDutyError, match=r"CERTIFICATE_VERIFY_FAILED"):
                await untrusting.user_exists(EMAIL)
        finally:
            await untrusting.close()
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
        trusting = PagerDuty(api_url=url, token="t", from_email=EMAIL)
        monkeypatch.delenv("REQUESTS_CA_BUNDLE")  # read once: the client keeps it
        try:
            assert await trusting.user_exists(EMAIL)
        finally:
            await trusting.close()
    finally:
        await runner.cleanup()


def test_a_ca_bundle_that_cannot_be_read_stops_the_start_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match=r"missing\.pem \(REQUESTS_CA_BUNDLE"):
        PagerDuty(api_url="https://api.pagerduty.com", token="t", from_email=EMAIL)


async def test_a_call_carries_pagerdutys_headers_and_its_answer_comes_out_of_its_wrapper(
    peer: tuple[str, list[web.Request], dict[str, Handler]],
) -> None:
    url, asked, routes = peer

    async def note(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"note": {"id": "PNOTE1", "content": body["note"]["content"]}}, status=201)

    routes["/incidents/PINC/1/notes"] = note  # (as the peer reads the path: the id is one segment on the wire)
    pd = PagerDuty(api_url=f"{url}/", token="secret-token", from_email=EMAIL)
    try:
        assert await pd.add_note("PINC/1", "Slack channel: #inc-1") == "PNOTE1"
    finally:
        await pd.close()
    [request] = asked
    assert request.raw_path == "/incidents/PINC%2F1/notes"
    assert request.headers["Authorization"] == "Token token=secret-token"
    assert request.headers["Accept"] == "application/vnd.pagerduty+json;version=2"
    assert request.headers["From"] == EMAIL
    assert request.headers["Content-Type"] == "application/json"


async def test_a_list_is_read_page_by_page_until_pagerduty_says_there_is_no_more(
    peer: tuple[str, list[web.Request], dict[str, Handler]],
) -> None:
    url, asked, routes = peer
    entries = [{"escalation_level": 1, "user": {"id": f"P{n:03}", "name": f"Person {n}"}} for n in range(130)]

    async def oncalls(request: web.Request) -> web.Response:
        limit, offset = int(request.query["limit"]), int(request.query["offset"])
        page = entries[offset : offset + limit]
        return web.json_response(
            {"oncalls": page, "limit": limit, "offset": offset, "more": offset + limit < len(entries)}
        )

    routes["/oncalls"] = oncalls
    pd = PagerDuty(api_url=url, token="t", from_email=EMAIL)
    try:
        people = await pd.oncalls("PPOLICY")
    finally:
        await pd.close()
    assert [p.user_id for p in people] == [f"P{n:03}" for n in range(130)]
    assert [(r.query["offset"], r.query["limit"]) for r in asked] == [("0", "100"), ("100", "100")]
    assert asked[0].query.getall("escalation_policy_ids[]") == ["PPOLICY"]
    assert asked[0].query.getall("include[]") == ["users"] and asked[0].query["earliest"] == "true"


async def test_a_429_is_asked_again_after_the_seconds_pagerduty_says_a_bounded_number_of_times(
    peer: tuple[str, list[web.Request], dict[str, Handler]],
) -> None:
    url, asked, routes = peer

    async def limited(_request: web.Request) -> web.Response:
        if len(asked) < 3:
            headers = {"ratelimit-limit": "960", "ratelimit-remaining": "0", "ratelimit-reset": "0"}
            return web.json_response(
                {"error": {"message": "Too many requests", "code": 2020}}, status=429, headers=headers
            )
        return web.json_response({"incident": {"id": "PINC", "status": "acknowledged"}})

    routes["/incidents/PINC"] = limited
    pd = PagerDuty(api_url=url, token="t", from_email=EMAIL, rate_limit_retries=3)
    try:
        await pd.acknowledge("PINC")
        assert len(asked) == 3  # two 429s, then done
        asked.clear()
        routes["/incidents/PINC"] = lambda _r: _always(429)
        with pytest.raises(PagerDutyError, match=r"\(429\): Too many requests"):
            await pd.acknowledge("PINC")
        assert len(asked) == 4  # the first try and 3 more
    finally:
        await pd.close()


async def _always(status: int) -> web.Response:
    headers = {"ratelimit-reset": "0"} if status == 429 else {}
    words = {429: "Too many requests", 500: "Internal Server Error"}[status]
    return web.json_response({"error": {"message": words, "code": 2000}}, status=status, headers=headers)


async def test_a_reads_5xx_is_asked_again_and_a_writes_is_not(
    peer: tuple[str, list[web.Request], dict[str, Handler]],
) -> None:
    url, asked, routes = peer
    routes["/incidents/PINC"] = lambda _r: _always(500)
    routes["/incidents/PINC/notes"] = lambda _r: _always(500)
    pd = PagerDuty(api_url=url, token="t", from_email=EMAIL, rate_limit_retries=2)
    try:
        with pytest.raises(PagerDutyError, match=r"read the incident failed \(500\): Internal Server Error"):
            await pd.status("PINC")
        assert [r.method for r in asked] == ["GET"] * 3
        asked.clear()
        with pytest.raises(PagerDutyError, match=r"add a note failed \(500\)"):
            await pd.add_note("PINC", "hello")
        assert [r.method for r in asked] == ["POST"]  # (it may have been done: the step looks when it is redone)
        asked.clear()
        with pytest.raises(PagerDutyError, match=r"mark the incident acknowledged failed \(500\)"):
            await pd.acknowledge("PINC")
        assert [r.method for r in asked] == ["PUT"]
    finally:
        await pd.close()


async def test_an_answer_without_its_resource_is_an_error_that_says_so(
    peer: tuple[str, list[web.Request], dict[str, Handler]],
) -> None:
    url, _asked, routes = peer

    async def wrong(_request: web.Request) -> web.Response:
        return web.Response(text="<html>maintenance</html>", content_type="text/html")

    routes["/incidents/PINC"] = wrong
    pd = PagerDuty(api_url=url, token="t", from_email=EMAIL)
    try:
        with pytest.raises(PagerDutyError, match="the answer has no 'incident'"):
            await pd.status("PINC")
    finally:
        await pd.close()


async def test_a_pagerduty_nobody_listens_for_is_an_error_not_a_hang(unused_port: int) -> None:
    pd = PagerDuty(api_url=f"http://127.0.0.1:{unused_port}", token="t", from_email=EMAIL, rate_limit_retries=1)
    try:
        with pytest.raises(PagerDutyError, match=r"read the incident failed: .*Connect"):
            await pd.status("PINC")
    finally:
        await pd.close()


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
