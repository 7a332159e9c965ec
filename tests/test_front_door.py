"""The front door (bot/runtime/door.py): the webhooks are answered on a thread and loop of their own, whatever the
app's loop is doing; every other route still runs on the app's loop; a door that cannot open leaves nothing behind."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web

from bot.app import create_app, serve
from bot.domain.phase import Phase
from bot.errors import ConfigError
from bot.runtime import door
from bot.runtime.door import _settle_the_rest, at_the_door
from handlers.incident_command import HELP
from sandbox.botapp import bot_settings_for
from sandbox.signing import slack_headers
from tests.harness import SIGNING_SECRET, Harness, cards, eventually, incident_channels

HOLD_S = 20.0  # how long the app's loop is held at most: the answer comes long before, or the door does not work


def _post_from_a_thread(
    url: str, body: bytes, headers: dict[str, str], *, as_json: bool = True
) -> tuple[threading.Event, dict[str, Any]]:
    """POST from a thread of its own (the test's loop is the app's, and it is about to be held); `answered` is set
    once the answer is read, or the request failed (`result` says which)."""
    answered = threading.Event()
    result: dict[str, Any] = {}

    def post() -> None:
        try:
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            with urllib.request.urlopen(request, timeout=HOLD_S) as response:
                answer = response.read()
                result["status"], result["body"] = response.status, json.loads(answer) if as_json else answer
        except (OSError, urllib.error.URLError) as exc:
            result["error"] = repr(exc)
        finally:
            answered.set()

    threading.Thread(target=post, name="pagerduty", daemon=True).start()
    return answered, result


async def test_a_page_is_stored_and_answered_while_the_apps_loop_is_held(h: Harness) -> None:
    sb = h.sandbox
    sb.pagerduty.pause_deliveries()  # this test delivers it, from a thread
    pd = sb.pagerduty.page("checkout-service", "checkout-service: 5xx above 5%", priority="P1")
    delivery = next(reversed(sb.pagerduty.deliveries.values()))
    answered, result = _post_from_a_thread(f"{h.url}/webhooks/pagerduty", delivery.body, delivery.headers)
    # blocks this loop, which is the app's: nothing of the app runs until the answer has come (or HOLD_S passed)
    in_time = answered.wait(HOLD_S)
    assert in_time and result == {"status": 202, "body": {"ok": True, "duplicate": False}}, result
    sb.pagerduty.resume_deliveries()  # the sandbox's own delivery of it: a duplicate
    await h.settle()
    [incident] = await h.services.store.incidents()
    assert incident.external_id == pd.id and incident.phase is Phase.ACKNOWLEDGED
    assert len(incident_channels(sb)) == 1


async def test_a_slash_command_is_stored_and_answered_while_the_apps_loop_is_held(h: Harness) -> None:
    sb = h.sandbox
    user, _, body = sb.slack.command_body("U0DANA", "C0INCIDENTS", "/incident", "help")
    headers = {**slack_headers(SIGNING_SECRET, body), "Content-Type": "application/x-www-form-urlencoded"}
    answered, result = _post_from_a_thread(f"{h.url}/slack/events", body, headers, as_json=False)
    in_time = answered.wait(HOLD_S)  # the app's loop held, as above
    assert in_time and result == {"status": 200, "body": b""}, result
    await h.settle()  # then handled on the app's loop: the help is said to the person who asked
    await eventually(lambda: HELP in [e.text for e in sb.slack.ephemerals_for(user)])


async def test_a_page_stored_while_slack_is_being_answered_waits_for_the_answers_briefly_at_most(h: Harness) -> None:
    """Events stored at the door wait there while the door is answering Slack's requests (a burst's answers go
    before the work behind them), but not for long: a Slack request whose body never finishes coming is being
    answered the whole time, and a page stored meanwhile is still taken up and its incident set up."""
    sb = h.sandbox
    url = urlsplit(h.url)
    _reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(
            f"POST /slack/events HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Length: 1000\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n\r\ntoken=".encode()
        )
        await writer.drain()
        await eventually(lambda: h.services.slack_inbox.answering_now)
        sb.pagerduty.page("checkout-service", "checkout-service: 5xx above 5%", priority="P1")
        await eventually(lambda: len(cards(sb)) == 1, within=10)
        assert h.services.slack_inbox.answering_now  # the Slack request: still being answered
    finally:
        writer.close()
    await h.settle()
    assert len(incident_channels(sb)) == 1


async def test_the_other_routes_run_on_the_apps_loop(h: Harness) -> None:
    """/healthz reads the store through the app's loop: held, it answers nothing; let go, it answers."""
    answered = threading.Event()
    result: dict[str, Any] = {}

    def get() -> None:
        try:
            with urllib.request.urlopen(f"{h.url}/healthz", timeout=HOLD_S) as response:
                result["status"] = response.status
        finally:
            answered.set()

    threading.Thread(target=get, daemon=True).start()
    assert not answered.wait(0.5)  # the app's loop is held: the door waits for it
    assert await asyncio.to_thread(answered.wait, HOLD_S)  # the app's loop free again
    assert result == {"status": 200}


