"""The real app over HTTP against the sandbox, with signed Slack requests no Slack user could make: buttons of every
action id the app registers carrying forged or garbled values (another proposal's id, a plan hash one character
off, a status page post's value on a proposal's button, text, numbers, null), form submissions with anything in
their private_metadata and state, and slash commands with any text. Never a 5xx and never an error in the log; a
forged button or form changes nothing (no proposal decided, no change asked of an agent, nothing posted on the
status page, no incident moved) and the person is told why, privately. Then replay protection: a signed Slack
request older than five minutes is 401, and a PagerDuty delivery sent again is a no-op.

Each property runs its examples against one harness, one incident with a proposal and a status page post waiting
(and a second incident), as tests/test_slack_bodies.py does."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
from hypothesis import HealthCheck, assume, given, seed, settings
from hypothesis import strategies as st

from blocks.ids import ActionId, BlockId, CallbackId
from bot.domain.approval import Status
from bot.domain.status_page import PostStatus, PublicPhase
from bot.ports.clock import ScaledClock
from sandbox.a2a_agents import parse_agents
from sandbox.server import Sandbox
from sandbox.signing import slack_headers
from sandbox.world import DEFAULT_WORLD, World
from tests.harness import (
    SIGNING_SECRET,
    Harness,
    agents_file,
    eventually,
    incident_channels,
    started_sandbox,
)

EXAMPLES = int(os.environ.get("SRE_FUZZ_EXAMPLES", "0"))  # set for a longer search than the defaults below
FORM = "application/x-www-form-urlencoded"
TITLE = "checkout-service: error rate 8.5% (threshold 1%)"
ALLOWED, ON_CALL_TOO, NOT_ALLOWED = "U0DANA", "U0SAM", "U0PAT"  # Pat is in Slack, on no rota, no approver
OUR_LOGGERS = ("bot", "handlers", "blocks", "slack_bolt", "aiohttp.server")
PROPOSAL_ACTIONS = (ActionId.PROPOSAL_APPROVE, ActionId.PROPOSAL_REJECT, ActionId.PROPOSAL_DONE)
POST_ACTIONS = (ActionId.PUBLIC_APPROVE, ActionId.PUBLIC_EDIT, ActionId.PUBLIC_REJECT)
OFFER_ACTIONS = (ActionId.OFFER_APPROVE, ActionId.OFFER_REJECT)


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
    raw = copy.deepcopy(DEFAULT_WORLD)
    raw["people"].append(
        {"key": "pat", "name": "Pat Kim", "email": "pat@example.com", "slack": {"id": NOT_ALLOWED, "name": "pat"}}
    )
    return World.from_dict(raw)


@pytest.fixture
async def sandbox(world: World) -> AsyncIterator[Sandbox]:
    async with started_sandbox(world, agents=_agents()) as sb:
        yield sb


@pytest.fixture
async def h(sandbox: Sandbox, database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    harness = Harness(
        sandbox,
        database_url,
        SRE_AGENTS_PATH=agents_file(sandbox, tmp_path, timeout_s=2.0, action_timeout_s=3.0),
        SRE_PROPOSAL_EXPIRY_MINUTES=600,
        STATUSPAGE_API_KEY=sandbox.statuspage.api_key,
        STATUSPAGE_PAGE_ID=sandbox.statuspage.page_id,
    )
    await harness.start()
    try:
        yield harness
    finally:
        await harness.close()


@pytest.fixture(autouse=True)
def _info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)


def _errors(caplog: pytest.LogCaptureFixture, since: int = 0) -> list[str]:
    """Errors, and anything logged with a traceback, from the bot, its listeners, Bolt and the HTTP server."""
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records[since:]
        if any(r.name == n or r.name.startswith(n + ".") for n in OUR_LOGGERS)
        and (r.levelno >= logging.ERROR or r.exc_info)
    ]


# The scene: incident A (a proposal and a status page post waiting), incident B (declared) -------------------------


@dataclass(frozen=True)
class Scene:
    a: Any  # incident A, paged: its proposal and its post wait for a decision
    b: Any  # incident B, declared from Slack
    proposal: Any
    post: Any
    proposal_ts: str  # the messages with the buttons, in A's channel
    post_ts: str
    card_ts: str
    proposal_values: frozenset[tuple[int, str]]  # every (id, hash) a real button carries
    post_values: frozenset[tuple[int, str]]


def _with_block(h: Harness, channel_id: str, block_id: str) -> Any:
    found = [
        m for m in h.sandbox.slack.messages_in(channel_id) if any(b.get("block_id") == block_id for b in m.blocks or [])
    ]
    return found[-1] if found else None


async def _scene(h: Harness, *, everyone_joins: bool = False) -> Scene:
    """Incident A paged (its proposal and its identified post shown), incident B declared; with `everyone_joins`,
    everyone (Pat too) is in every channel, so that a refusal can be told there without a response_url."""
    sb, store = h.sandbox, h.services.store
    sb.pagerduty.page("checkout-service", TITLE, urgency="high")
    await eventually(lambda: bool(incident_channels(sb)), within=10)
    [channel] = incident_channels(sb)
    await eventually(lambda: _with_block(h, channel.id, BlockId.PROPOSAL_ACTIONS) is not None, within=10)

    async def identified() -> bool:
        posts = [p for p in await store.public_posts() if p.phase is PublicPhase.IDENTIFIED]
        return bool(posts) and await store.message_ref(posts[0].incident_id, f"public-post:{posts[0].id}") is not None

    await eventually(identified, within=10)
    await h.settle()
    result = await sb.slack.send_command(ALLOWED, "C0INCIDENTS", "/incident", "declare search-service returns errors")
    assert result["status"] == 200
    await eventually(lambda: len(incident_channels(sb)) == 2, within=10)
    await h.settle()
    a, b = await store.incidents()
    assert a.id is not None and b.id is not None
    if everyone_joins:
        for channel_id in (a.channel_id, b.channel_id, "C0INCIDENTS"):
            sb.slack.channels[str(channel_id)].members |= {ALLOWED, ON_CALL_TOO, NOT_ALLOWED}
    [proposal] = await store.proposals(a.id)
    [post] = [p for p in await store.public_posts(a.id) if p.status is PostStatus.PROPOSED]
    ref = await store.message_ref(a.id, f"public-post:{post.id}")
    assert ref is not None and proposal.status is Status.PROPOSED
    return Scene(
        a,
        b,
        proposal,
        post,
        _with_block(h, channel.id, BlockId.PROPOSAL_ACTIONS).ts,
        ref[1],
        _with_block(h, channel.id, BlockId.CARD_ACTIONS).ts,
        frozenset((p.id, p.plan_hash) for p in await store.proposals()),
        frozenset((p.id, p.text_hash) for p in await store.public_posts()),
    )


async def _state(h: Harness) -> Any:
    """Everything a decision could change: the incidents, proposals, posts and offers as stored, what the agents
    were asked to change, what the status page holds, and every message in Slack's channels (a direct message to
    a person is telling them, as an ephemeral is: `_told`)."""
    store, sb = h.services.store, h.sandbox
    incidents = [(i.id, i.phase, i.severity, i.commander, i.resolved_at) for i in await store.incidents()]
    messages = [
        (c, m.ts, m.text, json.dumps(m.blocks, sort_keys=True, default=str))
        for c in sorted(sb.slack.channels)
        if not sb.slack.channels[c].is_im
        for m in sb.slack.messages_in(c)
    ]
    return (
        incidents,
        await store.proposals(),
        await store.public_posts(),
        await store.offers(),
        list(sb.agents.change_requests),
        sorted(sb.statuspage.incidents),
        messages,
    )


def _told(h: Harness, user: str) -> int:
    """How many things `user` was told privately (chat.postEphemeral, a response_url's answer, or a direct
    message from the app)."""
    slack = h.sandbox.slack
    direct = sum(len(c.messages) for c in slack.channels.values() if c.is_im and user in c.members)
    return sum(e.user == user for e in slack.ephemerals) + direct


async def _post(h: Harness, body: bytes, content_type: str = FORM, *, timestamp: int | None = None) -> tuple[int, str]:
    assert h.http is not None
    headers = {"Content-Type": content_type, **slack_headers(SIGNING_SECRET, body, timestamp)}
    async with h.http.post(f"{h.url}/slack/events", data=body, headers=headers) as response:
        return response.status, await response.text()


def _click_body(h: Harness, user: str, channel: str, ts: str, action: str, value: Any, response_url: bool) -> bytes:
    """A click on the message `ts` as Slack sends it, with `value` (any JSON) in place of the button's own."""
    form = parse_qs(h.sandbox.slack.action_body(user, channel, ts, action, "@").decode())
    payload = json.loads(form["payload"][0])
    payload["actions"][0]["value"] = value
    if not response_url:
        del payload["response_url"]
    return urlencode({"payload": json.dumps(payload)}).encode()


