"""POST /webhooks/pagerduty: what is refused, what is stored, and that nothing is stored for a refusal."""

from __future__ import annotations

import asyncio
import json
import uuid

from yarl import URL

from bot.runtime.intake import Arrival
from sandbox.signing import pagerduty_headers
from tests.harness import WEBHOOK_SECRETS, Harness, fresh_event


async def _nothing_stored(h: Harness) -> None:
    assert await h.services.store.inbound_counts() == {}
    assert await h.services.store.incidents() == []


async def test_a_wrong_signature_is_401_and_nothing_is_stored(h: Harness) -> None:
    status, body = await h.send_pagerduty(fresh_event("pagerduty_incident_triggered.json"), secrets=["not-ours"])
    assert status == 401 and body["error"] == "invalid signature"
    raw = json.dumps(fresh_event("pagerduty_incident_triggered.json")).encode()
    for headers in (
        {"Content-Type": "application/json"},  # no signature at all
        {"Content-Type": "application/json", "X-PagerDuty-Signature": "v1=" + "0" * 64},
        {"Content-Type": "application/json", "X-PagerDuty-Signature": "sha256=abc"},
    ):
        status, _ = await h.post_webhook(raw, headers)
        assert status == 401
    await _nothing_stored(h)


async def test_a_signature_that_is_not_ascii_is_401(h: Harness) -> None:
    """A signature header with other characters (sent as UTF-8 bytes, which aiohttp hands over as they are) is a
    wrong signature, not a crash of the comparison (500)."""
    raw = json.dumps(fresh_event("pagerduty_incident_triggered.json")).encode()
    url = URL(h.url)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(
            b"POST /webhooks/pagerduty HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
            + "X-PagerDuty-Signature: v1=é\r\n".encode()
            + f"Content-Length: {len(raw)}\r\nConnection: close\r\n\r\n".encode()
            + raw
        )
        status_line = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
    assert status_line.split()[1] == b"401", status_line
    await _nothing_stored(h)


async def test_a_signature_over_another_body_is_401(h: Harness) -> None:
    signed = json.dumps(fresh_event("pagerduty_incident_triggered.json")).encode()
    headers = pagerduty_headers(WEBHOOK_SECRETS, signed, str(uuid.uuid4()))
    status, _ = await h.post_webhook(signed.replace(b"checkout", b"checkoot"), headers)
    assert status == 401
    await _nothing_stored(h)


async def test_either_secret_is_accepted_while_rotating(h: Harness) -> None:
    for secret in WEBHOOK_SECRETS:
        status, _ = await h.send_pagerduty(fresh_event("pagerduty_incident_annotated.json"), secrets=[secret])
        assert status == 202


async def test_garbled_json_is_400_with_a_reason(h: Harness) -> None:
    raw = b'{"event": {"id": "X", '
    status, body = await h.post_webhook(raw, pagerduty_headers(WEBHOOK_SECRETS, raw, str(uuid.uuid4())))
    assert status == 400 and body["error"].startswith("body is not valid JSON: ")
    await _nothing_stored(h)


async def test_missing_fields_are_400_naming_the_field(h: Harness) -> None:
    event = fresh_event("pagerduty_incident_triggered.json")
    del event["event"]["data"]["title"]
    status, body = await h.send_pagerduty(event)
    assert status == 400 and body["error"].startswith("event.data.title:")
    status, body = await h.send_pagerduty({"nothing": "here"})
    assert status == 400 and "event" in body["error"]
    event = fresh_event("pagerduty_incident_triggered.json")
    del event["event"]["occurred_at"]
    status, body = await h.send_pagerduty(event)
    assert status == 400 and body["error"].startswith("event.occurred_at:")
    await _nothing_stored(h)


async def test_a_stale_event_is_400(h: Harness) -> None:
    event = fresh_event("pagerduty_incident_triggered.json")
    event["event"]["occurred_at"] = "2020-01-01T00:00:00Z"  # older than PagerDuty's 48 h of retries: a replay
    status, body = await h.send_pagerduty(event)
    assert status == 400 and body["error"].startswith("stale event")
    await _nothing_stored(h)


