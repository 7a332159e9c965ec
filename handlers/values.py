"""What a button or a form carries back from Slack, read: a store id, or a button's `"<id>:<hash>"`. Slack returns
what it was given, but a request can carry anything: what is not one of ours is None."""

from __future__ import annotations

import re
from typing import Any

from blocks.proposals import read_button_value

__all__ = ["ROW_ID_LIMIT", "button_value", "row_id"]

ROW_ID_LIMIT = 2**31 - 1  # the store's integer ids (PostgreSQL's INTEGER)
_ROW_ID = re.compile(r"[0-9]{1,10}")


def row_id(value: Any) -> int | None:
    """A store id a button or a form carries (`"12"` or 12), or None when it is none (a bool, a float, a number
    the store's integer column cannot hold, anything else)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _ROW_ID.fullmatch(value):
        number = int(value)
    else:
        return None
    return number if 0 < number <= ROW_ID_LIMIT else None


def button_value(value: str) -> tuple[int, str] | None:
    """A decision button's `"<id>:<hash>"` (a proposal's, an offer's, a status page post's), when its id is one the
    store can hold."""
    head, _, _ = value.partition(":")
    return read_button_value(value) if row_id(head) is not None else None
