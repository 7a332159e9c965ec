"""POST /slack/events with bodies a correctly signed sender can send but Slack never would: never a 5xx; a refusal is a
4xx with the reason as `{"ok": false, "error": ...}`; what is accepted (200) is handled to the end, with no error in
the log. Examples for each known problem, then a property over commands, clicks, events, numbers, nesting and
encodings."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from slack_bolt.request.async_request import AsyncBoltRequest

from blocks.ids import ActionId, BlockId
from bot.adapters.slack.bodies import form_fields, parse_body
from bot.adapters.slack.inbox import bolt_request, stored_request
from bot.domain.timeline import EventKind
from bot.domain.wire import nests_deeper
from bot.store.tables import inbound_events
from sandbox.signing import slack_headers, slack_signature
from tests.harness import SIGNING_SECRET, Harness, eventually

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
DEEP = "body nests deeper than 32 levels"
NOT_UTF8 = "Slack sends UTF-8"
OUR_LOGGERS = ("bot", "handlers", "blocks", "slack_bolt", "aiohttp.server")


async def _post(h: Harness, body: bytes, content_type: str = JSON, **headers: str) -> tuple[int, Any]:
    assert h.http is not None
    sent = {"Content-Type": content_type, **slack_headers(SIGNING_SECRET, body), **headers}
    async with h.http.post(f"{h.url}/slack/events", data=body, headers=sent) as response:
        text = await response.text()
    try:
        return response.status, json.loads(text)
    except ValueError:
        return response.status, text


def _refused(answer: tuple[int, Any], reason: str) -> None:
    assert answer == (400, {"ok": False, "error": reason}), answer


def _event(**event: Any) -> dict[str, Any]:
    """An Events API body as Slack sends it."""
    return {
        "token": "x",
        "team_id": "T0123ABCD",
        "api_app_id": "A0SREAGENT",
        "type": "event_callback",
        "event_id": "Ev0" + str(time.monotonic_ns())[-9:],
        "event_time": 1763607960,
        "event": {
            "type": "app_mention",
            "user": "U0DANA",
            "channel": "C0INCIDENTS",
            "text": "<@U0SREBOT> help",
            "ts": "1763607960.000100",
            **event,
        },
    }


UNHANDLED_VIEW = {"type": "view_submission", "user": {"id": "U0DANA"}, "view": {"type": "modal", "callback_id": "x"}}


def _payload(payload: Any) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def _click(action_id: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": "U0DANA", "username": "dana", "team_id": "T0123ABCD"},
        "team": {"id": "T0123ABCD", "domain": "acme"},
        "channel": {"id": "C0INCIDENTS", "name": "incidents"},
        "trigger_id": "1.1.abc",
        "response_url": "",
        "api_app_id": "A0SREAGENT",
        "actions": [{"action_id": action_id, "block_id": "b", "type": "button", "value": value}],
        **extra,
    }


def _errors(caplog: pytest.LogCaptureFixture, since: int = 0) -> list[str]:
    """Errors, and anything logged with a traceback, from the bot, its listeners, Bolt and the HTTP server (from the
    `since`-th record on)."""
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records[since:]
        if any(r.name == n or r.name.startswith(n + ".") for n in OUR_LOGGERS)
        and (r.levelno >= logging.ERROR or r.exc_info)
    ]


@pytest.fixture(autouse=True)
def _info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)


# Each known problem -------------------------------------------------------------------------------------------------


async def test_json_nested_too_deep_is_refused_with_the_reason(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000  # json.loads: RecursionError (a 500, before)
    _refused(await _post(h, deep), DEEP)
    _refused(await _post(h, b'{"a":' * 50_000 + b"1" + b"}" * 50_000), DEEP)
    event = json.dumps(_event(blocks="@")).replace('"@"', "[" * 40 + "]" * 40).encode()  # just past the bound
    _refused(await _post(h, event), DEEP)
    # an interaction's payload (a form field) likewise
    _refused(await _post(h, urlencode({"payload": "[" * 100_000 + "]" * 100_000}).encode(), FORM), DEEP)
    await h.settle()
    assert not h.sandbox.slack.calls and not _errors(caplog)


AT = "\x00at\x00"  # where the bad byte is, in the reasons below


@pytest.mark.parametrize(
    ("encode", "reason"),
    [
        (lambda t: t.encode("utf-16"), "body starts with a UTF-16 byte-order mark: Slack sends UTF-8 without one"),
        (lambda t: t.encode("utf-32"), "body starts with a UTF-32 byte-order mark: Slack sends UTF-8 without one"),
        (lambda t: t.encode("utf-8-sig"), "body starts with a UTF-8 byte-order mark: Slack sends UTF-8 without one"),
        (lambda t: t.encode("utf-16-be"), "body holds a NUL byte (UTF-16 or UTF-32?): Slack sends UTF-8"),
        (lambda t: t.encode("utf-32-le"), "body holds a NUL byte (UTF-16 or UTF-32?): Slack sends UTF-8"),
        (
            lambda t: t.replace("help", "hé").encode("latin-1"),
            f"body is not UTF-8 (byte {AT}: invalid continuation byte)",
        ),
        (
            lambda t: t.replace("help", "h\ud800").encode("utf-8", "surrogatepass"),
            f"body is not UTF-8 (byte {AT}: invalid continuation byte)",
        ),
    ],
    ids=["utf-16", "utf-32", "utf-8-bom", "utf-16-no-bom", "utf-32-no-bom", "latin-1", "encoded-surrogate"],
)
async def test_a_body_that_is_not_plain_utf8_is_refused(
    h: Harness, caplog: pytest.LogCaptureFixture, encode: Any, reason: str
) -> None:
    """Slack sends UTF-8 and signs the raw bytes; Bolt checks the signature again over the text it is handed, so
    there is no other encoding to read a body in and hand on. (Before: json.loads read UTF-16/32 by itself, then
    body.decode() raised, a 500; a UTF-8 byte-order mark was answered 200 and failed in Bolt after.)"""
    text = json.dumps(_event(), ensure_ascii=False)
    _refused(await _post(h, encode(text)), reason.replace(AT, str(text.index("help") + 1)))
    await h.settle()
    assert not h.sandbox.slack.calls and not _errors(caplog)


async def test_a_body_declared_in_another_charset_is_refused(h: Harness) -> None:
    body = _payload(UNHANDLED_VIEW)
    for charset in ("utf-16", "latin-1", "no-such-charset"):  # the last: LookupError in aiohttp's request.text(), a 500
        _refused(await _post(h, body, f"{FORM}; charset={charset}"), f"body is declared {charset!r}: {NOT_UTF8}")
    assert (await _post(h, body, f"{FORM}; charset=utf-8"))[0] == 404  # read: no listener for that callback id


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("NaN", "body is not valid JSON: NaN is not a JSON number"),
        ("Infinity", "body is not valid JSON: Infinity is not a JSON number"),
        ("-Infinity", "body is not valid JSON: -Infinity is not a JSON number"),
        (
            "9" * 4301,
            "body is not valid JSON: Exceeds the limit (4300 digits) for integer string conversion: value has "
            "4301 digits; use sys.set_int_max_str_digits() to increase the limit",
        ),
    ],
    ids=["nan", "infinity", "minus-infinity", "4301-digits"],
)
async def test_nan_infinity_and_huge_integers_are_refused(
    h: Harness, caplog: pytest.LogCaptureFixture, token: str, reason: str
) -> None:
    event = json.dumps(_event(event_time="@")).replace('"@"', token)
    _refused(await _post(h, event.encode()), reason)
    click = json.dumps(_click(ActionId.INCIDENT_RESOLVE, "@")).replace('"@"', token)
    _refused(await _post(h, urlencode({"payload": click}).encode(), FORM), reason)
    await h.settle()
    assert not h.sandbox.slack.calls and not _errors(caplog)


async def test_lone_surrogates_and_nul_are_stored_as_replacement_characters(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A lone surrogate cannot be encoded (SQLite, PostgreSQL, Slack) and PostgreSQL refuses NUL in text: every string
    of a body is cleaned once, before any listener sees it."""
    sb = h.sandbox
    # the declare form (JSON in a payload: a lone surrogate is valid JSON)
    await sb.slack.send_command("U0DANA", "C0INCIDENTS", "/incident", "")
    await eventually(lambda: bool(sb.slack.views))
    [view] = sb.slack.views.values()
    value = ActionId.DECLARE_VALUE.value
    result = await sb.slack.send_view_submission(
        "U0DANA",
        view.id,
        {
            BlockId.DECLARE_TITLE: {value: "Search \ud800 is \x00 empty"},
            BlockId.DECLARE_SERVICE: {value: "search-service"},
            BlockId.DECLARE_SEVERITY: {value: "P3"},
            BlockId.DECLARE_DESCRIPTION: {value: "since \udfff the \x1b deploy"},
        },
    )
    assert result["status"] == 200 and not result["body"].strip()
    await h.settle()
    [incident] = await h.services.store.incidents()
    assert incident.title == "Search \ufffd is \ufffd empty" and incident.channel_id
    timeline = await h.services.store.timeline(incident.id)
    assert timeline[0].data["description"] == "since \ufffd the \ufffd deploy"
    # a note (a form: a NUL, a C1 control; a form cannot carry a lone surrogate, its %-escapes decode as UTF-8)
    result = await sb.slack.send_command("U0DANA", incident.channel_id, "/incident", "note a NUL \x00 and \x9b here")
    assert result["status"] == 200
    await h.settle()
    notes = [e.text for e in await h.services.store.timeline(incident.id) if e.kind == EventKind.NOTE]
    assert notes == ["a NUL \ufffd and \ufffd here"]
    # and straight from the command: `/incident declare` names a service
    await sb.slack.send_command("U0DANA", "C0INCIDENTS", "/incident", "declare checkout-service \x00 down \x07 now")
    await h.settle()
    titles = sorted(i.title for i in await h.services.store.incidents())
    assert titles == ["Search \ufffd is \ufffd empty", "checkout-service \ufffd down \ufffd now"]
    assert not _errors(caplog)


