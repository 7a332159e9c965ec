"""Signed PagerDuty webhooks whose content is anyone's text: each is refused with a 4xx and its reason, or accepted
and processed into an incident. Nothing accepted is left pending, nothing is a 500, and an event that fails every
attempt is marked failed and said in the incidents channel, once."""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from sandbox.signing import pagerduty_headers
from tests.harness import WEBHOOK_SECRETS, Harness, eventually, fresh_event, texts

TRIGGERED = "pagerduty_incident_triggered.json"


def _signed(body: bytes, webhook_id: str | None = None) -> dict[str, str]:
    return pagerduty_headers(WEBHOOK_SECRETS, body, webhook_id or str(uuid.uuid4()))


async def _post(h: Harness, body: bytes) -> tuple[int, dict[str, Any]]:
    return await h.post_webhook(body, _signed(body))


def _known(h: Harness, incident_id: Any, number: Any = None) -> None:
    """PagerDuty knows this incident (so acknowledging it and adding a note work), without sending a webhook."""
    pd = h.sandbox.pagerduty
    if isinstance(incident_id, str) and incident_id not in pd.incidents:
        number = number if type(number) is int else None
        pd.create_incident(
            h.sandbox.world.service("checkout-service"),
            "sandbox's copy",
            incident_id=incident_id,
            number=number,
            webhooks=False,
        )


def _page(h: Harness, **data: Any) -> dict[str, Any]:
    """A triggered event for a new incident (its own id and number) that PagerDuty knows."""
    event = fresh_event(TRIGGERED)
    event["event"]["data"]["id"] = uuid.uuid4().hex[:14].upper()
    event["event"]["data"]["number"] = int(uuid.uuid4().int % 900_000) + 10_000
    event["event"]["data"].update(data)
    _known(h, event["event"]["data"]["id"], event["event"]["data"].get("number"))
    return event


async def _nothing_left(h: Harness) -> dict[str, int]:
    await h.settle()
    counts = await h.services.store.inbound_counts()
    assert not {"pending", "processing", "failed"} & counts.keys(), counts
    return counts


async def _incident(h: Harness, external_id: str) -> Any:
    incident = await h.services.store.incident_by_external("pagerduty", external_id)
    assert incident is not None, "the page was not processed into an incident"
    return incident


# the kinds of body the issue names, one by one ----------------------------------------------------------------


async def test_a_timestamp_without_a_time_zone_is_read_as_utc(h: Harness) -> None:
    event = _page(h)
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    event["event"]["occurred_at"] = at.replace(tzinfo=None).isoformat()
    event["event"]["data"]["created_at"] = at.replace(tzinfo=None).isoformat()
    status, reply = await h.send_pagerduty(event)
    assert status == 202, reply
    await _nothing_left(h)
    assert (await _incident(h, event["event"]["data"]["id"])).triggered_at == at


async def test_very_deep_nesting_is_400_with_the_reason(h: Harness) -> None:
    event = _page(h, custom_details="DEEP")
    raw = json.dumps(event).encode().replace(b'"DEEP"', b"[" * 5000 + b'"bottom"' + b"]" * 5000)
    status, reply = await _post(h, raw)
    assert status == 400 and reply["error"] == "body nests deeper than 32 levels"
    opened = b'{"event": ' + b"[" * 100_000  # not even closed: the parser's own limit is not reached either
    status, reply = await _post(h, opened)
    assert status == 400 and reply["error"] == "body nests deeper than 32 levels"
    assert await h.services.store.inbound_counts() == {}


