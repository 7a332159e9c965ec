"""What the webhook routes share: how they refuse, and whether an event's time is believable."""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp import web

FUTURE_LEEWAY = timedelta(hours=1)  # an event from further ahead than this is no clock's drift


def error(status: int, reason: str) -> web.Response:
    return web.json_response({"ok": False, "error": reason}, status=status)


def untimely(occurred_at: datetime, now: datetime, *, max_age_hours: float, field: str) -> str | None:
    """Why an event dated `occurred_at` (its `field`) is refused: too old, or too far ahead; None if it is not."""
    if now - occurred_at > timedelta(hours=max_age_hours):
        return f"stale event: {field} {occurred_at.isoformat()} is older than {max_age_hours:g} hours"
    if occurred_at - now > FUTURE_LEEWAY:
        return f"{field} {occurred_at.isoformat()} is more than an hour ahead of this clock"
    return None
