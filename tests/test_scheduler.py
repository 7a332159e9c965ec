"""The scheduler: durable timers by kind, each fired once; recurring kinds at their crontab's times, once across
processes that share the database."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.ports.clock import ScaledClock
from bot.runtime.scheduler import Scheduler
from bot.store import Store
from bot.store.store import Timer

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


async def test_a_timer_fires_once_by_its_kind_and_an_unknown_kind_is_dropped(
    stores: tuple[Store, Store], caplog: pytest.LogCaptureFixture
) -> None:
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
        scheduler.wake()
        await _until(lambda: len(fired) == 1)
        await asyncio.sleep(0.3)
        assert [t.payload for t in fired] == [{"n": 1}]
        assert fired[0].due_at <= clock.now()
        assert any("of unknown kind 'nobody-knows' dropped" in r.getMessage() for r in caplog.records)
    finally:
        await scheduler.close()
    again = Scheduler(store, clock)  # a restart: what fired does not fire again
    again.on("ping", handler)
    await again.start()
    await asyncio.sleep(0.3)
    await again.close()
    assert len(fired) == 1


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
