"""The sandbox peers over real HTTP with the real clients (slack_sdk, pdpyras, aiohttp)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from sandbox import Sandbox, World, WorldError
from sandbox.signing import pagerduty_signature, slack_headers, slack_signature

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pdpyras

SLACK_SECRET = "slack-signing-secret"
PD_SECRETS = ["old-webhook-secret", "new-webhook-secret"]


class BotStub:
    """A tiny bot: verifies signatures, records requests, answers PagerDuty with a scripted status list."""

    def __init__(self) -> None:
        self.pd_statuses: list[int] = []
        self.pd_requests: list[tuple[dict[str, str], bytes]] = []
        self.slack_requests: list[tuple[dict[str, str], bytes]] = []
        self.slack_reply: dict[str, Any] | None = None
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/webhooks/pagerduty", self.pagerduty)
        app.router.add_post("/slack/events", self.slack)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def pagerduty(self, request: web.Request) -> web.Response:
        raw = await request.read()
        sigs = request.headers["X-PagerDuty-Signature"].split(",")
        expected = ["v1=" + hmac.new(s.encode(), raw, hashlib.sha256).hexdigest() for s in PD_SECRETS]
        if not any(hmac.compare_digest(sig, e) for sig in sigs for e in expected):
            return web.Response(status=401)
        self.pd_requests.append((dict(request.headers), raw))
        status = self.pd_statuses.pop(0) if self.pd_statuses else 202
        return web.Response(status=status)

    async def slack(self, request: web.Request) -> web.Response:
        raw = await request.read()
        ok = SignatureVerifier(SLACK_SECRET).is_valid_request(raw, dict(request.headers))
        if not ok:
            return web.Response(status=401)
        self.slack_requests.append((dict(request.headers), raw))
        if self.slack_reply is not None:
            return web.json_response(self.slack_reply)
        return web.Response(status=200)


@pytest.fixture
async def bot() -> AsyncIterator[BotStub]:
    b = BotStub()
    await b.start()
    yield b
    await b.stop()


@pytest.fixture
async def sb(bot: BotStub) -> AsyncIterator[Sandbox]:
    s = Sandbox(
        World.default(),
        slack_signing_secret=SLACK_SECRET,
        pagerduty_webhook_secrets=PD_SECRETS,
        bot_url=bot.url,
        webhook_retry_delays=[0.05, 0.05, 0.05],
    )
    await s.start(port=0)
    yield s
    await s.stop()


def slack_client(sb: Sandbox, token: str | None = None) -> AsyncWebClient:
    return AsyncWebClient(token=token or sb.world.bot.token, base_url=sb.slack_api_url)


def pd_session(sb: Sandbox, email: str | None = "dana@example.com") -> Any:
    s = pdpyras.APISession(sb.world.pagerduty.api_token, default_from=email)
    s.url = sb.pagerduty_api_url
    s.retry[429] = 1
    return s


# ---- world ----------------------------------------------------------------------------------------------------
def test_world_default_and_validation() -> None:
    w = World.default()
    assert [p.key for p in w.people] == ["dana", "sam", "jo", "sre-agent"]
    assert w.escalation_policies[0].levels == (("dana", "jo"), ("sam",))
    assert w.person("jo").slack is None
    shipped = Path(__file__).resolve().parents[1] / "sandbox" / "scenarios" / "default.yml"
    assert World.from_yaml(shipped).summary() == w.summary()
    raw: dict[str, Any] = {
        "team": {"id": "T1", "domain": "acme"},
        "bot": {"user_id": "U0BOT", "name": "sre", "token": "xoxb-1"},
        "incidents_channel": {"id": "C0INC", "name": "incidents"},
        "pagerduty": {"api_token": "t", "subdomain": "acme"},
        "people": [
            {"key": "a", "name": "A", "email": "a@example.com", "pagerduty": {"id": "PA"}},
            {"key": "b", "name": "B", "email": "b@example.com"},
            {"key": "c", "name": "C"},
        ],
    }
    with pytest.raises(WorldError, match=r"^world\.people\[2\]\.email: missing$"):
        World.from_dict(raw)
    raw["people"][2]["email"] = "c@example.com"
    raw["escalation_policies"] = [{"id": "P1", "name": "x", "levels": [["a"], ["zed"]]}]
    with pytest.raises(WorldError, match=r"^world\.escalation_policies\[0\]\.levels\[1\]\[0\]: unknown person"):
        World.from_dict(raw)
    del raw["escalation_policies"]
    raw["usergroups"] = [{"id": "S1", "handle": "leads", "members": ["a"]}]  # a has no Slack account
    with pytest.raises(WorldError, match=r"^world\.usergroups\[0\]\.members\[0\]: 'a' is not a person with a Slack"):
        World.from_dict(raw)


def test_signing_helpers() -> None:
    body = b"a=1&b=2"
    assert slack_signature("s", "123", body) == "v0=" + hmac.new(b"s", b"v0:123:a=1&b=2", hashlib.sha256).hexdigest()
    h = slack_headers("s", body, 123)
    assert h["X-Slack-Request-Timestamp"] == "123" and h["X-Slack-Signature"].startswith("v0=")
    sig = pagerduty_signature(["k1", "k2"], b"{}")
    assert sig.count("v1=") == 2 and "," in sig


# ---- Slack -------------------------------------------------------------------------------------------------------
async def test_slack_channel_flow(sb: Sandbox) -> None:
    client = slack_client(sb)
    auth = await client.auth_test()
    assert auth["user_id"] == "U0SREBOT" and auth["team_id"] == "T0123ABCD"

    created = await client.conversations_create(name="inc-4211-checkout-service")
    cid = created["channel"]["id"]
    assert cid.startswith("C") and created["channel"]["is_member"] is True

    with pytest.raises(SlackApiError) as e:
        await client.conversations_create(name="inc-4211-checkout-service")
    assert e.value.response["error"] == "name_taken"
    with pytest.raises(SlackApiError) as e:
        await client.conversations_create(name="Bad Name!")
    assert e.value.response["error"] == "invalid_name_specials"

    await client.conversations_invite(channel=cid, users=["U0DANA", "U0SAM"])
    with pytest.raises(SlackApiError) as e:
        await client.conversations_invite(channel=cid, users="U0DANA")
    assert e.value.response["error"] == "already_in_channel"
    await client.conversations_setTopic(channel=cid, topic="SEV1 checkout")

    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hello*"}}]
    posted = await client.chat_postMessage(channel=cid, text="hello", blocks=blocks)
    ts = posted["ts"]
    await client.chat_update(channel=cid, ts=ts, text="hello again", blocks=blocks)
    msg = sb.slack.message(cid, ts)
    assert msg is not None and msg.text == "hello again" and len(msg.versions) == 2

    with pytest.raises(SlackApiError) as e:
        await client.chat_postMessage(channel=cid, blocks=[{"type": "divider"}] * 51, text="x")
    assert e.value.response["error"] == "msg_blocks_too_long"
    with pytest.raises(SlackApiError) as e:
        await client.chat_postMessage(channel="#nope", text="x")
    assert e.value.response["error"] == "channel_not_found"

    history = await client.conversations_history(channel=cid, limit=10)
    assert [m["ts"] for m in history["messages"]] == [ts]

    with pytest.raises(SlackApiError) as e:
        await client.users_lookupByEmail(email="jo@example.com")  # Jo has no Slack account
    assert e.value.response["error"] == "users_not_found"
    found = await client.users_lookupByEmail(email="dana@example.com")
    assert found["user"]["id"] == "U0DANA"

    with pytest.raises(SlackApiError) as e:
        await slack_client(sb, "xoxb-wrong").auth_test()
    assert e.value.response["error"] == "invalid_auth"

    kinds = [f["kind"] for f in sb.feed]
    assert {"slack.channel", "slack.invite", "slack.topic", "slack.message", "slack.update"} <= set(kinds)


async def test_slack_rate_limit_then_retry(sb: Sandbox) -> None:
    client = slack_client(sb)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    sb.slack.rate_limit("chat.postMessage", 1, retry_after=0)
    resp = await client.chat_postMessage(channel="C0INCIDENTS", text="after a 429")
    assert resp["ok"] is True
    calls = sb.slack.calls_for("chat.postMessage")
    assert [(c.status, c.error) for c in calls] == [(429, "ratelimited"), (200, None)]

    sb.slack.fail("chat.postMessage", "internal_error", 1, status=500)
    with pytest.raises(SlackApiError):
        await slack_client(sb).chat_postMessage(channel="C0INCIDENTS", text="x")


async def test_slack_command_trigger_and_response_url(sb: Sandbox, bot: BotStub) -> None:
    bot.slack_reply = {"text": "Declaring…"}
    result = await sb.slack.send_command("dana", "C0INCIDENTS", "/incident", "declare checkout broken")
    assert result["status"] == 200
    _headers, raw = bot.slack_requests[-1]
    form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
    assert list(form)[:3] == ["token", "team_id", "team_domain"]
    assert form["user_id"] == "U0DANA" and form["command"] == "/incident"
    assert form["response_url"].startswith(f"{sb.url}/_sandbox/slack/response/")
    assert sb.slack.ephemerals[-1].text == "Declaring…"

    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Declare"},
        "callback_id": "declare",
        "private_metadata": "m1",
        "blocks": [
            {
                "type": "input",
                "block_id": "title",
                "label": {"type": "plain_text", "text": "Title"},
                "element": {"type": "plain_text_input", "action_id": "v"},
            }
        ],
    }
    opened = await slack_client(sb).views_open(trigger_id=form["trigger_id"], view=view)
    with pytest.raises(SlackApiError) as e:
        await slack_client(sb).views_open(trigger_id=form["trigger_id"], view=view)
    assert e.value.response["error"] == "exchanged_trigger_id"

    bot.slack_reply = None
    await sb.slack.send_view_submission("dana", opened["view"]["id"], {"title": {"v": "Checkout down"}})
    payload = json.loads(parse_qs(bot.slack_requests[-1][1].decode())["payload"][0])
    assert payload["type"] == "view_submission" and payload["view"]["private_metadata"] == "m1"
    assert payload["view"]["state"]["values"]["title"]["v"]["value"] == "Checkout down"

    async with aiohttp.ClientSession() as http:
        r = await http.post(form["response_url"], json={"response_type": "in_channel", "text": "Incident declared"})
        assert r.status == 200
    assert sb.slack.messages_in("C0INCIDENTS")[-1].text == "Incident declared"


async def test_slack_action_and_event(sb: Sandbox, bot: BotStub) -> None:
    blocks = [
        {
            "type": "actions",
            "block_id": "proposal",
            "elements": [
                {
                    "type": "button",
                    "action_id": "proposal.approve",
                    "value": "p1:abc",
                    "text": {"type": "plain_text", "text": "Approve"},
                }
            ],
        }
    ]
    posted = await slack_client(sb).chat_postMessage(channel="C0INCIDENTS", text="Proposed", blocks=blocks)
    await sb.slack.send_action("U0SAM", "C0INCIDENTS", posted["ts"], "proposal.approve")
    payload = json.loads(parse_qs(bot.slack_requests[-1][1].decode())["payload"][0])
    assert payload["type"] == "block_actions"
    assert payload["actions"][0]["value"] == "p1:abc" and payload["actions"][0]["block_id"] == "proposal"
    assert payload["message"]["blocks"] == blocks and payload["container"]["message_ts"] == posted["ts"]

    await sb.slack.send_mention("dana", "C0INCIDENTS", "what is wrong?")
    await sb.slack.send_event(
        {
            "type": "app_mention",
            "user": "U0DANA",
            "text": "x",
            "channel": "C0INCIDENTS",
            "ts": "1.1",
            "event_ts": "1.1",
        },
        event_id="Ev1",
        retry_num=1,
    )
    headers, raw = bot.slack_requests[-1]
    assert headers["X-Slack-Retry-Num"] == "1" and json.loads(raw)["event_id"] == "Ev1"
    mention = json.loads(bot.slack_requests[-2][1])
    assert mention["type"] == "event_callback" and mention["event"]["text"].startswith("<@U0SREBOT> ")


# ---- PagerDuty ---------------------------------------------------------------------------------------------------
async def test_pagerduty_rest_with_pdpyras(sb: Sandbox) -> None:
    inc = sb.pagerduty.page("checkout-service", "CRITICAL — checkout error rate 8.5%", priority="P1")
    assert inc.number == 4211 and len(inc.id) == 14
    session = pd_session(sb)

    got = await asyncio.to_thread(session.rget, f"/incidents/{inc.id}")
    assert set(got) == {
        "id",
        "type",
        "self",
        "html_url",
        "number",
        "status",
        "incident_key",
        "created_at",
        "title",
        "service",
        "assignees",
        "escalation_policy",
        "teams",
        "priority",
        "urgency",
        "conference_bridge",
        "resolve_reason",
        "summary",
        "incident_number",
        "assignments",
        "assigned_via",
        "last_status_change_at",
    }
    assert [a["assignee"]["id"] for a in got["assignments"]] == ["PABC123", "PJO789"]  # level 1 of the policy
    assert "escalation_level" not in got  # as in PagerDuty: the level shows only in the assignments
    assert got["priority"]["summary"] == "P1" and got["html_url"] == f"https://acme.pagerduty.com/incidents/{inc.id}"

    acked = await asyncio.to_thread(session.rput, got, json={"type": "incident_reference", "status": "acknowledged"})
    assert acked["status"] == "acknowledged"
    note = await asyncio.to_thread(session.rpost, f"/incidents/{inc.id}/notes", json={"content": "OOMKilled"})
    assert note["content"] == "OOMKilled" and note["user"]["id"] == "PABC123"

    oncalls = await asyncio.to_thread(
        lambda: list(
            session.iter_all(
                "/oncalls",
                params={"escalation_policy_ids[]": ["PXPGF42"], "include[]": ["users"], "earliest": "true"},
                page_size=2,
            )
        )
    )
    assert sorted((o["escalation_level"], o["user"]["email"]) for o in oncalls) == [
        (1, "dana@example.com"),
        (1, "jo@example.com"),
        (2, "sam@example.com"),
    ]

    no_from = pd_session(sb, email=None)
    with pytest.raises(pdpyras.PDClientError) as e:
        await asyncio.to_thread(
            no_from.rput, f"/incidents/{inc.id}", json={"type": "incident_reference", "status": "resolved"}
        )
    assert e.value.response.status_code == 400 and e.value.response.json()["error"]["code"] == 2001
    with pytest.raises(pdpyras.PDClientError) as e:
        await asyncio.to_thread(session.rget, "/incidents/QNOPE0000000000")
    assert e.value.response.status_code == 404
    await sb.drain()
    types = [d.event_type for d in sb.pagerduty.deliveries.values()]
    assert types == ["incident.triggered", "incident.acknowledged", "incident.annotated"]


async def test_events_api_dedup_and_ack(sb: Sandbox) -> None:
    url = f"{sb.pagerduty_events_url}/v2/enqueue"
    event = {
        "routing_key": "R0CHECKOUTSERVICE0000000000000000",
        "event_action": "trigger",
        "dedup_key": "k1",
        "payload": {"summary": "checkout errors", "source": "prometheus", "severity": "warning"},
    }
    async with aiohttp.ClientSession() as http:
        for _ in range(2):
            r = await http.post(url, json=event)
            assert r.status == 202 and (await r.json())["dedup_key"] == "k1"
        r = await http.post(url, json={**event, "routing_key": "nope"})
        assert r.status == 400 and (await r.json())["status"] == "invalid event"
        r = await http.post(url, json={**event, "event_action": "acknowledge"})
        assert r.status == 202
    [inc] = sb.pagerduty.incidents.values()
    assert inc.status == "acknowledged" and inc.urgency == "low" and inc.priority is None


async def test_webhook_signed_and_retried_after_500(sb: Sandbox, bot: BotStub) -> None:
    bot.pd_statuses = [500]
    inc = sb.pagerduty.page("checkout-service", "checkout down")
    await sb.drain()
    [delivery] = sb.pagerduty.deliveries.values()
    assert delivery.state == "delivered"
    assert [a["status"] for a in delivery.attempts] == [500, 202]
    (h1, b1), (h2, b2) = bot.pd_requests
    assert h1["X-Webhook-Id"] == h2["X-Webhook-Id"] == delivery.id and b1 == b2
    assert h1["User-Agent"] == "PagerDuty-Webhook/V3.0"
    body = json.loads(b1)
    assert body["event"]["event_type"] == "incident.triggered" and body["event"]["data"]["id"] == inc.id
    assert body["event"]["occurred_at"].endswith("Z")

    bot.pd_statuses = [400]
    sb.pagerduty.acknowledge(inc.id, "dana")
    sb.pagerduty.acknowledge(inc.id, "dana")  # no change, no webhook
    await sb.drain()
    dropped = list(sb.pagerduty.deliveries.values())[-1]
    assert dropped.state == "dropped" and len(sb.pagerduty.deliveries) == 2
    assert dropped.event["agent"]["id"] == "PABC123"

    results = await sb.pagerduty.redeliver(delivery.id, times=3)
    assert [r["status"] for r in results] == [202, 202, 202]
    assert len({h["X-Webhook-Id"] for h, _ in bot.pd_requests}) == 2


async def test_control_api(sb: Sandbox) -> None:
    async with aiohttp.ClientSession() as http:
        r = await http.get(f"{sb.url}/_sandbox/health")
        assert (await r.json())["ok"] is True
        r = await http.post(
            f"{sb.url}/_sandbox/pagerduty/page", json={"service": "checkout-service", "title": "boom", "priority": "P2"}
        )
        assert r.status == 201
        inc = (await r.json())["incident"]
        r = await http.post(f"{sb.url}/_sandbox/pagerduty/incidents/{inc['id']}/resolve", json={"person": "sam"})
        assert (await r.json())["incident"]["status"] == "resolved"
        r = await http.get(f"{sb.url}/_sandbox/feed", params={"after": "0", "wait": "1"})
        kinds = [e["kind"] for e in (await r.json())["entries"]]
        assert "pagerduty.incident" in kinds and "pagerduty.status" in kinds
        r = await http.post(f"{sb.url}/_sandbox/pagerduty/page", json={"service": "nope", "title": "x"})
        assert r.status == 404
    entries = await sb.wait_feed(len(sb.feed), timeout=0.01)
    assert entries == []
