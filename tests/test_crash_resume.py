"""`sre-agent serve` killed with SIGKILL at each point of opening an incident, then started again at once: within
10 s it finishes what was cut off, and there is one channel, one card, one announcement, one PagerDuty note, one
acknowledgement, one findings message and one proposal, the incident awaiting approval as it would have been.

The sandbox carries out the call and holds back its answer: the bot dies after the change happened in Slack or
PagerDuty and before it could record it (the worst moment)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from blocks.ids import BlockId
from bot.runtime.intake import LEASE
from bot.store.tables import inbound_events
from sandbox.botapp import free_port
from sandbox.holds import Hold
from sandbox.scenario import load_scenario
from sandbox.server import Sandbox
from tests.harness import Harness, Serve, eventually, fresh_event, incident_channels, posted_with, with_block

SERVICE = "checkout-service"
TITLE = "checkout-service: error rate 8.5% (threshold 1%)"
RESUME_WITHIN_S = 10.0


@pytest.fixture
def k8s_working_ms() -> int:
    """How long the Kubernetes agent takes to answer (a test of a change cut off in flight makes it long)."""
    return 0


@pytest.fixture
async def served(tmp_path: Path, database_url: str, k8s_working_ms: int) -> AsyncIterator[Serve]:
    scenario = load_scenario("checkout-crash-storm")
    sandbox = Sandbox(
        scenario.world,
        slack_signing_secret=secrets.token_hex(16),
        pagerduty_webhook_secrets=[secrets.token_hex(16)],
        agents=[replace(a, working_ms=k8s_working_ms) if a.role == "kubernetes" else a for a in scenario.agents],
        webhook_retry_delays=[0.2, 0.5, 1, 2, 4],
    )
    await sandbox.start(host="127.0.0.1", port=0)
    port = free_port()
    sandbox.bot_url = f"http://127.0.0.1:{port}"
    catalog = tmp_path / "catalog.yml"
    catalog.write_text(yaml.safe_dump(scenario.catalog), encoding="utf-8")
    agents = tmp_path / "agents.yml"
    agents.write_text(yaml.safe_dump(sandbox.agents.agents_file()), encoding="utf-8")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SRE_", "SLACK_", "PAGERDUTY_"))},
        **sandbox.bot_settings(),
        "SRE_HOST": "127.0.0.1",
        "SRE_PORT": str(port),
        "SRE_LOG_LEVEL": "WARNING",
        "SRE_CATALOG_PATH": str(catalog),
        "SRE_AGENTS_PATH": str(agents),
        "SRE_DATABASE_URL": database_url,
    }
    serve = Serve(sandbox, env, port, log=tmp_path / "serve.log")
    await serve.start()
    try:
        yield serve
    finally:
        sandbox.slack.holds.release_all()
        sandbox.pagerduty.holds.release_all()
        await serve.stop()
        await sandbox.stop()


def _counts(sandbox: Sandbox) -> dict[str, int]:
    [incident] = sandbox.pagerduty.incidents.values()
    return {
        "channels": len(incident_channels(sandbox)),
        "cards": len(with_block(sandbox, BlockId.CARD_HEADER)),
        "announcements": len(with_block(sandbox, BlockId.ANNOUNCEMENT, sandbox.world.incidents_channel.id)),
        "notes": len(incident.notes),
        "acknowledgements": sum(1 for h in incident.history if h["status"] == "acknowledged"),
        "triage": len(with_block(sandbox, BlockId.TRIAGE)),
        "findings": len(with_block(sandbox, BlockId.FINDINGS)),
        "proposals": len(with_block(sandbox, BlockId.PROPOSAL)),
        # (the world's on-call at level 1 includes a person Slack does not know: said once in the channel)
        "responders not found": sum(
            "could not find" in m.text for c in incident_channels(sandbox) for m in sandbox.slack.messages_in(c.id)
        ),
    }


ONE_OF_EACH = {
    "channels": 1,
    "cards": 1,
    "announcements": 1,
    "notes": 1,
    "acknowledgements": 1,
    "triage": 1,
    "findings": 1,
    "proposals": 1,
    "responders not found": 1,
}


KILL_POINTS: dict[str, Callable[[Sandbox], Hold]] = {
    "channel created": lambda sb: sb.slack.hold("conversations.create"),
    "card posted": lambda sb: sb.slack.hold("chat.postMessage", posted_with(BlockId.CARD_HEADER)),
    "acknowledgement sent": lambda sb: sb.pagerduty.hold("PUT", "/incidents/"),
    "note added": lambda sb: sb.pagerduty.hold("POST", "/incidents/"),
    "announcement posted": lambda sb: sb.slack.hold("chat.postMessage", posted_with(BlockId.ANNOUNCEMENT)),
    "findings posted": lambda sb: sb.slack.hold("chat.postMessage", posted_with(BlockId.FINDINGS)),
    "proposal posted": lambda sb: sb.slack.hold("chat.postMessage", posted_with(BlockId.PROPOSAL)),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
async def test_killed_while_opening_resumes_at_once_and_does_nothing_twice(served: Serve, point: str) -> None:
    sandbox = served.sandbox
    hold = KILL_POINTS[point](sandbox)
    sandbox.pagerduty.page(SERVICE, TITLE, urgency="high")
    await asyncio.wait_for(hold.reached.wait(), timeout=20)
    await served.kill()  # the call was carried out; its answer never reaches the bot
    hold.release()
    restarted = time.monotonic()
    await served.start()
    while _counts(sandbox) != ONE_OF_EACH or not _awaiting_approval(sandbox):
        assert time.monotonic() - restarted < RESUME_WITHIN_S, (point, _counts(sandbox))
        await asyncio.sleep(0.05)
    took = time.monotonic() - restarted
    await asyncio.sleep(1.5)  # nothing more comes late: no second card, channel, note or proposal
    assert _counts(sandbox) == ONE_OF_EACH, (point, _counts(sandbox))
    assert _awaiting_approval(sandbox) and took < RESUME_WITHIN_S


async def test_killed_after_the_announcement_in_a_busy_incidents_channel_it_is_found_not_posted_again(
    served: Serve,
) -> None:
    """The announcement reached #incidents, the bot died before it recorded it, and while it was down 450 messages
    (other incidents' announcements in a storm, people) came after it: started again, it finds its own, pages back."""
    sandbox = served.sandbox
    hold = KILL_POINTS["announcement posted"](sandbox)
    sandbox.pagerduty.page(SERVICE, TITLE, urgency="high")
    await asyncio.wait_for(hold.reached.wait(), timeout=20)
    await served.kill()
    hold.release()
    incidents = sandbox.slack.channel_or_error(sandbox.world.incidents_channel.id)
    for i in range(450):
        sandbox.slack.add_message(incidents, "U0DANA", f"unrelated {i}", None, None, bot=False)
    await served.start()
    await eventually(lambda: _counts(sandbox) == ONE_OF_EACH and _awaiting_approval(sandbox), within=RESUME_WITHIN_S)
    await asyncio.sleep(1.5)
    assert _counts(sandbox) == ONE_OF_EACH, _counts(sandbox)


@pytest.mark.parametrize("k8s_working_ms", [4000])
async def test_killed_while_the_approved_change_runs_it_is_followed_after_restart_not_asked_again(
    served: Serve,
) -> None:
    """Approved; the change reached the Kubernetes agent, which works on it for 4 s; the bot dies. Started again, it
    follows the same task to its end: the agent was asked once, carried it out once, and the proposal says so."""
    sandbox = served.sandbox
    sandbox.pagerduty.page(SERVICE, TITLE, urgency="high")
    await eventually(lambda: _counts(sandbox) == ONE_OF_EACH and _awaiting_approval(sandbox), within=20)
    [proposal] = with_block(sandbox, BlockId.PROPOSAL)
    [channel] = incident_channels(sandbox)
    answer = await sandbox.slack.send_action("U0DANA", channel.id, proposal.ts, "proposal.approve")
    assert answer["status"] == 200
    # its gate was answered: the change is under way at the agent (the bot holds the task's id by then)
    await eventually(lambda: len(sandbox.agents.executions) == 1, within=10)
    await served.kill()  # nothing of its end reached the bot
    await served.start()

    def carried_out() -> bool:
        shown = sandbox.slack.message(channel.id, proposal.ts)
        return shown is not None and "Carried out" in str(shown.blocks)

    await eventually(carried_out, within=30)  # the agent's 4 s, and a restart on a busy machine
    await asyncio.sleep(1.5)
    assert len(sandbox.agents.change_requests) == 1 and len(sandbox.agents.executions) == 1
    assert sandbox.agents.executions[0]["outcome"] == "done"
    assert _counts(sandbox) == ONE_OF_EACH


async def test_killed_between_answering_a_click_and_acting_on_it_the_click_is_acted_on_after_restart(
    served: Serve,
) -> None:
    """Approve is answered 200 (Slack sends a click once and never again); the bot is still asking PagerDuty who may
    approve when it dies. Started again, it takes the stored click up: the change is carried out, once."""
    sandbox = served.sandbox
    sandbox.pagerduty.page(SERVICE, TITLE, urgency="high")
    await eventually(lambda: _counts(sandbox) == ONE_OF_EACH and _awaiting_approval(sandbox), within=20)
    [proposal] = with_block(sandbox, BlockId.PROPOSAL)
    [channel] = incident_channels(sandbox)
    asking = sandbox.pagerduty.hold("GET", "/oncalls")
    answer = await sandbox.slack.send_action("U0DANA", channel.id, proposal.ts, "proposal.approve")
    assert answer["status"] == 200
    await asyncio.wait_for(asking.reached.wait(), 10)  # the click is being acted on: nothing decided yet
    await served.kill()
    asking.release()
    assert not sandbox.agents.change_requests
    await served.start()

    def carried_out() -> bool:
        shown = sandbox.slack.message(channel.id, proposal.ts)
        return shown is not None and "Carried out" in str(shown.blocks)

    await eventually(carried_out, within=30)
    await asyncio.sleep(1.5)
    assert len(sandbox.agents.change_requests) == 1 and len(sandbox.agents.executions) == 1
    assert _counts(sandbox) == ONE_OF_EACH


def _awaiting_approval(sandbox: Sandbox) -> bool:
    """The card says so (it is redrawn as the phase changes)."""
    cards = with_block(sandbox, BlockId.CARD_HEADER)
    return bool(cards) and "Awaiting approval" in str(cards[-1].blocks)


async def test_without_a_crash_the_same_counts_hold(served: Serve) -> None:
    """The yardstick for the test above: an opening that nobody interrupts."""
    served.sandbox.pagerduty.page(SERVICE, TITLE, urgency="high")
    deadline = time.monotonic() + RESUME_WITHIN_S
    while _counts(served.sandbox) != ONE_OF_EACH or not _awaiting_approval(served.sandbox):
        assert time.monotonic() < deadline, _counts(served.sandbox)
        await asyncio.sleep(0.05)


async def _claimed_by_another_replica(h: Harness, delivery_id: str) -> tuple[Any, int, datetime]:
    """A page's event stored and claimed by another replica (which then stops renewing it): the PagerDuty
    incident, the event's id, and when it was claimed."""
    store = h.services.store
    incident = h.sandbox.pagerduty.create_incident(h.sandbox.world.service(SERVICE), TITLE, webhooks=False)
    body = fresh_event("pagerduty_incident_triggered.json", id=incident.id, number=incident.number)
    event_id = await store.record_inbound(
        source="pagerduty",
        delivery_id=delivery_id,
        event_type="incident.triggered",
        body=json.dumps(body),
        received_at=h.services.clock.now(),
        incident_ref=incident.id,
    )
    assert event_id is not None
    claimed_at = h.services.clock.now()
    assert await store.claim_inbound(event_id, now=claimed_at, lease=LEASE, holder="replica-b:3000/0123456789ab")
    return incident, event_id, claimed_at


async def test_an_event_another_replica_stopped_renewing_is_taken_up_after_its_lease(fast: Harness) -> None:
    """Another replica took the page and died: its lease lapses (30 s, renewed every 10 s while alive) and this one
    takes the page up then, not at its own next start."""
    h, store = fast, fast.services.store
    _, event_id, claimed_at = await _claimed_by_another_replica(h, "from-replica-b")
    await eventually(lambda: bool(incident_channels(h.sandbox)), within=10)
    await h.settle()
    assert (await store.inbound_counts()).get("processing", 0) == 0 and len(incident_channels(h.sandbox)) == 1
    # when this replica claimed it (the time its work then took apart: on a clock 200 times the wall's, a busy
    # machine's tenth of a second is 20 s of it; the sweep looks every third of a lease, so one lease more is room
    # for a loaded machine's delays (a run on PostgreSQL took it 39 s after the lease lapsed), and still says that
    # the sweep took it up, not a restart)
    taken_at, taken_by = await store.run(
        lambda conn: conn.execute(
            sa.select(inbound_events.c.claimed_at, inbound_events.c.claimed_by).where(inbound_events.c.id == event_id)
        ).one()
    )
    assert taken_by == h.services.intake.holder
    assert LEASE <= taken_at - claimed_at < LEASE * 3, taken_at - claimed_at


async def test_an_event_whose_retry_was_never_stored_is_taken_up_after_the_longest_backoff(fast: Harness) -> None:
    """An attempt failed and the event went back to pending, but its retry's timer could not be stored (the database
    went away just then): no timer will ever fire for it. A lease after the longest backoff, it is taken up."""
    h, store = fast, fast.services.store
    _, event_id, tried_at = await _claimed_by_another_replica(h, "retry-lost")
    await store.finish_inbound(event_id, status="pending", now=tried_at, error="StoreUnavailable: ...")
    await eventually(lambda: bool(incident_channels(h.sandbox)), within=10)
    # when this process took it (not when its channel appeared: opening it takes a while on a 200-fold clock)
    claimed_at = await store.run(
        lambda conn: conn.execute(
            sa.select(inbound_events.c.claimed_at).where(inbound_events.c.id == event_id)
        ).scalar_one()
    )
    waited = claimed_at - tried_at
    longest = timedelta(seconds=max(h.services.intake.backoff_s))
    assert LEASE + longest <= waited < LEASE * 3 + longest, waited  # (the room as above)
    await h.settle()
    counts = await store.inbound_counts()
    assert not counts.get("pending") and not counts.get("processing") and len(incident_channels(h.sandbox)) == 1


async def test_a_restarted_instance_takes_up_its_own_cut_off_work_at_once(fast: Harness) -> None:
    """The leases a process held are void when the same instance (host and port, or SRE_INSTANCE_NAME) starts
    again: no waiting for them to lapse. Another instance's lease is left alone."""
    h = fast
    mine = h.services.intake.instance
    incident = h.sandbox.pagerduty.create_incident(h.sandbox.world.service(SERVICE), TITLE, webhooks=False)
    body = fresh_event("pagerduty_incident_triggered.json", id=incident.id, number=incident.number)
    await h.stop()
    ids = []
    for n, holder in enumerate([f"{mine}/earlierboot0", "replica-b:3000/0123456789ab"]):
        event_id = await _stored(h, body if n == 0 else {**body, "event": {**body["event"], "id": f"OTHER{n}"}}, holder)
        ids.append(event_id)
    await h.start()
    await eventually(lambda: bool(incident_channels(h.sandbox)), within=10)
    await h.settle()
    own = await h.services.store.inbound(ids[0])
    assert own is not None and own.status == "done" and own.attempts == 2
    other = await h.services.store.inbound(ids[1])
    assert other is not None and other.status == "processing" and other.attempts == 1  # until its lease lapses


async def _stored(h: Harness, body: dict[str, Any], holder: str) -> int:
    """An event stored and claimed by `holder` (the other replica's claim is fresh for a virtual hour)."""
    from bot.store import Store

    store = await Store.open(h.database_url)
    try:
        event_id = await store.record_inbound(
            source="pagerduty",
            delivery_id=f"d-{holder}",
            event_type="incident.triggered",
            body=json.dumps(body),
            received_at=datetime.now(UTC),
            incident_ref=None,
        )
        assert event_id is not None
        now = h.clock.now() if h.clock else datetime.now(UTC)
        fresh_until = now + (timedelta(hours=1) if holder.startswith("replica-b") else timedelta())
        assert await store.claim_inbound(event_id, now=fresh_until, lease=LEASE, holder=holder)
        return event_id
    finally:
        await store.close()


async def test_a_declared_incident_cut_off_before_its_channel_is_opened_at_start(h: Harness) -> None:
    """A person declared it; the process died right after storing it. No page will come again for it: the start
    itself finishes opening it (channel, card, announcement), from where it stopped."""
    from bot.domain.incident import Incident, SetupStep
    from bot.domain.phase import Phase
    from bot.domain.severity import Severity
    from bot.domain.timeline import EventKind, TimelineEvent
    from bot.store import Store

    await h.stop()
    now = datetime.now(UTC)
    incident = Incident(
        source="slack",
        external_id="declared-1",
        title="search is slow",
        service="search-api",
        severity=Severity.P3,
        phase=Phase.ACKNOWLEDGED,
        triggered_at=now,
        commander="U0DANA",
        steps={SetupStep.ACKNOWLEDGE},
        begun={SetupStep.CHANNEL},
    )
    store = await Store.open(h.database_url)
    try:
        assert await store.create_incident(
            incident,
            [TimelineEvent(at=now, kind=EventKind.TRIGGERED, actor="slack:U0DANA", text=incident.title)],
            now=now,
        )
    finally:
        await store.close()
    await h.start()
    await eventually(lambda: len(with_block(h.sandbox, BlockId.CARD_HEADER)) == 1, within=10)
    await h.settle()
    opened = await h.services.store.incident_by_external("slack", "declared-1")
    assert opened is not None and opened.channel_id and SetupStep.PROPOSE in opened.steps
    assert len(incident_channels(h.sandbox)) == 1
    assert len(with_block(h.sandbox, BlockId.ANNOUNCEMENT, h.sandbox.world.incidents_channel.id)) == 1
