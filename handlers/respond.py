"""Answering a person privately through a request's response_url."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.services import Services

Respond = Callable[[str, "list[Any] | None"], Awaitable[None]]


def responder(services: Services, response_url: str | None, *, user_id: str, channel_id: str | None) -> Respond:
    """`respond(text, blocks)`: through the response_url when Slack gave one, else as an ephemeral message."""

    async def respond(text: str, blocks: list[Any] | None = None) -> None:
        if response_url:
            await services.slack.respond(response_url, text, blocks)
        elif channel_id:
            await services.slack.ephemeral(channel_id, user_id, text, blocks)

    return respond
