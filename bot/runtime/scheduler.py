"""The scheduler: durable timers, fired once each, by kind.

A timer is a row with a due time (the store's `timers`), so a restarted process finds what was due while it was
down. Each is claimed by a conditional update before its handler runs: with several processes on one database, one
of them fires it. What a kind means is registered here by the service that owns it (`on`), in `create_app`; the
scheduler knows none of them.

Recurring work (digests, ticks) is a kind with a crontab and a time zone (`every`): APScheduler's CronTrigger
computes the next fire time, and each firing is a row whose key names the kind and the time, so that processes
that compute the same firing store it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.ports.clock import Clock
from bot.runtime.background import Background
from bot.store import Store
from bot.store.store import Timer

log = logging.getLogger(__name__)

__all__ = ["Handler", "Scheduler"]

Handler = Callable[[Timer], Coroutine[Any, Any, None]]
MAX_WAIT_S = 1.0  # the longest the loop sleeps (real seconds) before it looks at the due times again
_JUST_AFTER = timedelta(microseconds=1)


class Scheduler:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._handlers: dict[str, Handler] = {}
        self._recurring: dict[str, CronTrigger] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._work = Background()
        self._closing = False

    def on(self, kind: str, handler: Handler) -> None:
        """What a timer of `kind` does when it is due. One handler a kind."""
        if kind in self._handlers:
            raise ValueError(f"timer kind {kind!r} has a handler already")
        self._handlers[kind] = handler

    def every(self, kind: str, crontab: str, handler: Handler, *, timezone: str = "UTC") -> None:
        """`handler` at each time of `crontab` (`0 9 * * 1-5`) in `timezone`, once across processes."""
        self.on(kind, self._recur(kind, handler))
        self._recurring[kind] = CronTrigger.from_crontab(crontab, timezone=ZoneInfo(timezone))

    async def at(
        self, kind: str, due_at: datetime, *, incident_id: int | None = None, payload: dict[str, Any] | None = None
    ) -> int | None:
        """A timer of `kind` due at `due_at`; the loop looks at the due times again at once."""
        timer_id = await self.store.add_timer(
            kind, due_at, now=self.clock.now(), incident_id=incident_id, payload=payload
        )
        self.wake()
        return timer_id

    def wake(self) -> None:
        """A timer was added (here or by the store in a transaction of its own): look at the due times now."""
        self._wake.set()

    async def start(self) -> None:
        for kind, trigger in self._recurring.items():
            await self._next(kind, trigger, after=None)
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="scheduler")

    def _recur(self, kind: str, handler: Handler) -> Handler:
        async def fire(timer: Timer) -> None:
            try:
                await handler(timer)
            finally:  # the next firing is stored whatever became of this one
                await self._next(kind, self._recurring[kind], after=timer.due_at)
        return fire

    async def _next(self, kind: str, trigger: CronTrigger, *, after: datetime | None) -> None:
        """The next firing of a recurring kind after the one due at `after` (and not before now: firings missed
        while no process ran are not caught up one by one), stored once whoever computes it."""
        now = self.clock.now()
        start = max(after + _JUST_AFTER, now) if after is not None else now
        due = trigger.get_next_fire_time(after, start)
        if due is None:
            return
        await self.store.add_timer(kind, due, now=now, key=f"{kind}@{due.isoformat()}")
        self.wake()

    async def _loop(self) -> None:
        while not self._closing:
            self._wake.clear()  # before reading: a timer added from here on wakes the wait below
            try:
                wait = await self._fire_due()
            except Exception:  # a store hiccup must not end the timers for good
                log.exception("the timers could not be read; trying again")
                wait = MAX_WAIT_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _fire_due(self) -> float:
        """Fire what is due (each timer once); the real seconds until the next one, at most MAX_WAIT_S."""
        for timer in await self.store.due_timers(self.clock.now()):
            if not await self.store.claim_timer(timer.id, now=self.clock.now()):
                continue  # another worker fired it
            handler = self._handlers.get(timer.kind)
            if handler is None:
                log.warning("timer %s of unknown kind %r dropped", timer.id, timer.kind)
                continue
            self._work.spawn(handler(timer), name=f"timer {timer.kind} {timer.id}")
        due = await self.store.next_timer_due()
        if due is None:
            return MAX_WAIT_S
        # the clock may run faster than the wall (demo, tests)
        return min(MAX_WAIT_S, max(0.0, (due - self.clock.now()).total_seconds()) / self.clock.speed)

    @property
    def busy(self) -> bool:
        """True while a timer's work runs."""
        return self._work.busy

    async def drain(self, within_s: float = 30.0) -> None:
        await self._work.drain(within_s)

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._work.close(within_s=0)

