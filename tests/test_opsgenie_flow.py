"""Paged through OpsGenie (SRE_PAGER=opsgenie): an alert becomes one acknowledged Slack incident, OpsGenie and Slack
stay in step, the webhook takes only requests carrying the shared secret, and a write OpsGenie accepted but did not
carry out is reported, not assumed done."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from bot.domain.phase import Phase
from bot.domain.timeline import EventKind
from sandbox.opsgenie_peer import OG_WEBHOOK_HEADER, Alert
from tests.harness import Harness, cards, eventually, incident_channels, texts

OPSGENIE = {"SRE_PAGER": "opsgenie"}
TITLE = "CRITICAL: checkout-service error rate at 8.5% (threshold: 1%)"

pytestmark = pytest.mark.parametrize("harness_overrides", [OPSGENIE])


async def _page(h: Harness, title: str = TITLE, priority: str = "P1") -> Alert:
    alert = h.sandbox.opsgenie.page("checkout-service", title, priority=priority)
    await h.settle()
    return alert


async def _post(h: Harness, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    assert h.http is not None
    async with h.http.post(f"{h.url}/webhooks/opsgenie", data=body, headers=headers) as response:
        return response.status, await response.json(content_type=None)


def _writes(h: Harness, action: str) -> list[Any]:
    return [c for c in h.sandbox.opsgenie.calls if c.method in ("POST", "PUT") and c.path.endswith(f"/{action}")]


async def test_an_alert_opens_one_acknowledged_incident_with_its_channel_card_and_note(h: Harness) -> None:
    sb = h.sandbox
    alert = await _page(h)

    [incident] = await h.services.store.incidents()
    assert incident.source == "opsgenie" and incident.external_id == alert.id
    assert incident.phase is Phase.ACKNOWLEDGED and str(incident.severity) == "P1"  # P1 alert, P1 incident
    assert alert.acknowledged and len(_writes(h, "acknowledge")) == 1
    assert ("Acknowledge", "sre-agent") in alert.log  # made as its own user, confirmed through the request status

    [channel] = incident_channels(sb)
    assert channel.name == f"inc-{alert.tiny_id}-checkout-service" and incident.channel_id == channel.id
    assert "U0DANA" in channel.members and "U0SAM" not in channel.members  # the escalation's first rule only
    [card] = cards(sb, channel.id)
    assert "OpsGenie" in json.dumps(card.blocks) and "PagerDuty" not in json.dumps(card.blocks)
    [note] = alert.notes
    assert f"#{channel.name}" in note["note"]
    said = texts(sb, channel.id)
    assert not any("Note from" in t for t in said)  # its own note coming back is not news
    assert not any("acknowledged this incident in OpsGenie" in t for t in said)  # nor its own acknowledgement


async def test_a_request_without_the_shared_secret_is_401_and_nothing_is_stored(h: Harness) -> None:
    body = json.dumps({"action": "Create", "alert": {"alertId": "a1", "message": "x"}}).encode()
    status, answer = await _post(h, body, {"Content-Type": "application/json"})
    assert status == 401 and OG_WEBHOOK_HEADER in answer["error"]
    status, _ = await _post(h, body, {OG_WEBHOOK_HEADER: "not-the-secret"})
    assert status == 401
    basic = base64.b64encode(b"opsgenie:wrong").decode()
    status, _ = await _post(h, body, {"Authorization": f"Basic {basic}"})
    assert status == 401
    assert await h.services.store.inbound_counts() == {}


async def test_the_secret_as_a_basic_auth_password_is_taken_and_a_bad_body_is_400_naming_the_field(
    h: Harness,
) -> None:
    basic = base64.b64encode(f"opsgenie:{h.sandbox.opsgenie.webhook_secret}".encode()).decode()
    headers = {"Authorization": f"Basic {basic}"}
    status, answer = await _post(h, json.dumps({"action": "Create", "alert": {}}).encode(), headers)
    assert status == 400 and "alertId" in answer["error"]
    status, answer = await _post(h, b"{not json", headers)
    assert status == 400 and answer["error"]
    body = {"action": "AddTags", "alert": {"alertId": "5f3c1e2a", "updatedAt": time.time_ns()}}
    status, answer = await _post(h, json.dumps(body).encode(), headers)
    assert (status, answer) == (202, {"ok": True, "duplicate": False})  # stored, answered, and ignored
    await h.settle()
    assert not await h.services.store.incidents()


async def test_the_same_delivery_five_times_is_one_incident(h: Harness) -> None:
    sb = h.sandbox
    sb.opsgenie.webhooks.pause()
    sb.opsgenie.page("checkout-service", TITLE, priority="P2")
    [delivery] = list(sb.opsgenie.deliveries.values())
    results = await sb.opsgenie.webhooks.redeliver(delivery.id, times=5, concurrently=True)
    sb.opsgenie.webhooks.resume()
    await h.settle()
    assert [r["status"] for r in results] == [202] * 5
    assert len(await h.services.store.incidents()) == 1
    assert len(incident_channels(sb)) == 1 and len(cards(sb)) == 1
    assert len(_writes(h, "acknowledge")) == 1


async def test_an_acknowledgement_opsgenie_accepts_but_does_not_carry_out_is_reported(h: Harness) -> None:
    sb = h.sandbox
    sb.opsgenie.fail_requests("Acknowledge", "Alert is being processed by another request", count=10)
    alert = await _page(h)
    [incident] = await h.services.store.incidents()
    assert incident.channel_id and len(cards(sb, incident.channel_id)) == 1  # the incident goes on in Slack
    assert not alert.acknowledged and _writes(h, "acknowledge")  # asked (202), never carried out
    assert incident.phase is Phase.TRIGGERED  # not recorded as acknowledged
    said = " ".join(texts(sb, incident.channel_id))
    assert "OpsGenie" in said and "Alert is being processed by another request" in said


async def test_acknowledged_noted_and_closed_in_opsgenie_slack_follows(h: Harness) -> None:
    sb = h.sandbox
    alert = await _page(h)
    [incident] = await h.services.store.incidents()
    assert incident.channel_id
    sb.opsgenie.add_note(alert, "Seeing <!here> OOMKilled since 02:55", "dana@example.com")
    await h.settle()
    sb.opsgenie.close(alert, "dana@example.com")
    await h.settle()
    said = texts(sb, incident.channel_id)
    assert any("Note from Dana Ortiz" in t and "&lt;!here&gt;" in t for t in said)  # named, and escaped
    assert any("Dana Ortiz resolved" in t for t in said)
    current = await h.services.store.incident(incident.id)  # type: ignore[arg-type]
    assert current is not None and current.phase is Phase.RESOLVED


async def test_slash_resolve_closes_the_alert_once(h: Harness) -> None:
    sb = h.sandbox
    alert = await _page(h)
    [incident] = await h.services.store.incidents()
    assert incident.channel_id
    await sb.slack.send_command("U0DANA", incident.channel_id, "/incident", "resolve fixed by rollback")

    async def resolved() -> bool:
        current = await h.services.store.incident(incident.id)  # type: ignore[arg-type]
        return current is not None and current.phase is Phase.RESOLVED

    await eventually(resolved)
    await h.settle()
    assert alert.status == "closed" and len(_writes(h, "close")) == 1
    said = [t for t in texts(sb, incident.channel_id) if "resolved this incident" in t]
    assert said == [":white_check_mark: <@U0DANA> resolved this incident: fixed by rollback"]  # the echo is silent


async def test_slash_escalate_notifies_the_next_rule_and_invites_them(h: Harness) -> None:
    sb = h.sandbox
    alert = await _page(h)
    [incident] = await h.services.store.incidents()
    assert incident.channel_id
    await sb.slack.send_command("U0DANA", incident.channel_id, "/incident", "escalate database is beyond us")
    await eventually(lambda: "sam@example.com" in alert.recipients)
    await h.settle()
    [write] = _writes(h, "escalate")
    assert write.body["escalation"] == {"name": "Checkout on-call"}
    assert [n["note"] for n in alert.notes if "escalated" in n["note"]] == [
        "sre-agent escalated to level 2: database is beyond us"
    ]
    said = texts(sb, incident.channel_id)
    assert any("escalated this incident to level 2 on OpsGenie because database is beyond us" in t for t in said)
    await eventually(lambda: "U0SAM" in sb.slack.channels[incident.channel_id].members)  # type: ignore[index]
    timeline = await h.services.store.timeline(incident.id)  # type: ignore[arg-type]
    assert any(e.kind is EventKind.ESCALATED for e in timeline)


async def test_sev_changes_the_alerts_priority(h: Harness) -> None:
    sb = h.sandbox
    alert = await _page(h, priority="P3")
    [incident] = await h.services.store.incidents()
    assert incident.channel_id and str(incident.severity) == "P3"
    await sb.slack.send_command("U0DANA", incident.channel_id, "/incident", "sev P1")
    await eventually(lambda: alert.priority == "P1")
