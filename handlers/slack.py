"""Bolt listeners. Each acks at once and hands its work to `services.background`, so Slack is answered before any
of it runs (see bot/runtime/background.py)."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from blocks import remediation as words
from blocks.home import home_view
from blocks.ids import ActionId, BlockId, CallbackId
from blocks.proposals import reject_modal
from bot.adapters.slack.bodies import check_body, parse_body, slack_id
from bot.domain.wire import clean_strings, load_json
from bot.errors import DomainError, InvalidEvent, SreAgentError
from bot.lifecycle.conversation import Mention
from bot.lifecycle.declaring import Declaration
from bot.remediation.deciding import Click
from bot.remediation.offering import OfferClick
from bot.services import Services
from handlers import declare_form, public_post
from handlers import incident_command as incident_command_module
from handlers.respond import Respond, responder
from handlers.values import button_value, row_id

log = logging.getLogger(__name__)

CAPTURE_REACTION = "pushpin"


async def _answering_errors(respond: Respond, work: Awaitable[Any]) -> None:
    """Run `work`; a refusal or failure is told to the person privately, never swallowed."""
    try:
        await work
    except SreAgentError as exc:
        log.info("slack request refused: %s", exc)
        await respond(f":warning: {exc.user_message}", None)


def register(bolt: AsyncApp, services: Callable[[], Services]) -> None:
    """Attach every listener to `bolt`. `services` gives the running app's services."""

    @bolt.middleware
    async def clean_body(req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[None]]) -> Any:
        """Every string of the body (keys too) as text that can be stored and shown (lone surrogates and control
        characters become U+FFFD, bot/domain/wire.py), once, before any listener reads it: the listeners'
        `command`, `action`, `event`, `view` are all taken from `req.body`, and Bolt's context (user, channel,
        response URL) is built again from the clean body. Over HTTP the body is read again from the text whose
        signature the route checked (Bolt does not check it again: a stored request may be handled minutes later),
        by the route's rules, so that listeners get what the route judged (Bolt's own reading loses a command whose
        text holds the word "payload"); a body from Socket Mode, which has no route, is judged here. One that breaks
        the rules is refused (over HTTP the route has refused it already)."""
        try:
            if req.mode == "http":
                source, body = parse_body(req.raw_body, req.content_type or "")
                check_body(body, source)
            else:
                body = req.body
                check_body(body)
        except InvalidEvent as exc:
            log.warning("a Slack request refused: %s", exc)
            return BoltResponse(status=400, body={"ok": False, "error": str(exc)})
        req.body = clean_strings(body)
        build_async_context(req.context, req.body)
        return await next()

    @bolt.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        """The one place an error that escaped a listener or a middleware ends: logged with what the request was
        (its kind and Slack's ids for it; never the body, which carries a token), so nothing fails unseen. Bolt
        then answers Slack as it would without this handler."""
        kind = body.get("type") or ("command " + str(body.get("command")) if body.get("command") else "request")
        ids = {key: body.get(key) for key in ("event_id", "trigger_id", "team_id", "api_app_id") if body.get(key)}
        if isinstance(error, SreAgentError):
            log.warning("a Slack %s was refused: %s %s", kind, error, ids)
        else:
            log.error("a Slack %s failed: %r %s", kind, error, ids, exc_info=error)

    def later(work: Awaitable[Any], name: str, respond: Respond | None = None) -> None:
        """Run `work` after the answer to Slack; a refusal is told to the person when there is a `respond`."""
        services().background.spawn(_answering_errors(respond, work) if respond else _quietly(work), name=name)

    @bolt.command("/incident")
    async def incident_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        await ack()
        respond = responder(
            services(), command.get("response_url"), user_id=str(command["user_id"]), channel_id=command["channel_id"]
        )
        later(incident_command_module.run(services(), command, respond), "/incident", respond)

    @bolt.view(CallbackId.DECLARE.value)
    async def declare_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        form = declare_form.read(view, services().catalog)
        if form.errors:
            await ack(response_action="errors", errors=form.errors)
            return
        await ack()
        later(_declare(services(), form.declaration(str(body["user"]["id"]))), "declare form")

    def click_respond(body: dict[str, Any]) -> Respond:
        return responder(
            services(), body.get("response_url"), user_id=str(body["user"]["id"]), channel_id=_channel_of(body)
        )

    @bolt.action(ActionId.INCIDENT_RESOLVE.value)
    async def resolve_clicked(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        respond = click_respond(body)
        incident_id = row_id(action.get("value"))
        if incident_id is None:
            later(respond(":warning: That button carries no incident: nothing was done.", None), "resolve", respond)
            return
        later(
            _resolve(services(), respond, incident_id, str(body["user"]["id"]), _channel_of(body)), "resolve", respond
        )

    @bolt.action(ActionId.PROPOSAL_APPROVE.value)
    async def approve_clicked(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        respond = click_respond(body)
        later(
            _decide(services(), respond, str(action.get("value", "")), str(body["user"]["id"]), True),
            "approve",
            respond,
        )

    @bolt.action(ActionId.OFFER_APPROVE.value)
    async def offer_approved(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """A budget offer's Approve: an incident is opened for its plan, and the approval carried over to it."""
        await ack()
        respond = click_respond(body)
        value, user = str(action.get("value", "")), str(body["user"]["id"])
        later(_decide_offer(services(), respond, value, user, True), "offer approve", respond)

    @bolt.action(ActionId.OFFER_REJECT.value)
    async def offer_rejected(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        respond = click_respond(body)
        value, user = str(action.get("value", "")), str(body["user"]["id"])
        later(_decide_offer(services(), respond, value, user, False), "offer reject", respond)

    @bolt.action(ActionId.PROPOSAL_DONE.value)
    async def done_clicked(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """A manual runbook's task: a person says it is done (nothing is executed)."""
        await ack()
        respond = click_respond(body)
        later(
            _decide(services(), respond, str(action.get("value", "")), str(body["user"]["id"]), True, done=True),
            "done",
            respond,
        )

    @bolt.action(ActionId.PROPOSAL_REJECT.value)
    async def reject_clicked(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Reject asks for the reason first (a modal); the decision is made when it is submitted."""
        await ack()
        respond = click_respond(body)
        later(
            _ask_reason(
                services(),
                respond,
                str(action.get("value", "")),
                str(body["user"]["id"]),
                str(body.get("trigger_id") or ""),
                _channel_of(body) or "",
            ),
            "reject",
            respond,
        )

    @bolt.view(CallbackId.REJECT.value)
    async def reject_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = (view.get("state") or {}).get("values") or {}
        reason = str(
            ((values.get(BlockId.REJECT_REASON) or {}).get(ActionId.REJECT_REASON) or {}).get("value") or ""
        ).strip()
        if len(reason) < 3:
            await ack(response_action="errors", errors={BlockId.REJECT_REASON.value: "Say why, in a few words."})
            return
        try:
            meta = load_json(view.get("private_metadata") or "{}")
            proposal = row_id(meta["proposal"])
            if proposal is None:
                raise ValueError("no proposal id")
            value = f"{proposal}:{meta['hash']}"
            channel = slack_id(meta.get("channel"))
        except (InvalidEvent, ValueError, KeyError, TypeError):
            log.warning("a reject form came back without its proposal")
            lost = "This form lost track of its proposal, so nothing was rejected: close it and click Reject again."
            await ack(response_action="errors", errors={BlockId.REJECT_REASON.value: lost})
            return
        await ack()
        user_id = str(body["user"]["id"])
        respond = responder(services(), None, user_id=user_id, channel_id=channel)
        later(_decide(services(), respond, value, user_id, False, reason), "reject reason", respond)

    @bolt.action(re.compile(f"^({ActionId.PUBLIC_APPROVE.value}|{ActionId.PUBLIC_REJECT.value})$"))
    async def public_post_decided(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Approve / Reject on a post for the public status page: an approved one is posted at once."""
        await ack()
        respond = click_respond(body)
        value, user = str(action.get("value", "")), str(body["user"]["id"])
        approve = action.get("action_id") == ActionId.PUBLIC_APPROVE
        later(public_post.decide(services(), respond, value, user, approve), "status page post", respond)

    @bolt.action(ActionId.PUBLIC_EDIT.value)
    async def public_post_edit(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        respond = click_respond(body)
        value, user = str(action.get("value", "")), str(body["user"]["id"])
        form = public_post.open_form(
            services(), respond, value, user, str(body.get("trigger_id") or ""), _channel_of(body) or ""
        )
        later(form, "status page post edit", respond)

    @bolt.view(CallbackId.PUBLIC_EDIT.value)
    async def public_post_edited(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        form = public_post.read_form(view)
        if form is not None and form.errors:
            await ack(response_action="errors", errors=form.errors)
            return
        await ack()
        if form is None:
            log.warning("a status page post's form came back without its post")
            return
        user_id = str(body["user"]["id"])
        respond = responder(services(), None, user_id=user_id, channel_id=form.channel_id)
        later(public_post.submitted(services(), respond, form, user_id), "status page post edited", respond)

    @bolt.action(ActionId.INCIDENT_OPEN_PAGERDUTY.value)
    async def link_clicked(ack: AsyncAck) -> None:
        """A link button opens the browser; Slack still tells the app, which only acknowledges."""
        await ack()

    @bolt.event("app_mention")
    async def mentioned(event: dict[str, Any]) -> None:
        """`@sre ...`: read the words, act, and answer in the message's thread. Slack is acknowledged first."""
        user, channel, ts = slack_id(event.get("user")), slack_id(event.get("channel")), event.get("ts")
        if event.get("bot_id") or not user:
            return  # bots (ourselves included) are not people asking for something
        if not channel or not isinstance(ts, str):
            log.info("an app_mention without its channel or ts: not answered")
            return
        mention = Mention(user_id=user, channel_id=channel, text=str(event.get("text", "")))
        later(_answer(services(), mention, str(event.get("thread_ts") or ts)), "mention")

    @bolt.event("pin_added")
    async def pinned(event: dict[str, Any]) -> None:
        """A message pinned in an incident channel goes on the timeline."""
        item = _object(event.get("item"))
        message = item.get("message") if isinstance(item.get("message"), dict) else None
        ts = (message or {}).get("ts") or item.get("ts")
        channel = slack_id(event.get("channel_id")) or slack_id(item.get("channel"))
        if item.get("type") == "message" and isinstance(ts, str) and ts and channel:
            work = services().actions.capture(
                str(channel), str(ts), by_user=str(event.get("user", "")), via="pin", message=message
            )
            later(work, "pin")

    @bolt.event("reaction_added")
    async def reacted(event: dict[str, Any]) -> None:
        """A :pushpin: on a message in an incident channel puts it on the timeline."""
        item = _object(event.get("item"))
        if event.get("reaction") != CAPTURE_REACTION or item.get("type") != "message":
            return
        channel, ts = slack_id(item.get("channel")), item.get("ts")
        if not channel or not isinstance(ts, str) or not ts:
            log.info("a reaction without the message's channel or ts: not captured")
            return
        work = services().actions.capture(channel, ts, by_user=str(event.get("user", "")), via="reaction")
        later(work, "reaction")

    @bolt.event("app_home_opened")
    async def home_opened(event: dict[str, Any]) -> None:
        """The Home tab: drawn fresh each time someone opens it."""
        user = slack_id(event.get("user"))
        if event.get("tab", "home") != "home" or not user:
            return
        later(_publish_home(services(), user), "app home")

    @bolt.event(re.compile(".*"))
    async def any_other_event(body: dict[str, Any]) -> None:
        """Events the bot does not act on yet are acknowledged and ignored."""


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _channel_of(body: dict[str, Any]) -> str | None:
    """The channel of a click: an object with an id, or an id."""
    channel = body.get("channel")
    return slack_id(channel.get("id") if isinstance(channel, dict) else channel)


async def _quietly(work: Awaitable[Any]) -> None:
    """Work nobody is waiting on an answer for (events): a refusal is logged."""
    try:
        await work
    except SreAgentError as exc:
        log.info("slack event not acted on: %s", exc)


async def _decide(
    services: Services,
    respond: Respond,
    value: str,
    user_id: str,
    approve: bool,
    reason: str = "",
    *,
    done: bool = False,
) -> None:
    """One decision on a proposal; the person is told privately what it did, or why it did nothing."""
    parsed = button_value(value)
    if parsed is None:
        await respond(":warning: That button carries no proposal: nothing was done.", None)
        return
    told = await services.decider.click(Click(parsed[0], parsed[1], user_id, approve, reason, done=done))
    await respond(told, None)


async def _resolve(services: Services, respond: Respond, incident_id: int, user_id: str, channel: str | None) -> None:
    """A Resolve button: it resolves the incident whose channel it was clicked in, and no other."""
    incident = await services.store.incident(incident_id)
    if incident is not None and incident.channel_id != channel:
        log.warning("a Resolve click in %s named incident %s of %s", channel, incident_id, incident.channel_id)
        await respond(f":warning: {words.OTHER_INCIDENT}", None)
        return
    await services.resolver.resolve(incident_id, user_id=user_id, summary="")


async def _decide_offer(services: Services, respond: Respond, value: str, user_id: str, approve: bool) -> None:
    """One decision on a budget offer; the person is told privately what it did, or why it did nothing."""
    parsed = button_value(value)
    if parsed is None:
        await respond(":warning: That button carries no offer: nothing was done.", None)
        return
    await respond(await services.offers.click(OfferClick(parsed[0], parsed[1], user_id, approve)), None)


async def _ask_reason(
    services: Services, respond: Respond, value: str, user_id: str, trigger_id: str, channel_id: str
) -> None:
    """Reject: someone who may not decide (or a click that no longer counts) is told at once; anyone else is
    asked why, in a modal, and the decision is made when it is submitted."""
    parsed = button_value(value)
    proposal = await services.store.proposal(parsed[0]) if parsed else None
    if parsed is None or proposal is None:
        raise DomainError("no proposal", user_message="That proposal no longer exists: nothing was done.")
    refused = await services.decider.refusal(Click(parsed[0], parsed[1], user_id, False))
    if refused is not None:
        await respond(refused, None)
        return
    await services.slack.open_view(trigger_id, reject_modal(proposal, channel_id))


async def _declare(services: Services, declaration: Declaration) -> None:
    try:
        await services.declarer.declare(declaration)
    except SreAgentError as exc:
        log.info("declare refused: %s", exc)
        await services.slack.post(declaration.user_id, f":warning: The incident was not declared: {exc.user_message}")


async def _answer(services: Services, mention: Mention, thread_ts: str) -> None:
    reply = await services.conversation.answer(mention)
    ts = await services.slack.post(mention.channel_id, reply.text, reply.blocks or None, thread_ts=thread_ts)
    if reply.offer_id is not None:  # its message shows the decision once there is one
        await services.offers.shown(reply.offer_id, mention.channel_id, ts)


async def _publish_home(services: Services, user_id: str) -> None:
    incidents = await services.actions.open_incidents()
    approvals = await services.approvers.waiting_for(user_id)
    budgets = await services.standing.statuses() if services.standing.definitions else None
    view = home_view(user_id, incidents, services.clock.now(), approvals=approvals, budgets=budgets)
    await services.slack.publish_home(user_id, view)
