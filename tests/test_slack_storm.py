"""A storm of pages while Slack holds the bot to its per-method rate tiers (the sandbox's Slack peer answers 429 with
Retry-After as Slack does): every card and acknowledgement gets there, the most severe incidents first, and the
incidents channel hears that Slack is slowing the bot down."""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
import pytest

from bot.adapters.slack.gateway import SlackGateway, build_client
from bot.adapters.slack.pacing import Pacer, Slowdown, urgency
from bot.domain.severity import Severity
from bot.errors import SlackError
from bot.lifecycle.slack_slowdown import SlowdownNotice
from bot.ports.clock import SystemClock
from bot.runtime.locks import KeyedLocks
from bot.store import Store
from sandbox import Sandbox, World
from sandbox.world import DEFAULT_WORLD
from tests.harness import Harness, cards, eventually, incident_channels, pd_status_changes, started_sandbox

INCIDENTS = "C0INCIDENTS"
SCALE = 10  # Slack's minutes become 6 s: conversations.create and setTopic (Tier 2) 20 per 6 s


@pytest.fixture
async def tiered() -> AsyncIterator[Sandbox]:
    """A sandbox whose Slack enforces the rate tiers, `SCALE` times faster than Slack's own windows."""
    async with started_sandbox(
        World.from_dict(copy.deepcopy(DEFAULT_WORLD)), slack_rate_tiers=True, slack_rate_scale=SCALE
    ) as sb:
        yield sb


def _gateway(sb: Sandbox, claims: KeyedLocks | None = None, **pacing: float) -> tuple[SlackGateway, Pacer]:
    client = build_client(sb.world.bot.token, sb.slack_api_url)
    client.session = aiohttp.ClientSession()
    pacer = Pacer(**pacing)
    slack = SlackGateway(client, pacer=pacer)
    pacer.observer = SlowdownNotice(slack, INCIDENTS, settle_s=0.2, claims=claims, reclaim_s=0.1)
    return slack, pacer


async def _use_the_allowance(create: Callable[[str], Awaitable[object]]) -> None:
    """Tier 2's allowance for the window (20 conversations.create), all at once: the window then frees them all at
    one time, and the calls answered 429 after them all go at the end of the one Retry-After. One by one on a slow
    machine they were spread over seconds of the sliding window, some of the later calls were answered 429 again a
    second later, and a replica's slowdown could end while the other's calls still waited."""
    await asyncio.gather(*(create(f"early-{i}") for i in range(20)))


def _notices(sb: Sandbox) -> list[str]:
    return [m.text for m in sb.slack.messages_in(INCIDENTS) if "rate-limit" in m.text]


async def test_waiting_calls_go_after_the_pause_most_urgent_first(tiered: Sandbox) -> None:
    slack, pacer = _gateway(tiered, quiet_s=1.0)
    try:
        await _use_the_allowance(slack.create_channel)

        async def create(name: str, rank: int) -> None:
            with urgency(rank):
                await slack.create_channel(name)

        # arrive least urgent first; all are answered 429 at once, then wait out the same Retry-After
        ranks = [5, 4, 3, 2, 1, 1]
        await asyncio.gather(*(create(f"late-{i}-p{rank}", rank) for i, rank in enumerate(ranks)))

        calls = tiered.slack.calls_for("conversations.create")
        first_429 = next(i for i, c in enumerate(calls) if c.status == 429)
        after = [c.args["name"] for c in calls[first_429:] if c.status == 200]
        assert after == ["late-4-p1", "late-5-p1", "late-3-p2", "late-2-p3", "late-1-p4", "late-0-p5"]
        # one 429 for each call that went straight at Slack; while paused, none was sent
        assert [c.status for c in calls[first_429:]].count(429) == len(ranks)
        assert pacer.slowdown is not None and pacer.slowdown.methods == ["conversations.create"]

        await eventually(lambda: any("Every one" in n for n in _notices(tiered)), within=10)
        notices = _notices(tiered)
        assert len(notices) == 1, notices  # posted once, then updated in place
        assert "*Slack rate-limited sre-agent*" in notices[0] and "`conversations.create`" in notices[0]
        assert "6 calls waited their turn" in notices[0] and "Every one of them has gone through" in notices[0]
    finally:
        await pacer.close()
        assert slack.client.session is not None
        await slack.client.session.close()


