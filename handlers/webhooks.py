"""What the webhook routes share: how they refuse, whether an event's time is believable, and how an event is
stored before it is answered."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from aiohttp import web

from bot.errors import StoreUnavailable
from bot.runtime.intake import Arrival
from bot.services import Services

log = logging.getLogger(__name__)

FUTURE_LEEWAY = timedelta(hours=1)  # an event from further ahead than this is no clock's drift
# how long a webhook waits for its event to be stored before it answers 503: well inside the senders' own timeouts
# (PagerDuty gives up on an answer after 5 s), so that they deliver it again rather than count a timeout
STORE_WAIT_S = 3.0
SLACK_STORE_WAIT_S = 2.0  # Slack gives up on an answer after 3 s (then shows the person an error, or retries an event)
RETRY_AFTER_S = 5


def error(status: int, reason: str) -> web.Response:
    return web.json_response({"ok": False, "error": reason}, status=status)


def untimely(occurred_at: datetime, now: datetime, *, max_age_hours: float, field: str) -> str | None:
    """Why an event dated `occurred_at` (its `field`) is refused: too old, or too far ahead; None if it is not."""
    if now - occurred_at > timedelta(hours=max_age_hours):
        return f"stale event: {field} {occurred_at.isoformat()} is older than {max_age_hours:g} hours"
    if occurred_at - now > FUTURE_LEEWAY:
        return f"{field} {occurred_at.isoformat()} is more than an hour ahead of this clock"
    return None


def accepted(*, duplicate: bool) -> web.Response:
    return web.json_response({"ok": True, "duplicate": duplicate}, status=202)


async def answered_as_copy(services: Services, *, source: str, delivery_id: str) -> web.Response | None:
    """The answer to a copy of a delivery this process stored lately or is storing now, before its body is read
    (PagerDuty may deliver one event several times at once): 202 once the first is stored; 503 when it is not stored
    within STORE_WAIT_S. None: not known as a copy here (the body is read and stored, and the store decides)."""
    try:
        if await services.intake.copy_of_stored(source, delivery_id, wait_s=STORE_WAIT_S):
            return accepted(duplicate=True)
    except TimeoutError as exc:
        return _unavailable(services, source, delivery_id, str(exc))
    return None


async def stored_then_answered(services: Services, arrival: Arrival) -> web.Response:
    """202 once the event is stored (it is processed after the answer); 503 when the database is unavailable or too
    slow to store it now, so that the sender delivers it again: never a 202 for an event that was not stored. An
    event whose row still lands after a 503 is a duplicate when delivered again, and the intake takes it up."""
    stored = await store_or_refuse(services, arrival)
    if isinstance(stored, web.Response):
        return stored
    return accepted(duplicate=not stored)


async def store_or_refuse(services: Services, arrival: Arrival, *, wait_s: float = STORE_WAIT_S) -> bool | web.Response:
    """Whether the event was stored now (False: a duplicate of one stored before), or the 503 to answer when the
    database is unavailable or does not store it within `wait_s` (a row that lands later is processed then)."""
    try:
        # begun here, not when wait_for's task first runs: a copy that comes meanwhile waits for this one
        return await asyncio.wait_for(services.intake.accepting(arrival), timeout=wait_s)
    except (StoreUnavailable, TimeoutError) as exc:
        reason = str(exc) if isinstance(exc, StoreUnavailable) else f"the database did not answer in {wait_s:g} s"
        return _unavailable(services, arrival.source, arrival.delivery_id, reason)


def _unavailable(services: Services, source: str, delivery_id: str, reason: str) -> web.Response:
    log.warning("%s request %s answered 503, not stored: %s", source, delivery_id, reason)
    services.metrics.webhook_unavailable(source)
    return web.json_response(
        {"ok": False, "error": "the database is unavailable; deliver this again"},
        status=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )
