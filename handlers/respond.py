"""Answering a person privately: through a request's response_url, else as an ephemeral message in the channel,
else (Slack shows ephemerals only to a member of the channel, and a form's submission names none) in a direct
message from the app."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.errors import SlackError
from bot.services import Services

Respond = Callable[[str, "list[Any] | None"], Awaitable[None]]

log = logging.getLogger(__name__)

NOT_THERE = frozenset({"user_not_in_channel", "channel_not_found", "not_in_channel", "is_archived"})


def responder(services: Services, response_url: str | None, *, user_id: str, channel_id: str | None) -> Respond:
    """`respond(text, blocks)`: through the response_url when Slack gave one, else as an ephemeral message in
    `channel_id`, else (no channel, or the person is not in it) as a direct message."""

    async def respond(text: str, blocks: list[Any] | None = None) -> None:
        if response_url:
            await services.slack.respond(response_url, text, blocks)
            return
        if channel_id:
            try:
                await services.slack.ephemeral(channel_id, user_id, text, blocks)
                return
            except SlackError as exc:
                if exc.error not in NOT_THERE:
                    raise
                log.info("could not answer %s in %s (%s): in a direct message", user_id, channel_id, exc.error)
        await services.slack.post(user_id, text, blocks)

    return respond
