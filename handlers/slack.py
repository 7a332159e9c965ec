"""Bolt listeners. Each acks at once; the work runs after the ack."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from blocks.home import home_view
from blocks.ids import ActionId, CallbackId
from bot.conversation import Mention
from bot.errors import SreAgentError
from bot.services import Services
from bot.store.store import DONE
from handlers import declare_form
from handlers import incident_command as incident_command_module

log = logging.getLogger(__name__)

CAPTURE_REACTION = "pushpin"

async def _answering_errors(respond: AsyncRespond, work: Awaitable[Any]) -> None:
    """Run `work`; a refusal or failure is told to the person privately, never swallowed."""
    try:
        await work
    except SreAgentError as exc:
        log.info("slack request refused: %s", exc)
        await respond(text=f":warning: {exc.user_message}", response_type="ephemeral", replace_original=False)


def register(bolt: AsyncApp, services: Callable[[], Services]) -> None:
    """Attach every listener to `bolt`. `services` gives the running app's services."""

    @bolt.middleware
    async def dedup_events(req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[None]]) -> Any:
        """Slack delivers an event again when it thinks we missed it: do nothing twice (dedup on event_id)."""
        body = req.body
        if body.get("type") == "event_callback" and body.get("event_id"):
            stored = await services().store.record_inbound(
                source="slack",
                delivery_id=str(body["event_id"]),
                event_type=str((body.get("event") or {}).get("type", "?")),
                body="{}",
                received_at=services().clock.now(),
                incident_ref=None,
                status=DONE,
            )
            if stored is None:
                return BoltResponse(status=200, body="")
        return await next()

    # Bolt (process_before_response off) answers Slack as soon as ack() is called and lets the listener run on:
    # each listener acks first, then works.

    @bolt.command("/incident")
    async def incident_command(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        sub, _ = incident_command_module.split(command.get("text") or "")
        if sub == "resolve":
            await ack(text=":hourglass_flowing_sand: Resolving this incident…", response_type="ephemeral")
        else:
            await ack()
        await _answering_errors(respond, incident_command_module.run(services(), command, respond))

    @bolt.view(CallbackId.DECLARE.value)
    async def declare_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        form = declare_form.read(view, services().catalog)
        if form.errors:
            await ack(response_action="errors", errors=form.errors)
            return
        await ack()
        user_id = str(body["user"]["id"])
        try:
            await services().declarer.declare(form.declaration(user_id))
        except SreAgentError as exc:
            log.info("declare refused: %s", exc)
            await services().slack.post(user_id, f":warning: The incident was not declared: {exc.user_message}")

    @bolt.action(ActionId.INCIDENT_RESOLVE.value)
    async def resolve_clicked(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        commander = services().commander
        await _answering_errors(
            respond, commander.resolve(int(action["value"]), user_id=body["user"]["id"], summary="")
        )

    @bolt.action(ActionId.INCIDENT_OPEN_PAGERDUTY.value)
    async def link_clicked(ack: AsyncAck) -> None:
        """A link button opens the browser; Slack still tells the app, which only acknowledges."""
        await ack()

    @bolt.event("app_mention")
    async def mentioned(event: dict[str, Any]) -> None:
        """`@sre ...`: read the words, act, and answer in the message's thread. Slack is acknowledged first."""
        if event.get("bot_id") or not event.get("user"):
            return  # bots (ourselves included) are not people asking for something
        mention = Mention(user_id=str(event["user"]), channel_id=str(event["channel"]), text=str(event.get("text", "")))
        reply = await services().conversation.answer(mention)
        thread = str(event.get("thread_ts") or event["ts"])
        await services().slack.post(mention.channel_id, reply.text, reply.blocks or None, thread_ts=thread)

    @bolt.event("pin_added")
    async def pinned(event: dict[str, Any]) -> None:
        """A message pinned in an incident channel goes on the timeline."""
        item = event.get("item") or {}
        message = item.get("message") if isinstance(item.get("message"), dict) else None
        ts = (message or {}).get("ts") or item.get("ts")
        channel = event.get("channel_id") or item.get("channel")
        if item.get("type") == "message" and ts and channel:
            await services().actions.capture(
                str(channel), str(ts), by_user=str(event.get("user", "")), via="pin", message=message
            )

    @bolt.event("reaction_added")
    async def reacted(event: dict[str, Any]) -> None:
        """A :pushpin: on a message in an incident channel puts it on the timeline."""
        item = event.get("item") or {}
        if event.get("reaction") != CAPTURE_REACTION or item.get("type") != "message":
            return
        await services().actions.capture(
            str(item["channel"]), str(item["ts"]), by_user=str(event.get("user", "")), via="reaction"
        )

    @bolt.event("app_home_opened")
    async def home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        """The Home tab: drawn fresh each time someone opens it."""
        if event.get("tab", "home") != "home":
            return
        user_id = str(event["user"])
        incidents = await services().actions.open_incidents()
        view = home_view(user_id, incidents, services().clock.now())
        await client.views_publish(user_id=user_id, view=view)

    @bolt.event(re.compile(".*"))
    async def any_other_event(body: dict[str, Any]) -> None:
        """Events the bot does not act on yet are acknowledged and ignored."""
