"""What the SLO tick and the digest post: once per tag. A message carries a tag naming what it says and the scheduled
firing it belongs to, and is looked for before it is posted, so a firing run a second time (cut off by a crash) posts
nothing twice. A channel sre-agent cannot post in gets the message said in the fallback channel instead, with why,
rather than not at all."""

from __future__ import annotations

import logging

from blocks import budgets as words
from bot.adapters.slack.gateway import SlackGateway
from bot.errors import SlackError, SreAgentError

__all__ = ["post_once"]

log = logging.getLogger(__name__)


async def post_once(
    slack: SlackGateway, channel: str, tag: dict[str, str], text: str, *, fallback: str | None = None
) -> tuple[str, str]:
    """Post `text` with `tag` in `channel`, unless a message with that tag is there already; where it is (channel,
    ts). When `channel` refuses and a `fallback` is given, it is said there, with why."""
    found = await _tagged(slack, channel, tag)
    if found:
        return found
    try:
        return await slack.post_message(channel, text, tag=tag)
    except SlackError as exc:
        if fallback is None or channel == fallback:
            raise
        log.warning("a message for %s could not be posted (%s): said in %s", channel, exc.error, fallback)
        found = await _tagged(slack, fallback, tag)
        said = f"{text}\n_{words.could_not_post(channel, exc.error)}_"
        return found or await slack.post_message(fallback, said, tag=tag)


async def _tagged(slack: SlackGateway, channel: str, tag: dict[str, str]) -> tuple[str, str] | None:
    """The message with `tag` in `channel` (by id, and its ts), if there is one."""
    try:
        channel_id = await slack.channel_id(channel)
        found = await slack.find_tagged(channel_id, tag)
    except SreAgentError as exc:  # not a member, say: better twice than never
        log.warning("could not look for an earlier %s message in %s: %s", tag, channel, exc)
        return None
    return (channel_id, found) if found else None
