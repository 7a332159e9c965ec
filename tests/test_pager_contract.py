"""The pager contract: what every adapter of `bot.ports.pager.Pager` must do, against its sandbox peer over real HTTP.
A second adapter (OpsGenie, JSM Operations) adds itself to ADAPTERS with a fixture that builds it and a way to read
the peer's state; the tests do not change."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from bot.adapters.pagerduty.client import PagerDuty
from bot.errors import DuplicateIncident, UpstreamError
from bot.ports.pager import Pager
from sandbox.server import Sandbox
from tests.harness import BOT_EMAIL

POLICY = "PXPGF42"  # the default world's: Dana and Jo at level 1, Sam at level 2
SERVICE = "PF9KMXH"


@dataclass
class Peer:
    """What a test reads of the peer behind the adapter: an incident's status, notes, priority and assignees."""

    open_incident: Callable[[str], str]  # title -> the new incident's id (paged through the peer itself)
    status: Callable[[str], str]
    notes: Callable[[str], list[str]]
    priority: Callable[[str], str | None]
    own_user: str  # the id of the user sre-agent acts as (BOT_EMAIL's)


def _pagerduty(sandbox: Sandbox) -> tuple[Pager, Peer]:
    pd = sandbox.pagerduty
    adapter = PagerDuty(
        api_url=sandbox.pagerduty_api_url, token=sandbox.world.pagerduty.api_token, from_email=BOT_EMAIL, threads=2
    )
    peer = Peer(
        open_incident=lambda title: (
            pd.create_incident(sandbox.world.service("checkout-service"), title, webhooks=False).id
        ),
        status=lambda i: pd.incidents[i].status,
        notes=lambda i: [n.content for n in pd.incidents[i].notes],
        priority=lambda i: pd.incidents[i].priority,
        own_user=next(str(p.pagerduty_id) for p in sandbox.world.people if p.email == BOT_EMAIL),
    )
    return adapter, peer


ADAPTERS = {"pagerduty": _pagerduty}


@pytest.fixture(params=sorted(ADAPTERS))
async def pager(request: pytest.FixtureRequest, sandbox: Sandbox) -> AsyncIterator[tuple[Pager, Peer]]:
    adapter, peer = ADAPTERS[request.param](sandbox)
    try:
        yield adapter, peer
    finally:
        adapter.close()


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


async def test_who_is_on_call_by_level_and_escalation_reassigns(pager: tuple[Pager, Peer]) -> None:
    adapter, peer = pager
    first = await adapter.oncalls(POLICY, level=1)
    assert {(p.name, p.level) for p in first} == {("Dana Ortiz", 1), ("Jo Park", 1)}
    everyone = await adapter.oncalls(POLICY, level=None)
    assert {p.level for p in everyone} == {1, 2} and any(p.email == "sam@example.com" for p in everyone)
    incident = peer.open_incident("latency")
    level_two = {p.user_id for p in everyone if p.level == 2}
    assert not await adapter.assignees(incident) & level_two
    await adapter.escalate(incident, 2)
    assert await adapter.assignees(incident) == level_two


async def test_priority_by_name_and_a_name_the_service_does_not_have(pager: tuple[Pager, Peer]) -> None:
    adapter, peer = pager
    incident = peer.open_incident("errors")
    assert await adapter.set_priority(incident, "P1") is True and peer.priority(incident) == "P1"
    assert await adapter.set_priority(incident, "P9") is False and peer.priority(incident) == "P1"


async def test_an_incident_declared_from_slack_is_opened_on_the_service(pager: tuple[Pager, Peer]) -> None:
    adapter, peer = pager
    opened = await adapter.create_incident(
        title="search is slow",
        service_id=SERVICE,
        urgency="high",
        priority="P2",
        details="since the deploy",
        incident_key="sre-agent-k1",
    )
    assert opened.id and opened.number is not None and opened.title == "search is slow"
    assert peer.status(opened.id) == "triggered" and opened.escalation_policy_id == POLICY
    with pytest.raises(DuplicateIncident):  # the same key again while it is open: refused, nothing opened
        await adapter.create_incident(
            title="search is slow",
            service_id=SERVICE,
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
