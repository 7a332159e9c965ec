"""POST /webhooks/opsgenie: OpsGenie's (and JSM Operations') outgoing webhook intake.

OpsGenie does not sign its webhooks: the integration is set to send a shared secret, in a header
(OPSGENIE_WEBHOOK_HEADER) or as the password of basic auth; a request without one of OPSGENIE_WEBHOOK_SECRETS is 401.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging

from aiohttp import web

from bot.adapters.opsgenie.events import SOURCE
from bot.domain.errors import InvalidEvent
from bot.domain.wire import decode_body
from bot.runtime.door import at_the_door
from bot.runtime.intake import Arrival
from bot.services import SERVICES
from handlers.webhooks import error as _error
from handlers.webhooks import stored_then_answered, untimely

log = logging.getLogger(__name__)


def _presented(request: web.Request, header: str) -> list[str]:
    """The secrets the request presents: the header's value, and a basic auth password."""
    given = [v for v in request.headers.getall(header, []) if v]
    auth = request.headers.get("Authorization", "")
    if auth[:6].lower() == "basic ":
        try:
            user_pass = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return given
        given.append(user_pass.partition(":")[2])
    return given


def secret_valid(given: list[str], secrets: list[str]) -> bool:
    valid = False
    for secret in secrets:
        for value in given:
            valid |= hmac.compare_digest(secret.encode(), value.encode("utf-8", "surrogateescape"))
    return valid


@at_the_door
async def opsgenie_webhook(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    settings = services.settings
    if request.content_length is not None and request.content_length > settings.max_body_bytes:
        return _error(413, f"body over {settings.max_body_bytes} bytes")
    secrets = [s.get_secret_value() for s in settings.opsgenie_webhook_secrets]
    if not secret_valid(_presented(request, settings.opsgenie_webhook_header), secrets):
        log.warning("opsgenie webhook without the shared secret from %s", request.remote)
        return _error(401, f"missing or wrong shared secret ({settings.opsgenie_webhook_header} or basic auth)")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _error(413, f"body over {settings.max_body_bytes} bytes")
    now = services.clock.now()
    reader = services.intake.readers[SOURCE]
    try:  # the one reading of the body: what is stored is exactly what the intake will read back
        text = decode_body(body)
        event = reader(text, now)
    except InvalidEvent as exc:
        return _error(400, str(exc))
    problem = untimely(event.occurred_at, now, max_age_hours=settings.webhook_max_age_hours, field="updatedAt")
    if problem:
        return _error(400, problem)
    return await stored_then_answered(
        services, Arrival(SOURCE, event.id, event.event_type, text, event.incident_id, event, now)
    )