async def test_nesting_within_the_bound_is_processed(h: Harness) -> None:
    event = _page(h)
    deep: Any = {"leaf": 1}
    for _ in range(28):  # with event, data and custom_details: 32 levels
        deep = {"level": deep}
    event["event"]["data"]["custom_details"] = deep
    assert (await h.send_pagerduty(event))[0] == 202
    await _nothing_left(h)
    await _incident(h, event["event"]["data"]["id"])


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"])
async def test_a_body_in_utf16_or_utf32_is_processed(h: Harness, encoding: str) -> None:
    event = _page(h, title="Checkout — error rate at 8.5% ✓ 🔥")
    raw = json.dumps(event, ensure_ascii=False).encode(encoding)
    status, reply = await _post(h, raw)
    assert status == 202, reply
    await _nothing_left(h)
    assert (await _incident(h, event["event"]["data"]["id"])).title == "Checkout — error rate at 8.5% ✓ 🔥"


async def test_a_utf8_byte_order_mark_is_skipped(h: Harness) -> None:
    event = _page(h)
    status, reply = await _post(h, codecs.BOM_UTF8 + json.dumps(event).encode())
    assert status == 202, reply
    await _nothing_left(h)
    await _incident(h, event["event"]["data"]["id"])


async def test_bytes_that_are_no_text_are_400_naming_the_byte(h: Harness) -> None:
    raw = json.dumps(_page(h, title="TITLE")).encode().replace(b"TITLE", b"\xed\xa0\x80 and \xff")
    status, reply = await _post(h, raw)
    assert status == 400 and reply["error"].startswith("body is not valid UTF-8 text (byte ")
    assert await h.services.store.inbound_counts() == {}


async def test_a_lone_surrogate_and_control_characters_become_replacement_characters(h: Harness) -> None:
    event = _page(h, title="db \ud800 down\x00\x07 now", service={"id": "PF9KMXH", "summary": "checkout\udfff"})
    raw = json.dumps(event).encode()  # ensure_ascii: "\ud800" and "\u0000" as escapes, as a sender may write them
    assert b"\\ud800" in raw and b"\\u0000" in raw
    assert (await _post(h, raw))[0] == 202
    await _nothing_left(h)
    incident = await _incident(h, event["event"]["data"]["id"])
    assert incident.title == "db \ufffd down\ufffd\ufffd now" and incident.service == "checkout\ufffd"
    assert incident.channel_id is not None


async def test_numbers_out_of_range_are_400_naming_the_field(h: Harness) -> None:
    for number, reason in [
        (10**30, "event.data.number: input should be less than or equal to 2147483647"),
        (0, "event.data.number: input should be greater than or equal to 1"),
        (12.5, "event.data.number: input should be a valid integer"),
        (True, "event.data.number: input should be a valid integer"),
    ]:
        status, reply = await h.send_pagerduty(_page(h, number=number))
        assert (status, reply["error"]) == (400, reason)
    raw = json.dumps(_page(h)).encode().replace(b'"urgency": "high"', b'"urgency": "high", "x": NaN')
    status, reply = await _post(h, raw)
    assert status == 400 and reply["error"] == "body is not valid JSON: NaN is not a JSON number"
    raw = json.dumps(_page(h)).encode().replace(b'"urgency": "high"', b'"urgency": "high", "x": ' + b"9" * 5000)
    status, reply = await _post(h, raw)
    assert status == 400 and reply["error"].startswith("body is not valid JSON: Exceeds the limit (4300 digits)")
    assert await h.services.store.inbound_counts() == {}


