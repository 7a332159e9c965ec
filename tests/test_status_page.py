"""The public status page, end to end against the sandbox's Statuspage: a post proposed in the incident's channel with
its exact words when customers are affected, edited in a form, approved by a person, created once, updated through
the phases (identified, monitoring, resolved) with the components' status; rejected, nothing is public; an incident
of a service no customer sees proposes nothing.

The sandbox and the bot share one virtual clock running 600 times the wall clock (a 5 minute verification window
takes half a second)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.domain.status_page import PostStatus, PublicPhase
from bot.domain.timeline import EventKind
from bot.ports.clock import ScaledClock
from bot.store import Store
from sandbox.a2a_agents import parse_agents
from sandbox.server import Sandbox
from sandbox.world import DEFAULT_WORLD, World
from tests.harness import EXAMPLE_CATALOG, Harness, agents_file, eventually, incident_channels, started_sandbox

SPEED = 600.0
TITLE = "checkout-service: error rate 8.5% (threshold 1%)"
CHECKOUT = "ckt4mz8q1r0w"  # its component on the sandbox's page (examples/catalog.yml)
APPROVE, EDIT, REJECT = "public_post.approve", "public_post.edit", "public_post.reject"


def _agents() -> list[Any]:
    return parse_agents(
        [
            {
                "name": "monitoring",
                "role": "monitoring",
                "answers": {
                    "checkout-service": {
                        "text": "checkout-service error rate is 8.5% over the last 30m (normal: 0.2%).",
                        "data": {"error_rate": 0.085},
                    }
                },
                "after_change": {
                    "checkout-service": {"text": "checkout-service error rate is 0.3%.", "data": {"error_rate": 0.003}}
                },
            },
            {
                "name": "k8s-autopilot",
                "role": "kubernetes",
                "versions": ["0.3"],
                "answers": {
                    "checkout-service": {
                        "text": "3 pods in CrashLoopBackOff in namespace shop (last state: OOMKilled, exit code 137).",
                        "data": {"pods": {"CrashLoopBackOff": 3, "OOMKilled": 3}, "restarts": 14},
                    }
                },
            },
        ]
    )


@pytest.fixture
def world() -> World:
    raw = copy.deepcopy(DEFAULT_WORLD)  # plus Pat: in Slack, not on call for checkout-service
    raw["people"].append(
        {"key": "pat", "name": "Pat Kim", "email": "pat@example.com", "slack": {"id": "U0PAT", "name": "pat"}}
    )
    return World.from_dict(raw)


@pytest.fixture
def clock() -> ScaledClock:
    return ScaledClock(SPEED)


@pytest.fixture
async def sandbox(world: World, clock: ScaledClock) -> AsyncIterator[Sandbox]:
    async with started_sandbox(world, clock=clock, agents=_agents()) as sb:
        yield sb


@pytest.fixture
def catalog(request: pytest.FixtureRequest) -> Path:
    """The example catalog (its services user-facing), or another fixture's by name."""
    name = getattr(request, "param", None)
    return Path(request.getfixturevalue(name)) if name else EXAMPLE_CATALOG


@pytest.fixture
async def h(
    sandbox: Sandbox, database_url: str, clock: ScaledClock, tmp_path: Path, catalog: Path
) -> AsyncIterator[Harness]:
    harness = Harness(
        sandbox,
        database_url,
        clock=clock,
        SRE_AGENTS_PATH=agents_file(sandbox, tmp_path, timeout_s=2.0, action_timeout_s=3.0),
        SRE_CATALOG_PATH=str(catalog),
        SRE_PROPOSAL_EXPIRY_MINUTES=600,
        STATUSPAGE_API_KEY=sandbox.statuspage.api_key,
        STATUSPAGE_PAGE_ID=sandbox.statuspage.page_id,
    )
    await harness.start()
    try:
        yield harness
    finally:
        await harness.close()


async def _paged(h: Harness) -> str:
    """Page for checkout-service and wait for its remediation proposal; the incident channel's id."""
    h.sandbox.pagerduty.page("checkout-service", TITLE, urgency="high")
    await eventually(lambda: bool(incident_channels(h.sandbox)), within=10)
    [channel] = incident_channels(h.sandbox)
    await eventually(lambda: _with_block(h, channel.id, "proposal") is not None, within=10)
    await h.settle()
    return channel.id


def _with_block(h: Harness, channel_id: str, block_id: str, nth: int = -1) -> Any:
    found = [
        m for m in h.sandbox.slack.messages_in(channel_id) if any(b.get("block_id") == block_id for b in m.blocks or [])
    ]
    return found[nth] if found else None


