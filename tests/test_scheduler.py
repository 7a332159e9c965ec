"""The scheduler: durable timers by kind, each fired under a lease (again after a crash, never twice while its holder
lives); recurring kinds at their crontab's times, once across processes that share the database."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from bot.errors import StoreUnavailable
from bot.ports.clock import ScaledClock
from bot.runtime.scheduler import LEASE, Scheduler
from bot.store import Store
from bot.store.store import Timer
from bot.store.tables import timers

START = datetime(2026, 12, 2, 7, 58, 30, tzinfo=UTC)


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one database: two processes, as far as the timers can tell."""
    first = await Store.open(database_url)
    second = Store.from_url(database_url)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def _until(check: object, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "not in time"
        await asyncio.sleep(0.01)


async def test_a_timer_fires_once_by_its_kind_and_one_of_a_kind_unknown_here_is_put_back_for_another(
    stores: tuple[Store, Store], caplog: pytest.LogCaptureFixture
) -> None:
    """A timer of a kind this process has no handler for (a replica of another version) is given back, due again a
    minute later, and fired by a process that knows its kind: not dropped."""
    store, _ = stores
    clock = ScaledClock(60.0, start=START)
    fired: list[Timer] = []

    async def handler(timer: Timer) -> None:
        fired.append(timer)

    scheduler = Scheduler(store, clock)
    scheduler.on("ping", handler)
    with pytest.raises(ValueError, match="has a handler already"):
        scheduler.on("ping", handler)
    await scheduler.start()
    try:
        await scheduler.at("ping", clock.now() + timedelta(seconds=30), payload={"n": 1})
        await store.add_timer("nobody-knows", clock.now(), now=clock.now())
        week_ago = clock.now() - timedelta(days=8)  # never fired by any process in a week: no replica will
        await store.add_timer("long-gone", clock.now(), now=week_ago)
        scheduler.wake()
        await _until(lambda: len(fired) == 1)
        await asyncio.sleep(0.3)
        assert [t.payload for t in fired] == [{"n": 1}]
        assert fired[0].due_at <= clock.now()
        said = [r.getMessage() for r in caplog.records]
        assert sum("of kind 'nobody-knows' has no handler here: put back" in m for m in said) == 1, said
        assert any("of kind 'long-gone' dropped: no process has fired it in 8 days" in m for m in said), said
    finally:
        await scheduler.close()
    [unknown] = await store.pending_timers("nobody-knows")
    assert await store.pending_timers("long-gone") == []
    assert unknown.due_at > clock.now()  # armed again, a minute on (1 s here)
    again = Scheduler(store, clock)  # a restart, by a version that knows the kind: what fired does not fire again
    again.on("ping", handler)
    again.on("nobody-knows", handler)
    await again.start()
    try:
        await _until(lambda: len(fired) == 2)
        await asyncio.sleep(0.3)
    finally:
        await again.close()
    assert [t.kind for t in fired] == ["ping", "nobody-knows"]  # ping not again; the other once


async def test_a_recurring_kind_fires_at_its_crontab_times_once_across_two_processes(
    stores: tuple[Store, Store],
) -> None:
    clock = ScaledClock(600.0, start=START)  # a minute passes in 0.1 s
    fired: list[tuple[str, datetime]] = []

    def handler(name: str):  # type: ignore[no-untyped-def]
        async def fire(timer: Timer) -> None:
            fired.append((name, timer.due_at))

        return fire

    schedulers = []
    for name, store in zip(("a", "b"), stores, strict=True):
        scheduler = Scheduler(store, clock)
        scheduler.every("digest", "* * * * *", handler(name), timezone="Europe/Berlin")
        schedulers.append(scheduler)
    await asyncio.gather(*(s.start() for s in schedulers))
    try:
        await _until(lambda: len(fired) >= 8, within=10)
    finally:
        await asyncio.gather(*(s.close() for s in schedulers))
    times = [at for _, at in fired]
    assert len(times) == len(set(times)), fired  # each firing once, whichever process had it
    ordered = sorted(times)
    assert ordered[0] == datetime(2026, 12, 2, 7, 59, tzinfo=UTC)
    assert all(b - a == timedelta(minutes=1) for a, b in itertools.pairwise(ordered))


async def test_a_daily_time_is_in_its_time_zone_and_a_restart_does_not_add_a_second(
    stores: tuple[Store, Store], caplog: pytest.LogCaptureFixture
) -> None:
    store, _ = stores
    clock = ScaledClock(1.0, start=START)

    async def nothing(timer: Timer) -> None:
        return None

    for _ in range(2):  # started twice: one pending firing
        scheduler = Scheduler(store, clock)
        scheduler.every("morning", "0 9 * * *", nothing, timezone="Europe/Berlin")
        await scheduler.start()
        await scheduler.close()
    [timer] = await store.pending_timers("morning")
    assert timer.due_at == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)  # 09:00 in Berlin in winter
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def _fired_then_three_leases(
    store: Store,
    clock: ScaledClock,
    kind: str,
    handler: Callable[[Timer], Awaitable[None]],
    fired: Callable[[], bool],
) -> int:
    """A timer of `kind` due now, with `handler`, until `fired()` says so and the scheduler is idle; then three
    leases more (by which a timer left to its lease would have been fired again). The timer's id."""
    scheduler = Scheduler(store, clock)
    scheduler.on(kind, handler)
    await scheduler.start()
    try:
        timer_id = await scheduler.at(kind, clock.now())
        assert timer_id is not None
        await _until(lambda: fired() and not scheduler.busy)
        await asyncio.sleep(LEASE.total_seconds() * 3 / clock.speed)
    finally:
        await scheduler.close()
    return timer_id