def _view_body(user: str, callback_id: str, metadata: str, values: Any) -> bytes:
    payload = {
        "type": "view_submission",
        "team": {"id": "T0123ABCD", "domain": "acme"},
        "user": {"id": user, "username": "someone", "team_id": "T0123ABCD"},
        "api_app_id": "A0SREAGENT",
        "trigger_id": "1.1.abc",
        "view": {
            "id": "V0FORGED",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": metadata,
            "state": {"values": values},
        },
        "response_urls": [],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


# Strategies ---------------------------------------------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), TEXT),
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(TEXT, kids, max_size=3)),
    max_leaves=6,
)
ODD_IDS = st.sampled_from(
    ["0", "-1", "+1", " 1", "1.0", "1e0", "0x1", "²", "١", "1_0", "99999999999", "2147483648", ""]
)


def _means(value: Any) -> tuple[int, str] | None:
    """The (id, hash) a button value would be read as, leading zeros and all (`"01:ab"` is proposal 1's)."""
    if not isinstance(value, str):
        return None
    head, sep, digest = value.partition(":")
    if not sep or not head.isascii() or not head.isdigit():
        return None
    return int(head), digest


@st.composite
def forged_values(draw: st.DrawFn, real: tuple[int, str], others: list[tuple[int, str]]) -> Any:
    """A button value that is not `real`: its id or its hash altered, another family's value, or no such value."""
    ident, digest = real
    kind = draw(st.sampled_from(["id", "hash", "other", "separator", "odd-id", "text", "json"]))
    if kind == "id":
        return f"{draw(st.one_of(st.integers(1, 2**31 - 1), st.sampled_from([ident + 1, ident - 1, 1, 2])))}:{digest}"
    if kind == "hash":
        altered = draw(
            st.sampled_from(
                [
                    digest[:-1],
                    digest + "0",
                    digest[1:],
                    digest.upper(),
                    ("1" if digest[0] == "0" else "0") + digest[1:],
                    digest[:8],
                    "",
                    " " + digest,
                    digest + " ",
                    digest + ":" + digest,
                ]
            )
            | TEXT
        )
        return f"{ident}:{altered}"
    if kind == "other":
        other_id, other_hash = draw(st.sampled_from(others))
        return draw(st.sampled_from([f"{other_id}:{other_hash}", f"{ident}:{other_hash}", f"{other_id}:{digest}"]))
    if kind == "separator":
        return draw(
            st.sampled_from([f"{ident}/{digest}", f"{ident} : {digest}", f"{ident}{digest}", f"{digest}:{ident}"])
        )
    if kind == "odd-id":
        return f"{draw(ODD_IDS)}:{digest}"
    if kind == "text":
        return draw(TEXT)
    return draw(JSON_VALUES)


