"""A PagerDuty page becomes one acknowledged Slack incident; PagerDuty and Slack stay in step afterwards."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from blocks.ids import BlockId
from bot.domain.phase import Phase
from bot.domain.timeline import EventKind
from bot.errors import SlackError
from sandbox.server import Sandbox
from tests.harness import (
    Harness,
    cards,
    eventually,
    fresh_event,
    incident_channels,
    pd_status_changes,
    posted_with,
    texts,
    with_block,
)

TITLE = "CRITICAL — checkout-service error rate at 8.5% (threshold: 1%). Firing for 5 minutes."


async def _page(h: Harness, title: str = TITLE, **kwargs: object) -> str:
    incident = h.sandbox.pagerduty.page("checkout-service", title, priority="P1", **kwargs)  # type: ignore[arg-type]
    await h.settle()
    return incident.id


async def test_pages_at_once_ask_once_who_is_on_call_and_who_they_are_in_slack(h: Harness) -> None:
    """The first pages of a burst all ask before any answer is kept: they wait for the one question in flight (the
    invitations' on-call list, the people's Slack ids) rather than each asking the pager and Slack again."""
    sb = h.sandbox
    for i in range(6):
        sb.pagerduty.page("checkout-service", f"{TITLE} {i}", priority="P1")
    await eventually(lambda: len(cards(sb)) == 6, within=30)
    await h.settle()
    assert len([c for c in sb.pagerduty.calls if c.method == "GET" and c.path == "/oncalls"]) == 1
    lookups = [c.args["email"] for c in sb.slack.calls_for("users.lookupByEmail")]
    assert lookups and len(lookups) == len(set(lookups)), lookups


async def test_a_page_opens_one_acknowledged_incident_channel_and_card(h: Harness) -> None:
    sb = h.sandbox
    pd_id = await _page(h)

    [incident] = await h.services.store.incidents()
    assert incident.phase is Phase.ACKNOWLEDGED and str(incident.severity) == "P1"
    assert sb.pagerduty.incidents[pd_id].status == "acknowledged"
    assert len(pd_status_changes(sb, "acknowledged")) == 1

    [channel] = incident_channels(sb)
    assert channel.name == "inc-4211-checkout-service" and incident.channel_id == channel.id
    assert "checkout-service" in channel.topic
    assert "U0DANA" in channel.members  # on call at level 1, found in Slack by e-mail
    assert "U0SAM" not in channel.members  # level 2 is not paged yet

    [card] = cards(sb, channel.id)
    card_text = json.dumps(card.blocks)
    for expected in ("P1", "checkout-service", "Acknowledged", "https://acme.pagerduty.com/incidents/"):
        assert expected in card_text
    assert any(b["type"] == "actions" for b in card.blocks)

    [announcement] = sb.slack.messages_in("C0INCIDENTS")
    assert f"<#{channel.id}>" in announcement.text and "INC-4211" in announcement.text

    [note] = sb.pagerduty.incidents[pd_id].notes
    assert "#inc-4211-checkout-service" in note.content

    timeline = [e.kind for e in await h.services.store.timeline(incident.id)]  # type: ignore[arg-type]
    assert timeline[0] == "triggered" and "acknowledged" in timeline and "channel_created" in timeline


async def test_an_on_call_person_unknown_to_slack_is_reported_and_the_flow_goes_on(h: Harness) -> None:
    await _page(h)
    [channel] = incident_channels(h.sandbox)
    [notice] = [t for t in texts(h.sandbox, channel.id) if "could not find" in t]
    assert "Jo Park" in notice and "jo@example.com" in notice
    assert len(cards(h.sandbox, channel.id)) == 1


async def test_on_call_people_unknown_to_slack_are_still_reported_when_slack_fails_the_notice_once(h: Harness) -> None:
    """Slack failing a moment on the notice of on-call people it does not know: the step is tried again and the
    notice made once; the invitations are on record once."""
    sb = h.sandbox
    sb.slack.fail("chat.postMessage", "internal_error", status=500, match=lambda args: "could not find" in args["text"])
    await _page(h)
    [channel] = incident_channels(sb)
    await eventually(lambda: any("could not find" in t for t in texts(sb, channel.id)), within=15)
    await h.settle()
    assert sum("could not find" in t for t in texts(sb, channel.id)) == 1
    assert len(cards(sb, channel.id)) == 1
    [incident] = await h.services.store.incidents()
    timeline = await h.services.store.timeline(incident.id)  # type: ignore[arg-type]
    assert [e.kind for e in timeline].count(EventKind.RESPONDER_NOT_FOUND) == 1
    assert [e.kind for e in timeline].count(EventKind.RESPONDERS_INVITED) == 1


async def test_the_openings_own_acknowledgement_and_note_coming_back_do_not_wait_for_it(h: Harness) -> None:
    """PagerDuty's webhooks for the bot's own acknowledgement and channel note come back while the incident is still
    being opened (its lock held, here until Slack answers the triage): they are set aside at once rather than
    queued behind the opening, and the steps that made them record them, once each."""
    sb = h.sandbox
    triage = sb.slack.hold("chat.postMessage", posted_with(BlockId.TRIAGE))
    sb.pagerduty.page("checkout-service", TITLE, priority="P1")
    await asyncio.wait_for(triage.reached.wait(), 10)
    store = h.services.store
    ever = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))

    async def echoes() -> list[str]:
        found = []
        for kind in ("incident.acknowledged", "incident.annotated"):
            found += [e.status for e in await store.inbound_between("pagerduty", kind, since=ever[0], until=ever[1])]
        return found

    try:
        await eventually(lambda: _all_set_aside(echoes()), within=10)
    finally:
        triage.release()
    await h.settle()
    [incident] = await store.incidents()
    assert incident.phase is Phase.ACKNOWLEDGED
    kinds = [e.kind for e in await store.timeline(incident.id)]  # type: ignore[arg-type]
    assert kinds.count(EventKind.ACKNOWLEDGED) == 1 and kinds.count(EventKind.PAGERDUTY_NOTE) == 1
    assert len(sb.pagerduty.incidents[incident.external_id].notes) == 1


async def _all_set_aside(statuses: Awaitable[list[str]]) -> bool:
    found = await statuses
    return len(found) == 2 and all(status == "ignored" for status in found)


async def test_the_same_delivery_five_times_is_one_incident(h: Harness) -> None:
    sb = h.sandbox
    sb.pagerduty.pause_deliveries()
    sb.pagerduty.page("checkout-service", TITLE, priority="P1")
    [delivery] = list(sb.pagerduty.deliveries.values())
    results = await sb.pagerduty.redeliver(delivery.id, times=5, concurrently=True)
    sb.pagerduty.resume_deliveries()
    await h.settle()
    assert [r["status"] for r in results] == [202] * 5
    assert len(await h.services.store.incidents()) == 1
    assert len(incident_channels(sb)) == 1
    assert len(pd_status_changes(sb, "acknowledged")) == 1
    assert len(cards(sb)) == 1
    counts = await h.services.store.inbound_counts()
    assert sum(counts.values()) == 1 + sum(  # one stored per distinct delivery: the trigger, and the echoes
        1 for d in sb.pagerduty.deliveries.values() if d.id != delivery.id
    )


async def test_twenty_different_deliveries_for_one_incident_at_once_are_one_incident(h: Harness) -> None:
    sb = h.sandbox
    sb.pagerduty.pause_deliveries()
    pd = sb.pagerduty.page("checkout-service", TITLE, priority="P1")
    [delivery] = list(sb.pagerduty.deliveries.values())
    event = delivery.event

    async def send() -> int:
        copy = json.loads(json.dumps(event))
        copy["id"] = uuid.uuid4().hex[:16].upper()
        status, _ = await h.send_pagerduty({"event": copy})
        return status

    statuses = await asyncio.gather(*(send() for _ in range(20)))
    sb.pagerduty.resume_deliveries()
    await h.settle()
    assert statuses == [202] * 20
    [incident] = await h.services.store.incidents()
    assert incident.external_id == pd.id
    assert len(incident_channels(sb)) == 1
    assert len(pd_status_changes(sb, "acknowledged")) == 1
    assert len(cards(sb)) == 1
    assert len(sb.pagerduty.incidents[pd.id].notes) == 1


async def test_a_taken_channel_name_gets_a_suffix(h: Harness) -> None:
    h.sandbox.slack.create_channel("inc-4211-checkout-service", ["U0SAM"])
    await _page(h)
    [incident] = await h.services.store.incidents()
    assert incident.channel_name == "inc-4211-checkout-service-2"
    assert len(cards(h.sandbox, incident.channel_id)) == 1


async def test_slack_rate_limit_is_retried_and_the_card_posted_once(h: Harness) -> None:
    h.sandbox.slack.rate_limit("chat.postMessage", count=1, retry_after=0)
    await _page(h)
    calls = h.sandbox.slack.calls_for("chat.postMessage")
    assert [c.status for c in calls].count(429) == 1
    assert len(cards(h.sandbox)) == 1


async def test_an_unsafe_title_pings_nobody_and_shows_as_text(h: Harness) -> None:
    await _page(h, title="<!channel> <https://evil.example|click>")
    posted = [m for c in h.sandbox.slack.channels for m in h.sandbox.slack.messages_in(c)]
    assert posted
    for message in posted:
        everything = message.text + json.dumps(message.blocks or [])
        assert "<!channel>" not in everything and "<https://evil.example" not in everything
    [card] = cards(h.sandbox)
    assert "&lt;!channel&gt; &lt;https://evil.example|click&gt;" in json.dumps(card.blocks)


async def test_slash_resolve_resolves_on_pagerduty_and_in_slack(h: Harness) -> None:
    sb = h.sandbox
    pd_id = await _page(h)
    [incident] = await h.services.store.incidents()
    assert incident.channel_id
    result = await sb.slack.send_command("U0DANA", incident.channel_id, "/incident", "resolve fixed by rollback")
    assert result["status"] == 200

    async def resolved() -> bool:
        current = await h.services.store.incident(incident.id)  # type: ignore[arg-type]
        return current is not None and current.phase is Phase.RESOLVED

    await eventually(resolved)
    await h.settle()
    assert sb.pagerduty.incidents[pd_id].status == "resolved"
    assert len(pd_status_changes(sb, "resolved")) == 1
    [card] = cards(sb, incident.channel_id)
    assert "Resolved" in json.dumps(card.blocks) and "Resolve this incident?" not in json.dumps(card.blocks)
    said = [t for t in texts(sb, incident.channel_id) if "resolved this incident" in t]
    assert said == [":white_check_mark: <@U0DANA> resolved this incident: fixed by rollback"]  # the echo is silent


@pytest.mark.parametrize("harness_overrides", [{"SLACK_INCIDENTS_CHANNEL": "#incidents"}])
async def test_an_incidents_channel_given_by_name_has_its_announcement_kept_up_to_date(h: Harness) -> None:
    """Slack takes a channel's name to post in it, but only its id to update a message there: the announcement is
    updated by the id Slack answered with."""
    sb = h.sandbox
    pd_id = await _page(h)
    [announcement] = sb.slack.messages_in("C0INCIDENTS")
    assert "Resolved" not in json.dumps(announcement.blocks)
    sb.pagerduty.resolve(pd_id, "dana")
    await h.settle()
    [announcement] = sb.slack.messages_in("C0INCIDENTS")
    assert "Resolved" in json.dumps(announcement.blocks)
    updates = sb.slack.calls_for("chat.update")
    assert updates and all(c.ok for c in updates), [(c.args.get("channel"), c.error) for c in updates]


async def test_slash_resolve_outside_an_incident_channel_says_so(h: Harness) -> None:
    result = await h.sandbox.slack.send_command("U0DANA", "C0INCIDENTS", "/incident", "resolve done")
    assert result["status"] == 200
    await eventually(lambda: any("incident channel" in e.text for e in h.sandbox.slack.ephemerals))


@pytest.mark.parametrize("harness_overrides", [{"PAGERDUTY_AUTO_ACKNOWLEDGE": False}])
async def test_acknowledged_and_resolved_in_pagerduty_slack_follows(h: Harness) -> None:
    sb = h.sandbox
    pd_id = await _page(h)
    [incident] = await h.services.store.incidents()
    assert incident.phase is Phase.TRIGGERED and not pd_status_changes(sb, "acknowledged")
    assert incident.channel_id

    sb.pagerduty.acknowledge(pd_id, "dana")
    await h.settle()
    current = await h.services.store.incident(incident.id)  # type: ignore[arg-type]
    assert current is not None and current.phase is Phase.ACKNOWLEDGED
    assert any("Dana Ortiz acknowledged" in t for t in texts(sb, incident.channel_id))
    assert "Acknowledged" in json.dumps(cards(sb, incident.channel_id)[0].blocks)

    sb.pagerduty.resolve(pd_id, "dana")
    await h.settle()
    current = await h.services.store.incident(incident.id)  # type: ignore[arg-type]
    assert current is not None and current.phase is Phase.RESOLVED
    assert any("Dana Ortiz resolved" in t for t in texts(sb, incident.channel_id))


async def test_reopened_and_annotated_in_pagerduty(h: Harness) -> None:
    sb = h.sandbox
    pd_id = await _page(h)
    [incident] = await h.services.store.incidents()
    assert incident.channel_id
    sb.pagerduty.add_note(pd_id, "dana", "Seeing <!here> OOMKilled since 02:55")
    sb.pagerduty.resolve(pd_id, "dana")
    await h.settle()
    sb.pagerduty.reopen(pd_id, "sam")
    await h.settle()
    said = texts(sb, incident.channel_id)
    assert any("Note from Dana Ortiz" in t and "&lt;!here&gt;" in t for t in said)
    assert sum("Note from" in t for t in said) == 1  # the bot's own note is not echoed
    assert any("Sam Lee reopened" in t for t in said)
    current = await h.services.store.incident(incident.id)  # type: ignore[arg-type]
    assert current is not None and current.phase is Phase.ACKNOWLEDGED  # re-acknowledged after the reopen
    assert sb.pagerduty.incidents[pd_id].status == "acknowledged"


async def test_a_stored_but_unprocessed_event_is_processed_after_a_restart(h: Harness) -> None:
    sb = h.sandbox
    sb.slack.fail("conversations.create", "internal_error", count=1, status=500)
    sb.pagerduty.page("checkout-service", TITLE, priority="P1")
    await eventually(lambda: any(c.status == 500 for c in sb.slack.calls_for("conversations.create")))
    await h.services.intake.drain()
    assert not incident_channels(sb)
    await h.restart()  # a new process on the same database
    await h.settle()
    await eventually(lambda: len(incident_channels(sb)) == 1)
    await h.settle()
    assert len(await h.services.store.incidents()) == 1
    assert len(pd_status_changes(sb, "acknowledged")) == 1  # acknowledged before the restart, not again
    assert len(cards(sb)) == 1
    assert (await h.services.store.inbound_counts()).get("pending", 0) == 0


async def test_healthz(h: Harness) -> None:
    assert h.http is not None
    async with h.http.get(f"{h.url}/healthz") as response:
        assert response.status == 200
        assert (await response.json())["ok"] is True


def _sandbox(h: Harness) -> Sandbox:
    return h.sandbox


async def test_fixture_payload_is_accepted(h: Harness) -> None:
    status, body = await h.send_pagerduty(fresh_event("pagerduty_incident_annotated.json"))
    assert status == 202 and body == {"ok": True, "duplicate": False}


@pytest.mark.parametrize("harness_overrides", [{"PAGERDUTY_AUTO_ACKNOWLEDGE": False}])
async def test_sre_agents_own_acknowledgement_coming_back_is_not_announced_as_someone_elses(h: Harness) -> None:
    """As after a restart between acknowledging in PagerDuty and recording it: the webhook comes back first."""
    sb = h.sandbox
    pd_id = await _page(h)
    [incident] = await h.services.store.incidents()
    assert incident.phase is Phase.TRIGGERED and incident.channel_id
    sb.pagerduty.acknowledge(pd_id, "sre-agent")  # PagerDuty says sre-agent's own user acknowledged it
    await h.settle()
    current = await h.services.store.incident(incident.id)  # type: ignore[arg-type]
    assert current is not None and current.phase is Phase.ACKNOWLEDGED
    assert not any("acknowledged this incident in PagerDuty" in t for t in texts(sb, incident.channel_id))
    timeline = await h.services.store.timeline(incident.id)  # type: ignore[arg-type]
    assert [e.actor for e in timeline if e.kind is EventKind.ACKNOWLEDGED] == ["sre-agent"]


@pytest.mark.parametrize("slack_fails_first", [False, True])
async def test_an_incident_first_seen_acknowledged_still_gets_its_channel_and_card(
    h: Harness, slack_fails_first: bool
) -> None:
    """The triggered webhook held back (PagerDuty retrying it, or giving up), the acknowledgement by a person is the
    first the bot hears of the incident: it is opened all the same, a channel and a card, recorded as acknowledged by
    them; the trigger coming in late changes nothing. Also when Slack fails the first try (the event, tried again, is
    no longer the one that created the incident)."""
    sb = h.sandbox
    if slack_fails_first:
        sb.slack.fail("conversations.create", "internal_error", status=500)
    sb.pagerduty.pause_deliveries()
    pd = sb.pagerduty.page("checkout-service", TITLE, priority="P1")
    sb.pagerduty.acknowledge(pd.id, "dana")
    [acknowledged] = [d for d in sb.pagerduty.deliveries.values() if d.event_type == "incident.acknowledged"]
    [result] = await sb.pagerduty.redeliver(acknowledged.id)
    assert result["status"] == 202
    await eventually(lambda: len(cards(sb)) == 1, within=10)
    sb.pagerduty.resume_deliveries()  # the trigger, late
    await h.settle()
    [incident] = await h.services.store.incidents()
    assert incident.phase is Phase.ACKNOWLEDGED and incident.channel_id
    assert len(incident_channels(sb)) == 1 and len(cards(sb, incident.channel_id)) == 1
    assert not pd_status_changes(sb, "acknowledged")  # a person acknowledged it: not again
    timeline = await h.services.store.timeline(incident.id)  # type: ignore[arg-type]
    assert [e.actor for e in timeline if e.kind is EventKind.ACKNOWLEDGED] == ["pagerduty:Dana Ortiz"]


@pytest.mark.parametrize("method", ["conversations.create", "chat.postMessage"])
async def test_a_call_whose_answer_was_lost_with_its_connection_is_not_made_twice(h: Harness, method: str) -> None:
    """Slack made the channel (or posted the first message) and the connection dropped before its answer came: the
    call is not sent again blindly (a second channel, a second message); the step, tried again, finds what it made
    and goes on."""
    sb = h.sandbox
    sb.slack.hang_up(method)  # done, and not answered
    await _page(h)
    await eventually(lambda: len(cards(sb)) >= 1, within=15)
    await h.settle()
    [incident] = await h.services.store.incidents()
    assert incident.channel_id and len(incident_channels(sb)) == 1
    assert len(cards(sb, incident.channel_id)) == 1
    [first, *_] = sb.slack.calls_for(method)
    assert first.ok  # (the call that was done and not answered)


async def test_a_slack_call_left_without_an_answer_is_a_slack_error_that_passes(h: Harness) -> None:
    """A call whose connection dropped before its answer (not sent again: it may have been done) fails as Slack's
    other failures do, named, counted, and passing (the step is tried again later): not as the HTTP library's own
    exception, which the callers that tell people what failed do not expect."""
    sb = h.sandbox
    sb.slack.hang_up("chat.postMessage")
    with pytest.raises(SlackError) as raised:
        await h.services.slack.post_message(sb.world.incidents_channel.id, "hello")
    assert (raised.value.method, raised.value.error, raised.value.passing) == (
        "chat.postMessage",
        "connection_lost",
        True,
    )
    assert len(sb.slack.calls_for("chat.postMessage")) == 1  # done once (the peer did it), not sent again
    assert h.http is not None
    async with h.http.get(f"{h.url}/metrics") as response:
        counted = await response.text()
    assert 'sre_agent_slack_api_errors_total{error="connection_lost",method="chat.postMessage"} 1.0' in counted


def _to_incidents(sb: Sandbox) -> Callable[[dict[str, Any]], bool]:
    channel = sb.world.incidents_channel
    return lambda args: str(args.get("channel")) in {channel.id, channel.name, f"#{channel.name}"}


async def test_an_announcement_slack_failed_for_a_moment_is_made_when_tried_again(h: Harness) -> None:
    """Slack failing a moment (a 500) on the announcement in the incidents channel: it is tried again, and made
    once; no notice that it could not be made."""
    sb = h.sandbox
    sb.slack.fail("chat.postMessage", "internal_error", status=500, match=_to_incidents(sb))
    await _page(h)
    await eventually(lambda: len(_announcements(sb)) == 1, within=15)
    await h.settle()
    [incident] = await h.services.store.incidents()
    assert len(_announcements(sb)) == 1 and len(cards(sb, incident.channel_id)) == 1
    assert not any("could not announce" in t for t in texts(sb, incident.channel_id))


async def test_an_incidents_channel_the_bot_cannot_post_in_is_said_once_and_the_incident_goes_on(h: Harness) -> None:
    sb = h.sandbox
    sb.slack.fail("chat.postMessage", "not_in_channel", count=100, match=_to_incidents(sb))
    await _page(h)
    await h.settle()
    [incident] = await h.services.store.incidents()
    assert not _announcements(sb) and len(cards(sb, incident.channel_id)) == 1
    assert sum("could not announce" in t for t in texts(sb, incident.channel_id)) == 1
    assert incident.phase is Phase.ACKNOWLEDGED


def _announcements(sb: Sandbox) -> list[Any]:
    return with_block(sb, BlockId.ANNOUNCEMENT, sb.world.incidents_channel.id)
