"""Socket Mode: Slack's requests come down a websocket instead of to /slack/events. As over HTTP, a command, click
or event is stored with the inbound events before its envelope is acknowledged (Slack sends a click once; an event
whose envelope is not acknowledged it sends again), and the intake hands it to the inbox (bot/adapters/slack/inbox.py).
A request whose answer carries something (a form's field errors) goes through Bolt before the acknowledgement, and
one that breaks the rules is left to Bolt's own refusal (handlers/slack.py says why in the log)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.bodies import LATER, check_body, identity
from bot.adapters.slack.inbox import SOURCE, stored_envelope
from bot.domain.errors import InvalidEvent
from bot.runtime.intake import Arrival
from bot.services import Services
from handlers.webhooks import SLACK_STORE_WAIT_S, store_or_refuse


class StoringSocketModeHandler(AsyncSocketModeHandler):
    def __init__(
        self, app: AsyncApp, app_token: str, *, web_client: AsyncWebClient, services: Callable[[], Services]
    ) -> None:
        super().__init__(app, app_token, web_client=web_client)
        self.services = services

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        payload: Any = req.payload
        try:
            later = isinstance(payload, dict) and check_body(payload) == LATER
        except InvalidEvent:
            later = False  # Bolt's middleware refuses it, with the reason
        if not later:
            await super().handle(client, req)
            return
        event_id, event_type = identity(payload)
        services = self.services()
        with services.slack_inbox.answering():  # the work behind earlier requests waits, as over HTTP
            delivery_id = event_id or uuid.uuid4().hex  # an event sent again is a duplicate
            arrival = Arrival(SOURCE, delivery_id, event_type, stored_envelope(payload), None)
            stored = await store_or_refuse(services, arrival, wait_s=SLACK_STORE_WAIT_S)
            if isinstance(stored, web.Response):
                return  # not acknowledged: Slack sends an event again, and shows a person that their click failed
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))


__all__ = ["StoringSocketModeHandler"]
