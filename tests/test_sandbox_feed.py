"""The sandbox's feed: a wait returns the next entries as they come, and a waiter cancelled at any moment ends at
once. (The demo cancels its tail when a play ends. The feed used to wait on an asyncio.Condition through wait_for,
and on Python 3.11 a cancellation at the wrong moment once left the tail re-acquiring the condition's lock for good:
CI hung in a play. That race could not be reproduced on demand; these tests hold the behaviour the new wait keeps.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sandbox.core import Feed


def _feed() -> Feed:
    return Feed(lambda: datetime.now(UTC))


async def test_a_wait_returns_what_came_after_and_times_out_empty() -> None:
    feed = _feed()
    feed.emit("a")
    assert [e["seq"] for e in await feed.wait(0, 1)] == [1]
    assert await feed.wait(1, 0.05) == []
    waiting = asyncio.create_task(feed.wait(1, 5))
    await asyncio.sleep(0.01)
    feed.emit("b", x=1)
    [entry] = await asyncio.wait_for(waiting, 1)
    assert entry["kind"] == "b" and entry["x"] == 1


async def test_waiters_cancelled_while_entries_arrive_all_end_at_once() -> None:
    feed = _feed()
    for round_ in range(200):
        waiters = [asyncio.create_task(feed.wait(len(feed.entries), 0.1)) for _ in range(5)]
        await asyncio.sleep(0)
        feed.emit("tick", round=round_)  # wakes them ...
        for task in waiters[::2]:
            task.cancel()  # ... while some are cancelled
        _done, pending = await asyncio.wait(waiters, timeout=2)
        assert not pending, f"round {round_}: {len(pending)} waiters did not end"
    assert not feed._wakers  # nothing left behind
