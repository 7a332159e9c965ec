"""Slack request bodies read and judged before they are answered.

A request that is answered 200 must be one that can be handled to the end, so a body is read here, before the
answer, by the rules of bot/domain/wire.py and Slack's own, and refused (400, with the reason) when it breaks one:

- Text: plain UTF-8, without a byte-order mark. Slack sends nothing else, signs the raw bytes, and Bolt checks the
  signature again over the text it is handed, so there is no other encoding a body could be read in and handed on.
  For the same reason the Content-Type is one of Slack's two, as Slack spells it, with no charset but UTF-8's.
- JSON (an Events API body, an interaction's `payload`): bounded as wire.load_json bounds it (nesting, NaN and
  Infinity, integers of more than 4300 digits).
- Shape: the fields Bolt and the listeners read are what Slack puts there (`event` an object with a type, `actions`
  a list of actions, ids that are Slack's ids, and so on: see `check_body`), and the body is one of the kinds this
  app has listeners for. Bolt reads these fields without asking, so a body that breaks them would fail in Bolt
  after the answer.

Strings are not judged here: a lone surrogate or a control character is valid JSON, and `clean_strings` (a Bolt
middleware, handlers/slack.py) makes every string of an accepted body storable and showable before any listener.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import unquote

from yarl import URL

from bot.domain.errors import InvalidEvent
from bot.domain.wire import MAX_DEPTH, byte_order_mark, clean_text, load_json, nests_deeper

__all__ = [
    "LATER",
    "MALFORMED",
    "NOW",
    "Reading",
    "check_body",
    "classify",
    "form_fields",
    "parse_body",
    "slack_event_id",
    "slack_id",
    "slack_text",
]

LATER = "later"  # answered with an empty 200 at once, handled after
NOW = "now"  # the answer carries something: through Bolt before answering
MALFORMED = "malformed"  # not a request Slack would send: 400

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
NOT_SLACK = "not a Slack request body"

# The kinds of body this app has listeners for, and how each is answered. Any other kind is refused: Bolt would only
# log it as unhandled. A listener for another kind (a shortcut, a select's options, a view_closed for a modal with
# notify_on_close) adds its kind here. app_rate_limited has no listener: Bolt's "unhandled" warning is the news.
_JSON_KINDS = {"event_callback": LATER, "url_verification": NOW, "app_rate_limited": LATER}
_PAYLOAD_KINDS = {"block_actions": LATER, "view_submission": NOW}

_ID = re.compile(r"[A-Za-z0-9_-]{0,32}")  # Slack's ids (U0123ABCD, C0123ABCD, T0123ABCD); 32: the store's columns
_EVENT_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")  # Ev0123ABCD; 255: the dedup key's column
_TS = re.compile(r"[0-9]{1,10}\.[0-9]{1,6}")  # 1763607960.000400, a time that Python's datetime can hold
_TOKEN = re.compile(r"xox[a-z]-[A-Za-z0-9-]{1,250}")  # a function's bot token: Bolt puts it in its client's header
_UNSAFE_IN_URL = re.compile(r"[\s\x00-\x1f\x7f\ud800-\udfff]")
_IDS = ("user_id", "channel_id", "team_id", "enterprise_id", "bot_id")
_IDS_OR_OBJECTS = ("user", "channel", "team", "enterprise")  # an id, or an object with one (Bolt reads both)
_TIMESTAMPS = ("ts", "thread_ts", "event_ts")
_NESTED = ("event", "item", "message", "previous_message", "assistant_thread")  # where Bolt looks for ids too
_NAME_LIMIT = 255  # action_id, block_id, callback_id, trigger_id: Slack's limit for the ids an app sets
_EVENT_TYPE_LIMIT = 128  # the dedup row's column
_URL_LIMIT = 2048
_METADATA_LIMIT = 3000  # a view's private_metadata (Slack's limit)


@dataclass(frozen=True)
class Reading:
    """What the route makes of a signed body."""

    kind: str  # LATER, NOW or MALFORMED
    text: str = ""  # the body as text, for Bolt
    reason: str = ""  # why it is MALFORMED
    event_id: str | None = None  # an event's id (Slack delivers an event again with the same one)
    event_type: str = ""  # what it is: the event's type, the payload's, or "command"


def classify(body: bytes, content_type: str, charset: str | None = None) -> Reading:
    """LATER, NOW or MALFORMED (with the reason) for a signature-checked Slack request. `content_type` is the
    Content-Type header as sent (Bolt reads the body by what comes before its `;`), `charset` its charset as aiohttp
    reads it (aiohttp decodes the body by it for Bolt when the answer goes through Bolt)."""
    try:
        text = slack_text(body, charset)
        source, data = parse_body(text, content_type.split(";")[0])
        kind = check_body(data, source)
    except InvalidEvent as exc:
        return Reading(MALFORMED, reason=str(exc))
    event_id, event_type = identity(data)
    return Reading(kind, text, event_id=event_id, event_type=event_type)


def identity(body: dict[str, Any]) -> tuple[str | None, str]:
    """A checked body's event id (an event's: Slack delivers it again with the same id) and what it is (the
    event's type, the payload's, or "command"), as the inbound events store them."""
    event = body.get("event")
    if body.get("type") == "event_callback" and isinstance(event, dict):
        event_id, event_type = slack_event_id(body.get("event_id")), event.get("type")
    else:
        event_id, event_type = None, "command" if "command" in body and "type" not in body else body.get("type")
    return event_id, clean_text(str(event_type or "?"), _EVENT_TYPE_LIMIT)


def slack_text(body: bytes, charset: str | None = None) -> str:
    """The body as text, as Slack sends it: UTF-8 without a byte-order mark. Raises InvalidEvent with the reason."""
    if charset is not None and _codec(charset) != "utf-8":
        raise InvalidEvent(f"body is declared {_show(charset)}: Slack sends UTF-8")
    marked = byte_order_mark(body)
    if marked is not None:
        name = marked[0].upper().removesuffix("-LE").removesuffix("-BE")
        raise InvalidEvent(f"body starts with a {name} byte-order mark: Slack sends UTF-8 without one")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(f"body is not UTF-8 (byte {exc.start}: {exc.reason})") from exc
    if "\0" in text:  # never outside an escape, in JSON or in a form: UTF-16 or UTF-32 without a byte-order mark
        raise InvalidEvent("body holds a NUL byte (UTF-16 or UTF-32?): Slack sends UTF-8")
    return text


def _codec(name: str) -> str | None:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def parse_body(text: str, content_type: str) -> tuple[str, dict[str, Any]]:
    """Where the body came from ("json", "payload" or "form") and the body as Bolt's listeners get it, read from its
    text and media type as Bolt reads it, within wire.load_json's bounds. Raises InvalidEvent with the reason."""
    if content_type == JSON:
        return "json", _object(_json(text), "body")
    if content_type != FORM:
        raise InvalidEvent(f"content type {_show(content_type)} is not one Slack sends ({JSON} or {FORM})")
    if text.startswith("{"):
        raise InvalidEvent("form body is JSON")  # Bolt would read it as JSON, whatever the content type says
    form: dict[str, str] = {}
    for key, value in form_fields(text):
        if key in form:  # Bolt reads the last one: a check of the first would judge another request
            raise InvalidEvent(f"form field {_show(key)} appears twice")
        form[key] = value
    if "payload" in form:
        return "payload", _object(_json(form["payload"]), "payload")
    return "form", form


