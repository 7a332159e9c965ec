"""Pins and :pushpin: reactions put a message of an incident channel on the timeline, at the time it was posted,
once however often it is pinned or marked."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.harness import Harness, eventually, incident_channels


async def _channel(h: Harness) -> str:
    h.sandbox.pagerduty.page("checkout-service", "checkout-service: error rate 8.5%", priority="P2")
    await h.settle()
    [channel] = incident_channels(h.sandbox)
    return channel.id


async def _captured(h: Harness) -> list[object]:
    [incident] = await h.services.store.incidents()
    assert incident.id is not None
    return [e for e in await h.services.store.timeline(incident.id) if e.kind == "slack_message"]


async def _ok(result: dict[str, object]) -> None:
    assert result["status"] == 200, result


async def test_a_pinned_message_is_on_the_timeline_once(h: Harness) -> None:
    sb = h.sandbox
    channel = await _channel(h)
    posted = await sb.slack.send_message("U0DANA", channel, "rolled back checkout to v1.4.1 <!channel>")
    ts = str(posted["ts"])
    await _ok(await sb.slack.send_pin("U0SAM", channel, ts))
    await eventually(lambda: "memo" in sb.slack.message(channel, ts).reactions)  # type: ignore[union-attr]
    await _ok(await sb.slack.send_pin("U0DANA", channel, ts))  # pinned again by someone else
    await _ok(await sb.slack.send_reaction("U0DANA", channel, ts, "pushpin"))  # and marked as well
    await h.settle()
    await eventually(lambda: len(sb.slack.calls_for("reactions.add")) >= 1)

    [event] = await _captured(h)
    assert event.text == "rolled back checkout to v1.4.1 <!channel>"  # type: ignore[attr-defined]
    assert event.actor == "slack:U0DANA"  # type: ignore[attr-defined]  # who wrote it, not who pinned it
    assert event.at == datetime.fromtimestamp(float(ts), UTC)  # type: ignore[attr-defined]
    assert event.data["via"] == "pin" and event.data["added_by"] == "U0SAM"  # type: ignore[attr-defined]


async def test_a_pushpin_reaction_captures_a_message_the_bot_looks_up(h: Harness) -> None:
    sb = h.sandbox
    channel = await _channel(h)
    posted = await sb.slack.send_message("U0SAM", channel, "db-payments-prod CPU at 95%")
    await sb.slack.send_message("U0DANA", channel, "a later message")
    await _ok(await sb.slack.send_reaction("U0DANA", channel, str(posted["ts"]), "pushpin"))
    await h.settle()
    await eventually(lambda: bool(sb.slack.calls_for("reactions.add")))
    [event] = await _captured(h)
    assert event.text == "db-payments-prod CPU at 95%"  # type: ignore[attr-defined]
    assert event.data["via"] == "reaction" and event.data["found"] is True  # type: ignore[attr-defined]


async def test_other_reactions_and_other_channels_change_nothing(h: Harness) -> None:
    sb = h.sandbox
    channel = await _channel(h)
    posted = await sb.slack.send_message("U0SAM", channel, "looking")
    await _ok(await sb.slack.send_reaction("U0DANA", channel, str(posted["ts"]), "eyes"))
    elsewhere = await sb.slack.send_message("U0SAM", "C0INCIDENTS", "not an incident channel")
    await _ok(await sb.slack.send_pin("U0SAM", "C0INCIDENTS", str(elsewhere["ts"])))
    await _ok(await sb.slack.send_reaction("U0SAM", "C0INCIDENTS", str(elsewhere["ts"]), "pushpin"))
    await h.settle()
    assert await _captured(h) == []
    assert not sb.slack.calls_for("reactions.add")
