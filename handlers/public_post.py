"""A post for the public status page in Slack: Approve / Reject, and Edit (a form with its words). Each reads the
button or the form into a call on the service (bot/lifecycle/public_status.py); the person is told privately what
it did, or why it did nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from blocks.ids import ActionId, BlockId
from blocks.status_page import edit_modal
from bot.adapters.slack.bodies import slack_id
from bot.domain.wire import load_json
from bot.errors import InvalidEvent
from bot.lifecycle.public_status import PostClick
from bot.services import Services
from handlers.respond import Respond
from handlers.values import button_value

__all__ = ["Form", "decide", "open_form", "read_form", "submitted"]

NO_POST = ":warning: That button carries no status page post: nothing was done."


async def decide(services: Services, respond: Respond, value: str, user_id: str, approve: bool) -> None:
    parsed = button_value(value)
    if parsed is None:
        await respond(NO_POST, None)
        return
    await respond(await services.public.click(PostClick(parsed[0], parsed[1], user_id, approve)), None)


async def open_form(
    services: Services, respond: Respond, value: str, user_id: str, trigger_id: str, channel_id: str
) -> None:
    """Edit: someone who may not change the post (or a click on words changed since) is told at once; anyone else
    gets the form with its words."""
    parsed = button_value(value)
    if parsed is None:
        await respond(NO_POST, None)
        return
    post = await services.public.for_edit(parsed[0], parsed[1], user_id)  # a refusal is told (DomainError)
    await services.slack.open_view(trigger_id, edit_modal(post, channel_id))


@dataclass(frozen=True)
class Form:
    post_id: int
    shown_hash: str
    channel_id: str | None
    name: str
    body: str
    errors: dict[str, str]


def _value(values: dict[str, Any], block: BlockId, action: ActionId) -> str:
    element = (values.get(block) or {}).get(action) or {}
    return str(element.get("value") or "").strip() if isinstance(element, dict) else ""


def read_form(view: dict[str, Any]) -> Form | None:
    """The edit form as submitted; None when it does not carry its post (not a form of ours)."""
    try:
        meta = load_json(view.get("private_metadata") or "{}")
        parsed = button_value(f"{meta['post']}:{meta['hash']}")
        channel = slack_id(meta.get("channel"))
    except (InvalidEvent, KeyError, TypeError):
        return None
    if parsed is None:
        return None
    values = (view.get("state") or {}).get("values") or {}
    name = _value(values, BlockId.PUBLIC_NAME, ActionId.PUBLIC_NAME)
    body = _value(values, BlockId.PUBLIC_BODY, ActionId.PUBLIC_BODY)
    errors = {}
    if not name:
        errors[BlockId.PUBLIC_NAME.value] = "Give the public incident a title."
    if not body:
        errors[BlockId.PUBLIC_BODY.value] = "Say what customers should know."
    return Form(parsed[0], parsed[1], channel, name, body, errors)


async def submitted(services: Services, respond: Respond, form: Form, user_id: str) -> None:
    told = await services.public.edited(form.post_id, form.shown_hash, user_id, form.name, form.body)
    await respond(told, None)
