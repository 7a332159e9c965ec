"""POST /webhooks/pagerduty: PagerDuty webhook v3 intake."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from aiohttp import web

from bot.domain.errors import InvalidEvent
from bot.domain.pagerduty import parse_pagerduty_event
from bot.services import SERVICES
from bot.signatures import pagerduty_signature_valid

log = logging.getLogger(__name__)


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"ok": False, "error": reason}, status=status)


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
    try:
        payload = json.loads(body)
    except ValueError:
        return _error(400, "body is not valid JSON")
    try:
        event = parse_pagerduty_event(payload)
    except InvalidEvent as exc:
        return _error(400, str(exc))
    age = services.clock.now() - event.occurred_at
    if age > timedelta(hours=settings.webhook_max_age_hours):
        return _error(
            400,
            f"stale event: occurred_at {event.occurred_at.isoformat()} is older than "
            f"{settings.webhook_max_age_hours:g} hours",
        )
    delivery_id = request.headers.get("X-Webhook-Id") or event.id
    stored = await services.intake.accept(
        source="pagerduty",
        delivery_id=delivery_id,
        event_type=event.event_type,
        body=body.decode("utf-8"),
        incident_ref=event.incident_id,
    )
    return web.json_response({"ok": True, "duplicate": not stored}, status=202)
