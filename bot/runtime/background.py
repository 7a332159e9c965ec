"""Work that runs after Slack has been answered. Bolt runs each listener to its end before it answers
(process_before_response), so a listener acks, hands its work to `Background.spawn` and returns: the answer goes out
at once, without Bolt's 10 ms polling for the ack, and the work goes on here. Failures are logged, never lost quietly;
`drain` waits for what is in flight (tests, shutdown). The intake and the scheduler run their work on one too."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["Background"]


class Background:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
        task = asyncio.get_running_loop().create_task(self._run(work, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _run(work: Coroutine[Any, Any, None], name: str) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed (nobody waits on it: it is only logged)", name)

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    async def drain(self, within_s: float = 30.0) -> None:
        deadline = asyncio.get_running_loop().time() + within_s
        while self._tasks and asyncio.get_running_loop().time() < deadline:
            await asyncio.wait(set(self._tasks), timeout=max(0.0, deadline - asyncio.get_running_loop().time()))

    async def close(self, within_s: float = 10.0) -> None:
        await self.drain(within_s)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