def _post_messages(h: Harness, channel_id: str) -> list[Any]:
    return [
        m
        for m in h.sandbox.slack.messages_in(channel_id)
        if any(b.get("block_id") == "public_post" for b in m.blocks or [])
    ]


def _button(message: Any, action_id: str) -> dict[str, Any] | None:
    for block in message.blocks or []:
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element
    return None


def _fresh(h: Harness, channel_id: str, message: Any) -> Any:
    return h.sandbox.slack.message(channel_id, message.ts)


def _told(h: Harness, user: str) -> list[str]:
    return [e.text for e in h.sandbox.slack.ephemerals if e.user == user]


async def _click(h: Harness, user: str, channel_id: str, ts: str, action: str, value: str | None = None) -> None:
    result = await h.sandbox.slack.send_action(user, channel_id, ts, action, value)
    assert result["status"] == 200, result
    await h.settle()


async def _posts(h: Harness) -> list[Any]:
    return await h.services.store.public_posts()


async def _waiting(h: Harness, phase: PublicPhase) -> Any:
    """The post proposed for `phase`, once it is shown."""

    async def shown() -> bool:
        posts = [p for p in await _posts(h) if p.phase is phase]
        ref = await h.services.store.message_ref(posts[0].incident_id, f"public-post:{posts[0].id}") if posts else None
        return ref is not None

    await eventually(shown, within=10)
    await h.settle()
    [post] = [p for p in await _posts(h) if p.phase is phase]
    return post


async def _message_of(h: Harness, post: Any) -> Any:
    """A post's message as Slack has it now (found through what the bot recorded of it)."""
    ref = await h.services.store.message_ref(post.incident_id, f"public-post:{post.id}")
    assert ref is not None
    return h.sandbox.slack.message(ref[0], ref[1])


async def _kinds(h: Harness) -> list[EventKind]:
    [incident] = await h.services.store.incidents()
    return [e.kind for e in await h.services.store.timeline(incident.id)]