async def test_identifiers_and_timestamps_must_be_what_pagerduty_sends(h: Harness) -> None:
    cases: list[tuple[dict[str, Any], dict[str, Any], str]] = [
        ({}, {"id": "../../users/PABC123"}, "event.data.id: not a PagerDuty id"),
        ({}, {"id": "Q" * 65}, "event.data.id: not a PagerDuty id"),
        ({}, {"service": {"id": "P F9", "summary": "checkout-service"}}, "event.data.service.id: not a PagerDuty id"),
        ({"id": "x" * 300}, {}, "event.id: not a PagerDuty id"),
        ({"event_type": "incident.triggered\n<!channel>"}, {}, "event.event_type: not an event type"),
        ({"occurred_at": 1764900000}, {}, "event.occurred_at: expected an ISO 8601 timestamp string"),
        ({"occurred_at": "yesterday"}, {}, "event.occurred_at: not an ISO 8601 timestamp"),
        ({}, {"created_at": "0001-01-01T00:00:00+01:00"}, "event.data.created_at: timestamp out of range"),
        ({}, {"status": "on fire"}, "event.data.status: input should be 'triggered', 'acknowledged' or 'resolved'"),
        ({}, {"urgency": "urgent"}, "event.data.urgency: input should be 'high' or 'low'"),
    ]
    for envelope, data, reason in cases:
        event = _page(h, **data)
        event["event"].update(envelope)
        status, reply = await h.send_pagerduty(event)
        assert status == 400 and reply["error"].startswith(reason), (envelope, data, reply)
    ahead = _page(h)
    ahead["event"]["occurred_at"] = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    status, reply = await h.send_pagerduty(ahead)
    assert status == 400 and reply["error"].endswith("is more than an hour ahead of this clock")
    body = json.dumps(_page(h)).encode()
    status, reply = await h.post_webhook(body, _signed(body, webhook_id="w" * 300))
    assert status == 400 and reply["error"].startswith("X-Webhook-Id:")
    assert await h.services.store.inbound_counts() == {}


async def test_what_is_only_shown_is_cut_or_dropped_not_refused(h: Harness) -> None:
    event = _page(
        h,
        title="T" * 5000,
        html_url="javascript:alert(1)",
        urgency=None,
        priority=None,
        service={"id": "PF9KMXH", "summary": "s" * 1000},
    )
    event["event"]["agent"] = {"id": "PABC123", "type": "user_reference", "summary": "A" * 1000}
    assert (await h.send_pagerduty(event))[0] == 202
    await _nothing_left(h)
    incident = await _incident(h, event["event"]["data"]["id"])
    assert len(incident.title) == 1024 and incident.title.endswith("…")
    assert len(incident.service) == 255 and incident.html_url is None
    assert incident.channel_name and len(incident.channel_name) <= 80


async def test_an_incident_created_after_its_event_is_dated_by_the_event(h: Harness) -> None:
    event = _page(h)
    occurred = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    event["event"]["occurred_at"] = occurred.isoformat()
    event["event"]["data"]["created_at"] = (occurred + timedelta(minutes=30)).isoformat()
    assert (await h.send_pagerduty(event))[0] == 202
    await _nothing_left(h)
    assert (await _incident(h, event["event"]["data"]["id"])).triggered_at == occurred


# an event that fails every attempt ---------------------------------------------------------------------------


async def test_an_event_that_fails_every_attempt_is_failed_and_said_once(fast: Harness) -> None:
    h = fast
    h.sandbox.slack.fail("conversations.create", "fatal_error", count=1000)
    event = _page(h, title="checkout-service error rate at 8.5% <!channel>")
    assert (await h.send_pagerduty(event))[0] == 202
    incidents_channel = h.sandbox.world.incidents_channel.id

    def notices() -> list[str]:
        return [t for t in texts(h.sandbox, incidents_channel) if "A page could not be handled" in t]

    await eventually(lambda: len(notices()) == 1, within=20)
    await asyncio.sleep(1.0)  # a second notice would come from a second give-up: there is none
    await h.settle()
    counts = await h.services.store.inbound_counts()  # the page failed; PagerDuty's later echoes are done
    assert counts["failed"] == 1 and not {"pending", "processing"} & counts.keys()
    [notice] = notices()
    number = event["event"]["data"]["number"]
    url = event["event"]["data"]["html_url"]
    assert f"<{url}|#{number} checkout-service error rate at 8.5% &lt;!channel&gt;>" in notice
    assert "incident.triggered" in notice and "gave up after 5 attempts" in notice and "fatal_error" in notice
    row = await h.services.store.inbound(1)  # the page, stored first
    assert row is not None and row.event_type == "incident.triggered" and row.status == "failed"
    assert row.attempts == 5 and row.last_error and "fatal_error" in row.last_error
    assert h.http is not None
    async with h.http.get(f"{h.url}/healthz") as response:
        assert response.status == 200 and (await response.json())["inbound_failed"] == 1
    await h.restart()  # a failed event is not picked up again, and not told again
    await asyncio.sleep(0.5)
    await h.settle()
    assert len(notices()) == 1 and await h.services.store.inbound_counts() == counts