@dataclass(frozen=True)
class Forged:
    kind: str  # click | view
    user: str
    action: str  # an action id, or a view's callback id
    value: Any  # a click's value; a view's (private_metadata, state values)
    response_url: bool = True


@st.composite
def forged_clicks(draw: st.DrawFn, scene: Scene) -> Forged:
    """A click on one of the app's buttons whose value is forged (or a real value clicked by someone who may not
    decide): never the button as the app drew it, clicked by someone who may."""
    family = draw(st.sampled_from(["proposal", "proposal", "post", "post", "resolve", "offer", "link"]))
    user = draw(st.sampled_from([ALLOWED, ON_CALL_TOO, NOT_ALLOWED]))
    response_url = draw(st.booleans())
    proposal = (scene.proposal.id, scene.proposal.plan_hash)
    post = (scene.post.id, scene.post.text_hash)
    if family in ("proposal", "post"):
        action = draw(st.sampled_from(PROPOSAL_ACTIONS if family == "proposal" else POST_ACTIONS))
        real, others = (proposal, [post]) if family == "proposal" else (post, [proposal])
        reals = scene.proposal_values if family == "proposal" else scene.post_values
        if draw(st.integers(0, 4)) == 0:  # the button as drawn, clicked by someone who may not decide
            return Forged("click", NOT_ALLOWED, action, f"{real[0]}:{real[1]}", response_url)
        value = draw(forged_values(real, others))
        assume(_means(value) not in reals)  # the value of one of the app's own buttons is no forgery
        return Forged("click", user, action, value, response_url)
    if family == "resolve":  # an incident id that is none: another incident's is a test of its own (below)
        value = draw(st.one_of(st.integers(3, 2**31 - 1).map(str), ODD_IDS, TEXT, JSON_VALUES))
        assume(value not in (scene.a.id, scene.b.id, str(scene.a.id), str(scene.b.id)))
        return Forged("click", user, ActionId.INCIDENT_RESOLVE, value, response_url)
    if family == "offer":  # no budget offer was ever made: every value is forged
        others = [proposal, post]
        value = draw(st.one_of(forged_values(proposal, others), forged_values(post, others), st.just("1:abc")))
        return Forged("click", user, draw(st.sampled_from(OFFER_ACTIONS)), value, response_url)
    return Forged("click", user, ActionId.INCIDENT_OPEN_PAGERDUTY, draw(JSON_VALUES), response_url)


