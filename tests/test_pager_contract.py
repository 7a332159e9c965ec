"""The pager contract: what every adapter of `bot.ports.pager.Pager` must do, against its sandbox peer over real HTTP.
Each adapter (PagerDuty; OpsGenie, which JSM Operations shares) is in ADAPTERS with a function that builds it and a
way to read the peer's state; the tests are the same for all."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bot.adapters.opsgenie.client import OpsGenie
from bot.adapters.pagerduty.client import PagerDuty
from bot.errors import DuplicateIncident, UpstreamError
from bot.lifecycle.actions import current_level
from bot.ports.pager import Pager
from sandbox.server import Sandbox
from tests.harness import BOT_EMAIL

POLICY = "PXPGF42"  # the default world's: Dana and Jo at level 1, Sam at level 2


@dataclass
class Peer:
    """What a test reads of the peer behind the adapter: an incident's status, notes, priority and assignees."""

    open_incident: Callable[[str], str]  # title -> the new incident's id (paged through the peer itself)
    status: Callable[[str], str]
    notes: Callable[[str], list[str]]
    updates: Callable[[str], list[str]]  # what stakeholders were told: status updates, or notes where there are none
    priority: Callable[[str], str | None]
    own_user: str  # the id of the user sre-agent acts as (BOT_EMAIL's)
    policy: str  # how the adapter names the default world's escalation policy (PXPGF42)
    service: str  # how it names checkout-service


def _pagerduty(sandbox: Sandbox) -> tuple[Pager, Peer]:
    pd = sandbox.pagerduty
    adapter = PagerDuty(
        api_url=sandbox.pagerduty_api_url, token=sandbox.world.pagerduty.api_token, from_email=BOT_EMAIL
    )
    peer = Peer(
        open_incident=lambda title: (
            pd.create_incident(sandbox.world.service("checkout-service"), title, webhooks=False).id
        ),
        status=lambda i: pd.incidents[i].status,
        notes=lambda i: [n.content for n in pd.incidents[i].notes],
        updates=lambda i: [u.message for u in pd.incidents[i].status_updates],
        priority=lambda i: pd.incidents[i].priority,
        own_user=next(str(p.pagerduty_id) for p in sandbox.world.people if p.email == BOT_EMAIL),
        policy=POLICY,
        service="PF9KMXH",
    )
    return adapter, peer


def _opsgenie(sandbox: Sandbox) -> tuple[Pager, Peer]:
    og = sandbox.opsgenie
    adapter = OpsGenie(api_url=sandbox.opsgenie_api_url, api_key=og.api_key, confirm_seconds=5)

    def alert(ident: str) -> Any:
        found = og.get_alert(ident)
        assert found is not None
        return found

    peer = Peer(
        open_incident=lambda title: og.page("checkout-service", title).id,
        status=lambda i: (
            "resolved" if alert(i).status == "closed" else ("acknowledged" if alert(i).acknowledged else "triggered")
        ),
        notes=lambda i: [n["note"] for n in alert(i).notes],
        updates=lambda i: [n["note"] for n in alert(i).notes],
        priority=lambda i: alert(i).priority,
        own_user="sre-agent",  # the `user` its requests are made as: OpsGenie names it so in their webhooks
        policy="Checkout on-call",
        service="checkout-service",
    )
    return adapter, peer


ADAPTERS = {"pagerduty": _pagerduty, "opsgenie": _opsgenie}


@pytest.fixture(params=sorted(ADAPTERS))
async def pager(request: pytest.FixtureRequest, sandbox: Sandbox) -> AsyncIterator[tuple[Pager, Peer]]:
    adapter, peer = ADAPTERS[request.param](sandbox)
    try:
        yield adapter, peer
    finally:
        await adapter.close()


