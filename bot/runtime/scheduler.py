"""The scheduler: durable timers by kind, fired at least once each.

A timer is a row with a due time (the store's `timers`), so a restarted process finds what was due while it was
down. Each is claimed by a conditional update before its handler runs, under a lease (LEASE, renewed every third of
it while the handler runs, held by `<instance>/<boot>`): with several processes on one database, one of them fires
it. When the handler returns or raises, the timer is fired for good. When the process dies (or is stopped) while
the handler runs, the timer is fired again: by another process once the lease lapses, or at once by the same
instance when it starts again (it voids the leases of its earlier life). So handlers run at least once, not exactly
once: each must be idempotent (a second run finds its work done and changes nothing, e.g. through a conditional
update or a timer key). What a kind means is registered here by the service that owns it (`on`), in `create_app`;
the scheduler knows none of them.

Recurring work (digests, ticks) is a kind with a crontab and a time zone (`every`): APScheduler's CronTrigger
computes the next fire time, and each firing is a row whose key names the kind and the time, so that processes
that compute the same firing store it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.config.crontab import cron_trigger
from bot.errors import StoreUnavailable
from bot.ports.clock import Clock
from bot.runtime.background import Background
from bot.runtime.logs import about_incident
from bot.store import Store
from bot.store.store import Timer

log = logging.getLogger(__name__)

__all__ = ["Handler", "Scheduler"]

Handler = Callable[[Timer], Coroutine[Any, Any, None]]
MAX_WAIT_S = 1.0  # the longest the loop sleeps (real seconds) before it looks at the due times again
_JUST_AFTER = timedelta(microseconds=1)
LEASE = timedelta(seconds=30)  # how long a claimed timer is held without renewal; renewed every LEASE / 3
UNKNOWN_KIND_AGAIN = timedelta(minutes=1)  # when a timer of a kind this process cannot fire is due again ...
UNKNOWN_KIND_KEPT = timedelta(days=7)  # ... until it is this old: no replica has fired it, and none will (dropped)


class Scheduler:
    def __init__(self, store: Store, clock: Clock, *, instance: str = "sre-agent") -> None:
        self.store = store
        self.clock = clock
        self.instance = instance  # who this process is across restarts (host and port, or SRE_INSTANCE_NAME)
        self.holder = f"{instance}/{uuid.uuid4().hex[:12]}"  # ... and which life of it: the leases it takes
        self._running: set[int] = set()  # timers whose handlers run here now (their leases are renewed)
        self._finishing: set[int] = set()  # ... of which those whose handlers returned, being marked fired
        self._unknown_said: set[str] = set()  # kinds of timers this process had no handler for, said once each
        self._lease_task: asyncio.Task[None] | None = None
        self._handlers: dict[str, Handler] = {}
        self._recurring: dict[str, CronTrigger] = {}
        self._wake = asyncio.Event()
        self._looks_at: datetime | None = None  # when the loop looks at the due times next (None: it is looking)
        self._task: asyncio.Task[None] | None = None
        self._work = Background()
        self._closing = False

    def on(self, kind: str, handler: Handler) -> None:
        """What a timer of `kind` does when it is due. One handler a kind. The handler must be idempotent: a timer
        whose process died while its handler ran is fired again (at least once, not exactly once). When it returns or
        raises, the timer is done (an error is logged; it is not tried again), except when it raises StoreUnavailable
        (the database was out of reach a moment): then it is fired again once its lease lapses."""
        if kind in self._handlers:
            raise ValueError(f"timer kind {kind!r} has a handler already")
        self._handlers[kind] = handler

    def every(self, kind: str, crontab: str, handler: Handler, *, timezone: str = "UTC") -> None:
        """`handler` at each time of `crontab` (`0 9 * * 1-5`) in `timezone`, once across processes."""
        self.on(kind, self._recur(kind, handler))
        self._recurring[kind] = cron_trigger(crontab, ZoneInfo(timezone))

    async def at(
        self,
        kind: str,
        due_at: datetime,
        *,
        incident_id: int | None = None,
        payload: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> int | None:
        """A timer of `kind` due at `due_at`; its id. With `key` it is stored once: None when a timer with that key
        was added before (by this process or another, fired or not). The loop looks at the due times again at once."""
        timer_id = await self.store.add_timer(
            kind, due_at, now=self.clock.now(), incident_id=incident_id, payload=payload, key=key
        )
        if self._looks_at is None or due_at < self._looks_at:  # (due after the loop's next look: it finds it then)
            self.wake()
        return timer_id

    def wake(self) -> None:
        """A timer was added (here or by the store in a transaction of its own): look at the due times now."""
        self._wake.set()

    async def start(self) -> None:
        """Void the leases an earlier life of this instance held (those timers are due again at once), store the
        next firing of each recurring kind, then fire timers as they come due and renew the leases of those firing."""
        voided = await self.store.void_timer_leases(instance=self.instance, holder=self.holder)
        if voided:
            log.warning("%d timers were cut off when this instance stopped; firing them again", voided)
        for kind, trigger in self._recurring.items():
            await self._next(kind, trigger, after=None)
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="scheduler")
        self._lease_task = asyncio.get_running_loop().create_task(self._leases(), name="timer-leases")

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
            self._looks_at = None  # (and `at` wakes it whatever the timer's due time)
            try:
                wait = await self._fire_due()
            except Exception:  # a store hiccup must not end the timers for good
                log.exception("the timers could not be read; trying again")
                wait = MAX_WAIT_S
            self._looks_at = self.clock.now() + timedelta(seconds=wait * self.clock.speed)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _fire_due(self) -> float:
        """Fire what is due (each timer under a lease); the real seconds until the next one, at most MAX_WAIT_S."""
        claimed, late, due = await self.store.claim_due_timers(
            now=self.clock.now(), lease=LEASE, holder=self.holder, running=set(self._running)
        )
        for timer in claimed:
            handler = self._handlers.get(timer.kind)
            if handler is None:
                await self._put_back(timer)
                continue
            self._running.add(timer.id)
            self._work.spawn(self._fire(timer, handler), name=f"timer {timer.kind} {timer.id}")
        if late:
            await self._renew(late)
        if due is None:
            return MAX_WAIT_S
        # the clock may run faster than the wall (demo, tests)
        return min(MAX_WAIT_S, max(0.0, (due - self.clock.now()).total_seconds()) / self.clock.speed)

    async def _put_back(self, timer: Timer) -> None:
        """A timer of a kind this process has no handler for (a replica of another version, in a rolling deploy, or
        configured without the feature): given back, due again a while later, rather than dropped (a recurring
        kind's next firing is stored only when one fires: dropped, its firings stopped for good)."""
        now = self.clock.now()
        try:
            if timer.created_at is not None and now - timer.created_at > UNKNOWN_KIND_KEPT:
                log.warning(
                    "timer %s of kind %r dropped: no process has fired it in %s",
                    timer.id,
                    timer.kind,
                    now - timer.created_at,
                )
                await self.store.finish_timer(timer.id, now=now, holder=self.holder)
                return
            until = now + UNKNOWN_KIND_AGAIN
            if timer.kind not in self._unknown_said:  # (once a kind: every minute on every replica says nothing new)
                self._unknown_said.add(timer.kind)
                log.warning("a timer of kind %r has no handler here: put back, due again at %s", timer.kind, until)
            await self.store.postpone_timer(timer.id, until=until, holder=self.holder)
        except StoreUnavailable as exc:  # (its lease lapses instead: due again then)
            log.warning("timer %s could not be put back (due again when its lease lapses): %s", timer.id, exc)

    async def _fire(self, timer: Timer, handler: Handler) -> None:
        """Run the handler; fired when it returns or raises. Cancelled (the process stops): left to its lease, so
        that it is fired again (by the next life of this instance at once, or by another once the lease lapses)."""
        try:
            try:
                with about_incident(timer.incident_id):
                    await handler(timer)
            except StoreUnavailable as exc:  # not renewed from here on: its lease lapses, and it is due again
                log.warning("timer %s of kind %r is fired again in %s: %s", timer.id, timer.kind, LEASE, exc)
                return
            except Exception:  # a handler's failure is logged; the timer is done all the same
                log.exception("timer %s of kind %r failed (it is not tried again)", timer.id, timer.kind)
            self._finishing.add(timer.id)  # (a renewal that finds it fired from here on is not told it was taken)
            try:
                if not await self.store.finish_timer(timer.id, now=self.clock.now(), holder=self.holder):
                    log.warning(
                        "timer %s (%s) ran here but was not marked fired: another took it over when its lease lapsed",
                        timer.id,
                        timer.kind,
                    )
            except StoreUnavailable as exc:
                log.warning("timer %s (%s) ran, not marked fired (it may run again): %s", timer.id, timer.kind, exc)
        finally:
            self._running.discard(timer.id)
            self._finishing.discard(timer.id)

    async def _leases(self) -> None:
        """Renew the leases of the timers firing here every third of a lease (of the scheduler's clock, which may
        run faster than the wall): so a crash delays a timer by at most one lease."""
        while not self._closing:
            await self.clock.sleep(LEASE.total_seconds() / 3)
            try:
                await self._renew(sorted(self._running))
            except Exception:  # a store hiccup must not end the renewals for good
                log.exception("the timers' leases could not be renewed; trying again")

    async def _renew(self, timer_ids: list[int]) -> None:
        held = await self.store.renew_timers(timer_ids, now=self.clock.now(), lease=LEASE, holder=self.holder)
        # not those that finished meanwhile, nor those being marked fired (which the renewal may have found fired)
        still = sum(1 for timer_id in timer_ids if timer_id in self._running and timer_id not in self._finishing)
        if held < still:
            log.warning("%d timers firing here were taken over after their leases lapsed", still - held)

    @property
    def busy(self) -> bool:
        """True while a timer's work runs."""
        return self._work.busy

    async def drain(self, within_s: float = 30.0) -> None:
        await self._work.drain(within_s)

    async def close(self) -> None:
        self._closing = True
        tasks = [t for t in (self._task, self._lease_task) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._work.close(within_s=0)  # handlers cut off here are fired again (their leases are left)