def _state_values(block: str, action: str, text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.fixed_dictionaries({block: st.fixed_dictionaries({action: st.fixed_dictionaries({"value": text})})}),
        st.dictionaries(TEXT, st.dictionaries(TEXT, JSON_VALUES, max_size=2), max_size=2),
    )


REASONS = st.one_of(st.just("we roll back instead"), TEXT)


@st.composite
def forged_views(draw: st.DrawFn, scene: Scene) -> Forged:
    """The reason form of a Reject and the form of a status page post's Edit, submitted with private_metadata that
    does not carry the value of a button the app drew (or does, submitted by someone who may not decide)."""
    user = draw(st.sampled_from([ALLOWED, ON_CALL_TOO, NOT_ALLOWED]))
    channel = draw(st.sampled_from([scene.a.channel_id, scene.b.channel_id, "C0INCIDENTS", None, 7, "#x", ""]))
    proposal = (scene.proposal.id, scene.proposal.plan_hash)
    post = (scene.post.id, scene.post.text_hash)
    if draw(st.booleans()):
        callback, key, real, reals = CallbackId.REJECT, "proposal", proposal, scene.proposal_values
        values = _state_values(BlockId.REJECT_REASON, ActionId.REJECT_REASON, REASONS)
    else:
        callback, key, real, reals = CallbackId.PUBLIC_EDIT, "post", post, scene.post_values
        values = st.one_of(
            st.fixed_dictionaries(
                {
                    BlockId.PUBLIC_NAME.value: st.fixed_dictionaries(
                        {ActionId.PUBLIC_NAME.value: st.fixed_dictionaries({"value": TEXT})}
                    ),
                    BlockId.PUBLIC_BODY.value: st.fixed_dictionaries(
                        {ActionId.PUBLIC_BODY.value: st.fixed_dictionaries({"value": TEXT})}
                    ),
                }
            ),
            st.dictionaries(TEXT, st.dictionaries(TEXT, JSON_VALUES, max_size=2), max_size=2),
        )
    how = draw(st.sampled_from(["forged", "forged", "real-by-another", "text", "json"]))
    if how in ("forged", "real-by-another"):
        value = draw(forged_values(real, [proposal, post])) if how == "forged" else f"{real[0]}:{real[1]}"
        if how == "real-by-another":
            user = NOT_ALLOWED
        else:
            assume(_means(value) not in reals)
        ident, _, digest = str(value).partition(":")
        meta: dict[str, Any] = {
            key: draw(st.sampled_from([ident, int(ident)]) if ident.isascii() and ident.isdigit() else st.just(ident))
        }
        meta["hash"] = digest
        if channel is not None:
            meta["channel"] = channel
        metadata = json.dumps(meta)
    elif how == "text":
        metadata = draw(TEXT)
    else:
        metadata = json.dumps(draw(JSON_VALUES))
    return Forged("view", user, str(callback), (metadata, draw(values)))


def _readable(callback: str, metadata: str) -> bool:
    """Whether a form's private_metadata carries a button value (a row id and a hash) and a channel to tell the
    person in (one that cannot be read is a gap of its own: see the known gaps below)."""
    try:
        meta = json.loads(metadata)
    except ValueError:
        return False
    if not isinstance(meta, dict):
        return False
    ident = meta.get("proposal" if callback == CallbackId.REJECT else "post")
    if isinstance(ident, str) and ident.isascii() and ident.isdigit() and len(ident) <= 10:
        ident = int(ident)
    channel, digest = meta.get("channel"), meta.get("hash")
    return (
        type(ident) is int
        and 0 < ident < 2**31
        and isinstance(digest, str)
        and bool(digest)
        and isinstance(channel, str)
        and channel.startswith("C")
    )


# The properties -----------------------------------------------------------------------------------------------------