async def test_event_ids_and_types_that_do_not_fit_the_dedup_key(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """The dedup row keeps the event id in 255 characters and the type in 128 (PostgreSQL refused longer ones, and a
    NUL, after the 200). Slack gives every event a short id: an event without a usable one is refused, not handled
    without the dedup."""
    for event_id in ("E" * 256, "Ev\x00", "Ev 1", 12345, None, ""):
        body = _event()
        body["event_id"] = event_id
        _refused(await _post(h, json.dumps(body).encode()), "body.event_id is not a Slack event id")
    _refused(
        await _post(h, json.dumps(_event(type="x" * 129)).encode()),
        "body.event.type is not an event type (a string of at most 128 characters)",
    )
    # the longest that fit are stored, and the dedup holds: a second delivery does nothing
    body = _event(type="t" * 128)
    body["event_id"] = "E" * 255
    for _ in range(2):
        assert (await _post(h, json.dumps(body).encode())) == (200, "")
    mention = _event(text="<@U0SREBOT> help")
    mention["event_id"] = "F" * 255
    for _ in range(2):
        assert (await _post(h, json.dumps(mention).encode())) == (200, "")
    await h.settle()
    rows = await h.services.store.run(
        lambda conn: conn.execute(sa.select(inbound_events.c.delivery_id, inbound_events.c.event_type)).all()
    )
    assert sorted(tuple(r) for r in rows) == [("E" * 255, "t" * 128), ("F" * 255, "app_mention")]
    assert len([m for m in h.sandbox.slack.messages_in("C0INCIDENTS") if m.thread_ts == "1763607960.000100"]) == 1
    assert not _errors(caplog)


# What Bolt and the listeners read, in the shape Slack gives it ------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (json.dumps({"type": "event_callback", "event_id": "Ev1", "event": "x"}), JSON, "body.event is not an object"),
        (
            urlencode({"command": "/incident", "user_id": "U0DANA", "channel_id": "C0INCIDENTS", "event": "x"}),
            FORM,
            "body.event is not an object",
        ),
        (json.dumps(_event(user=5)), JSON, "body.event.user is not a Slack id"),
        (json.dumps({**_event(), "authorizations": [1]}), JSON, "body.authorizations is not a list of objects"),
        (json.dumps(_event(ts="1e400")), JSON, "body.event.ts is not a Slack timestamp"),
        (
            json.dumps({**_event(), "function_execution_id": "Fx1", "bot_access_token": "xoxb-1\r\nX-Evil: 1"}),
            JSON,
            "body.bot_access_token is not a Slack token",
        ),
        (json.dumps({"type": "event_callback", "event_id": "Ev1"}), JSON, "body.event is missing"),
        (
            _payload({"type": "block_actions", "user": {"id": "U0DANA"}, "actions": []}).decode(),
            FORM,
            "payload.actions is not a list of actions",
        ),
        (
            _payload({"type": "block_actions", "actions": [{"action_id": "a"}]}).decode(),
            FORM,
            "payload.user.id is missing",
        ),
        (
            _payload(_click("incident.resolve", "1", response_url="javascript:alert(1)")).decode(),
            FORM,
            "payload.response_url is not an http(s) URL",
        ),
        (
            _payload({"type": "view_submission", "user": {"id": "U0DANA"}, "view": {"callback_id": "x"}}).decode(),
            FORM,
            "payload.view.type is not a string of at most 255 characters",
        ),
        (
            _payload(
                {
                    "type": "view_submission",
                    "user": {"id": "U0DANA"},
                    "view": {"type": "modal", "callback_id": "x", "state": {"values": {"b": []}}},
                }
            ).decode(),
            FORM,
            "payload.view.state.values is not blocks of elements",
        ),
        (
            _payload({"type": "shortcut", "callback_id": "x"}).decode(),
            FORM,
            "payload of type 'shortcut' is not one this app takes",
        ),
        (_payload([1]).decode(), FORM, "payload is not a JSON object"),
        (json.dumps({"type": "url_verification"}), JSON, "body.challenge is missing"),
        (json.dumps({}), JSON, "body has no type"),
        (json.dumps([]), JSON, "body is not a JSON object"),
        (
            "command=/incident&command=/other&user_id=U0DANA&channel_id=C0INCIDENTS",
            FORM,
            "form field 'command' appears twice",
        ),
        ('{"command": "/incident"}', FORM, "form body is JSON"),
        ("command=/incident&text=help", FORM, "body.user_id is missing"),
        (
            "a=b",
            "text/plain",
            "content type 'text/plain' is not one Slack sends (application/json or application/x-www-form-urlencoded)",
        ),
    ],
    ids=[
        "event-string",
        "command-with-event",
        "user-number",
        "authorizations",
        "ts",
        "token",
        "no-event",
        "no-actions",
        "no-user",
        "response-url",
        "view-without-type",
        "view-values",
        "shortcut",
        "payload-list",
        "no-challenge",
        "no-type",
        "json-list",
        "field-twice",
        "form-is-json",
        "command-without-user",
        "content-type",
    ],
)
async def test_fields_bolt_reads_must_have_slacks_shape(
    h: Harness, caplog: pytest.LogCaptureFixture, body: str, content_type: str, reason: str
) -> None:
    """Before, most of these were answered 200 and failed in Bolt after (AttributeError, TypeError, IndexError,
    KeyError in its context, matchers or argument builders), or were a 500 when their answer goes through Bolt."""
    _refused(await _post(h, body.encode(), content_type), reason)
    await h.settle()
    assert not _errors(caplog)