async def test_proposed_edited_approved_created_once_and_updated_through_the_phases(h: Harness) -> None:
    channel = await _paged(h)
    identified = await _waiting(h, PublicPhase.IDENTIFIED)
    # the post for the first phase gave way to the one that knows more, before anyone decided: one waits
    assert [p.status for p in await _posts(h)] in (
        [PostStatus.PROPOSED],
        [PostStatus.SUPERSEDED, PostStatus.PROPOSED],
    )
    assert not identified.updates and identified.components == ((CHECKOUT, identified.components[0][1]),)
    assert identified.components[0][1] in ("major_outage", "partial_outage", "degraded_performance")
    message = await _message_of(h, identified)
    words = " ".join(b["text"]["text"] for b in message.blocks if b.get("block_id") == "public_post.words")
    assert identified.name in words and identified.body in words and "Checkout" in identified.name
    assert _button(message, APPROVE)["value"] == f"{identified.id}:{identified.text_hash}"  # type: ignore[index]
    for superseded in [p for p in await _posts(h) if p.status is PostStatus.SUPERSEDED]:
        old = await _message_of(h, superseded)
        assert _button(old, APPROVE) is None and "replaced by the identified post" in str(old.blocks)
    assert h.sandbox.statuspage.calls == []  # nothing public before a person approves

    # someone not on call may neither approve nor edit it
    await _click(h, "U0PAT", channel, message.ts, APPROVE)
    await _click(h, "U0PAT", channel, message.ts, EDIT)
    assert len([t for t in _told(h, "U0PAT") if "may decide what is made public" in t]) == 2
    assert not [v for v in h.sandbox.slack.views.values() if v.view.get("callback_id") == "public_post.edit"]

    # edited in the form: the new words are shown and bound to a new hash; the old buttons no longer count
    await _click(h, "U0DANA", channel, message.ts, EDIT)
    [form] = [v for v in h.sandbox.slack.views.values() if v.view.get("callback_id") == "public_post.edit"]
    empty = await h.sandbox.slack.send_view_submission(
        "U0DANA", form.id, {"public_post.name": {"name": identified.name}, "public_post.body": {"body": " "}}
    )
    assert "errors" in empty["body"]
    words_now = "Checkout payments are failing for some customers. We have found the cause and are fixing it."
    await h.sandbox.slack.send_view_submission(
        "U0DANA", form.id, {"public_post.name": {"name": "Checkout errors"}, "public_post.body": {"body": words_now}}
    )
    await h.settle()
    edited = next(p for p in await _posts(h) if p.id == identified.id)
    assert (edited.name, edited.body, edited.edited_by) == ("Checkout errors", words_now, "U0DANA")
    assert edited.text_hash != identified.text_hash and edited.status is PostStatus.PROPOSED
    redrawn = _fresh(h, channel, message)
    assert words_now in str(redrawn.blocks) and _button(redrawn, APPROVE)["value"].endswith(edited.text_hash)  # type: ignore[index]
    await _click(h, "U0DANA", channel, message.ts, APPROVE, f"{identified.id}:{identified.text_hash}")
    assert any("text has changed since it was shown" in t for t in _told(h, "U0DANA"))
    assert h.sandbox.statuspage.writes() == []

    # approved (twice, at once): the public incident is created once, with the edited words and the component
    value = f"{edited.id}:{edited.text_hash}"
    await asyncio.gather(
        _click(h, "U0DANA", channel, message.ts, APPROVE, value),
        _click(h, "U0SAM", channel, message.ts, APPROVE, value),
    )
    [created] = h.sandbox.statuspage.writes()
    assert created.method == "POST" and created.path == "/v1/pages/sbxpage0acme/incidents"
    [public] = h.sandbox.statuspage.incidents.values()
    assert (public.name, public.status, public.updates[0]["body"]) == ("Checkout errors", "identified", words_now)
    assert h.sandbox.statuspage.components[CHECKOUT]["status"] == identified.components[0][1]
    posted = next(p for p in await _posts(h) if p.id == identified.id)
    assert posted.status is PostStatus.PUBLISHED and posted.page_incident == public.id
    loser = "U0SAM" if posted.decided_by == "U0DANA" else "U0DANA"
    assert any(" already: nothing more happens" in t for t in _told(h, loser))
    assert public.shortlink in str(_fresh(h, channel, message).blocks)

    # the fix is approved and carried out: the update for monitoring is proposed, and approved
    await _click(h, "U0DANA", channel, _with_block(h, channel, "proposal").ts, "proposal.approve")
    monitoring = await _waiting(h, PublicPhase.MONITORING)
    assert monitoring.updates and monitoring.name == "Checkout errors"  # the title as the page has it
    await _click(h, "U0DANA", channel, (await _message_of(h, monitoring)).ts, APPROVE)
    assert public.status == "monitoring" and len(h.sandbox.statuspage.writes()) == 2

    # resolved: the last update, the component operational again
    await eventually(lambda: _with_block(h, channel, "verified.actions") is not None, within=15)
    await _click(h, "U0DANA", channel, _with_block(h, channel, "verified.actions").ts, "incident.resolve")
    resolved = await _waiting(h, PublicPhase.RESOLVED)
    assert resolved.components == ((CHECKOUT, "operational"),)
    await _click(h, "U0DANA", channel, (await _message_of(h, resolved)).ts, APPROVE)
    assert public.status == "resolved" and public.resolved_at is not None
    assert [u["status"] for u in public.updates] == ["identified", "monitoring", "resolved"]
    assert h.sandbox.statuspage.components[CHECKOUT]["status"] == "operational"
    assert [c.method for c in h.sandbox.statuspage.writes()] == ["POST", "PATCH", "PATCH"]

    # the timeline tells who proposed, edited, approved and what was posted
    kinds = await _kinds(h)
    assert kinds.count(EventKind.PUBLIC_POSTED) == 3 and kinds.count(EventKind.PUBLIC_POST_EDITED) == 1
    [incident] = await h.services.store.incidents()
    timeline = await h.services.store.timeline(incident.id)
    edits = [e for e in timeline if e.kind is EventKind.PUBLIC_POST_EDITED]
    assert edits[0].actor == "slack:U0DANA" and edits[0].data["body"] == words_now


async def test_rejected_nothing_is_public_and_nothing_more_is_proposed(h: Harness) -> None:
    channel = await _paged(h)
    identified = await _waiting(h, PublicPhase.IDENTIFIED)
    message = await _message_of(h, identified)
    # a restart while it waits shows it again nowhere: one message a post
    await h.restart()
    await h.settle()
    assert len(_post_messages(h, channel)) == len(await _posts(h))

    await _click(h, "U0DANA", channel, message.ts, REJECT)
    assert any("Rejected: nothing is made public." in t for t in _told(h, "U0DANA"))
    rejected = next(p for p in await _posts(h) if p.id == identified.id)
    assert rejected.status is PostStatus.REJECTED and rejected.decided_by == "U0DANA"
    assert "Rejected by <@U0DANA>" in str(_fresh(h, channel, message).blocks)
    assert _button(_fresh(h, channel, message), APPROVE) is None

    # the fix, its verification and the resolution follow: none of it goes public
    await _click(h, "U0DANA", channel, _with_block(h, channel, "proposal").ts, "proposal.approve")
    await eventually(lambda: _with_block(h, channel, "verified.actions") is not None, within=15)
    result = await h.sandbox.slack.send_command("U0DANA", channel, "/incident", "resolve")
    assert result["status"] == 200
    [incident] = await h.services.store.incidents()
    await eventually(lambda: h.sandbox.pagerduty.incidents[incident.external_id].status == "resolved", within=10)
    await h.settle()
    assert [p.phase for p in await _posts(h) if p.status is not PostStatus.SUPERSEDED] == [PublicPhase.IDENTIFIED]
    assert h.sandbox.statuspage.calls == [] and h.sandbox.statuspage.incidents == {}
    assert EventKind.PUBLIC_POST_REJECTED in await _kinds(h)