async def test_acknowledge_then_resolve_and_the_status_says_so(pager: tuple[Pager, Peer]) -> None:
    adapter, peer = pager
    incident = peer.open_incident("checkout-service error rate 8.5%")
    assert await adapter.status(incident) == "triggered"
    await adapter.acknowledge(incident)
    assert await adapter.status(incident) == "acknowledged" == peer.status(incident)
    await adapter.acknowledge(incident)  # again: no harm, no change
    await adapter.resolve(incident, "rolled back")
    assert await adapter.status(incident) == "resolved" == peer.status(incident)


async def test_a_note_is_added_once_and_found_again_by_its_content(pager: tuple[Pager, Peer]) -> None:
    adapter, peer = pager
    incident = peer.open_incident("disk full")
    assert await adapter.note_with(incident, "Slack channel: #inc-1") is None
    note_id = await adapter.add_note(incident, "Slack channel: #inc-1")
    assert note_id and await adapter.note_with(incident, "Slack channel: #inc-1") == note_id
    assert peer.notes(incident) == ["Slack channel: #inc-1"]


async def test_an_update_for_stakeholders_is_published(pager: tuple[Pager, Peer]) -> None:
    adapter, peer = pager
    incident = peer.open_incident("checkout is slow")
    await adapter.publish_update(incident, "Likely cause: the v2.3.1 deploy. Rolling back.")
    assert peer.updates(incident) == ["Likely cause: the v2.3.1 deploy. Rolling back."]


async def test_who_is_on_call_by_level_and_escalation_moves_it_up(pager: tuple[Pager, Peer]) -> None:
    adapter, peer = pager
    first = await adapter.oncalls(peer.policy, level=1)
    assert {(p.name, p.level) for p in first} == {("Dana Ortiz", 1), ("Jo Park", 1)}
    everyone = await adapter.oncalls(peer.policy, level=None)
    assert {p.level for p in everyone} == {1, 2} and any(p.email == "sam@example.com" for p in everyone)
    incident = peer.open_incident("latency")
    level_two = {p.user_id for p in everyone if p.level == 2}
    assert not await adapter.assignees(incident) & level_two
    assert current_level(await adapter.assignees(incident), everyone) == 1
    await adapter.escalate(incident, 2, policy_id=peer.policy)
    # PagerDuty reassigns to level two; OpsGenie notifies level two as well: either way the incident is at level 2
    assert await adapter.assignees(incident) >= level_two
    assert current_level(await adapter.assignees(incident), everyone) == 2


async def test_priority_by_name_and_a_name_the_service_does_not_have(pager: tuple[Pager, Peer]) -> None:
    adapter, peer = pager
    incident = peer.open_incident("errors")
    assert await adapter.set_priority(incident, "P1") is True and peer.priority(incident) == "P1"
    assert await adapter.set_priority(incident, "P9") is False and peer.priority(incident) == "P1"


async def test_an_incident_declared_from_slack_is_opened_on_the_service(pager: tuple[Pager, Peer]) -> None:
    adapter, peer = pager
    opened = await adapter.create_incident(
        title="search is slow",
        service_id=peer.service,
        urgency="high",
        priority="P2",
        details="since the deploy",
        incident_key="sre-agent-k1",
        escalation_policy_id=peer.policy,
    )
    assert opened.id and opened.number is not None and opened.title == "search is slow"
    assert peer.status(opened.id) == "triggered" and opened.escalation_policy_id == peer.policy
    with pytest.raises(DuplicateIncident):  # the same key again while it is open: refused, nothing opened
        await adapter.create_incident(
            title="search is slow",
            service_id=peer.service,
            urgency="high",
            priority="P2",
            details="",
            incident_key="sre-agent-k1",
        )


async def test_the_user_sre_agent_acts_as_and_a_refusal_that_says_why(pager: tuple[Pager, Peer]) -> None:
    adapter, peer = pager
    assert await adapter.user_exists(BOT_EMAIL) is True
    assert await adapter.user_exists("nobody@example.com") is False
    own = await adapter.own_user_id()  # who sre-agent is there: its own actions coming back are known by it
    assert own == peer.own_user
    with pytest.raises(UpstreamError) as refused:
        await adapter.acknowledge("QNOSUCHINCIDENT")
    assert refused.value.user_message
