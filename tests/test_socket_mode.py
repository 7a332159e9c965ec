"""Socket Mode: with SLACK_APP_TOKEN set the app connects to Slack's websocket (the sandbox's), and slash commands,
events and clicks arrive down it; the HTTP Slack endpoint is not served at all (there is no secret to verify with)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from bot.store.tables import inbound_events
from sandbox.signing import slack_headers
from sandbox.world import DEFAULT_APP_TOKEN
from tests.harness import Harness, eventually, incident_channels, mention_again

SOCKET_MODE = {"SLACK_APP_TOKEN": DEFAULT_APP_TOKEN, "SLACK_SIGNING_SECRET": None}


@pytest.mark.parametrize("harness_overrides", [SOCKET_MODE])
async def test_a_slash_command_through_socket_mode(h: Harness) -> None:
    sb = h.sandbox
    await eventually(lambda: sb.slack.socket.connected)
    assert [c.ok for c in sb.slack.calls_for("apps.connections.open")] == [True]

    sb.pagerduty.page("checkout-service", "checkout-service: error rate 8.5%", priority="P2")
    await h.settle()
    [channel] = incident_channels(sb)

    result = await sb.slack.send_command("U0DANA", channel.id, "/incident", "sev P1")
    assert result["status"] == 200 and result["elapsed_ms"] < 3000
    assert sb.slack.bot_requests[-1]["via"] == "socket_mode"
    [envelope] = [e["envelope"] for e in sb.slack.socket.envelopes if e["envelope"]["type"] == "slash_commands"]
    assert envelope["payload"]["command"] == "/incident" and envelope["payload"]["text"] == "sev P1"
    await eventually(lambda: any("set the severity to *P1*" in m.text for m in sb.slack.messages_in(channel.id)))

    # the ack of a command can carry the answer: Slack shows it to the person who typed it
    await sb.slack.send_command("U0DANA", channel.id, "/incident", "resolve fixed")
    await eventually(lambda: any("Resolving this incident" in e.text for e in sb.slack.ephemerals))

    # events come down the socket too
    asked = await sb.slack.send_mention("U0SAM", "C0INCIDENTS", "help")

    def answers() -> list[object]:
        return [m for m in sb.slack.messages_in("C0INCIDENTS") if m.thread_ts == asked["ts"] != m.ts]

    await eventually(lambda: bool(answers()))
    # the answer is posted before its event is marked done: wait until the bot has nothing in hand
    await h.settle()
    # each was stored before its envelope was acknowledged; an event sent again is a duplicate, answered once
    stored = await h.services.store.run(
        lambda conn: conn.execute(
            sa.select(inbound_events.c.delivery_id, inbound_events.c.event_type, inbound_events.c.status).where(
                inbound_events.c.source == "slack"
            )
        ).all()
    )
    assert (asked["event_id"], "app_mention", "done") in [tuple(r) for r in stored]
    assert sum(r[1] == "command" for r in stored) == 2
    again = await mention_again(sb, asked, "U0SAM", "C0INCIDENTS", "help")
    assert again["status"] == 200
    await h.settle()
    assert len(answers()) == 1


@pytest.mark.parametrize("harness_overrides", [SOCKET_MODE])
async def test_in_socket_mode_the_http_endpoint_is_not_served(h: Harness) -> None:
    assert h.http is not None
    body = json.dumps({"type": "event_callback", "event_id": "Ev1", "event": {"type": "app_mention"}}).encode()
    headers = {"Content-Type": "application/json", **slack_headers("", body)}  # signed with an empty secret
    async with h.http.post(f"{h.url}/slack/events", data=body, headers=headers) as response:
        assert response.status == 404


async def test_http_mode_without_a_signing_secret_is_refused() -> None:
    from bot.config.settings import Settings
    from bot.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        Settings.from_env(
            SLACK_BOT_TOKEN="x",
            PAGERDUTY_API_TOKEN="t",
            PAGERDUTY_FROM_EMAIL="a@example.com",
            PAGERDUTY_WEBHOOK_SECRETS="s",
            SLACK_SIGNING_SECRET=None,
        )
    assert str(caught.value) == "SLACK_SIGNING_SECRET is not set (or set SLACK_APP_TOKEN for Socket Mode)"
