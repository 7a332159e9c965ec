"""`@sre` in plain English over real HTTP: every example of mentions.md gets the answer it should, in the thread of
the message, and what acts on an incident acts on it."""

from __future__ import annotations

import pytest

from bot.domain.phase import Phase
from tests.harness import Harness, eventually, incident_channels, mention_again
from tests.test_intent import REFERENCE


async def _ask(h: Harness, user: str, channel: str, text: str) -> str:
    """Mention the bot; return its reply in the thread of that message."""
    result = await h.sandbox.slack.send_mention(user, channel, text)
    assert result["status"] == 200 and result["elapsed_ms"] < 3000, result
    ts = result["ts"]
    replies: list[str] = []

    def answered() -> bool:
        replies[:] = [m.text for m in h.sandbox.slack.messages_in(channel) if m.thread_ts == ts and m.ts != ts]
        return bool(replies)

    await eventually(answered)
    await h.settle()
    assert len(replies) == 1, replies
    return replies[0]


async def _paged(h: Harness) -> str:
    h.sandbox.pagerduty.page("checkout-service", "checkout-service: error rate 8.5%", priority="P2")
    await h.settle()
    [channel] = incident_channels(h.sandbox)
    return channel.id


EXPECTED_OUTSIDE = {
    "investigate": "On it: I opened",
    "budget": "No SLOs are configured yet",
    "oncall": "I don't know who is on call for `search-service`",
    "status": "No open incidents",
    "list": "No open incidents",
    "severity": "I can change the severity in an incident's channel",
    "escalate": "I can escalate in an incident's channel",
    "resolve": "I can resolve in an incident's channel",
    "help": "I run incidents",
    "unknown": "I'm not sure what you'd like me to do",
}


@pytest.mark.parametrize(("text", "intent", "service", "severity"), REFERENCE, ids=[r[0][:30] for r in REFERENCE])
async def test_every_reference_example_gets_its_answer(
    h: Harness, text: str, intent: str, service: str | None, severity: str | None
) -> None:
    reply = await _ask(h, "U0DANA", "C0INCIDENTS", text)
    assert EXPECTED_OUTSIDE[intent] in reply, reply
    if intent == "investigate":
        [incident] = await h.services.store.incidents()
        assert incident.service == service and str(incident.severity) == severity
        assert incident.channel_id and f"<#{incident.channel_id}>" in reply


async def test_who_is_on_call_names_people_by_level(h: Harness) -> None:
    reply = await _ask(h, "U0SAM", "C0INCIDENTS", "who's on call for checkout?")
    assert reply == ":pager: *checkout-service*: level 1: <@U0DANA>, Jo Park; level 2: <@U0SAM>"


async def test_investigating_a_service_with_an_open_incident_points_at_it(h: Harness) -> None:
    channel = await _paged(h)
    reply = await _ask(h, "U0SAM", "C0INCIDENTS", "checkout is throwing 500s, can you look?")
    assert "already has an open incident" in reply and f"<#{channel}>" in reply
    assert len(await h.services.store.incidents()) == 1


async def test_investigate_without_a_service_asks_which(h: Harness) -> None:
    reply = await _ask(h, "U0SAM", "C0INCIDENTS", "something is broken")
    assert reply.startswith("Which service is it?") and "`payments-api`" in reply
    assert not await h.services.store.incidents()


async def test_in_an_incident_channel_the_words_act_on_that_incident(h: Harness) -> None:
    channel = await _paged(h)
    [incident] = await h.services.store.incidents()
    assert incident.id is not None

    status = await _ask(h, "U0DANA", channel, "status")  # the card, fresh, in the thread
    assert status == "P2 INC-4211 checkout-service — Acknowledged: checkout-service: error rate 8.5%"
    assert (await _ask(h, "U0DANA", channel, "sev1")) == ":red_circle: Done: INC-4211 is P1 now."
    assert str((await h.services.store.incident(incident.id)).severity) == "P1"  # type: ignore[union-attr]

    assert "Escalated" in await _ask(h, "U0DANA", channel, "escalate this please")
    assert h.sandbox.pagerduty.incidents[incident.external_id].escalation_level == 2

    assert "Resolved INC-4211" in await _ask(h, "U0DANA", channel, "we're good, resolve it")
    fresh = await h.services.store.incident(incident.id)
    assert fresh is not None and fresh.phase is Phase.RESOLVED
    assert h.sandbox.pagerduty.incidents[incident.external_id].status == "resolved"

    # refusals are said, not swallowed
    assert "already resolved" in await _ask(h, "U0DANA", channel, "resolve")


async def test_a_retried_event_is_answered_once(h: Harness) -> None:
    sb = h.sandbox
    message = sb.slack.send_mention  # the first delivery, through the peer
    result = await message("U0DANA", "C0INCIDENTS", "help")
    again = await mention_again(sb, result, "U0DANA", "C0INCIDENTS", "help")
    assert again["status"] == 200
    await h.settle()
    await eventually(lambda: any(m.thread_ts == result["ts"] != m.ts for m in sb.slack.messages_in("C0INCIDENTS")))
    replies = [m for m in sb.slack.messages_in("C0INCIDENTS") if m.thread_ts == result["ts"] != m.ts]
    assert len(replies) == 1


async def test_a_locked_store_does_not_make_slack_wait_and_loses_nothing(h: Harness, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the store is locked through SQLite's own file lock")
    import sqlite3

    other = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=0)
    other.execute("BEGIN EXCLUSIVE")  # another process holding the database: every write waits
    try:
        # answered within Slack's 3 seconds: 503, as the mention could not be stored (Slack delivers it again)
        result = await h.sandbox.slack.send_mention("U0DANA", "C0INCIDENTS", "help")
        assert result["status"] == 503 and result["elapsed_ms"] < 3000, result
    finally:
        other.rollback()
        other.close()
    # once the store answers again, the mention's row lands and is acted on; Slack's next delivery is a duplicate
    messages = h.sandbox.slack.messages_in

    def answers() -> list[object]:
        return [m for m in messages("C0INCIDENTS") if m.thread_ts == result["ts"] != m.ts]

    await eventually(lambda: bool(answers()))
    again = await mention_again(h.sandbox, result, "U0DANA", "C0INCIDENTS", "help")
    assert again["status"] == 200
    await h.settle()
    assert len(answers()) == 1