async def test_a_refusal_is_said_and_approving_again_posts_it_once(h: Harness) -> None:
    channel = await _paged(h)
    identified = await _waiting(h, PublicPhase.IDENTIFIED)
    message = await _message_of(h, identified)
    h.sandbox.statuspage.fail("POST", 500)  # not known whether it was done: looked for before the next try
    await _click(h, "U0DANA", channel, message.ts, APPROVE)
    assert any(
        "Statuspage refused to create the public incident: Internal server error" in t for t in _told(h, "U0DANA")
    )
    waiting = next(p for p in await _posts(h) if p.id == identified.id)
    assert waiting.status is PostStatus.PROPOSED and "Internal server error" in waiting.reason
    assert "The last try failed" in str(_fresh(h, channel, message).blocks)
    assert _button(_fresh(h, channel, message), APPROVE) is not None
    assert EventKind.PUBLIC_POST_FAILED in await _kinds(h)

    h.sandbox.statuspage.fail("POST", 420)  # asked too often: tried again after a moment, unseen
    await _click(h, "U0DANA", channel, message.ts, APPROVE)
    paths = [(c.method, c.path.rsplit("/", 1)[-1], c.status) for c in h.sandbox.statuspage.calls]
    assert paths == [
        ("POST", "incidents", 500),
        ("GET", "unresolved", 200),
        ("POST", "incidents", 420),
        ("POST", "incidents", 201),
    ]
    [public] = h.sandbox.statuspage.incidents.values()
    assert public.name == identified.name and public.status == "identified"
    posted = next(p for p in await _posts(h) if p.id == identified.id)
    assert posted.status is PostStatus.PUBLISHED and posted.reason == "" and posted.page_incident == public.id


@pytest.fixture
def internal(tmp_path: Path) -> Path:
    """The example catalog, with checkout-service as a service no customer sees."""
    data = yaml.safe_load(EXAMPLE_CATALOG.read_text())
    for service in data["services"]:
        service["user_facing"] = False
    path = tmp_path / "catalog.yml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("catalog", [pytest.param("internal", id="internal")], indirect=True)
async def test_no_customer_sees_the_service_nothing_is_proposed(h: Harness) -> None:
    channel = await _paged(h)
    await _click(h, "U0DANA", channel, _with_block(h, channel, "proposal").ts, "proposal.approve")
    await eventually(lambda: _with_block(h, channel, "verified.actions") is not None, within=15)
    await h.settle()
    assert await _posts(h) == [] and _post_messages(h, channel) == []
    assert h.sandbox.statuspage.calls == []


@pytest.mark.parametrize("created", [False, True], ids=["not-created", "created-before-the-stop"])
async def test_an_approval_cut_off_by_a_stop_is_posted_once_at_the_next_start(h: Harness, created: bool) -> None:
    await _paged(h)
    identified = await _waiting(h, PublicPhase.IDENTIFIED)
    await h.stop()
    # as a process that stopped right after the approval was recorded leaves it (and, perhaps, the page created)
    store = await Store.open(h.database_url)
    try:
        approved = replace(identified, status=PostStatus.APPROVED, decided_by="U0DANA")
        assert await store.save_public_post(identified, approved, now=identified.created_at) is not None
    finally:
        await store.close()
    if created:
        h.sandbox.statuspage.open_incident(identified.name, "identified")
    await h.start()
    await eventually(lambda: _published(h, identified.id), within=10)
    await h.settle()
    [public] = h.sandbox.statuspage.incidents.values()  # one public incident, either way
    creates = [c for c in h.sandbox.statuspage.calls if c.method == "POST"]
    assert len(creates) == (0 if created else 1)
    posted = next(p for p in await _posts(h) if p.id == identified.id)
    assert posted.page_incident == public.id
    assert "Posted on approval by <@U0DANA>" in str((await _message_of(h, posted)).blocks)


async def _published(h: Harness, post_id: int) -> bool:
    return any(p.id == post_id and p.status is PostStatus.PUBLISHED for p in await _posts(h))
