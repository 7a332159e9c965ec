"""Work that runs after Slack has been answered. Bolt runs each listener to its end before it answers
(process_before_response), so a listener acks, hands its work to `Background.spawn` and returns: the answer goes out
at once, without Bolt's 10 ms polling for the ack, and the work goes on here. Failures are logged, never lost quietly;
`drain` waits for what is in flight (tests, shutdown). The intake and the scheduler run their work on one too."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Iterator
from contextvars import ContextVar
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["Background", "collecting"]

_COLLECTED: ContextVar[list[asyncio.Task[None]] | None] = ContextVar("sre_agent_spawned", default=None)


@contextlib.contextmanager
def collecting() -> Iterator[list[asyncio.Task[None]]]:
    """The tasks spawned inside (on any Background), as they are spawned: so that whoever handed a request to a
    listener can tell when the work it started is over."""
    spawned: list[asyncio.Task[None]] = []
    token = _COLLECTED.set(spawned)
    try:
        yield spawned
    finally:
        _COLLECTED.reset(token)


class Background:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
        task = asyncio.get_running_loop().create_task(self._run(work, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        collected = _COLLECTED.get()
        if collected is not None:
            collected.append(task)

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
