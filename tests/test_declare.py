"""Declaring an incident from Slack: at once from `/incident declare <title>`, or through the form (views.open, then
view_submission with errors shown in the form). It runs the same lifecycle as a paged incident."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from blocks.ids import ActionId, BlockId
from bot.domain.phase import Phase
from tests.harness import Harness, cards, eventually, incident_channels


async def _command(h: Harness, user: str, channel: str, text: str) -> None:
    result = await h.sandbox.slack.send_command(user, channel, "/incident", text)
    assert result["status"] == 200 and result["elapsed_ms"] < 3000, result


def _ephemerals(h: Harness, user: str) -> list[str]:
    return [e.text for e in h.sandbox.slack.ephemerals if e.user == user]


async def _one_incident(h: Harness) -> Any:
    async def one_with_card() -> bool:
        found = await h.services.store.incidents()
        return len(found) == 1 and bool(found[0].channel_id) and bool(cards(h.sandbox, found[0].channel_id))

    await eventually(one_with_card)
    await h.settle()
    [incident] = await h.services.store.incidents()
    return incident


async def test_declare_with_a_title_naming_a_service_on_pagerduty(h: Harness) -> None:
    sb = h.sandbox
    await _command(h, "U0SAM", "C0INCIDENTS", "declare checkout returns 500 for card payments")
    incident = await _one_incident(h)

    # opened on PagerDuty through REST (so the on-call is paged), as sre-agent's own user
    [created] = [c for c in sb.pagerduty.calls if c.method == "POST" and c.path == "/incidents"]
    assert created.status == 201 and created.from_email == "sre-agent@example.com"
    assert created.body["incident"]["service"]["id"] == "PF9KMXH"
    pd = sb.pagerduty.incidents[incident.external_id]
    assert pd.status == "triggered"  # not acknowledged by the bot: the on-call is being paged
    assert pd.priority == "P2"  # tier-1, user-facing checkout-service: P2 suggested

    assert incident.source == "pagerduty" and incident.number == pd.number == 4211
    assert incident.phase is Phase.TRIGGERED and str(incident.severity) == "P2"
    assert incident.commander == "U0SAM"
    [channel] = incident_channels(sb)
    assert channel.name == "inc-4211-checkout-service"
    assert {"U0DANA", "U0SAM"} <= channel.members  # the on-call and the person who declared it
    assert len(cards(sb, channel.id)) == 1  # PagerDuty's own webhook for it changed nothing
    assert any("Declared *P2 INC-4211*" in t for t in _ephemerals(h, "U0SAM"))
    timeline = await h.services.store.timeline(incident.id)
    assert timeline[0].actor == "slack:U0SAM" and timeline[0].data["declared"] is True


async def test_declare_for_a_service_not_on_pagerduty_stays_in_slack(h: Harness) -> None:
    sb = h.sandbox
    await _command(h, "U0DANA", "C0INCIDENTS", "declare payments API is timing out")
    incident = await _one_incident(h)
    assert incident.source == "slack" and incident.service == "payments-api"
    assert incident.phase is Phase.ACKNOWLEDGED  # the person who declared it is on it
    assert not [c for c in sb.pagerduty.calls if c.method in ("POST", "PUT")]
    [channel] = incident_channels(sb)
    assert channel.name == f"inc-{incident.id}-payments-api" and "U0DANA" in channel.members
    card = json.dumps(cards(sb, channel.id)[0].blocks, ensure_ascii=False)
    assert f"INC-{incident.id}" in card and "Open in PagerDuty" not in card


async def test_incident_alone_opens_the_form_and_the_form_checks_its_fields(h: Harness) -> None:
    sb = h.sandbox
    await _command(h, "U0DANA", "C0INCIDENTS", "")
    await eventually(lambda: bool(sb.slack.views))
    [view] = sb.slack.views.values()
    assert view.view["callback_id"] == "incident.declare"
    service_block = next(b for b in view.view["blocks"] if b["block_id"] == BlockId.DECLARE_SERVICE)
    options = [o["value"] for o in service_block["element"]["options"]]
    assert options == ["auth-service", "checkout-service", "payments-api", "search-service"]

    value = ActionId.DECLARE_VALUE.value
    result = await sb.slack.send_view_submission(
        "U0DANA",
        view.id,
        {
            BlockId.DECLARE_TITLE: {value: "  "},
            BlockId.DECLARE_SERVICE: {value: "search-service"},
            BlockId.DECLARE_SEVERITY: {value: "P3"},
        },
    )
    assert result["status"] == 200
    assert json.loads(result["body"]) == {
        "response_action": "errors",
        "errors": {BlockId.DECLARE_TITLE: "Say in a few words what is wrong."},
    }
    assert not view.closed and not await h.services.store.incidents()

    result = await sb.slack.send_view_submission(
        "U0DANA",
        view.id,
        {
            BlockId.DECLARE_TITLE: {value: "Search results are empty"},
            BlockId.DECLARE_SERVICE: {value: "search-service"},
            BlockId.DECLARE_SEVERITY: {value: "P1"},
            BlockId.DECLARE_DESCRIPTION: {value: "since the 14:00 deploy"},
        },
    )
    assert result["status"] == 200 and not result["body"].strip()
    incident = await _one_incident(h)
    assert view.closed
    assert incident.service == "search-service" and str(incident.severity) == "P1"
    assert incident.title == "Search results are empty" and incident.commander == "U0DANA"
    timeline = await h.services.store.timeline(incident.id)
    assert timeline[0].data["description"] == "since the 14:00 deploy"


async def test_declare_without_a_known_service_opens_the_form_with_the_title(h: Harness) -> None:
    sb = h.sandbox
    await _command(h, "U0DANA", "C0INCIDENTS", "declare the widgets are wobbly")
    await eventually(lambda: bool(sb.slack.views))
    [view] = sb.slack.views.values()
    title_block = next(b for b in view.view["blocks"] if b["block_id"] == BlockId.DECLARE_TITLE)
    assert title_block["element"]["initial_value"] == "the widgets are wobbly"
    assert not await h.services.store.incidents()


async def test_declare_severity_from_the_words(h: Harness) -> None:
    await _command(h, "U0DANA", "C0INCIDENTS", "declare login is down for everyone")
    incident = await _one_incident(h)
    assert incident.service == "auth-service" and str(incident.severity) == "P1"


async def test_pagerdutys_webhook_arriving_before_the_declaration_is_stored_does_not_open_it_as_a_page(
    h: Harness,
) -> None:
    """PagerDuty opens the declared incident and sends its webhook before its answer to sre-agent's request comes
    back: the webhook is stored and waits for the declaration, which then opens the incident as declared (nobody
    acknowledges it for the on-call; one channel, one card)."""
    sb = h.sandbox
    held = sb.pagerduty.hold("POST", "/incidents")
    declaring = asyncio.ensure_future(_command(h, "U0SAM", "C0INCIDENTS", "declare checkout returns 500 for cards"))
    await asyncio.wait_for(held.reached.wait(), 10)
    [delivery] = [d for d in sb.pagerduty.deliveries.values() if d.event_type == "incident.triggered"]
    await eventually(lambda: any(a["status"] == 202 for a in delivery.attempts), within=10)
    await asyncio.sleep(0.5)  # time for the webhook's event to be handled, were it not waiting for the declaration
    held.release()
    await declaring
    incident = await _one_incident(h)
    assert sb.pagerduty.incidents[incident.external_id].status == "triggered"  # the on-call is still paged
    assert incident.phase is Phase.TRIGGERED and incident.commander == "U0SAM"
    assert len(incident_channels(sb)) == 1 and len(cards(sb)) == 1
    timeline = await h.services.store.timeline(incident.id)
    assert timeline[0].actor == "slack:U0SAM" and timeline[0].data["declared"] is True
    # the command, the webhooks: all handled (or set aside: sre-agent's own channel note coming back)
    assert set(await h.services.store.inbound_counts()) <= {"done", "ignored"}