async def _row(store: Store, timer_id: int) -> sa.Row[Any]:
    return await store.run(lambda c: c.execute(timers.select().where(timers.c.id == timer_id)).one())


def _stuck(started: list[tuple[Timer, datetime]], clock: ScaledClock):  # type: ignore[no-untyped-def]
    """A handler that notes when it started and never ends (until its process stops it)."""

    async def fire(timer: Timer) -> None:
        started.append((timer, clock.now()))
        await asyncio.Event().wait()

    return fire


async def test_a_timer_whose_process_stopped_while_it_fired_is_fired_by_another_once_its_lease_lapses(
    stores: tuple[Store, Store],
) -> None:
    first_store, second_store = stores
    clock = ScaledClock(200.0, start=START)  # a lease (30 s) passes in 0.15 s
    started: list[tuple[Timer, datetime]] = []
    fired: list[tuple[Timer, datetime]] = []

    async def done(timer: Timer) -> None:
        fired.append((timer, clock.now()))

    first = Scheduler(first_store, clock, instance="replica-a:3000")
    first.on("verify", _stuck(started, clock))
    await first.start()
    timer_id = await first.at("verify", clock.now(), payload={"proposal": 7})
    assert timer_id is not None
    await _until(lambda: bool(started))
    await first.close()  # it dies with the handler cut off: the timer stays firing under its lease
    row = await _row(first_store, timer_id)
    assert row.status == "firing" and row.claimed_by.startswith("replica-a:3000/")
    assert [t.id for t in await second_store.pending_timers("verify")] == [timer_id]  # still armed

    second = Scheduler(second_store, clock, instance="replica-b:3000")
    second.on("verify", done)
    await second.start()
    try:
        await _until(lambda: bool(fired) and not second.busy)
    finally:
        await second.close()
    [(again, at)] = fired
    assert again.id == timer_id and again.payload == {"proposal": 7}
    assert at >= row.lease_until  # not before the lease lapsed
    assert at - started[0][1] < LEASE * 4  # but soon after
    assert (await _row(second_store, timer_id)).status == "fired"


async def test_a_renewed_lease_is_not_taken_over_while_the_handler_runs(stores: tuple[Store, Store]) -> None:
    first_store, second_store = stores
    clock = ScaledClock(60.0, start=START)  # a lease passes in 0.5 s, renewed every 0.17 s
    calls: list[str] = []

    async def slow(timer: Timer) -> None:
        calls.append("first")
        await clock.sleep(LEASE.total_seconds() * 4)  # four leases long

    async def other(timer: Timer) -> None:
        calls.append("second")

    first = Scheduler(first_store, clock, instance="replica-a:3000")
    first.on("verify", slow)
    second = Scheduler(second_store, clock, instance="replica-b:3000")
    second.on("verify", other)
    await first.start()
    try:
        timer_id = await first.at("verify", clock.now())
        assert timer_id is not None
        await _until(lambda: calls == ["first"])
        await second.start()  # looks at the due times all along
        await _until(lambda: not first.busy, within=10)
        assert (await _row(first_store, timer_id)).status == "fired"
        await asyncio.sleep(0.3)
    finally:
        await asyncio.gather(first.close(), second.close())
    assert calls == ["first"]