async def test_the_notice_waits_for_slack_to_take_it(fast: Harness) -> None:
    h = fast
    h.sandbox.slack.fail("conversations.create", "fatal_error", count=1000)
    h.sandbox.slack.fail("chat.postMessage", "internal_error", count=2)
    assert (await h.send_pagerduty(_page(h)))[0] == 202
    channel = h.sandbox.world.incidents_channel.id
    await eventually(lambda: any("A page could not be handled" in t for t in texts(h.sandbox, channel)), within=30)


# property: any signed body built from PagerDuty's schema --------------------------------------------------------

_ANY_CHAR = st.characters(codec=None, exclude_categories=())  # lone surrogates and control characters included
_TEXT = st.text(_ANY_CHAR, max_size=40) | st.text(max_size=3000)
_IDS = st.from_regex(r"[A-Z0-9]{6,14}", fullmatch=True) | st.text(_ANY_CHAR, max_size=70)
_OFFSETS = st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-23 * 60, 23 * 60))


def _recent_time() -> st.SearchStrategy[Any]:
    def fmt(hours: float, tz: timezone | None, naive: bool) -> str:
        at = datetime.now(UTC) + timedelta(hours=hours)
        return (at.replace(tzinfo=None) if naive else at.astimezone(tz or UTC)).isoformat()

    return st.builds(fmt, st.floats(-80, 2, allow_nan=False), st.none() | _OFFSETS, st.booleans())


_ANY_TIME = (
    _recent_time()
    | st.datetimes(timezones=st.none() | _OFFSETS).map(lambda d: d.isoformat())
    | _TEXT
    | st.integers()
    | st.floats()
)
_JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _TEXT
_JSON = st.recursive(
    _JSON_LEAF, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4), max_leaves=12
)


@st.composite
def _deep(draw: st.DrawFn) -> Any:
    value = draw(_JSON)
    for _ in range(draw(st.integers(0, 40))):
        value = [value] if draw(st.booleans()) else {"k": value}
    return value