async def test_a_slowdown_going_on_when_the_process_stops_is_told_as_cut_short(tiered: Sandbox) -> None:
    """Stopped while Slack still limits it, the bot does not leave a notice saying calls wait and it will update it
    when Slack lets up: it updates it to say it stopped. A slowdown it had not told of yet (stopped within the
    notice's settling time) posts nothing."""
    slack, pacer = _gateway(tiered, quiet_s=60.0)  # Slack never lets up long enough for the slowdown to end
    waiting: list[asyncio.Task[object]] = []
    try:
        await _use_the_allowance(slack.create_channel)
        waiting = [asyncio.create_task(slack.create_channel(f"late-{i}")) for i in range(3)]
        await eventually(lambda: any("I will update" in n for n in _notices(tiered)), within=5)
    finally:
        for task in waiting:  # as the app's stop cancels what it had in hand
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        await pacer.close()
    [notice] = _notices(tiered)
    assert "*Slack was rate-limiting sre-agent*" in notice and "until this sre-agent stopped" in notice
    assert "`conversations.create`" in notice and "3 calls had waited their turn" in notice
    assert "I will update" not in notice and "Every one" not in notice
    assert pacer.slowdown is None

    # stopped before its notice was due: nothing said
    second, second_pacer = _gateway(tiered, quiet_s=60.0)
    late = asyncio.create_task(second.create_channel("late-again"))
    try:
        await eventually(lambda: second_pacer.slowdown is not None, within=5)  # answered 429: a slowdown began
    finally:
        late.cancel()
        await asyncio.gather(late, return_exceptions=True)
        await second_pacer.close()
    await asyncio.sleep(0.5)  # past the notice's settling time (0.2 s)
    assert _notices(tiered) == [notice]
    for gateway in (slack, second):
        assert gateway.client.session is not None
        await gateway.client.session.close()


async def test_two_replicas_slowed_down_together_say_it_once(tiered: Sandbox, database_url: str) -> None:
    """Slack limits the app, not a process: two replicas on one database, both answered 429 by
    conversations.create, post one notice between them (the one that claimed it), updated when Slack lets up."""
    store = await Store.open(database_url)
    replicas = [_gateway(tiered, KeyedLocks(store, SystemClock(), instance=name), quiet_s=1.0) for name in "ab"]
    try:
        await _use_the_allowance(lambda name: replicas[int(name.split("-")[1]) % 2][0].create_channel(name))
        await asyncio.gather(
            *(slack.create_channel(f"late-{n}-{i}") for n, (slack, _) in enumerate(replicas) for i in range(3))
        )
        assert all(pacer.slowdown is not None for _, pacer in replicas)  # both were slowed down
        await eventually(lambda: any("gone through" in n for n in _notices(tiered)), within=15)
        await asyncio.sleep(1.5)  # (the other replica's slowdown ends too, and says nothing)
        notices = _notices(tiered)
        assert len(notices) == 1, notices
        assert "*Slack rate-limited sre-agent*" in notices[0]
    finally:
        for slack, pacer in replicas:
            await pacer.close()
            assert slack.client.session is not None
            await slack.client.session.close()
        await store.close()


async def test_a_replica_still_slowed_down_when_the_other_is_done_says_so_in_turn(
    tiered: Sandbox, database_url: str
) -> None:
    """Replica b's slowdown began while a told of its own; a's ends first and lets go of the notice: b, whose calls
    still wait, then claims it and posts one of its own. One whose calls no longer wait, or whose slowdown ends
    first, says nothing."""
    store = await Store.open(database_url)
    (slack_a, pacer_a), (slack_b, pacer_b) = [
        _gateway(tiered, KeyedLocks(store, SystemClock(), instance=name)) for name in "ab"
    ]
    notice_a, notice_b = pacer_a.observer, pacer_b.observer
    assert isinstance(notice_a, SlowdownNotice) and isinstance(notice_b, SlowdownNotice)
    try:
        first = Slowdown(
            began=datetime.now(UTC), waiting=lambda: {"conversations.create": 3}, methods=["conversations.create"]
        )
        second = Slowdown(
            began=datetime.now(UTC), waiting=lambda: {"chat.postMessage": 2}, methods=["chat.postMessage"]
        )
        await notice_a.began(first)
        b_telling = asyncio.create_task(notice_b.began(second))
        await asyncio.sleep(0.5)
        assert not b_telling.done() and len(_notices(tiered)) == 1  # a holds the notice: b waits its turn
        first.ended = datetime.now(UTC)
        await notice_a.ended(first)
        await asyncio.wait_for(b_telling, 5)
        notices = _notices(tiered)
        assert len(notices) == 2 and "`chat.postMessage`" in notices[1] and "2 Slack calls are waiting" in notices[1]
        second.ended = datetime.now(UTC)
        await notice_b.ended(second)
        assert "*Slack rate-limited sre-agent*" in _notices(tiered)[1]
        # a slowdown that ends before it is its replica's turn says nothing: the other's message told it
        third, fourth = (
            Slowdown(began=datetime.now(UTC), waiting=dict, methods=["conversations.create"]) for _ in range(2)
        )
        await notice_a.began(third)
        quiet = asyncio.create_task(notice_b.began(fourth))
        fourth.ended = datetime.now(UTC)
        await asyncio.wait_for(quiet, 5)
        await notice_b.ended(fourth)
        third.ended = datetime.now(UTC)
        await notice_a.ended(third)
        assert len(_notices(tiered)) == 3
    finally:
        for slack in (slack_a, slack_b):
            assert slack.client.session is not None
            await slack.client.session.close()
        await store.close()