async def test_a_door_that_cannot_open_leaves_the_app_stopped(h: Harness, tmp_path: Path) -> None:
    """The port is taken (by `h`): serve says so, naming the settings, and the app it started is stopped again (its
    SQLite serving lock let go: the same app serves on a free port)."""
    taken = int(h.url.rsplit(":", 1)[1])
    settings = bot_settings_for(h.sandbox, f"sqlite:///{tmp_path / 'b.db'}")
    with pytest.raises(ConfigError, match=rf"cannot listen on 127.0.0.1:{taken}: .* \(SRE_HOST, SRE_PORT\)"):
        await serve(create_app(settings), "127.0.0.1", taken)
    served = await serve(create_app(settings), "127.0.0.1", 0)
    try:
        assert served.port not in (0, taken)
        with socket.create_connection(("127.0.0.1", served.port), timeout=5):
            pass
    finally:
        await served.stop()


async def test_what_a_request_left_running_is_finished_before_the_door_closes() -> None:
    """A webhook's event may still be being stored after its sender was answered (503: the database was slow). The
    door lets it finish before its loop closes, rather than cutting it off."""
    finished = threading.Event()
    outliving: list[asyncio.Task[None]] = []

    async def slow_store() -> None:
        await asyncio.sleep(0.3)
        finished.set()

    @at_the_door
    async def webhook(request: web.Request) -> web.Response:
        outliving.append(asyncio.ensure_future(slow_store()))  # outlives the answer, as Intake.accept's store does
        return web.json_response({"ok": False}, status=503)

    app = web.Application()
    app.router.add_post("/hook", webhook)
    served = await door.serve(door.FrontDoor(app, "127.0.0.1", 0, access_log=False))
    try:
        async with aiohttp.ClientSession() as http, http.post(f"http://127.0.0.1:{served.port}/hook") as response:
            assert response.status == 503
    finally:
        await served.stop()
    assert finished.is_set()


def test_the_door_refuses_what_it_would_serve_differently() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    dynamic = web.Application()
    dynamic.router.add_get("/incidents/{id:\\d+}", handler)
    with pytest.raises(ValueError, match="plain routes only"):
        door.FrontDoor(dynamic, "127.0.0.1", 0)

    @web.middleware
    async def middleware(request: web.Request, handler: door.Handler) -> web.StreamResponse:
        return await handler(request)

    wrapped = web.Application(middlewares=[middleware])
    wrapped.router.add_get("/", handler)
    with pytest.raises(ValueError, match="no middlewares"):
        door.FrontDoor(wrapped, "127.0.0.1", 0)


async def test_the_door_at_its_stop_waits_for_what_its_last_tasks_start_meanwhile() -> None:
    """What a request left running when the door stops (an event stored after its 503) may start more on the door's
    loop as it ends (the event's hand-over to the app's loop): the door waits for that too, rather than closing its
    loop on it."""
    finished: list[str] = []
    started: list[asyncio.Future[None]] = []  # (kept, as the intake keeps its hand-over)

    async def hand_over() -> None:
        await asyncio.sleep(0.05)
        finished.append("handed over")

    async def storing() -> None:
        await asyncio.sleep(0.05)
        started.append(asyncio.ensure_future(hand_over()))  # started while the door settles
        finished.append("stored")

    async def door_stopping() -> None:
        started.append(asyncio.ensure_future(storing()))
        await _settle_the_rest(5)

    await asyncio.to_thread(asyncio.run, door_stopping())  # (a loop of its own, as the door's)
    assert finished == ["stored", "handed over"]