class _FiredAnsweredLate(Store):
    """A store whose answer to a timer's marking as fired comes late (after the row is marked): a slow network's
    answer, during which the lease renewals go on."""

    def __init__(self, backend: Any) -> None:
        super().__init__(backend)
        self.answer = asyncio.Event()
        self.marked: list[int] = []

    async def finish_timer(self, timer_id: int, *, now: datetime, holder: str) -> bool:
        fired = await super().finish_timer(timer_id, now=now, holder=holder)
        self.marked.append(timer_id)
        await self.answer.wait()
        return fired


async def test_a_timer_marked_fired_while_its_lease_is_renewed_is_not_said_to_have_been_taken_over(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = await _FiredAnsweredLate.open(database_url)
    assert isinstance(store, _FiredAnsweredLate)
    clock = ScaledClock(60.0, start=START)  # renewed every 0.17 s
    fired: list[int] = []

    async def handler(timer: Timer) -> None:
        fired.append(timer.id)

    scheduler = Scheduler(store, clock, instance="replica-a:3000")
    scheduler.on("verify", handler)
    await scheduler.start()
    try:
        timer_id = await scheduler.at("verify", clock.now())
        await _until(lambda: store.marked == [timer_id])
        await asyncio.sleep(0.6)  # renewals run while the marking's answer is on its way
        store.answer.set()
        await _until(lambda: not scheduler.busy)
        assert (await _row(store, timer_id)).status == "fired"  # type: ignore[arg-type]
    finally:
        await scheduler.close()
        await store.close()
    assert fired == [timer_id]
    assert "taken over" not in caplog.text


async def test_a_handler_that_raises_ends_fired_and_is_not_fired_again(
    stores: tuple[Store, Store], caplog: pytest.LogCaptureFixture
) -> None:
    store, _ = stores
    clock = ScaledClock(200.0, start=START)
    calls: list[int] = []

    async def broken(timer: Timer) -> None:
        calls.append(timer.id)
        raise RuntimeError("the agent is down")

    timer_id = await _fired_then_three_leases(store, clock, "verify", broken, lambda: bool(calls))
    assert calls == [timer_id]
    row = await _row(store, timer_id)
    assert row.status == "fired" and row.fired_at is not None
    assert any("failed (it is not tried again)" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_a_handler_that_found_the_database_unavailable_is_fired_again_once_its_lease_lapses(
    stores: tuple[Store, Store], caplog: pytest.LogCaptureFixture
) -> None:
    """The database out of reach a moment (a pool that stayed full, a failover) is not the handler's fault: its
    timer is not lost but fired again, by this process or another, once its lease has lapsed."""
    store, _ = stores
    clock = ScaledClock(200.0, start=START)  # a lease (30 s) passes in 0.15 s
    calls: list[datetime] = []
    leases: list[datetime] = []

    async def once_unavailable(timer: Timer) -> None:
        calls.append(clock.now())
        if len(calls) == 1:
            leases.append((await _row(store, timer.id)).lease_until)
            raise StoreUnavailable("the database is unavailable: TimeoutError: QueuePool limit reached")

    timer_id = await _fired_then_three_leases(store, clock, "propose", once_unavailable, lambda: len(calls) == 2)
    # fired again once the lease of its first claim had lapsed (not from the first call: a busy machine puts moments
    # between a claim and its handler's start, which a scaled clock makes seconds)
    assert len(calls) == 2 and calls[1] >= leases[0]
    row = await _row(store, timer_id)
    assert row.status == "fired"
    assert any("is fired again" in r.getMessage() for r in caplog.records)


async def test_a_restarted_instance_fires_its_cut_off_timers_at_once_and_leaves_another_instance_s(
    stores: tuple[Store, Store],
) -> None:
    store, other_store = stores
    clock = ScaledClock(1.0, start=START)  # real time: a lease (30 s) does not lapse during this test
    started: list[tuple[Timer, datetime]] = []
    fired: list[int] = []

    async def done(timer: Timer) -> None:
        fired.append(timer.id)

    before = Scheduler(store, clock, instance="host:3000")
    before.on("verify", _stuck(started, clock))
    elsewhere = Scheduler(other_store, clock, instance="host:3001")
    elsewhere.on("verify", _stuck(started, clock))
    await before.start()
    mine = await before.at("verify", clock.now())
    await _until(lambda: len(started) == 1)
    await before.close()
    await elsewhere.start()
    theirs = await elsewhere.at("verify", clock.now())
    await _until(lambda: len(started) == 2)
    await elsewhere.close()  # it stops too (were it running, it could take the voided timer as well)
    again = Scheduler(store, clock, instance="host:3000")  # the same instance, a new boot
    again.on("verify", done)
    await again.start()
    try:
        await _until(lambda: fired == [mine], within=3)
        await asyncio.sleep(0.3)
    finally:
        await again.close()
    assert fired == [mine]  # the other instance's timer is its own until its lease lapses
    row = await _row(store, theirs)  # type: ignore[arg-type]
    assert row.status == "firing" and row.claimed_by == elsewhere.holder


async def test_a_keyed_timer_is_stored_once(stores: tuple[Store, Store]) -> None:
    store, other_store = stores
    clock = ScaledClock(200.0, start=START)
    fired: list[Timer] = []

    async def check(timer: Timer) -> None:
        fired.append(timer)

    schedulers = [Scheduler(s, clock, instance=f"replica-{n}:3000") for n, s in enumerate((store, other_store))]
    for scheduler in schedulers:
        scheduler.on("verify", check)
    await asyncio.gather(*(s.start() for s in schedulers))
    try:
        due = clock.now() + timedelta(seconds=30)
        ids = [await s.at("verify", due, payload={"check": 2}, key="verify:7:2") for s in schedulers * 2]
        assert ids[0] is not None and ids[1:] == [None, None, None]
        await _until(lambda: bool(fired))
        await asyncio.sleep(0.3)
        assert [t.id for t in fired] == [ids[0]]
        assert await schedulers[1].at("verify", clock.now(), key="verify:7:2") is None  # fired: still stored once
    finally:
        await asyncio.gather(*(s.close() for s in schedulers))


@pytest.mark.parametrize(
    ("crontab", "days"),
    [
        ("0 9 * * 1-5", ["Mon", "Tue", "Wed", "Thu", "Fri"]),  # cron's weekdays, not APScheduler 3's Tue-Sat
        ("0 9 * * 0", ["Sun"]),
        ("0 9 * * 7", ["Sun"]),
        ("0 9 * * 6,0", ["Sun", "Sat"]),  # in the order of a week from Sunday 29 November
        ("0 9 * * fri-sat", ["Fri", "Sat"]),
        ("0 9 * * 5-7", ["Sun", "Fri", "Sat"]),
        ("0 9 * * */2", ["Sun", "Tue", "Thu", "Sat"]),
        ("0 9 * * *", ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]),
    ],
)
def test_a_crontab_names_the_days_cron_names(crontab: str, days: list[str]) -> None:
    from bot.config.crontab import cron_trigger

    trigger = cron_trigger(crontab, "UTC")
    fired, at = [], datetime(2026, 11, 29, tzinfo=UTC)  # a Sunday
    while at < datetime(2026, 12, 6, tzinfo=UTC):
        nxt = trigger.get_next_fire_time(None, at)
        assert nxt is not None
        if nxt >= datetime(2026, 12, 6, tzinfo=UTC):
            break
        fired.append(nxt.strftime("%a"))
        at = nxt + timedelta(seconds=1)
    assert fired == days


def test_a_bad_crontab_is_refused() -> None:
    from bot.config.crontab import cron_trigger

    for bad, said in (("0 9 * *", "five fields"), ("0 9 * * 8", "0-7"), ("0 9 * * 5-1", "backwards")):
        with pytest.raises(ValueError, match=said):
            cron_trigger(bad)