async def test_a_body_over_the_limit_is_413(h: Harness) -> None:
    event = fresh_event("pagerduty_incident_triggered.json")
    event["event"]["data"]["description"] = "x" * (h.services.settings.max_body_bytes + 10)
    status, _ = await h.send_pagerduty(event)
    assert status == 413
    await _nothing_stored(h)


async def test_an_unknown_event_type_is_stored_answered_202_and_ignored(h: Harness) -> None:
    event = fresh_event("pagerduty_incident_triggered.json")
    event["event"]["event_type"] = "service.updated"
    event["event"]["resource_type"] = "service"
    event["event"]["data"] = {"id": "PF9KMXH", "type": "service"}
    status, body = await h.send_pagerduty(event)
    assert status == 202 and body == {"ok": True, "duplicate": False}
    await h.settle()
    assert await h.services.store.inbound_counts() == {"ignored": 1}
    assert await h.services.store.incidents() == []


async def test_a_redelivery_with_the_same_webhook_id_is_a_no_op(h: Harness) -> None:
    event = fresh_event("pagerduty_incident_annotated.json")
    first = await h.send_pagerduty(event, webhook_id="delivery-1")
    second = await h.send_pagerduty(event, webhook_id="delivery-1")
    assert first == (202, {"ok": True, "duplicate": False})
    assert second == (202, {"ok": True, "duplicate": True})


async def test_copies_sent_at_once_are_stored_once_and_a_copy_must_be_signed_all_the_same(h: Harness) -> None:
    """PagerDuty may deliver one event several times at once: one row, one 'duplicate: false'. A copy of a delivery
    stored lately is answered without the store, but only once its signature holds."""
    raw = json.dumps(fresh_event("pagerduty_incident_annotated.json")).encode()
    headers = pagerduty_headers(WEBHOOK_SECRETS, raw, "delivery-at-once")
    answers = await asyncio.gather(*(h.post_webhook(raw, headers) for _ in range(5)))
    assert {status for status, _ in answers} == {202}
    assert sorted(body["duplicate"] for _, body in answers) == [False, True, True, True, True]
    assert (await h.post_webhook(raw, headers))[1]["duplicate"] is True
    forged = {**headers, "X-PagerDuty-Signature": "v1=" + "0" * 64}
    assert (await h.post_webhook(raw, forged))[0] == 401
    await h.settle()
    assert sum((await h.services.store.inbound_counts()).values()) == 1


async def test_a_copy_is_known_as_one_as_soon_as_the_first_is_begun(h: Harness) -> None:
    """The route begins storing a delivery before it waits for anything (not when a task of wait_for's first runs):
    a copy that the door reads meanwhile waits for that one, and is not read and stored again."""
    body = json.dumps(fresh_event("pagerduty_incident_annotated.json"))
    arrival = Arrival("pagerduty", "delivery-begun", "incident.annotated", body, None)
    first = h.services.intake.accepting(arrival)
    assert await h.services.intake.copy_of_stored("pagerduty", "delivery-begun", wait_s=5)
    assert await first is True
    again = await h.services.intake.accepting(arrival)
    assert again is False
    await h.settle()
    assert sum((await h.services.store.inbound_counts()).values()) == 1


async def test_without_a_webhook_id_the_event_id_is_the_dedup_key(h: Harness) -> None:
    raw = json.dumps(fresh_event("pagerduty_incident_annotated.json")).encode()
    headers = pagerduty_headers(WEBHOOK_SECRETS, raw, "ignored")
    del headers["X-Webhook-Id"]
    assert (await h.post_webhook(raw, headers))[1]["duplicate"] is False
    assert (await h.post_webhook(raw, headers))[1]["duplicate"] is True


async def test_a_note_or_resolution_for_an_unknown_incident_opens_nothing(h: Harness) -> None:
    for name in ("pagerduty_incident_annotated.json", "pagerduty_incident_resolved.json"):
        status, _ = await h.send_pagerduty(fresh_event(name))
        assert status == 202
    await h.settle()
    assert await h.services.store.incidents() == []
    assert await h.services.store.inbound_counts() == {"ignored": 2}
