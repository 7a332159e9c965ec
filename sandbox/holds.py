"""Holding a peer's answer: the call is carried out, and its answer waits until the test releases it. A test kills
the bot while the answer is held, so the bot dies after the change happened and before it learned of it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class Hold:
    def __init__(self, match: Callable[..., bool]) -> None:
        self.match = match
        self.reached = asyncio.Event()  # a matching call was carried out; its answer is waiting
        self._released = asyncio.Event()

    def release(self) -> None:
        self._released.set()


class Holds:
    def __init__(self) -> None:
        self._waiting: list[Hold] = []

    def add(self, match: Callable[..., bool]) -> Hold:
        hold = Hold(match)
        self._waiting.append(hold)
        return hold

    async def pause(self, *call: Any) -> None:
        """Called after a call was carried out, before it is answered: wait if a hold matches it (each hold
        matches once)."""
        for hold in self._waiting:
            if hold.match(*call):
                self._waiting.remove(hold)
                hold.reached.set()
                await hold._released.wait()
                return

    def release_all(self) -> None:
        for hold in self._waiting:
            hold.release()
