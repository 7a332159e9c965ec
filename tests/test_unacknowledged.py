"""A page nobody takes is escalated (SRE_ESCALATE_UNACKNOWLEDGED): once, after the severity's minutes of silence
on a virtual clock, not at all once a person acts, and still after a restart in between. sre-agent's own
acknowledgement on the pager does not count."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.config.settings import Settings
from bot.domain.phase import Phase
from bot.domain.severity import Severity
from bot.domain.timeline import ACTOR_BOT, EventKind
from bot.domain.unacknowledged import parse_policy
from bot.lifecycle.unacknowledged import UNACKNOWLEDGED
from sandbox.world import World
from tests.harness import Harness, eventually, fast_harness, texts

SPEED = 200.0  # 5 virtual minutes pass in 1.5 s


@pytest.fixture(params=["pagerduty", "opsgenie"])
async def quiet(request: pytest.FixtureRequest, world: World, database_url: str) -> AsyncIterator[Harness]:
    """The bot and the sandbox on one fast virtual clock, escalating a P1 nobody takes after 5 minutes."""
    overrides = {"SRE_PAGER": request.param, "SRE_ESCALATE_UNACKNOWLEDGED": "P1=5,P2=30"}
    async with fast_harness(world, database_url, speed=SPEED, **overrides) as harness:
        yield harness


def _page(h: Harness) -> str:
    if h.settings().pager == "opsgenie":
        return h.sandbox.opsgenie.page("checkout-service", "checkout-service error rate 8.5%", priority="P1").id
    return h.sandbox.pagerduty.page("checkout-service", "checkout-service error rate 8.5%", priority="P1").id


def _level(h: Harness, page: str) -> int:
    if h.settings().pager == "opsgenie":
        alert = h.sandbox.opsgenie.get_alert(page)
        return alert.level if alert is not None else 0
    return h.sandbox.pagerduty.incidents[page].escalation_level


async def _escalations(h: Harness) -> list[str]:
    [incident] = await h.services.store.incidents()
    assert incident.id is not None
    events = await h.services.store.timeline(incident.id)
    # sre-agent's own escalations (the pager's echo of one is recorded too, as the pager's)
    return [e.text for e in events if e.kind is EventKind.ESCALATED and e.actor == ACTOR_BOT]


async def _opened(h: Harness) -> int:
    async def acknowledged() -> bool:
        found = await h.services.store.incidents()
        return len(found) == 1 and found[0].phase is Phase.ACKNOWLEDGED and found[0].channel_id is not None

    await eventually(acknowledged)
    [incident] = await h.services.store.incidents()
    assert incident.id is not None
    return incident.id


async def test_a_page_nobody_takes_is_escalated_once_saying_why(quiet: Harness) -> None:
    h = quiet
    page = _page(h)
    incident_id = await _opened(h)  # acknowledged by sre-agent itself: that does not count
    assert _level(h, page) == 1

    async def escalated() -> bool:
        return len(await _escalations(h)) == 1

    await eventually(escalated, within=15)
    await h.settle()
    assert _level(h, page) == 2
    incident = await h.services.store.incident(incident_id)
    assert incident is not None and incident.channel_id
    said = [t for t in texts(h.sandbox, incident.channel_id) if "escalated this incident" in t]
    assert len(said) == 1 and "because nobody acknowledged it within 5 minutes" in said[0] and "<@U0SAM>" in said[0]
    assert "U0SAM" in h.sandbox.slack.channels[incident.channel_id].members
    if h.settings().pager == "opsgenie":
        alert = h.sandbox.opsgenie.get_alert(page)
        notes = [n["note"] for n in alert.notes] if alert else []
    else:
        notes = [n.content for n in h.sandbox.pagerduty.incidents[page].notes]
    assert "sre-agent escalated to level 2: nobody acknowledged it within 5 minutes" in notes  # and on the pager

    await asyncio.sleep(10 * 60 / SPEED)  # ten more minutes of silence: the timer fired once, it does not again
    await h.settle()
    assert len(await _escalations(h)) == 1 and _level(h, page) == 2


async def test_a_person_who_says_they_are_on_it_stops_the_escalation(quiet: Harness) -> None:
    h = quiet
    page = _page(h)
    incident_id = await _opened(h)
    incident = await h.services.store.incident(incident_id)
    assert incident is not None and incident.channel_id
    await h.sandbox.slack.send_command("U0DANA", incident.channel_id, "/incident", "ack")
    await eventually(lambda: any("<@U0DANA> is on it" in t for t in texts(h.sandbox, incident.channel_id or "")))

    [timer] = await h.services.store.pending_timers(UNACKNOWLEDGED)
    assert timer.incident_id == incident_id  # armed; when it fires it finds a person took the page

    async def fired() -> bool:
        return not await h.services.store.pending_timers(UNACKNOWLEDGED)

    await eventually(fired, within=15)
    await asyncio.sleep(2 * 60 / SPEED)
    await h.settle()
    assert await _escalations(h) == [] and _level(h, page) == 1


async def test_the_timer_still_fires_once_after_a_restart_in_between(quiet: Harness) -> None:
    h = quiet
    page = _page(h)
    await _opened(h)
    await h.restart()  # a new process on the same database, before the five minutes are up

    async def escalated() -> bool:
        return len(await _escalations(h)) >= 1

    await eventually(escalated, within=15)
    await asyncio.sleep(5 * 60 / SPEED)
    await h.settle()
    assert len(await _escalations(h)) == 1 and _level(h, page) == 2


def test_the_policy_reads_minutes_by_severity_and_names_a_bad_part() -> None:
    assert parse_policy("P1=5, p2=10,sev3=30") == {Severity.P1: 5, Severity.P2: 10, Severity.P3: 30}
    assert parse_policy("off") == {} == parse_policy("")
    for bad, said in [("P1", "expected SEVERITY=MINUTES"), ("P9=5", "expected SEVERITY"), ("P1=soon", "not a number")]:
        with pytest.raises(ValueError, match=said):
            parse_policy(bad)
    with pytest.raises(ValueError, match=r"escalate_unacknowledged|SRE_ESCALATE_UNACKNOWLEDGED"):
        Settings(
            SLACK_BOT_TOKEN="xoxb-1",
            SLACK_SIGNING_SECRET="s",
            PAGERDUTY_API_TOKEN="t",
            PAGERDUTY_FROM_EMAIL="a@example.com",
            PAGERDUTY_WEBHOOK_SECRETS="w",
            SRE_ESCALATE_UNACKNOWLEDGED="P1=0",
        )