def _reference(ids: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries({"id": ids}, optional={"summary": _TEXT, "type": _TEXT})


_ID = st.from_regex(r"[A-Z0-9]{6,14}", fullmatch=True)
# a body as PagerDuty would send it, but with anyone's text in every text field, at any time zone, in any encoding
_VALID = st.fixed_dictionaries(
    {
        "event": st.fixed_dictionaries(
            {
                "id": _ID,
                "event_type": st.sampled_from(
                    [
                        "incident.triggered",
                        "incident.triggered",
                        "incident.acknowledged",
                        "incident.resolved",
                        "incident.annotated",
                        "incident.reopened",
                        "incident.priority_updated",
                        "incident.escalated",
                        "service.updated",
                    ]
                ),
                "occurred_at": _recent_time(),
                "data": st.fixed_dictionaries(
                    {
                        "id": _ID,
                        "type": st.just("incident"),
                        "status": st.sampled_from(["triggered", "acknowledged"]),
                        "title": _TEXT,
                        "service": _reference(_ID),
                    },
                    optional={
                        "number": st.integers(1, 2**31 - 1),
                        "urgency": st.sampled_from(["high", "low"]) | st.none(),
                        "priority": _reference(_ID) | st.none(),
                        "escalation_policy": _reference(st.just("PXPGF42") | _ID),
                        "html_url": st.just("https://acme.pagerduty.com/incidents/Q1") | _TEXT,
                        "created_at": _recent_time(),
                        "incident_key": _TEXT,
                        "custom_details": _deep(),
                        "content": _TEXT,  # a note's fields, for incident.annotated
                        "incident": _reference(_ID),
                    },
                ),
            },
            optional={"agent": _reference(_ID) | st.none(), "resource_type": _TEXT},
        )
    }
)
_PATHS = (
    [("event", k) for k in ("id", "event_type", "occurred_at", "agent", "data")]
    + [
        ("event", "data", k)
        for k in (
            "id",
            "status",
            "title",
            "service",
            "number",
            "urgency",
            "priority",
            "escalation_policy",
            "html_url",
            "created_at",
            "content",
            "incident",
        )
    ]
    + [("event", "data", "service", "id"), ("event", "data", "service", "summary"), ("event",), ()]
)
_JUNK = st.just(KeyError) | _JSON_LEAF | _ANY_TIME | _deep() | st.integers(-(2**70), 2**70)
_MUTATIONS = st.lists(st.tuples(st.sampled_from(_PATHS), _JUNK), max_size=2)


def _mutated(body: Any, mutations: list[tuple[tuple[str, ...], Any]]) -> Any:
    """`body` with the value at each path replaced by junk (KeyError: the key removed)."""
    for path, junk in mutations:
        if not path:
            body = None if junk is KeyError else junk
            continue
        parent = body
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            if junk is KeyError:
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = junk
    return body


_ENCODINGS = st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "utf-16-be", "utf-32-le", "latin-1"])


def _encode(body: Any, encoding: str, ascii_only: bool) -> bytes:
    text = json.dumps(body, ensure_ascii=ascii_only)
    return text.encode(encoding, "surrogatepass" if encoding.startswith("utf") else "replace")


async def test_no_signed_body_is_a_500_and_none_accepted_is_left_pending(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    loop = asyncio.get_running_loop()
    outcomes: dict[int, int] = {}
    caplog.set_level(logging.WARNING)

    @seed(20261202)
    @settings(
        max_examples=300,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(valid=_VALID, mutations=_MUTATIONS, encoding=_ENCODINGS, ascii_only=st.booleans())
    def prop(valid: Any, mutations: list[tuple[tuple[str, ...], Any]], encoding: str, ascii_only: bool) -> None:
        valid["event"]["data"]["id"] = uuid.uuid4().hex[:14].upper()  # a new incident (hypothesis repeats values)
        body = _mutated(valid, mutations)
        event = body.get("event") if isinstance(body, dict) else None
        data = event.get("data") if isinstance(event, dict) else None
        if isinstance(data, dict):  # PagerDuty knows the incident the body names, whatever its id became
            loop.call_soon_threadsafe(_known, h, data.get("id"), data.get("number"))
        raw = _encode(body, encoding, ascii_only)
        status, reply = asyncio.run_coroutine_threadsafe(_post(h, raw), loop).result(timeout=30)
        assert status == 202 or 400 <= status < 500, (status, reply)
        if status != 202:
            assert isinstance(reply.get("error"), str) and reply["error"], reply
        outcomes[status] = outcomes.get(status, 0) + 1

    await asyncio.to_thread(prop)
    counts = await _nothing_left(h)
    assert outcomes.get(202, 0) >= 30 and outcomes.get(400, 0) >= 30, outcomes  # both sides were exercised
    assert sum(counts.values()) >= outcomes[202]
    assert len(await h.services.store.incidents()) >= 10
    bad = [
        r
        for r in caplog.records
        if r.exc_info
        or r.levelno >= logging.ERROR
        or (r.name.startswith(("bot.", "handlers.")) and r.levelno >= logging.WARNING)
    ]
    assert not bad, [f"{r.name}: {r.getMessage()}" for r in bad[:5]]