def form_fields(text: str) -> list[tuple[str, str]]:
    """A form body's fields in order, read exactly as `urllib.parse.parse_qsl(text, keep_blank_values=True)` reads
    them (tests/test_slack_bodies.py holds the two side by side), in a tenth of its time: an interaction's payload is
    a few kilobytes of JSON with hundreds of escapes, which parse_qsl decodes one at a time in Python."""
    fields = []
    for field in text.split("&"):
        if field:
            name, _, value = field.partition("=")
            fields.append((_unquote_plus(name), _unquote_plus(value)))
    return fields


def _unquote_plus(text: str) -> str:
    """`urllib.parse.unquote(text.replace("+", " "))`: the escapes (%XX) decoded in C, as `\\xXX` escapes of a
    bytes literal; text that has one that is not two hex digits, or that is not Unicode text, goes to unquote."""
    text = text.replace("+", " ")
    if "%" not in text:
        return text
    try:
        raw = text.replace("\\", "\\\\").replace("%", "\\x").encode("utf-8")
        return codecs.escape_decode(raw)[0].decode("utf-8", "replace")
    except (ValueError, UnicodeEncodeError):
        return unquote(text)


def _json(text: str) -> Any:
    try:
        return load_json(text)
    except InvalidEvent as exc:
        if isinstance(exc.__cause__, json.JSONDecodeError):
            raise InvalidEvent(NOT_SLACK) from exc  # text that is no JSON at all: simply not from Slack
        raise


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidEvent(f"{where} is not a JSON object")
    return value


