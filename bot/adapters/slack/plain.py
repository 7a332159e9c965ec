"""Block Kit objects (slack_sdk's models) as the JSON that is sent: what their `to_dict()` makes, without its checks.

slack_sdk's `to_dict()` runs every validator of an object and of each object inside it, one by one, before it writes
the object out, and builds each class's set of attributes again for every object: 0.19 ms of CPU for an incident's
card of five blocks, against 0.07 ms here. Slack checks every block it is sent and answers `invalid_blocks` (the
sandbox's Slack peer too), so a wrong block still fails loudly; the text that goes into blocks is cut to Slack's
limits where it is made (`blocks/text.py`).

The JSON is the same as `to_dict()`'s (tests/test_slack_plain.py holds them side by side): the attributes an object
declares, in sorted order, those that are None or empty left out (but for the few that Slack allows empty), each
value written out the same way. An object with its own `to_dict()` is written by it."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.basic_objects import EMPTY_ALLOWED_TYPE_AND_PROPERTY_LIST, JsonObject

__all__ = ["as_json"]

_EMPTY_ALLOWED = frozenset((a["type"], a["property"]) for a in EMPTY_ALLOWED_TYPE_AND_PROPERTY_LIST)
_GENERIC = JsonObject.to_dict
_ATTRIBUTES: dict[type, tuple[str, ...]] = {}  # by class: its attributes, sorted (a property each call would build)


def as_json(value: Any) -> Any:
    """`value` (a Block Kit object, a list of them, or a plain value) as JSON-ready dicts, lists and scalars."""
    if type(value) in _SCALARS:
        return value
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    if isinstance(value, JsonObject) and type(value).to_dict is _GENERIC:
        kind = getattr(value, "type", None)
        out: dict[str, Any] = {}
        for key in _attributes(value):
            item = value.get_object_attribute(key)
            if item is None:
                continue
            if (kind, key) not in _EMPTY_ALLOWED and hasattr(item, "__len__") and len(item) == 0:
                continue
            out[key] = item if type(item) in _SCALARS else as_json(item)
        return out
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return {k: as_json(v) for k, v in to_dict().items()}
    return value


_SCALARS = frozenset({str, int, float, bool})  # written as they are (not their subclasses: an enum may have to_dict)


def _attributes(value: JsonObject) -> tuple[str, ...]:
    cls = type(value)
    found = _ATTRIBUTES.get(cls)
    if found is None:
        found = _ATTRIBUTES[cls] = tuple(sorted(value.attributes))
    return found
