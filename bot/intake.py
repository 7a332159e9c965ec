"""Inbound events: stored before they are acknowledged, processed after, retried with backoff, and picked up
again after a restart. The store is the queue; in-process tasks only make it fast."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from bot.background import Background
from bot.clock import Clock
from bot.commander import Commander, Outcome
from bot.domain.pagerduty import parse_pagerduty_event
from bot.store import Store
from bot.store.store import DONE, FAILED, IGNORED, PENDING, Timer

log = logging.getLogger(__name__)

SOURCE_PAGERDUTY = "pagerduty"
RETRY_INBOUND = "retry_inbound"
LEASE = timedelta(minutes=5)


class Intake:
    def __init__(
        self,
        store: Store,
        commander: Commander,
        clock: Clock,
        *,
        max_attempts: int = 5,
        backoff_s: tuple[float, ...] = (1, 5, 30, 120),
    ) -> None:
        self.store = store
        self.commander = commander
        self.clock = clock
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer_wake = asyncio.Event()
        self._timer_task: asyncio.Task[None] | None = None
        self._closing = False
        # durable timers of other kinds (proposal expiry, verification checks): kind -> what to do when due
        self.timer_handlers: dict[str, Callable[[Timer], Coroutine[Any, Any, None]]] = {}
        self._timer_work = Background()

    async def accept(
        self, *, source: str, delivery_id: str, event_type: str, body: str, incident_ref: str | None
    ) -> bool:
        """Store the event (the caller answers only after this returns) and start processing it.
        False when this delivery was stored before: a duplicate, nothing more to do."""
        event_id = await self.store.record_inbound(
            source=source,
            delivery_id=delivery_id,
            event_type=event_type,
            body=body,
            received_at=self.clock.now(),
            incident_ref=incident_ref,
        )
        if event_id is None:
            return False
        self.schedule(event_id)
        return True

    def schedule(self, event_id: int) -> None:
        if self._closing:
            return
        task = asyncio.get_running_loop().create_task(self.process(event_id), name=f"inbound-{event_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def process(self, event_id: int) -> None:
        event = await self.store.claim_inbound(event_id, now=self.clock.now(), lease=LEASE)
        if event is None:
            return  # done already, or another worker has it
        try:
            if event.source != SOURCE_PAGERDUTY:
                await self.store.finish_inbound(event_id, status=IGNORED, now=self.clock.now())
                return
            outcome = await self.commander.handle_pagerduty(parse_pagerduty_event(event.json()))
        except Exception as exc:  # noqa: BLE001 - a worker must outlive any one event; the error is stored
            log.warning(
                "inbound event %s (%s) failed on attempt %s: %r", event_id, event.event_type, event.attempts, exc
            )
            if event.attempts >= self.max_attempts:
                await self.store.finish_inbound(event_id, status=FAILED, now=self.clock.now(), error=repr(exc))
                log.error("inbound event %s gave up after %s attempts", event_id, event.attempts)
                return
            await self.store.finish_inbound(event_id, status=PENDING, now=self.clock.now(), error=repr(exc))
            delay = self.backoff_s[min(event.attempts, len(self.backoff_s)) - 1]
            await self.store.add_timer(
                RETRY_INBOUND,
                self.clock.now() + timedelta(seconds=delay),
                now=self.clock.now(),
                payload={"inbound_id": event_id},
            )
            self._timer_wake.set()
            return
        status = DONE if outcome == Outcome.HANDLED else IGNORED
        await self.store.finish_inbound(event_id, status=status, now=self.clock.now())

    async def start(self) -> None:
        """Process whatever a previous run stored and did not finish, then run the retry timers."""
        for event_id in await self.store.unfinished_inbound():
            self.schedule(event_id)
        self._timer_task = asyncio.get_running_loop().create_task(self._timers(), name="inbound-timers")

    async def _timers(self) -> None:
        while not self._closing:
            self._timer_wake.clear()  # before reading: a timer added from here on wakes the wait below
            try:
                wait = await self._fire_due()
            except Exception:  # a store hiccup must not end the timers for good
                log.exception("the timers could not be read; trying again")
                wait = 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._timer_wake.wait(), timeout=wait)

    async def _fire_due(self) -> float:
        """Fire what is due (each timer once); the real seconds until the next one, at most one."""
        for timer in await self.store.due_timers(self.clock.now()):
            handler = self.timer_handlers.get(timer.kind)
            if not await self.store.claim_timer(timer.id, now=self.clock.now()):
                continue  # another worker fired it
            if timer.kind == RETRY_INBOUND:
                self.schedule(int(timer.payload["inbound_id"]))
            elif handler is not None:
                self._timer_work.spawn(handler(timer), name=f"timer {timer.kind} {timer.id}")
            else:
                log.warning("timer %s of unknown kind %r dropped", timer.id, timer.kind)
        due = await self.store.next_timer_due()
        if due is None:
            return 1.0
        # the clock may run faster than the wall (demo, tests)
        return min(1.0, max(0.0, (due - self.clock.now()).total_seconds()) / self.clock.speed)

    def wake(self) -> None:
        """A timer was added: look at the due times again now."""
        self._timer_wake.set()

    @property
    def busy(self) -> bool:
        """True while an accepted event is being processed or a timer's work runs."""
        return bool(self._tasks) or self._timer_work.busy

    async def drain(self, within_s: float = 30.0) -> None:
        """Wait until no event is being processed (tests, shutdown), at most `within_s` seconds."""
        deadline = asyncio.get_running_loop().time() + within_s
        while self._tasks and asyncio.get_running_loop().time() < deadline:
            await asyncio.wait(set(self._tasks), timeout=max(0.0, deadline - asyncio.get_running_loop().time()))
        await self._timer_work.drain(max(0.0, deadline - asyncio.get_running_loop().time()))

    async def close(self) -> None:
        self._closing = True
        if self._timer_task:
            self._timer_task.cancel()
            await asyncio.gather(self._timer_task, return_exceptions=True)
        await self.drain(within_s=10)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._timer_work.close(within_s=0)
