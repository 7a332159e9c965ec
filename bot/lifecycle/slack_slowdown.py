"""Telling people that Slack is slowing the bot down: one message in the incidents channel when Slack starts
rate-limiting it (how many calls wait, for which methods), updated when Slack has let up (how long, how many waited).

Slack limits the app, not a process: replicas on one database are slowed down together, and one of them says so.
The one that claims the notice in the database (bot/runtime/locks.py) posts it and updates it; the others stay quiet
while it holds the claim; one whose calls still wait when that claim is let go claims the notice then and says it
in turn."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from blocks import messages
from bot.adapters.slack.gateway import SlackGateway
from bot.adapters.slack.pacing import Slowdown
from bot.domain.postmortem import duration
from bot.runtime.locks import KeyedLocks

__all__ = ["NOTICE_KEY", "SlowdownNotice"]

log = logging.getLogger(__name__)

SETTLE_S = 1.0  # how long after the first 429 the message counts the waiting calls (the storm's calls queue up)
RECLAIM_S = 2.0  # how often a replica whose slowdown another replica is telling looks whether it is its turn
NOTICE_KEY = "slack-slowdown-notice"


class Claims(Protocol):
    """Who tells of a slowdown, among the processes on one database (bot.runtime.locks.KeyedLocks)."""

    async def claim(self, key: str) -> bool: ...

    async def let_go(self, key: str) -> None: ...


class SlowdownNotice:
    def __init__(
        self,
        slack: SlackGateway,
        channel: str,
        *,
        settle_s: float = SETTLE_S,
        claims: Claims | None = None,
        reclaim_s: float = RECLAIM_S,
    ) -> None:
        self.slack = slack
        self.channel = channel
        self.settle_s = settle_s
        self.claims = claims or KeyedLocks()  # (one process alone: always its own)
        self.reclaim_s = reclaim_s
        self._claimed: set[int] = set()  # slowdowns (by id) this process tells of
        self._posted: dict[int, tuple[str, str]] = {}  # slowdown (by id) -> its message (channel id, ts)
        self._posting = asyncio.Lock()

    async def began(self, slowdown: Slowdown) -> None:
        async with self._posting:
            await asyncio.sleep(self.settle_s)
            if slowdown.stopped:  # the process stopped before there was anything to say: nothing waits on it now
                return
            waited_turn = False
            while True:
                if await self._claim():
                    if not waited_turn or any(n > 0 for n in slowdown.waiting().values()):
                        break
                    # its turn, but none of its calls waits now: the other replica's message told of it
                    await self.claims.let_go(NOTICE_KEY)
                waited_turn = True  # another replica is telling it
                if slowdown.ended is not None:
                    return
                await asyncio.sleep(self.reclaim_s)
            self._claimed.add(id(slowdown))
            text = messages.slack_slowing(slowdown.methods, slowdown.waiting())
            self._posted[id(slowdown)] = await self.slack.post_message(self.channel, text)

    async def _claim(self) -> bool:
        try:
            return await self.claims.claim(NOTICE_KEY)
        except Exception as exc:  # noqa: BLE001 - the database is out of reach: better said twice than not at all
            log.warning("could not claim the notice that Slack is slowing sre-agent down; saying it anyway: %s", exc)
            return True

    async def ended(self, slowdown: Slowdown) -> None:
        # after `began` has posted (or failed to, or left it to another replica); and the next slowdown's `began`
        # claims the notice only once this one has let go of it
        async with self._posting:
            posted = self._posted.pop(id(slowdown), None)
            if id(slowdown) not in self._claimed:
                return
            self._claimed.discard(id(slowdown))
            try:
                assert slowdown.ended is not None
                text = messages.slack_slowed(
                    slowdown.methods,
                    began=slowdown.began,
                    ended=slowdown.ended,
                    waited=slowdown.waited,
                    longest=duration(slowdown.longest_s),
                    gave_up=slowdown.gave_up,
                    stopped=slowdown.stopped,
                )
                if posted is None:
                    await self.slack.post(self.channel, text)
                else:
                    await self.slack.update(posted[0], posted[1], text)
            finally:
                await self.claims.let_go(NOTICE_KEY)
