"""Inbound events: stored before they are acknowledged, processed after, retried with backoff (timers of the
scheduler), and picked up again after a restart. The store is the queue; in-process tasks only make it fast.

A delivery sent again (PagerDuty retries, and may deliver one event several times at once) is told apart by its
(source, delivery id), the store's unique key. One that this process is storing now, or stored lately, is answered
from memory: a copy that comes while the first is being stored waits for it, and one that comes after it needs no
transaction at all. The store's key decides the rest (another replica's, one older than the memory).

Events stored at the front door (bot/runtime/door.py) are handed to the app's loop together, not one wake-up each;
and while the door is answering requests (`hold`: a burst of Slack's clicks), they wait at the door, at most HOLD_MAX_S,
so that taking them up does not take turns at the interpreter's lock with the answers still to be given. Slack's own
requests wait for such a lull before their work begins anyway (bot/adapters/slack/inbox.py)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.domain.errors import InvalidEvent
from bot.domain.pager import Outcome, PagerEvent
from bot.domain.wire import storable_text
from bot.errors import StoreUnavailable
from bot.ports.clock import Clock
from bot.ports.metrics import NO_METRICS, Metrics
from bot.ports.pager import Reader
from bot.runtime.background import Background
from bot.runtime.logs import about_incident
from bot.runtime.scheduler import Scheduler
from bot.store import Store
from bot.store.store import DONE, IGNORED, PENDING, PROCESSING, InboundEvent, Timer

log = logging.getLogger(__name__)

RETRY_INBOUND = "retry_inbound"
UNHANDLED_NOTICE = "unhandled_notice"  # tell the incidents channel that an event failed every attempt
NOTICE_TRIES = 10
NOTICE_RETRY = timedelta(seconds=30)
LEASE = timedelta(seconds=30)  # renewed every 10 s while the work goes on
RECENT_DELIVERIES = 4096  # deliveries this process stored that it remembers, to answer their copies without the store
HOLD_MAX_S = 0.1  # the longest an event stored at the door waits there while the door is answering requests
HOLD_CHECK_S = 0.002  # ... looking this often whether it still is


class Pages(Protocol):
    """What takes the events in (bot/lifecycle/pager_sync.py)."""

    async def handle_page(self, event: PagerEvent) -> str:
        """Apply one event: Outcome.HANDLED or Outcome.IGNORED."""

    async def report_unhandled(self, event: InboundEvent, parsed: PagerEvent | None) -> None:
        """Tell people that an accepted event failed every attempt."""


@dataclass(frozen=True)
class Arrival:
    """A delivery as its route received it, to be stored: its source, its id there (the store's key with the
    source), its type, its body as text and the incident it is about. `parsed`: the body as the source's reader read
    it at `received_at` (the route read it already), processed as it is; a later attempt reads the stored body."""

    source: str
    delivery_id: str
    event_type: str
    body: str
    incident_ref: str | None
    parsed: PagerEvent | None = None
    received_at: datetime | None = None


class Intake:
    def __init__(
        self,
        store: Store,
        pages: Pages,
        clock: Clock,
        scheduler: Scheduler,
        *,
        max_attempts: int = 5,
        backoff_s: tuple[float, ...] = (1, 5, 30, 120),
        instance: str = "sre-agent",
        readers: Mapping[str, Reader] | None = None,
        consumers: Mapping[str, Callable[[str], Awaitable[None]]] | None = None,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.metrics = metrics
        # read on the front door's loop: whether it is answering requests now (events stored there wait, see above);
        # set by the app once the Slack inbox it asks is made
        self.hold: Callable[[], bool] | None = None
        self.readers = dict(readers or {})  # by source: how its stored bodies are read (one function each)
        # by source: who handles its stored bodies whole, once (Slack's requests: a click is not tried again, its
        # listener tells the person what failed); done when it returns, even by raising
        self.consumers = dict(consumers or {})
        self.instance = instance  # who this process is across restarts (host and port, or SRE_INSTANCE_NAME)
        self.holder = f"{instance}/{uuid.uuid4().hex[:12]}"  # ... and which life of it: the leases it takes
        self._in_hand: set[int] = set()  # events this process is working on now (their leases are renewed)
        self.store = store
        self.pages = pages
        self.clock = clock
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.scheduler = scheduler
        self._work = Background()  # the events being processed now
        self._lease_task: asyncio.Task[None] | None = None
        self._closing = False
        self._home: asyncio.AbstractEventLoop | None = None  # where events are processed (accept may run elsewhere)
        self._arriving: dict[tuple[str, str], asyncio.Future[bool]] = {}  # deliveries being stored now
        self._stored: OrderedDict[tuple[str, str], None] = OrderedDict()  # the last RECENT_DELIVERIES stored
        # stored at the door, to be taken up on the app's loop (appended there, taken here: deque is thread-safe)
        self._handed: deque[tuple[InboundEvent, PagerEvent | None]] = deque()
        self._handing: asyncio.Future[None] | None = None  # (door's loop) the hand-over on its way, if any

    async def copy_of_stored(self, source: str, delivery_id: str, *, wait_s: float | None = None) -> bool:
        """Whether this is a copy of a delivery that this process stored lately, or is storing now (then once it is
        stored: waited for, at most `wait_s`, else TimeoutError). A copy is received as a duplicate (counted so),
        whatever its body says. False: not known here (the store's key decides), or the first was not stored."""
        key = (source, delivery_id)
        if key not in self._stored:
            arriving = self._arriving.get(key)
            if arriving is None or arriving.get_loop() is not asyncio.get_running_loop():
                return False
            done, _ = await asyncio.wait({arriving}, timeout=wait_s)  # (the first's own caller may stop waiting)
            if not done:
                raise TimeoutError(f"the first delivery of {delivery_id} was not stored in {wait_s:g} s")
            if arriving.cancelled() or arriving.exception() is not None:
                return False
        self._count(source, duplicate=True)
        return True

    async def accept(self, arrival: Arrival) -> bool:
        """Store the event (the caller answers only after this returns) and start processing it.
        False when this delivery was stored before: a duplicate, nothing more to do. Stored claimed by this
        process, and processed as soon as it is stored, even when the caller stopped waiting (it answered 503: the
        database was slow), so that a row which lands late is not left to wait for a lease to lapse."""
        if await self.copy_of_stored(arrival.source, arrival.delivery_id):
            return False
        return await asyncio.shield(self._storing(arrival))

    def accepting(self, arrival: Arrival) -> asyncio.Future[bool]:
        """`accept`, begun before this returns: from here on a copy of the delivery is known as one (it waits for
        this one to be stored, rather than storing itself). Cancelling the future does not stop the storing."""
        key = (arrival.source, arrival.delivery_id)
        if key in self._stored or key in self._arriving:
            return asyncio.ensure_future(self.accept(arrival))
        return asyncio.shield(self._storing(arrival))

    def _storing(self, arrival: Arrival) -> asyncio.Future[bool]:
        task = asyncio.ensure_future(self._accept(arrival))
        task.add_done_callback(_retrieved)
        key = (arrival.source, arrival.delivery_id)
        self._arriving[key] = task
        task.add_done_callback(functools.partial(self._arrived, key))
        return task

    def _arrived(self, key: tuple[str, str], task: asyncio.Future[bool]) -> None:
        if self._arriving.get(key) is task:
            del self._arriving[key]
        if not task.cancelled() and task.exception() is None:  # stored now, or before it (a duplicate): stored
            self._stored[key] = None
            while len(self._stored) > RECENT_DELIVERIES:
                with contextlib.suppress(KeyError):  # (another thread's accept took the oldest first)
                    self._stored.popitem(last=False)

    def _count(self, source: str, *, duplicate: bool) -> None:
        if source not in self.consumers:
            self.metrics.page_received(source, duplicate=duplicate)

    async def _accept(self, arrival: Arrival) -> bool:
        received_at = arrival.received_at or self.clock.now()
        event_id = await self.store.record_inbound(
            source=arrival.source,
            delivery_id=arrival.delivery_id,
            event_type=arrival.event_type,
            body=arrival.body,
            received_at=received_at,
            incident_ref=arrival.incident_ref,
            holder=self.holder,
            clock=self.clock.now,  # (its lease runs from when it is written)
        )
        self._count(arrival.source, duplicate=event_id is None)
        if event_id is None:
            return False  # a duplicate: its first delivery's row is being processed (stored claimed, even if late)
        event = InboundEvent(
            event_id,
            arrival.source,
            arrival.delivery_id,
            arrival.event_type,
            arrival.incident_ref,
            arrival.body,
            PROCESSING,
            1,
            received_at,
        )
        home = self._home
        if home is None or home is asyncio.get_running_loop():
            self._take_up(event, arrival.parsed)
        else:  # stored at the front door (bot/runtime/door.py): processed on this intake's own loop
            self._handed.append((event, arrival.parsed))
            if self._handing is None:  # (else a hand-over is on its way, and takes this one too)
                self._handing = asyncio.ensure_future(self._hand_over(home))
        return True

    async def _hand_over(self, home: asyncio.AbstractEventLoop) -> None:
        """On the door's loop (a task of it: the door waits for it when it stops): the events stored there, to the
        app's loop in one wake-up, once the door is not answering requests or they have waited HOLD_MAX_S."""
        loop = asyncio.get_running_loop()
        since = loop.time()
        try:
            await asyncio.sleep(0)  # those stored in this turn of the loop (a batch of the store's) go with it
            for _ in range(int(HOLD_MAX_S / HOLD_CHECK_S)):  # (what the door answers is polled: it is counted there)
                if not self._holding() or loop.time() - since >= HOLD_MAX_S:
                    break
                await asyncio.sleep(HOLD_CHECK_S)
        finally:  # (handed over however the wait ended: cut short by the door's stop, or `hold` failing)
            self._handing = None  # (before the wake-up: one stored from here on is handed over by another)
            with contextlib.suppress(RuntimeError):  # that loop has closed: this instance's next life takes them up
                home.call_soon_threadsafe(self._take_up_handed)

    def _holding(self) -> bool:
        """Whether the front door is answering requests now (then the hand-over waits: see `_hand_over`)."""
        if self.hold is None:
            return False
        try:
            return self.hold()
        except Exception:  # (handed over at once rather than not at all)
            log.exception("could not tell whether the front door is answering requests")
            return False

    def _take_up_handed(self) -> None:
        while self._handed:
            event, parsed = self._handed.popleft()
            self._take_up(event, parsed)

    def _take_up(self, event: InboundEvent, parsed: PagerEvent | None) -> None:
        """Process an event stored claimed by this process."""
        if not self._closing:  # (else the next life of this instance takes it up at once, or another replica later)
            self._work.spawn(self.process(event.id, claimed=event, parsed=parsed), name=f"inbound-{event.id}")

    def schedule(self, event_id: int) -> None:
        if self._closing:
            return
        self._work.spawn(self.process(event_id), name=f"inbound-{event_id}")

    async def process(
        self, event_id: int, *, claimed: InboundEvent | None = None, parsed: PagerEvent | None = None
    ) -> None:
        """Process an event: claimed here first, unless `claimed` (stored claimed by this process, and `parsed`: its
        body as its reader read it when it came)."""
        if event_id in self._in_hand:
            return  # this process is on it already (a sweep saw its lease while a renewal was late)
        self._in_hand.add(event_id)
        try:
            event = claimed or await self.store.claim_inbound(
                event_id, now=self.clock.now(), lease=LEASE, holder=self.holder
            )
            if event is None:
                return  # done already, or another worker has it
            with about_incident(pager_incident=event.incident_ref):
                await self._handle(event, parsed)
        except StoreUnavailable as exc:  # not renewed from here on: taken up again once its lease lapses
            log.warning("inbound event %s is taken up again in %s: %s", event_id, LEASE, exc)
        finally:
            self._in_hand.discard(event_id)

    async def _handle(self, event: InboundEvent, parsed: PagerEvent | None) -> None:
        event_id = event.id
        consumer = self.consumers.get(event.source)
        if consumer is not None:
            error = None
            try:
                if event.attempts > self.max_attempts:  # the process died with it in hand every time
                    raise RuntimeError(f"not handled: taken up {event.attempts} times and never finished")
                await consumer(event.body)
            except Exception as exc:
                log.exception("inbound event %s (%s) failed", event_id, event.source)
                error = storable_text(f"{type(exc).__name__}: {exc}", 2000)
            await self.store.finish_inbound(
                event_id, status=DONE, now=self.clock.now(), error=error, holder=self.holder
            )
            return
        try:
            reader = self.readers.get(event.source)
            if reader is None:
                await self.store.finish_inbound(event_id, status=IGNORED, now=self.clock.now(), holder=self.holder)
                return
            page = parsed if parsed is not None else reader(event.body, event.received_at)
            outcome = await self.pages.handle_page(page)
        except Exception as exc:  # noqa: BLE001 - a worker must outlive any one event; the error is stored
            await self._failed(event, exc)
            return
        status = DONE if outcome == Outcome.HANDLED else IGNORED
        await self.store.finish_inbound(event_id, status=status, now=self.clock.now(), holder=self.holder)

    async def _failed(self, event: InboundEvent, exc: Exception) -> None:
        """Try again later, or after the last attempt give up where a person hears of it: never left pending."""
        error = storable_text(f"{type(exc).__name__}: {exc}", 2000)
        log.warning("inbound event %s (%s) failed on attempt %s: %s", event.id, event.event_type, event.attempts, error)
        now = self.clock.now()
        if event.attempts >= self.max_attempts:
            if await self.store.fail_inbound(
                event.id, now=now, error=error, notice=UNHANDLED_NOTICE, holder=self.holder
            ):
                log.warning(
                    "inbound event %s gave up after %s attempts; the incidents channel is told",
                    event.id,
                    event.attempts,
                )
                self.scheduler.wake()
            return
        await self.store.finish_inbound(event.id, status=PENDING, now=now, error=error, holder=self.holder)
        delay = self.backoff_s[min(event.attempts, len(self.backoff_s)) - 1]
        await self.scheduler.at(RETRY_INBOUND, now + timedelta(seconds=delay), payload={"inbound_id": event.id})

    async def retry(self, timer: Timer) -> None:
        """A RETRY_INBOUND timer: process the event again."""
        self.schedule(int(timer.payload["inbound_id"]))

    async def tell_unhandled(self, timer: Timer) -> None:
        """The message that a page could not be handled; tried again (a few times) while Slack refuses it."""
        event = await self.store.inbound(int(timer.payload["inbound_id"]))
        if event is None:
            return
        reader = self.readers.get(event.source)
        try:
            parsed = reader(event.body, event.received_at) if reader is not None else None
        except InvalidEvent:
            parsed = None
        try:
            await self.pages.report_unhandled(event, parsed)
        except Exception as exc:  # noqa: BLE001 - Slack may be what is failing: try again a little later
            tries = int(timer.payload.get("tries", 0)) + 1
            if tries >= NOTICE_TRIES:
                log.error("could not tell anyone that inbound event %s failed: %r", event.id, exc)
                return
            log.warning("could not tell that inbound event %s failed (try %s): %r", event.id, tries, exc)
            await self.scheduler.at(
                UNHANDLED_NOTICE, self.clock.now() + NOTICE_RETRY, payload={"inbound_id": event.id, "tries": tries}
            )

    async def start(self) -> None:
        """Process whatever a previous run stored and did not finish (what this instance held when it died is
        taken up at once: those leases are void), then renew leases; retries come from the scheduler. Events are
        processed on this loop, wherever `accept` stored them."""
        self._home = asyncio.get_running_loop()
        voided = await self.store.void_leases(instance=self.instance, holder=self.holder)
        if voided:
            log.warning("%d inbound events were cut off when this instance stopped; taking them up again", voided)
        for event_id in await self.store.unfinished_inbound():
            self.schedule(event_id)
        self._lease_task = asyncio.get_running_loop().create_task(self._leases(), name="inbound-leases")

    async def _leases(self) -> None:
        """Renew the leases in hand every third of a lease; take up events whose holder stopped renewing (another
        replica died): so a crash costs at most one lease, and a restart of the same instance nothing."""
        while not self._closing:
            await self.clock.sleep(LEASE.total_seconds() / 3)
            try:
                now = self.clock.now()
                await self.store.renew_inbound(sorted(self._in_hand), now=now, holder=self.holder)
                retry_within = timedelta(seconds=max(self.backoff_s, default=0))
                for event_id in await self.store.lapsed_inbound(now=now, lease=LEASE, retry_within=retry_within):
                    if event_id not in self._in_hand:
                        self.schedule(event_id)
            except Exception:  # a store hiccup must not end the renewals for good
                log.exception("the leases could not be renewed; trying again")

    @property
    def busy(self) -> bool:
        """True while an accepted event is being processed."""
        return self._work.busy

    async def drain(self, within_s: float = 30.0) -> None:
        """Wait until no event is being processed (tests, shutdown), at most `within_s` seconds."""
        await self._work.drain(within_s)

    async def close(self) -> None:
        self._closing = True
        if self._lease_task is not None:
            self._lease_task.cancel()
            await asyncio.gather(self._lease_task, return_exceptions=True)
        await self._work.close(within_s=10)


def _retrieved(task: asyncio.Future[bool]) -> None:
    """Read the outcome of an accept whose caller stopped waiting, so that its error is not reported as lost (it
    was answered already: a 503, and the sender delivers it again)."""
    if not task.cancelled() and task.exception() is not None:
        log.debug("an event stored after its sender was answered failed: %r", task.exception())