def check_body(body: dict[str, Any], source: str | None = None) -> str:
    """NOW or LATER for a parsed body (`source` as parse_body says; None for one Socket Mode hands on, whose kind
    shows in it) when Bolt and the listeners can read it: the fields they read are what Slack puts there, and it is
    a kind this app has listeners for. Raises InvalidEvent naming the field that is not."""
    if source is None and nests_deeper(body):  # (parse_body bounded one that it read)
        raise InvalidEvent(f"body nests deeper than {MAX_DEPTH} levels")
    kind = body.get("type")
    if source is None:
        source = "form" if "command" in body and kind is None else "json" if kind in _JSON_KINDS else "payload"
    root = "payload" if source == "payload" else "body"
    _envelope(body, root)
    if source == "form":
        if "command" in body:
            _command(body, root)
            return LATER
        if "ssl_check" in body:
            return NOW
        raise InvalidEvent(NOT_SLACK)
    kinds = _JSON_KINDS if source == "json" else _PAYLOAD_KINDS
    if kind is None:
        raise InvalidEvent(f"{root} has no type")
    if kind not in kinds:
        raise InvalidEvent(f"{root} of type {_show(kind)} is not one this app takes")
    _KIND_CHECKS[kind](body, root)
    return kinds[kind]


def _envelope(body: dict[str, Any], root: str) -> None:
    """What Bolt reads of every body, before any listener: its context (ids, response URLs), its type, and the
    fields its matchers and argument builders take apart (event, actions, view)."""
    _common(body, root)
    _name(body, "type", root)
    _name(body, "trigger_id", root)
    if "event" in body and not isinstance(body["event"], dict):
        _refuse(f"{root}.event", "is not an object")
    if "actions" in body:
        _actions(body["actions"], f"{root}.actions")
    if "view" in body:
        _view(body["view"], f"{root}.view")
    _url(body.get("response_url"), f"{root}.response_url")
    urls = body.get("response_urls")
    if urls is not None:
        if not isinstance(urls, list) or not all(isinstance(u, dict) for u in urls):
            _refuse(f"{root}.response_urls", "is not a list of objects")
        for i, u in enumerate(urls):
            _url(u.get("response_url"), f"{root}.response_urls[{i}].response_url")


def _common(d: dict[str, Any], where: str) -> None:
    """Ids and timestamps where Bolt (its context) and the listeners (the store) read them, here and in the objects
    Bolt looks into for them."""
    for key in _IDS:
        _id(d.get(key), f"{where}.{key}")
    for key in _IDS_OR_OBJECTS:
        value = d.get(key)
        if isinstance(value, dict):
            _id(value.get("id"), f"{where}.{key}.id")
        else:
            _id(value, f"{where}.{key}")
    for key in _TIMESTAMPS:
        value = d.get(key)
        if value is not None and not (isinstance(value, str) and _TS.fullmatch(value)):
            _refuse(f"{where}.{key}", "is not a Slack timestamp")
    token = d.get("bot_access_token")
    if token is not None and not (isinstance(token, str) and _TOKEN.fullmatch(token)):
        _refuse(f"{where}.bot_access_token", "is not a Slack token")
    auths = d.get("authorizations")
    if auths is not None:
        if not isinstance(auths, list) or not all(isinstance(a, dict) for a in auths):
            _refuse(f"{where}.authorizations", "is not a list of objects")
        for i, a in enumerate(auths):
            _common(a, f"{where}.authorizations[{i}]")
    for key in _NESTED:
        value = d.get(key)
        if isinstance(value, dict):
            _common(value, f"{where}.{key}")


def _id(value: Any, where: str) -> None:
    if value is not None and not (isinstance(value, str) and _ID.fullmatch(value)):
        _refuse(where, "is not a Slack id")


def slack_id(value: Any) -> str | None:
    """`value` when it is a Slack id (letters, digits, at most 32), else None."""
    return value if isinstance(value, str) and value and _ID.fullmatch(value) else None


def slack_event_id(value: Any) -> str | None:
    """`value` when it is an event id that fits the dedup key (letters, digits, at most 255), else None."""
    return value if isinstance(value, str) and _EVENT_ID.fullmatch(value) else None


def _name(d: dict[str, Any], key: str, where: str, *, required: bool = False) -> None:
    value = d.get(key)
    if value is None and not required:
        return
    if not isinstance(value, str) or len(value) > _NAME_LIMIT:
        _refuse(f"{where}.{key}", f"is not a string of at most {_NAME_LIMIT} characters")


def _actions(actions: Any, where: str) -> None:
    if not isinstance(actions, list) or not actions or not all(isinstance(a, dict) for a in actions):
        _refuse(where, "is not a list of actions")
    for i, action in enumerate(actions):
        _name(action, "action_id", f"{where}[{i}]", required=True)
        _name(action, "block_id", f"{where}[{i}]")


def _view(view: Any, where: str) -> None:
    if not isinstance(view, dict):
        _refuse(where, "is not an object")
    _name(view, "type", where, required=True)  # Bolt reads it of every view it is handed
    _name(view, "callback_id", where)
    state = view.get("state")
    if state is not None:
        if not isinstance(state, dict):
            _refuse(f"{where}.state", "is not an object")
        values = state.get("values")
        if values is not None and not (
            isinstance(values, dict)
            and all(isinstance(b, dict) and all(isinstance(e, dict) for e in b.values()) for b in values.values())
        ):
            _refuse(f"{where}.state.values", "is not blocks of elements")
    meta = view.get("private_metadata")
    if meta is not None and not (isinstance(meta, str) and len(meta) <= _METADATA_LIMIT):
        _refuse(f"{where}.private_metadata", f"is not a string of at most {_METADATA_LIMIT} characters")


def _url(value: Any, where: str) -> None:
    """A response URL the bot will post to: absent, empty, or an http(s) URL that aiohttp can request."""
    if value is None or value == "":
        return
    try:
        url = URL(value) if isinstance(value, str) and len(value) <= _URL_LIMIT else None
        usable = (
            url is not None
            and not _UNSAFE_IN_URL.search(str(value))
            and url.scheme in ("http", "https")
            and bool(url.raw_host)
            and url.port is not None
        )
    except (ValueError, TypeError):
        usable = False
    if not usable:
        _refuse(where, "is not an http(s) URL")


def _command(body: dict[str, Any], root: str) -> None:
    command = body.get("command")
    if not (isinstance(command, str) and command.startswith("/") and len(command) <= _NAME_LIMIT):
        _refuse(f"{root}.command", "is not a slash command")
    for key in ("user_id", "channel_id"):
        if not body.get(key):
            _refuse(f"{root}.{key}", "is missing")
    if not isinstance(body.get("text", ""), str):
        _refuse(f"{root}.text", "is not a string")


def _event_callback(body: dict[str, Any], root: str) -> None:
    event = body.get("event")
    if not isinstance(event, dict):
        _refuse(f"{root}.event", "is missing")
    kind = event.get("type")
    if not (isinstance(kind, str) and 0 < len(kind) <= _EVENT_TYPE_LIMIT):
        _refuse(f"{root}.event.type", f"is not an event type (a string of at most {_EVENT_TYPE_LIMIT} characters)")
    if slack_event_id(body.get("event_id")) is None:
        # Slack gives every event one, and it is the key that keeps a redelivered event from being handled twice
        _refuse(f"{root}.event_id", "is not a Slack event id")


def _url_verification(body: dict[str, Any], root: str) -> None:
    if not isinstance(body.get("challenge"), str):
        _refuse(f"{root}.challenge", "is missing")


def _nothing(body: dict[str, Any], root: str) -> None:
    """app_rate_limited: Slack says it is holding events back (nothing in it is read)."""


def _by_someone(body: dict[str, Any], root: str) -> None:
    user = body.get("user")
    if not (isinstance(user, dict) and slack_id(user.get("id"))):
        _refuse(f"{root}.user.id", "is missing")


def _block_actions(body: dict[str, Any], root: str) -> None:
    _by_someone(body, root)
    if "actions" not in body:
        _refuse(f"{root}.actions", "is missing")


def _view_payload(body: dict[str, Any], root: str) -> None:
    _by_someone(body, root)
    view = body.get("view")
    if not isinstance(view, dict) or not isinstance(view.get("callback_id"), str):
        _refuse(f"{root}.view.callback_id", "is missing")


_KIND_CHECKS = {
    "event_callback": _event_callback,
    "url_verification": _url_verification,
    "app_rate_limited": _nothing,
    "block_actions": _block_actions,
    "view_submission": _view_payload,
}


def _refuse(where: str, what: str) -> NoReturn:
    raise InvalidEvent(f"{where} {what}")


def _show(value: Any) -> str:
    """A sender's value in a reason: quoted, escaped, short."""
    return clean_text(repr(value), 60)
