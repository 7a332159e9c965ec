"""Telling people that Slack is slowing the bot down: one message in the incidents channel when Slack starts
rate-limiting it (how many calls wait, for which methods), updated when Slack has let up (how long, how many waited).
Each process says it for itself: two replicas that Slack both slows down post one message each."""

from __future__ import annotations

import asyncio

from blocks import messages
from bot.adapters.slack.gateway import SlackGateway
from bot.adapters.slack.pacing import Slowdown
from bot.domain.postmortem import duration

__all__ = ["SlowdownNotice"]

SETTLE_S = 1.0  # how long after the first 429 the message counts the waiting calls (the storm's calls queue up)


class SlowdownNotice:
    def __init__(self, slack: SlackGateway, channel: str, *, settle_s: float = SETTLE_S) -> None:
        self.slack = slack
        self.channel = channel
        self.settle_s = settle_s
        self._posted: dict[int, tuple[str, str]] = {}  # slowdown (by id) -> its message (channel id, ts)
        self._posting = asyncio.Lock()

    async def began(self, slowdown: Slowdown) -> None:
        async with self._posting:
            await asyncio.sleep(self.settle_s)
            text = messages.slack_slowing(slowdown.methods, slowdown.waiting())
            self._posted[id(slowdown)] = await self.slack.post_message(self.channel, text)

    async def ended(self, slowdown: Slowdown) -> None:
        async with self._posting:  # after `began` has posted (or failed to)
            posted = self._posted.pop(id(slowdown), None)
        assert slowdown.ended is not None
        text = messages.slack_slowed(
            slowdown.methods,
            began=slowdown.began,
            ended=slowdown.ended,
            waited=slowdown.waited,
            longest=duration(slowdown.longest_s),
            gave_up=slowdown.gave_up,
        )
        if posted is None:
            await self.slack.post(self.channel, text)
        else:
            await self.slack.update(posted[0], posted[1], text)