async def test_forged_buttons_and_forms_change_nothing_and_say_why(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Clicks on every button of the app (decide a proposal, mark a task done, decide or edit a status page post,
    decide a budget offer, resolve, open in the pager) carrying forged or garbled values, and the Reject and Edit
    forms submitted with forged private_metadata: the answer is 200 (or Slack's form errors), nothing changes, and
    the person is told privately why nothing was done."""
    scene = await _scene(h, everyone_joins=True)
    channel = str(scene.a.channel_id)
    loop = asyncio.get_running_loop()
    seen = len(caplog.records)
    tried: list[str] = []

    async def one(forged: Forged) -> tuple[int, str, bool, bool, list[str]]:
        nonlocal seen
        before, told_before = await _state(h), _told(h, forged.user)
        if forged.kind == "click":
            ts = {
                ActionId.PROPOSAL_APPROVE: scene.proposal_ts,
                ActionId.PROPOSAL_REJECT: scene.proposal_ts,
                ActionId.PROPOSAL_DONE: scene.proposal_ts,
                ActionId.PUBLIC_APPROVE: scene.post_ts,
                ActionId.PUBLIC_EDIT: scene.post_ts,
                ActionId.PUBLIC_REJECT: scene.post_ts,
            }.get(ActionId(forged.action), scene.card_ts)
            body = _click_body(h, forged.user, channel, ts, forged.action, forged.value, forged.response_url)
        else:
            metadata, values = forged.value
            body = _view_body(forged.user, forged.action, metadata, values)
        status, text = await _post(h, body)
        await h.settle(rounds=2)
        unchanged = await _state(h) == before
        told = _told(h, forged.user) > told_before or "response_action" in text
        errors = _errors(caplog, seen)
        seen = len(caplog.records)
        return status, text, unchanged, told, errors

    @settings(
        max_examples=EXAMPLES or 200,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @seed(20260523)
    @given(st.one_of(forged_clicks(scene), forged_clicks(scene), forged_views(scene)))
    def prop(forged: Forged) -> None:
        status, text, unchanged, told, errors = asyncio.run_coroutine_threadsafe(one(forged), loop).result(60)
        tried.append(f"{forged.kind}:{forged.action}")
        assert status < 500, (status, text)
        if status != 200:  # refused at the door, with the reason (tests/test_slack_bodies.py)
            assert status == 400 and json.loads(text)["error"], (status, text)
        assert unchanged, "a forged request changed what is stored or shown"
        assert not errors, errors
        if forged.kind == "click" and forged.action != ActionId.INCIDENT_OPEN_PAGERDUTY and status == 200:
            assert told, "the person was not told why nothing was done"
        if forged.kind == "view" and status == 200 and _readable(forged.action, forged.value[0]):
            assert told, "the person was not told why nothing was done"

    await asyncio.to_thread(prop)
    await h.settle()
    assert not h.sandbox.agents.change_requests and not h.sandbox.statuspage.incidents
    [proposal] = await h.services.store.proposals(scene.a.id)
    assert proposal == scene.proposal  # still waiting, as shown
    # the buttons as drawn, clicked by someone who may: they count (the clicks above were refused for their values)
    value = f"{scene.proposal.id}:{scene.proposal.plan_hash}"
    await _post(h, _click_body(h, ALLOWED, channel, scene.proposal_ts, ActionId.PROPOSAL_APPROVE, value, True))
    value = f"{scene.post.id}:{scene.post.text_hash}"
    await _post(h, _click_body(h, ALLOWED, channel, scene.post_ts, ActionId.PUBLIC_APPROVE, value, True))
    await eventually(lambda: bool(h.sandbox.agents.change_requests and h.sandbox.statuspage.incidents), within=10)
    every = (
        *PROPOSAL_ACTIONS,
        *POST_ACTIONS,
        *OFFER_ACTIONS,
        ActionId.INCIDENT_RESOLVE,
        ActionId.INCIDENT_OPEN_PAGERDUTY,
    )
    assert set(tried) >= {f"click:{a}" for a in every} | {
        f"view:{c}" for c in (CallbackId.REJECT, CallbackId.PUBLIC_EDIT)
    }
    assert not _errors(caplog)


async def incidents_opened(h: Harness) -> bool:
    return bool(await h.services.store.incidents())


# A budget offer: the plan in an answer about an error budget, behind Approve / Reject --------------------------------

EXAMPLE_SLOS = Path(__file__).resolve().parents[1] / "examples" / "slos.yml"
BRIEF = {  # checkout-availability: 15% of its 30-day budget left, burning 0.96x (tests/test_budgets.py)
    "5m": {"total": 10_000, "bad": 5},
    "30m": {"total": 60_000, "bad": 30},
    "1h": {"total": 150_000, "bad": 144},
    "2h": {"total": 240_000, "bad": 120},
    "6h": {"total": 720_000, "bad": 360},
    "1d": {"total": 2_880_000, "bad": 1_440},
    "3d": {"total": 8_640_000, "bad": 4_320},
    "30d": {"total": 100_000_000, "bad": 85_000},
}
SLOWER_SINCE_V231 = {
    "text": "checkout-service p99 latency 420ms over the last 1d (normal: 180ms). "
    "Deployment checkout rolled out v2.3.1 20h ago (from v2.3.0).",
    "data": {"latency_p99_ms": 420, "latency_p99_baseline_ms": 180},
}


@asynccontextmanager
async def _offered(world: World, database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Harness, Any, str]]:
    """A bot with SLOs on a clock 30 times the wall's; Dana asked how checkout's budget looks: the harness, the offer
    and the ts of the answer that carries its buttons (in #incidents)."""
    clock = ScaledClock(30)
    monitoring = {
        "name": "monitoring",
        "role": "monitoring",
        "answers": {"checkout-service": SLOWER_SINCE_V231},
        "slis": {"checkout-availability": BRIEF},
    }
    async with started_sandbox(world, clock=clock, agents=parse_agents([monitoring])) as sb:
        h = Harness(
            sb,
            database_url,
            clock=clock,
            SRE_AGENTS_PATH=agents_file(sb, tmp_path, timeout_s=2.0),
            SRE_SLOS_PATH=str(EXAMPLE_SLOS),
            SRE_PROPOSAL_EXPIRY_MINUTES=24 * 60,  # 48 minutes of the wall's
        )
        await h.start()
        try:
            await eventually(lambda: len(sb.agents.sli_requests) >= 2, within=20)
            asked = await sb.slack.send_mention(ALLOWED, "C0INCIDENTS", "How's the checkout error budget looking?")

            async def shown() -> bool:
                offer = await h.services.store.offer(1)
                return offer is not None and offer.message_ts is not None

            await eventually(shown, within=20)
            await h.settle()
            offer = await h.services.store.offer(1)
            assert offer is not None and offer.message_ts is not None and asked["status"] == 200
            yield h, offer, offer.message_ts
        finally:
            await h.close()


async def test_forged_budget_offer_buttons_change_nothing_and_say_why(
    world: World, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Approve and Reject under a budget offer carrying forged values (or its own, clicked by someone who may not
    decide): the offer still waits, no incident is opened for it, and the person is told why."""
    async with _offered(world, database_url, tmp_path) as (h, offer, ts):
        sb, store = h.sandbox, h.services.store
        for channel in sb.slack.channels.values():
            channel.members |= {ALLOWED, ON_CALL_TOO, NOT_ALLOWED}
        real = (offer.id, offer.plan_hash)
        loop = asyncio.get_running_loop()
        seen = len(caplog.records)

        async def one(forged: Forged) -> tuple[int, str, bool, bool, list[str]]:
            nonlocal seen
            before = (await store.offers(), await store.incidents(), list(sb.agents.change_requests))
            told_before = _told(h, forged.user)
            body = _click_body(h, forged.user, "C0INCIDENTS", ts, forged.action, forged.value, forged.response_url)
            status, text = await _post(h, body)
            await h.settle(rounds=2)
            after = (await store.offers(), await store.incidents(), list(sb.agents.change_requests))
            errors = _errors(caplog, seen)
            seen = len(caplog.records)
            return status, text, after == before, _told(h, forged.user) > told_before, errors

        @st.composite
        def forged_offer_clicks(draw: st.DrawFn) -> Forged:
            action = draw(st.sampled_from(OFFER_ACTIONS))
            if draw(st.integers(0, 3)) == 0:
                return Forged("click", NOT_ALLOWED, action, f"{real[0]}:{real[1]}", draw(st.booleans()))
            value = draw(forged_values(real, [(offer.id + 1, offer.plan_hash), (offer.id, "0" * 64)]))
            assume(_means(value) != real)
            return Forged("click", draw(st.sampled_from([ALLOWED, NOT_ALLOWED])), action, value, draw(st.booleans()))

        @settings(
            max_examples=EXAMPLES or 60,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        @seed(20260525)
        @given(forged_offer_clicks())
        def prop(forged: Forged) -> None:
            status, text, unchanged, told, errors = asyncio.run_coroutine_threadsafe(one(forged), loop).result(60)
            assert (status, text) == (200, ""), (status, text)
            assert unchanged, "a forged click decided the offer, or opened an incident for it"
            assert told, "the person was not told why nothing was done"
            assert not errors, errors

        await asyncio.to_thread(prop)
        assert await store.offer(offer.id) == offer and not await store.incidents()
        assert not _errors(caplog)
        # the button as drawn, clicked by someone who may: it counts (the clicks above were refused for their values)
        value = f"{real[0]}:{real[1]}"
        assert (await _post(h, _click_body(h, ALLOWED, "C0INCIDENTS", ts, ActionId.OFFER_APPROVE, value, True)))[
            0
        ] == 200
        await eventually(lambda: incidents_opened(h), within=20)


SUBCOMMANDS = st.sampled_from(
    [
        "",
        "help",
        "list",
        "status",
        "note",
        "sev",
        "sev P9",
        "commander",
        "escalate",
        "declare",
        "ack",
        "resolve",
        "reopen",
        "postmortem",
        "frobnicate",
    ]
)


async def test_slash_commands_with_any_text_are_answered(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """`/incident` with any text, in an incident's channel and elsewhere: 200 at once, and an answer to the person
    (what it did, or why not: privately, in the channel, or the declare form), never an error after."""
    scene = await _scene(h)
    loop = asyncio.get_running_loop()
    seen = len(caplog.records)

    async def one(channel: str, text: str) -> tuple[int, str, bool, list[str]]:
        nonlocal seen
        told_before, views_before = _told(h, ALLOWED), len(h.sandbox.slack.views)
        said_before = sum(len(h.sandbox.slack.messages_in(c)) for c in h.sandbox.slack.channels)
        _, _, body = h.sandbox.slack.command_body(ALLOWED, channel, "/incident", text)
        status, answer = await _post(h, body)
        await h.settle(rounds=2)
        said = sum(len(h.sandbox.slack.messages_in(c)) for c in h.sandbox.slack.channels) > said_before
        errors = _errors(caplog, seen)
        seen = len(caplog.records)
        opened = len(h.sandbox.slack.views) > views_before  # the declare form
        return status, answer, _told(h, ALLOWED) > told_before or said or opened, errors

    @settings(
        max_examples=EXAMPLES or 60,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @seed(20260524)
    @given(
        st.sampled_from([str(scene.b.channel_id), "C0INCIDENTS"]),
        st.tuples(SUBCOMMANDS, TEXT).map(lambda t: f"{t[0]} {t[1]}".strip()),
    )
    def prop(channel: str, text: str) -> None:
        status, answer, answered, errors = asyncio.run_coroutine_threadsafe(one(channel, text), loop).result(60)
        assert (status, answer) == (200, ""), (status, answer)
        assert answered, f"/incident {text!r} was not answered"
        assert not errors, errors

    await asyncio.to_thread(prop)
    await h.settle()
    assert not _errors(caplog)


# Buttons of one incident carrying another's, or another kind's, values ---------------------------------------------


async def test_a_resolve_button_naming_another_incident_changes_nothing(h: Harness) -> None:
    scene = await _scene(h)
    body = _click_body(
        h, ALLOWED, str(scene.a.channel_id), scene.card_ts, ActionId.INCIDENT_RESOLVE, str(scene.b.id), True
    )
    assert (await _post(h, body))[0] == 200
    await h.settle()
    b = await h.services.store.incident(scene.b.id)
    assert b is not None and b.is_open, "incident B was resolved by a button on incident A's card"
    assert any("belongs to another incident" in e.text for e in h.sandbox.slack.ephemerals if e.user == ALLOWED)


async def test_a_done_click_on_a_plan_that_is_no_manual_task_changes_nothing(h: Harness) -> None:
    """Done is drawn only for a manual runbook's task; the value of an automated plan's Approve, sent as Done, is a
    request the app never asked for."""
    scene = await _scene(h)
    value = f"{scene.proposal.id}:{scene.proposal.plan_hash}"
    body = _click_body(h, ALLOWED, str(scene.a.channel_id), scene.proposal_ts, ActionId.PROPOSAL_DONE, value, True)
    assert (await _post(h, body))[0] == 200
    await h.settle()
    [proposal] = await h.services.store.proposals(scene.a.id)
    assert proposal.status is Status.PROPOSED and not h.sandbox.agents.change_requests
    assert any("not marked done by hand" in e.text for e in h.sandbox.slack.ephemerals if e.user == ALLOWED)


# Forms that cannot be acted on say why -----------------------------------------------------------------------------


async def test_a_reject_form_without_its_proposal_says_why(h: Harness) -> None:
    """The form stays open with the reason under the field: nothing was rejected, and the person knows it."""
    await _scene(h)
    before = await _state(h)
    reason = {BlockId.REJECT_REASON.value: {ActionId.REJECT_REASON.value: {"value": "we roll back instead"}}}
    status, answer = await _post(h, _view_body(ALLOWED, CallbackId.REJECT, "not json", reason))
    assert status == 200
    said = json.loads(answer)
    assert said["response_action"] == "errors"
    assert "lost track of its proposal" in said["errors"][BlockId.REJECT_REASON.value]
    await h.settle()
    assert await _state(h) == before


async def test_a_refused_form_is_told_to_someone_not_in_the_channel(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A form's submission has no response_url (a configured approver need not be in the incident's channel), and
    Slack shows an ephemeral only to a member of the channel: the refusal comes in a direct message."""
    scene = await _scene(h)
    meta = json.dumps({"proposal": scene.proposal.id, "hash": scene.proposal.plan_hash, "channel": scene.a.channel_id})
    reason = {BlockId.REJECT_REASON.value: {ActionId.REJECT_REASON.value: {"value": "we roll back instead"}}}
    seen = len(caplog.records)
    assert NOT_ALLOWED not in h.sandbox.slack.channel(str(scene.a.channel_id)).members
    assert (await _post(h, _view_body(NOT_ALLOWED, CallbackId.REJECT, meta, reason)))[0] == 200
    await h.settle()
    [proposal] = await h.services.store.proposals(scene.a.id)
    assert proposal.status is Status.PROPOSED  # refused: Pat may not decide
    assert not _errors(caplog, seen) and _told(h, NOT_ALLOWED) == 1


# Replay protection --------------------------------------------------------------------------------------------------


async def test_a_signed_slack_request_older_than_five_minutes_is_401_and_changes_nothing(h: Harness) -> None:
    """The button as the app drew it, clicked by someone who may approve, correctly signed: replayed after five
    minutes it is refused, before anything reads it; within them it counts."""
    scene = await _scene(h)
    channel = str(scene.a.channel_id)
    value = f"{scene.proposal.id}:{scene.proposal.plan_hash}"
    body = _click_body(h, ALLOWED, channel, scene.proposal_ts, ActionId.PROPOSAL_APPROVE, value, True)
    before, told = await _state(h), _told(h, ALLOWED)
    now = int(time.time())
    for age in (301, 600, 86_400, 10**9, -301, -86_400):  # older than five minutes, or as far in the future
        status, text = await _post(h, body, timestamp=now - age)
        assert status == 401, (age, status, text)
    await h.settle()
    assert await _state(h) == before and _told(h, ALLOWED) == told
    assert (await _post(h, body, timestamp=now - 240))[0] == 200  # four minutes: Slack's own retries are late too
    await eventually(lambda: bool(h.sandbox.agents.change_requests), within=10)
    [proposal] = await h.services.store.proposals(scene.a.id)
    assert proposal.status is not Status.PROPOSED and proposal.approvers == (ALLOWED,)


async def test_a_pagerduty_delivery_id_used_again_is_a_no_op(h: Harness) -> None:
    """A delivery PagerDuty made (its X-Webhook-Id) used again after it was handled, correctly signed, with the same
    body or another event of the incident (its resolution): answered as a duplicate, and nothing happens (the
    incident stays open, nothing more is asked of PagerDuty or said in Slack). The same body sent again at once is
    tests/test_pagerduty_flow.py's."""
    sb = h.sandbox
    sb.pagerduty.page("checkout-service", TITLE, urgency="high")
    await eventually(lambda: bool(incident_channels(sb)), within=10)
    await h.settle()
    [delivery] = [d for d in sb.pagerduty.deliveries.values() if d.event_type == "incident.triggered"]
    triggered = json.loads(delivery.body)
    resolved = copy.deepcopy(triggered)
    resolved["event"].update(id="REPLAYED01", event_type="incident.resolved", occurred_at=datetime.now(UTC).isoformat())
    resolved["event"]["data"]["status"] = "resolved"
    before = (await _state(h), len(sb.pagerduty.calls), await h.services.store.inbound_counts())
    for event in (triggered, resolved, triggered):
        again = await h.send_pagerduty(event, webhook_id=delivery.id)
        assert again == (202, {"ok": True, "duplicate": True}), again
    await h.settle()
    assert (await _state(h), len(sb.pagerduty.calls), await h.services.store.inbound_counts()) == before
    [incident] = await h.services.store.incidents()
    assert incident.is_open
    # the same resolution under a delivery id of its own is handled: the replay above was refused for its id alone
    assert (await h.send_pagerduty(resolved))[1] == {"ok": True, "duplicate": False}
    await eventually(lambda: _closed(h), within=10)


async def _closed(h: Harness) -> bool:
    [incident] = await h.services.store.incidents()
    return not incident.is_open
