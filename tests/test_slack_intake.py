"""POST /slack/events: Slack's signature checked before anything (401), Slack's URL check answered with its
challenge, a form's errors returned in the answer, and everything else answered at once and handled after."""

from __future__ import annotations

import json
import time
from typing import Any

from sandbox.signing import slack_headers
from tests.harness import SIGNING_SECRET, Harness, eventually


async def _post(h: Harness, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    assert h.http is not None
    async with h.http.post(f"{h.url}/slack/events", data=body, headers=headers) as response:
        return response.status, await response.text()


def _command(text: str) -> bytes:
    from urllib.parse import urlencode

    return urlencode(
        {
            "command": "/incident",
            "text": text,
            "user_id": "U0DANA",
            "channel_id": "C0INCIDENTS",
            "team_id": "T0123ABCD",
            "response_url": "",
            "trigger_id": "t",
        }
    ).encode()


async def test_a_wrong_or_stale_slack_signature_is_401_and_nothing_happens(h: Harness) -> None:
    body = _command("help")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert (await _post(h, body, {**form, **slack_headers("not-the-secret", body)}))[0] == 401
    assert (await _post(h, body, form))[0] == 401
    stale = slack_headers(SIGNING_SECRET, body, timestamp=int(time.time()) - 600)
    assert (await _post(h, body, {**form, **stale}))[0] == 401
    await h.settle()
    assert not h.sandbox.slack.ephemerals and not h.sandbox.slack.calls


async def test_slacks_url_check_gets_its_challenge(h: Harness) -> None:
    body = json.dumps({"type": "url_verification", "token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9C"}).encode()
    status, text = await _post(h, body, {"Content-Type": "application/json", **slack_headers(SIGNING_SECRET, body)})
    assert status == 200 and "3eZbrw1aBm2rZgRNFdxV2595E9C" in text


async def test_a_command_is_answered_empty_at_once_and_handled_after(h: Harness) -> None:
    result: dict[str, Any] = await h.sandbox.slack.send_command("U0DANA", "C0INCIDENTS", "/incident", "help")
    assert result["status"] == 200 and result["body"] == ""
    await eventually(lambda: any("/incident" in e.text for e in h.sandbox.slack.ephemerals))


async def test_malformed_bodies_are_refused_not_crashed_on(h: Harness) -> None:
    form = "application/x-www-form-urlencoded"
    for body, kind in ((b"{not json", "application/json"), (b"payload=%7Bnot-json", form), (b"a=b", form)):
        status, text = await _post(h, body, {"Content-Type": kind, **slack_headers(SIGNING_SECRET, body)})
        assert status == 400 and json.loads(text) == {"ok": False, "error": "not a Slack request body"}
