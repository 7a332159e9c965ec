"""POST /webhooks/pagerduty: PagerDuty webhook v3 intake."""

from __future__ import annotations

import logging
import re

from aiohttp import web

from bot.adapters.pagerduty.events import read_pagerduty_event
from bot.adapters.pagerduty.signatures import pagerduty_signature_valid
from bot.domain.errors import InvalidEvent
from bot.domain.wire import decode_body
from bot.runtime.door import at_the_door
from bot.runtime.intake import Arrival
from bot.services import SERVICES
from handlers.webhooks import answered_as_copy, stored_then_answered, untimely
from handlers.webhooks import error as _error

log = logging.getLogger(__name__)

_DELIVERY_ID = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, as PagerDuty's UUIDs are


@at_the_door
async def pagerduty_webhook(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    settings = services.settings
    if request.content_length is not None and request.content_length > settings.max_body_bytes:
        return _error(413, f"body over {settings.max_body_bytes} bytes")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _error(413, f"body over {settings.max_body_bytes} bytes")
    secrets = [s.get_secret_value() for s in settings.pagerduty_webhook_secrets]
    if not pagerduty_signature_valid(request.headers.get("X-PagerDuty-Signature"), body, secrets):
        log.warning("pagerduty webhook with a missing or wrong signature from %s", request.remote)
        return _error(401, "invalid signature")
    delivery_id = request.headers.get("X-Webhook-Id")
    if delivery_id and (copy := await answered_as_copy(services, source="pagerduty", delivery_id=delivery_id)):
        return copy  # a signed copy of a delivery stored lately, or being stored: nothing to read or store
    try:  # the one reading of the body: what is stored below is exactly what the intake will read back
        text = decode_body(body)
        event = read_pagerduty_event(text)
    except InvalidEvent as exc:
        return _error(400, str(exc))
    now = services.clock.now()
    problem = untimely(event.occurred_at, now, max_age_hours=settings.webhook_max_age_hours, field="occurred_at")
    if problem:
        return _error(400, problem)
    delivery_id = delivery_id or event.id
    if not _DELIVERY_ID.fullmatch(delivery_id):
        return _error(400, "X-Webhook-Id: expected 1 to 255 printable ASCII characters")
    return await stored_then_answered(
        services, Arrival("pagerduty", delivery_id, event.event_type, text, event.incident_id, event, now)
    )
