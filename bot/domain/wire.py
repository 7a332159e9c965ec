"""Reading an inbound body into plain values that every later step can use: text that is Unicode, JSON that is
bounded, strings that can be stored and shown. Each rule says what a sender's oddity means, so that a body is
either refused here, with the reason, or can be handled to the end.

- Encoding: JSON is UTF-8 (RFC 8259). A UTF-8 byte-order mark is skipped. A body in UTF-16 or UTF-32 (with a
  byte-order mark, or recognised by its zero bytes as RFC 4627 describes) is read as such. Anything that does not
  decode is refused.
- Nesting: at most MAX_DEPTH levels of objects and arrays; deeper is refused (no page needs more, and a parser that
  recurses must not be handed an unbounded depth).
- Numbers: `NaN` and `Infinity` are not JSON and are refused, as are integers of more than 4300 digits.
- Strings: a lone surrogate (`"\\ud800"`, which is valid JSON but no Unicode text) and control characters other
  than tab, newline and carriage return become U+FFFD, so they can be stored and shown and still be seen to be odd.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

from bot.domain.errors import InvalidEvent

MAX_DEPTH = 32
REPLACEMENT = "\ufffd"

_PLAIN_URL = re.compile(r"https?://[^\s<>|]+")
_UNSHOWABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_BOMS = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),  # before UTF-16: UTF-32 LE's mark starts with UTF-16 LE's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)


def byte_order_mark(body: bytes) -> tuple[str, int] | None:
    """The encoding a body's byte-order mark names (`utf-16-le`...) and the mark's length; None without one."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name, len(bom)
    return None


def _encoding(body: bytes) -> tuple[str, int]:
    """The body's encoding and the length of its byte-order mark."""
    marked = byte_order_mark(body)
    if marked is not None:
        return marked
    head = body[:4]
    if len(head) == 4:  # RFC 4627, 3: the first two characters are ASCII, so the zero bytes tell the encoding
        if head[:3] == b"\0\0\0":
            return "utf-32-be", 0
        if head[1:] == b"\0\0\0":
            return "utf-32-le", 0
    if len(head) >= 2:
        if head[0] == 0:
            return "utf-16-be", 0
        if head[1] == 0:
            return "utf-16-le", 0
    return "utf-8", 0


def decode_body(body: bytes) -> str:
    """The body as text (see the module's rules). Raises InvalidEvent naming the encoding and the byte."""
    name, skip = _encoding(body)
    try:
        return body[skip:].decode(name)
    except UnicodeDecodeError as exc:
        raise InvalidEvent(f"body is not valid {name.upper()} text (byte {exc.start + skip}: {exc.reason})") from exc


def nests_deeper(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when `value` (parsed JSON) nests objects and arrays more than `limit` levels deep. It recurses no more
    than `limit` levels, however deep `value` is."""
    if isinstance(value, dict):
        children: Any = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return False
    if limit < 1:
        return True
    for child in children:  # noqa: SIM110 - a loop, not any() over a generator: half the time on a payload
        if isinstance(child, (dict, list)) and nests_deeper(child, limit - 1):
            return True
    return False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_json(text: str) -> Any:
    """Parse JSON text within the module's bounds. Raises InvalidEvent with the reason."""
    try:  # (the parser is C, and stops at the interpreter's recursion limit: the depth is judged after it)
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError as exc:
        raise InvalidEvent(f"body nests deeper than {MAX_DEPTH} levels") from exc
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, an integer of too many digits
        raise InvalidEvent(f"body is not valid JSON: {exc}") from exc
    if nests_deeper(value):
        raise InvalidEvent(f"body nests deeper than {MAX_DEPTH} levels")
    return value


def read_json(body: bytes) -> Any:
    """decode_body, then load_json."""
    return load_json(decode_body(body))


def clean_text(text: str, limit: int | None = None) -> str:
    """`text` with lone surrogates and control characters (but tab, newline and carriage return) as U+FFFD,
    cut to `limit` characters with a trailing ellipsis."""
    if _UNSHOWABLE.search(text):
        text = _UNSHOWABLE.sub(REPLACEMENT, text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def clean_strings(value: Any) -> Any:
    """Every string in a parsed JSON value (keys too) through clean_text; nesting is bounded by load_json."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k): clean_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_strings(v) for v in value]
    return value


def is_plain_url(text: str) -> bool:
    """A plain http(s) URL with nothing in it that could break out of a Slack link (`<url|label>`)."""
    return _PLAIN_URL.fullmatch(text) is not None


def storable_text(text: str, limit: int = 4000) -> str:
    """Text for a log line or an error column: never raises on encoding, bounded."""
    return clean_text(text.encode("utf-8", "backslashreplace").decode("utf-8"), limit)
