"""Answers of a peer kept for a while, each asked once at a time.

A storm of pages asks the same few questions for every incident (who is on call for this policy, who these people
are in Slack), and its first incidents ask them all at once, before any answer is kept: each would have asked
again, against the peer's rate limit (Slack's users.lookupByEmail is Tier 3, about 50 a minute; PagerDuty's REST API
960 requests a minute for a key). Here the callers that want a key being asked wait for that one answer; a failure
is every waiting caller's, and is not kept (the next caller asks again)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

__all__ = ["Recent"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Recent(Generic[K, V]):
    """`keep(answer)`: how many seconds an answer is kept (None or 0: not kept; asked again the next time)."""

    def __init__(self, keep: Callable[[V], float | None], *, clock: Callable[[], float] = time.monotonic) -> None:
        self.keep = keep
        self.clock = clock
        self._kept: dict[K, tuple[float, V]] = {}
        self._asking: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K, ask: Callable[[], Awaitable[V]]) -> V:
        """The answer kept for `key`, else the one being asked, else `ask()`'s."""
        kept = self._kept.get(key)
        if kept is not None:
            if self.clock() < kept[0]:
                return kept[1]
            del self._kept[key]
        asking = self._asking.get(key)
        if asking is None:
            asking = self._asking[key] = asyncio.ensure_future(self._ask(key, ask))
            asking.add_done_callback(_retrieved)
        return await asyncio.shield(asking)  # (a caller that gives up does not take the answer from the others)

    async def _ask(self, key: K, ask: Callable[[], Awaitable[V]]) -> V:
        try:
            answer = await ask()
        finally:
            self._asking.pop(key, None)
        seconds = self.keep(answer)
        if seconds:
            now = self.clock()
            for stale in [k for k, (until, _) in self._kept.items() if until <= now]:
                del self._kept[stale]  # keys nobody asks for any more
            self._kept[key] = (now + seconds, answer)
        return answer


def _retrieved(future: asyncio.Future[Any]) -> None:
    """(an answer nobody waited for any more, failed: not said as never retrieved)"""
    if not future.cancelled():
        future.exception()