async def test_a_command_whose_text_says_payload_is_handled(h: Harness) -> None:
    """Bolt reads a form whose text holds "payload" anywhere as an interaction without one (an empty body): the
    command went unhandled, after its 200."""
    result = await h.sandbox.slack.send_command("U0DANA", "C0INCIDENTS", "/incident", "help payload")
    assert result["status"] == 200
    await eventually(lambda: any("*/incident* commands" in e.text for e in h.sandbox.slack.ephemerals))


@pytest.mark.parametrize("value", ["abc", "²", "99999999999", "", "-1", None, 1.5, True])
async def test_a_resolve_button_without_an_incident_number_says_so(
    h: Harness, caplog: pytest.LogCaptureFixture, value: Any
) -> None:
    assert (await _post(h, _payload(_click(ActionId.INCIDENT_RESOLVE, value)), FORM)) == (200, "")
    await eventually(lambda: any("carries no incident" in e.text for e in h.sandbox.slack.ephemerals))
    await h.settle()
    assert not _errors(caplog)


@pytest.mark.parametrize("value", ["²:abc", "99999999999:abc", "1:", ":abc", "x"])
async def test_an_approve_button_without_a_proposal_says_so(
    h: Harness, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    assert (await _post(h, _payload(_click(ActionId.PROPOSAL_APPROVE, value)), FORM)) == (200, "")
    await eventually(lambda: any("carries no proposal" in e.text for e in h.sandbox.slack.ephemerals))
    await h.settle()
    assert not _errors(caplog)


async def test_a_signature_header_that_cannot_be_read_is_401(h: Harness) -> None:
    """`"²".isdigit()` holds but int() refuses it, and hmac.compare_digest raises on a non-ASCII signature: 500s,
    before, and without any signature at all."""
    assert h.http is not None
    body = b"command=/incident&text=help&user_id=U0DANA&channel_id=C0INCIDENTS"
    now = str(int(time.time()))
    cases = [
        {"X-Slack-Request-Timestamp": "²", "X-Slack-Signature": "v0=x"},
        {"X-Slack-Request-Timestamp": "9" * 5000, "X-Slack-Signature": "v0=x"},
        {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=é"},
    ]
    for headers in cases:
        async with h.http.post(f"{h.url}/slack/events", data=body, headers={"Content-Type": FORM, **headers}) as r:
            assert (r.status, await r.json()) == (401, {"ok": False, "error": "invalid signature"})
    # two signatures (Bolt would check the last, the route the first): neither counts
    good = slack_signature(SIGNING_SECRET, now, body)
    sent = [
        ("Content-Type", FORM),
        ("X-Slack-Request-Timestamp", now),
        ("X-Slack-Signature", good),
        ("X-Slack-Signature", "v0=0"),
    ]
    async with h.http.post(f"{h.url}/slack/events", data=body, headers=sent) as r:  # type: ignore[arg-type]
        assert r.status == 401


async def test_bolts_own_refusals_say_why_in_the_routes_shape(h: Harness) -> None:
    """A view without a listener goes through Bolt for its answer: Bolt's 404 `{"error": ...}` becomes ours."""
    body = _payload(UNHANDLED_VIEW)
    assert await _post(h, body, FORM) == (404, {"ok": False, "error": "unhandled request"})


# The property ------------------------------------------------------------------------------------------------------


def mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`usual` four times in five: most bodies get past the door and are handled to the end."""
    return st.sampled_from([usual, usual, usual, usual, odd]).flatmap(lambda chosen: chosen)


# Text as senders write it, with what breaks storing and showing it: lone surrogates, NUL and other controls, a
# byte-order mark, mrkdwn, the word Bolt's form reading trips on.
_ODD = st.sampled_from(
    [
        "\ud800",
        "\udfff",
        "\x00",
        "\x1b",
        "\x7f",
        "\x9b",
        "\u2028",
        "\ufeff",
        "\ufffd",
        "é",
        "𝄞",
        "<!channel>",
        "*_~`",
        "payload",
        "%00",
        "&",
        "=",
        "+",
        " ",
        "\n",
    ]
)
TEXT = st.lists(st.one_of(st.text(max_size=6), _ODD), max_size=6).map("".join)
FORM_TEXT = TEXT.map(lambda t: t.encode("utf-8", "replace").decode())  # a form cannot carry a lone surrogate
VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT),
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(TEXT, kids, max_size=3)),
    max_leaves=8,
)
EXTRA = mostly(
    st.just({}),
    st.dictionaries(
        st.one_of(
            TEXT,
            st.sampled_from(
                [
                    "type",
                    "user",
                    "channel",
                    "team",
                    "event",
                    "actions",
                    "view",
                    "response_url",
                    "authorizations",
                    "enterprise",
                    "is_ext_shared_channel",
                    "token",
                    "ssl_check",
                ]
            ),
        ),
        VALUES,
        max_size=2,
    ),
)
USERS = ("U0DANA", "U0SAM")
# Ids are the world's, or values that are no Slack id at all: a well-formed id of nobody (say "A") is answered by Slack
# with user_not_found, which the bot rightly logs as Slack's refusal; that is not a body the intake cannot digest.
NOT_AN_ID = VALUES.filter(
    lambda v: (
        not (isinstance(v, str) and v.isascii() and v.replace("_", "").replace("-", "").isalnum() and len(v) <= 32)
    )
)
USER = mostly(st.sampled_from(USERS), NOT_AN_ID)
SUBCOMMANDS = st.sampled_from(
    [
        "",
        "help",
        "list",
        "status",
        "note",
        "declare",
        "declare checkout-service",
        "sev",
        "sev P2",
        "commander",
        "commander me",
        "escalate",
        "resolve",
        "reopen",
        "postmortem",
        "frobnicate",
    ]
)
EVENT_TYPES = mostly(
    st.sampled_from(
        ["app_mention", "reaction_added", "pin_added", "app_home_opened", "message", "member_joined_channel"]
    ),
    TEXT,
)
# One thing wrong with the bytes, or (mostly) nothing: another encoding, another content type, a number or a nesting
# that json.dumps would not write
RAW = "@@raw@@"
SPOILERS = mostly(
    st.none(),
    st.one_of(
        st.tuples(st.just("encoding"), st.sampled_from(["utf-8-sig", "utf-16", "utf-16-le", "utf-32", "cp1252"])),
        st.tuples(
            st.just("content_type"),
            st.sampled_from(
                ["text/plain", "application/json; charset=utf-16", "Application/JSON", f"{FORM}; charset=utf-8"]
            ),
        ),
        st.tuples(
            st.just("raw"),
            st.sampled_from(
                [
                    "NaN",
                    "Infinity",
                    "-Infinity",
                    "9" * 4301,
                    "1e400",
                    "-0.0",
                    "1" * 40,
                    "[" * 33 + "]" * 33,
                    "[" * 31 + "]" * 31,
                    '"\\ud800"',
                    '"\\u0000x"',
                ]
            ),
        ),
    ),
)

command_specs = st.tuples(
    st.just("command"),
    SUBCOMMANDS,
    FORM_TEXT,
    st.booleans(),
    mostly(st.just({}), st.dictionaries(FORM_TEXT, FORM_TEXT, max_size=2)),
)
click_specs = st.tuples(
    st.just("click"),
    mostly(st.sampled_from([a.value for a in ActionId]), TEXT),
    st.one_of(VALUES, st.from_regex(r"\A[0-9]{1,12}:[0-9a-f]{0,8}\Z"), st.just("1")),
    USER,
    EXTRA,
)
declare_values = st.fixed_dictionaries(
    {
        BlockId.DECLARE_TITLE.value: st.fixed_dictionaries({"value": st.fixed_dictionaries({"value": TEXT})}),
        BlockId.DECLARE_SERVICE.value: st.fixed_dictionaries(
            {
                "value": st.fixed_dictionaries(
                    {
                        "selected_option": (
                            st.fixed_dictionaries(
                                {"value": mostly(st.sampled_from(["checkout-service", "search-service"]), TEXT)}
                            )
                        )
                    }
                )
            }
        ),
        BlockId.DECLARE_SEVERITY.value: st.fixed_dictionaries(
            {
                "value": st.fixed_dictionaries(
                    {
                        "selected_option": (
                            st.fixed_dictionaries({"value": mostly(st.sampled_from(["P1", "P3", "P5"]), TEXT)})
                        )
                    }
                )
            }
        ),
        BlockId.DECLARE_DESCRIPTION.value: st.fixed_dictionaries({"value": st.fixed_dictionaries({"value": TEXT})}),
    }
)
reject_values = st.fixed_dictionaries(
    {
        BlockId.REJECT_REASON.value: st.fixed_dictionaries(
            {ActionId.REJECT_REASON.value: st.fixed_dictionaries({"value": TEXT})}
        )
    }
)
odd_values = st.dictionaries(
    TEXT, st.dictionaries(TEXT, st.one_of(st.fixed_dictionaries({"value": TEXT}), VALUES), max_size=2), max_size=3
)
reject_metadata = st.builds(
    lambda p, c: json.dumps({"proposal": p, "hash": "h", "channel": c}),
    st.one_of(st.integers(), TEXT),
    st.sampled_from(["C0INCIDENTS", "#incidents"]),
)
view_specs = st.one_of(
    st.tuples(st.just("view"), st.just("incident.declare"), mostly(declare_values, odd_values), st.just(""), USER),
    st.tuples(
        st.just("view"),
        st.just("proposal.reject_reason"),
        mostly(reject_values, odd_values),
        mostly(reject_metadata, TEXT),
        USER,
    ),
    st.tuples(st.just("view"), TEXT, odd_values, TEXT, USER),
)
event_specs = st.tuples(
    st.just("event"),
    EVENT_TYPES,
    USER,
    mostly(st.sampled_from(["incident", "C0INCIDENTS"]), NOT_AN_ID),
    TEXT,
    mostly(st.just("real"), NOT_AN_ID),
    st.sampled_from(["pushpin", "eyes"]),
    mostly(st.just("fresh"), VALUES),
    EXTRA,
)
raw_specs = st.tuples(st.just("raw"), VALUES, st.sampled_from([JSON, FORM]))
KINDS_OF_BODY = st.sampled_from([command_specs, click_specs, view_specs, event_specs, raw_specs]).flatmap(lambda k: k)
SPECS = st.tuples(KINDS_OF_BODY, SPOILERS, mostly(st.just(True), st.just(False)))  # False: raw non-ASCII


def _form(payload: str) -> str:
    """A payload field as a sender may %-encode it: a lone surrogate as its (invalid) UTF-8 bytes."""
    return urlencode({"payload": payload}, errors="surrogatepass")


def _build(h: Harness, incident_channel: str, spec: Any) -> tuple[bytes, str]:
    """The body and its content type for a drawn spec (run on the test's loop: it uses the sandbox's state)."""
    (kind, *args), spoiler, ascii_only = spec
    how, what = spoiler or ("", "")

    def dumps(value: Any) -> str:
        if how == "raw" and isinstance(value, dict):
            value = {**value, "spoiled": RAW}
        return json.dumps(value, ensure_ascii=ascii_only).replace(json.dumps(RAW), what)

    sb = h.sandbox.slack
    if kind == "command":
        sub, rest, in_incident, extra = args
        channel = incident_channel if in_incident else "C0INCIDENTS"
        _, _, body = sb.command_body("U0DANA", channel, "/incident", f"{sub} {rest}".strip())
        text, media = body.decode() + ("&" + urlencode(extra) if extra else ""), FORM
    elif kind == "click":
        action_id, value, user, extra = args
        payload = {**_click(action_id, value), **extra}
        payload["user"] = {"id": user, "username": "someone", "team_id": "T0123ABCD"}
        text, media = _form(dumps(payload)), FORM
    elif kind == "view":
        callback_id, values, metadata, user = args
        payload = {
            "type": "view_submission",
            "team": {"id": "T0123ABCD", "domain": "acme"},
            "user": {"id": user, "username": "someone"},
            "api_app_id": "A0SREAGENT",
            "trigger_id": "1.1.abc",
            "view": {
                "id": "V0X",
                "type": "modal",
                "callback_id": callback_id,
                "private_metadata": metadata,
                "state": {"values": values},
            },
            "response_urls": [],
        }
        text, media = _form(dumps(payload)), FORM
    elif kind == "event":
        event_type, user, channel, words, ts, reaction, event_id, extra = args
        channel = incident_channel if channel == "incident" else channel
        if ts == "real":
            ch = sb.channel(channel) if isinstance(channel, str) else None
            said = (words or "hi").encode("utf-8", "replace").decode()  # what Slack can hold (and answer with)
            ts = sb.add_message(ch, "U0DANA", said, None, None, bot=False).ts if ch else sb.next_ts()
        event = {
            "type": event_type,
            "user": user,
            "channel": channel,
            "text": f"<@U0SREBOT> {words}",
            "ts": ts,
            "event_ts": ts if isinstance(ts, str) else "1.2",
            "reaction": reaction,
            "tab": "home",
            "item": {"type": "message", "channel": channel, "ts": ts},
            "channel_id": channel,
        }
        body = _event(**event)
        body.update(extra)
        if event_id != "fresh":
            body["event_id"] = event_id
        text, media = dumps(body), JSON
    else:
        value, media = args
        text = dumps(value) if media == JSON else _form(dumps(value))
    if how == "content_type":
        media = what
    if how == "encoding":
        return (text.encode("cp1252", "replace") if what == "cp1252" else text.encode(what, "surrogatepass")), media
    return text.encode("utf-8", "surrogatepass"), media


async def test_no_signed_body_makes_a_5xx_or_an_error_after_its_answer(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Signed commands with any text, clicks with any action and value, view submissions with any state, events of
    any type with any fields, any JSON value as a body, numbers JSON has no room for, nesting past the bound, and
    other encodings and content types: the answer is a 200, or a 4xx whose JSON says why; after each, once the bot
    has done what the request asked, no error (nor any traceback) was logged."""
    sb = h.sandbox
    sb.pagerduty.page("checkout-service", "checkout-service: error rate 8.5%", priority="P2")
    await h.settle()
    [incident] = await h.services.store.incidents()
    assert incident.channel_id
    loop = asyncio.get_running_loop()
    statuses: list[int] = []
    seen = len(caplog.records)

    async def one(spec: Any) -> tuple[int, Any, list[str]]:
        nonlocal seen
        body, content_type = _build(h, str(incident.channel_id), spec)
        answer = await _post(h, body, content_type)
        await h.settle(rounds=1)
        new = _errors(caplog, seen)
        seen = len(caplog.records)
        return answer[0], answer[1], new

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @seed(20251120)
    @given(SPECS)
    def prop(spec: Any) -> None:
        status, data, errors = asyncio.run_coroutine_threadsafe(one(spec), loop).result(timeout=30)
        statuses.append(status)
        assert status < 500, (status, data)
        if status >= 400:
            assert isinstance(data, dict) and data.get("ok") is False, data
            assert isinstance(data.get("error"), str) and data["error"], data
        else:
            assert status == 200, (status, data)
        assert not errors, errors

    await asyncio.to_thread(prop)
    await h.settle()
    assert not _errors(caplog)
    assert statuses.count(200) >= 20 and sum(400 <= s < 500 for s in statuses) >= 20, statuses  # both were tried


# The readers the route runs on every request, held to what they stand in for --------------------------------------

_ESCAPES = st.sampled_from(["%", "%2", "%2B", "%2b", "%zz", "%C3%A9", "%C3", "%A9", "%ED%A0%80", "%F0%9F%92%A5", "%00"])
_FORM_TEXT = st.lists(
    st.one_of(_ESCAPES, st.sampled_from(["&", "=", "+", "\\", "\\x41", "\\\\", "é", "💥"]), st.text(max_size=4)),
    max_size=30,
).map("".join)


@settings(max_examples=3000, database=None)
@seed(20261206)
@given(st.one_of(_FORM_TEXT, st.text(), st.lists(st.tuples(st.text(), st.text())).map(urlencode)))
def test_a_form_is_read_as_the_standard_library_reads_it(text: str) -> None:
    assert form_fields(text) == parse_qsl(text, keep_blank_values=True)


def test_a_payload_is_read_as_the_standard_library_reads_it() -> None:
    payload = json.dumps(_event(text="a + b = 100% \\ é 💥 \u2028", blocks=[{"type": "section"}] * 20))
    text = urlencode({"payload": payload, "token": "x y"})
    assert form_fields(text) == parse_qsl(text, keep_blank_values=True) == [("payload", payload), ("token", "x y")]


_JSON_VALUES = st.recursive(
    st.none() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3),
    max_leaves=60,
)


@settings(max_examples=2000, database=None)
@seed(20261206)
@given(_JSON_VALUES, st.integers(min_value=0, max_value=12))
def test_nesting_is_measured_as_the_brackets_count_it(value: Any, limit: int) -> None:
    """The depth of a parsed value against a count of the brackets of its text (the nesting each level adds)."""
    text = json.dumps(value)
    depth = level = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            in_string, escaped = (in_string, False) if escaped else (char != '"', char == "\\")
        elif char == '"':
            in_string = True
        elif char in "[{":
            level += 1
            depth = max(depth, level)
        elif char in "]}":
            level -= 1
    assert nests_deeper(value, limit) == (depth > limit)


@pytest.mark.parametrize(
    ("text", "content_type"),
    [
        (urlencode({"command": "/incident", "text": "status", "user_id": "U0DANA", "channel_id": "C1"}), FORM),
        (urlencode({"payload": json.dumps({"type": "block_actions", "actions": [{"value": "a b%&"}]})}), FORM),
        (json.dumps({"type": "event_callback", "event_id": "Ev1", "event": {"type": "app_mention"}}), JSON),
    ],
    ids=["command", "click", "event"],
)
def test_a_stored_request_reaches_bolt_as_the_route_read_it(text: str, content_type: str) -> None:
    """Bolt is handed the body the route read (bodies.py), with the text beside it, not its own reading of the
    text: the same for what Slack sends, in a tenth of the time for a click's escapes."""
    stored = json.loads(stored_request(text, "", {"Content-Type": f"{content_type}; charset=utf-8", "X-Other": "1"}))
    request = bolt_request(stored)
    assert request.mode == "http" and request.raw_body == text
    assert request.body == parse_body(text, content_type)[1]
    assert request.body == AsyncBoltRequest(body=text, headers={"Content-Type": content_type}).body


def test_a_stored_command_whose_text_says_payload_reaches_bolt_whole() -> None:
    """Bolt's own reading of such a form finds no payload in it and reads it as an empty body (its built-in
    middlewares then judged an empty request); the route's reading is what Bolt gets."""
    text = urlencode({"command": "/incident", "text": "declare the payload API is down", "user_id": "U0DANA"})
    assert AsyncBoltRequest(body=text, headers={"Content-Type": FORM}).body == {}
    request = bolt_request(json.loads(stored_request(text, "", {"Content-Type": FORM})))
    assert request.body["text"] == "declare the payload API is down" and request.body["user_id"] == "U0DANA"