async def test_a_call_that_would_wait_too_long_fails_ratelimited(tiered: Sandbox) -> None:
    slack, pacer = _gateway(tiered, max_wait_s=0.5, quiet_s=0.5)
    try:
        for i in range(20):
            await slack.create_channel(f"early-{i}")
        with pytest.raises(SlackError) as raised:  # Retry-After is at least a second: more than allowed
            await slack.create_channel("too-late")
        assert raised.value.error == "ratelimited"
        assert tiered.slack.channel("too-late") is None
        await eventually(
            lambda: any("1 waited longer than allowed and failed" in n for n in _notices(tiered)), within=10
        )
        assert len(_notices(tiered)) == 1
    finally:
        await pacer.close()
        assert slack.client.session is not None
        await slack.client.session.close()


PER_SEVERITY = 8
SEVERITIES = [Severity.P4, Severity.P3, Severity.P2, Severity.P1]  # paged in this order: the least severe first


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_storm_under_slacks_rate_tiers_loses_nothing_and_goes_by_severity(
    tiered: Sandbox, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """32 pages, 8 each of P4, P3, P2 and P1. The 24 less severe ones first, the least severe first: Slack lets 20
    channels be created per window, so about 4 of them wait; then, while those wait, the 8 P1s. Of the 12 that wait,
    the P1s get their channels first, and the rest in order of severity too."""
    h = Harness(tiered, database_url, SRE_SLACK_SLOWDOWN_QUIET_S="2")
    await h.start()
    try:

        def page(severity: Severity) -> None:
            for i in range(PER_SEVERITY):
                tiered.pagerduty.page("checkout-service", f"storm {severity} {i}", priority=str(severity))

        for severity in SEVERITIES[:-1]:
            page(severity)
        # the P1s come once Slack has answered 429: which of the first pages got through varies with the machine (they
        # are handled concurrently), and P1s paged with them had sometimes all got through before the tier was reached
        await eventually(
            lambda: any(c.status == 429 for c in tiered.slack.calls_for("conversations.create")), within=60
        )
        page(Severity.P1)
        total = PER_SEVERITY * len(SEVERITIES)

        async def all_set_up() -> bool:
            incidents = await h.services.store.incidents(open_only=True)
            return len(incidents) == total and all(i.channel_id for i in incidents) and len(cards(tiered)) == total

        await eventually(all_set_up, within=120)
        await h.settle()

        assert len(incident_channels(tiered)) == total
        assert len(cards(tiered)) == total  # one card each, none lost and none twice
        assert len(pd_status_changes(tiered, "acknowledged")) == total
        creates = tiered.slack.calls_for("conversations.create")
        assert any(c.status == 429 for c in creates), "Slack's tier was never reached: the test tests nothing"

        severity_of = {i.channel_name: i.severity for i in await h.services.store.incidents()}
        first_429 = next(n for n, c in enumerate(creates) if c.status == 429)
        waited = [severity_of[c.args["name"]] for c in creates[first_429:] if c.status == 200]
        assert waited == sorted(waited, key=lambda s: s.rank), waited  # the most severe first
        # what makes the order above say something: P1s and less severe ones both waited, and the last was not a P1
        assert Severity.P1 in waited and len(set(waited)) >= 2 and waited[-1] is not Severity.P1, waited

        # who is on call, and who they are in Slack, asked once for the storm (not once a page, against Slack's Tier
        # 3 and PagerDuty's rate limit): the first pages asked all at once, before any answer was kept
        lookups = [c.args["email"] for c in tiered.slack.calls_for("users.lookupByEmail")]
        assert sorted(lookups) == sorted(set(lookups)), lookups
        oncalls = [c for c in tiered.pagerduty.calls if c.method == "GET" and c.path == "/oncalls"]
        assert 1 <= len(oncalls) <= 2, len(oncalls)  # (read again if the storm outlasted RESPONDERS_TTL_S)

        assert set(await h.services.store.inbound_counts()) <= {"done", "ignored"}
        failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
        assert failures == [], "every page was handled at its first attempt"

        await eventually(lambda: any("Every one" in n for n in _notices(tiered)), within=30)
        notices = _notices(tiered)
        assert len(notices) == 1, notices
        assert "Every one of them has gone through" in notices[0]
    finally:
        await h.close()


async def test_the_clients_debug_lines_are_made_only_where_debug_is_on(
    tiered: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """slack_sdk writes out each request and answer for a debug line when its logger's own level lets it: the
    client's logger has its parents' level, so at INFO nothing is made, and at DEBUG the lines are logged (the
    token redacted)."""
    slack, _ = _gateway(tiered)
    try:
        caplog.set_level(logging.INFO, logger="slack_sdk")
        assert slack.client.logger.level == logging.INFO
        await slack.post(INCIDENTS, "quiet")
        assert not [r for r in caplog.records if r.name.startswith("slack_sdk")]
        caplog.set_level(logging.DEBUG, logger="slack_sdk")
        assert slack.client.logger.level == logging.DEBUG
        await slack.post(INCIDENTS, "said")
        sent = [r.getMessage() for r in caplog.records if r.name == "slack_sdk.web.async_base_client"]
        assert any("Sending a request" in m and "chat.postMessage" in m for m in sent), sent
        assert not any(tiered.world.bot.token in m for m in sent)
    finally:
        await slack.client.session.close()  # type: ignore[union-attr]
