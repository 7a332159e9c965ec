"""Slack's rate limits met the way Slack asks: after a 429, every call of that method (of that method in that channel,
for chat.postMessage) waits out the `Retry-After` together; then the waiting calls go one at a time, the most severe
incident's first, until a call goes through without a 429 and the method is free again.

A call waits as long as it must, up to `max_wait_s` in all (then it fails `ratelimited`, and whoever made it tries
again later): a storm of pages waits for its channels, it does not give them up after a few tries.

The pace is per process. A slowdown (from the first 429 until no call has waited for `quiet_s`) is reported to an
observer twice, when it begins and when it ends, so that people hear that Slack is slowing the bot down.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from slack_sdk.errors import SlackApiError

from bot.ports.metrics import NO_METRICS, Metrics

__all__ = ["MOST_URGENT", "Pacer", "SlackRateLimited", "Slowdown", "SlowdownObserver", "urgency"]

log = logging.getLogger(__name__)

T = TypeVar("T")

MOST_URGENT = 0  # ahead of every incident (e.g. the notice that Slack is slowing the bot down)
USUAL = 3  # a call made for no incident in particular (or for one whose severity is not at hand): like a P3's
_URGENCY: ContextVar[int] = ContextVar("sre_agent_slack_urgency", default=USUAL)
MAX_RETRY_AFTER_S = 120.0  # a Retry-After beyond this (or none, or garbage) is not believed


@contextlib.contextmanager
def urgency(rank: int) -> Iterator[None]:
    """The Slack calls made inside (and in the tasks started inside) wait their turn with this rank: lower goes first
    (an incident's severity rank, P1 = 1)."""
    token = _URGENCY.set(rank)
    try:
        yield
    finally:
        _URGENCY.reset(token)


@dataclass
class Slowdown:
    """One stretch of time in which Slack answered 429 and calls waited."""

    began: datetime
    waiting: Callable[[], dict[str, int]]  # the calls waiting now, by method
    methods: list[str] = field(default_factory=list)  # the methods Slack limited, in order of their first 429
    waited: int = 0  # calls that had to wait
    longest_s: float = 0.0  # the longest any one waited
    gave_up: int = 0  # calls that waited longer than allowed and failed
    ended: datetime | None = None
    stopped: bool = False  # it ended because the process stopped, not because Slack let up


class SlowdownObserver(Protocol):
    async def began(self, slowdown: Slowdown) -> None: ...

    async def ended(self, slowdown: Slowdown) -> None: ...


class _Lane:
    """The calls of one method (in one channel): free, paused until a time, or letting its waiters go one by one."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.paused_until = 0.0
        self.waiters: list[tuple[int, int, asyncio.Future[None]]] = []  # heap of (urgency, arrival, turn)
        self.turn_taken = False  # a waiter was let go and its call is not back yet
        self.wake: asyncio.TimerHandle | None = None

    def free(self, now: float) -> bool:
        return now >= self.paused_until and not self.waiters and not self.turn_taken


class Pacer:
    def __init__(
        self,
        *,
        max_wait_s: float = 900.0,
        quiet_s: float = 15.0,
        observer: SlowdownObserver | None = None,
        metrics: Metrics = NO_METRICS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metrics = metrics
        self.max_wait_s = max_wait_s
        self.quiet_s = quiet_s
        self.observer = observer
        self._clock = clock
        self._lanes: dict[str, _Lane] = {}
        self._arrivals = itertools.count()
        self._slowdown: Slowdown | None = None
        self._last_wait = 0.0  # when a call last had to wait (or was answered 429)
        self._end_check: asyncio.TimerHandle | None = None
        self._telling: set[asyncio.Task[None]] = set()

    @property
    def slowdown(self) -> Slowdown | None:
        """The slowdown going on, if any."""
        return self._slowdown

    def waiting(self) -> dict[str, int]:
        """The calls waiting their turn now, by method."""
        counts: dict[str, int] = {}
        for lane in self._lanes.values():
            if lane.waiters:
                counts[lane.method] = counts.get(lane.method, 0) + len(lane.waiters)
        return counts

    async def call(self, lane_key: str, method: str, send: Callable[[], Awaitable[T]]) -> T:
        """`send()` (one Slack call of `method`) at its turn in `lane_key`'s lane; sent again after each 429's
        Retry-After while the time allowed lasts, then the 429's SlackApiError (or SlackRateLimited) is raised.
        While no call of the lane has been answered 429 it is sent at once: no lane is kept for it."""
        rank = _URGENCY.get()
        arrival = next(self._arrivals)
        started = self._clock()
        deadline = started + self.max_wait_s
        waited = False
        while True:
            held: _Lane | None = None
            lane = self._lanes.get(lane_key)
            if lane is not None and not lane.free(self._clock()):
                if not waited:
                    waited = True
                    self._counted_wait()
                await self._turn(lane, rank, arrival, deadline, method)
                held = lane
            try:
                return await send()
            except SlackApiError as exc:
                if exc.response is None or exc.response.status_code != 429:
                    raise
                now = self._clock()
                pause = _retry_after(exc)
                lane = self._lanes.setdefault(lane_key, _Lane(method))
                lane.paused_until = max(lane.paused_until, now + pause)
                self._limited(method)
                if not waited:
                    waited = True
                    self._counted_wait()
                if now + pause > deadline:
                    self._gave_up()
                    log.warning("Slack kept %s rate-limited beyond %g s; giving a call up", method, self.max_wait_s)
                    raise
                self.metrics.slack_retry("ratelimited")
            finally:
                if held is not None:
                    held.turn_taken = False
                    self._next(held)
                if waited and self._slowdown is not None:
                    self._slowdown.longest_s = max(self._slowdown.longest_s, self._clock() - started)

    async def _turn(self, lane: _Lane, rank: int, arrival: int, deadline: float, method: str) -> None:
        """Wait in `lane` until this call is let go (it then holds the lane's turn)."""
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(lane.waiters, (rank, arrival, turn))
        self._next(lane)
        try:
            await asyncio.wait_for(asyncio.shield(turn), timeout=max(0.0, deadline - self._clock()))
        except TimeoutError:
            self._leave(lane, turn)
            self._gave_up()
            log.warning("a call of %s waited %g s for Slack's rate limit; giving it up", method, self.max_wait_s)
            raise SlackRateLimited(method) from None
        except BaseException:
            self._leave(lane, turn)
            raise

    def _leave(self, lane: _Lane, turn: asyncio.Future[None]) -> None:
        """A waiter gives up: out of the queue, and if it had just been let go, the turn passes on."""
        if turn.done() and not turn.cancelled():
            lane.turn_taken = False
        else:
            turn.cancel()
            lane.waiters = [w for w in lane.waiters if w[2] is not turn]
            heapq.heapify(lane.waiters)
        self._next(lane)

    def _next(self, lane: _Lane) -> None:
        """Let the first waiter go if the lane is not paused and no one holds its turn; else wake at the pause's end."""
        if lane.turn_taken or not lane.waiters:
            if not lane.waiters and not lane.turn_taken:
                self._maybe_quiet()
            return
        now = self._clock()
        if now < lane.paused_until:
            if lane.wake is None or lane.wake.cancelled():
                lane.wake = asyncio.get_running_loop().call_later(lane.paused_until - now, self._woken, lane)
            return
        while lane.waiters:
            _, _, turn = heapq.heappop(lane.waiters)
            if not turn.done():
                lane.turn_taken = True
                turn.set_result(None)
                return

    def _woken(self, lane: _Lane) -> None:
        lane.wake = None
        self._next(lane)

    def _counted_wait(self) -> None:
        self._last_wait = self._clock()
        if self._slowdown is not None:
            self._slowdown.waited += 1

    def _gave_up(self) -> None:
        if self._slowdown is not None:
            self._slowdown.gave_up += 1

    def _limited(self, method: str) -> None:
        """Slack answered a call of `method` 429: a slowdown begins (or goes on)."""
        self._last_wait = self._clock()
        if self._slowdown is None:
            self._slowdown = Slowdown(began=datetime.now(UTC), waiting=self.waiting)
            log.warning("Slack is rate-limiting this bot (%s): calls wait their turn, the most severe first", method)
            if self.observer is not None:
                self._tell(self.observer.began(self._slowdown))
        if method not in self._slowdown.methods:
            self._slowdown.methods.append(method)
        self._maybe_quiet()

    def _maybe_quiet(self) -> None:
        """Once every lane is free and no call has waited for `quiet_s`, the slowdown is over."""
        if self._slowdown is None or (self._end_check is not None and not self._end_check.cancelled()):
            return
        self._end_check = asyncio.get_running_loop().call_later(self.quiet_s, self._check_quiet)

    def _check_quiet(self) -> None:
        self._end_check = None
        slowdown = self._slowdown
        if slowdown is None:
            return
        now = self._clock()
        if now - self._last_wait < self.quiet_s or not all(lane.free(now) for lane in self._lanes.values()):
            self._end_check = asyncio.get_running_loop().call_later(
                max(0.05, self._last_wait + self.quiet_s - now), self._check_quiet
            )
            return
        self._slowdown = None
        slowdown.ended = datetime.now(UTC)
        self._lanes.clear()  # every lane is free: calls go straight through again
        log.warning(
            "Slack no longer rate-limits this bot: %s calls waited, the longest %.1f s",
            slowdown.waited,
            slowdown.longest_s,
        )
        if self.observer is not None:
            self._tell(self.observer.ended(slowdown))

    def _tell(self, telling: Awaitable[None]) -> None:
        async def tell() -> None:
            with urgency(MOST_URGENT):
                try:
                    await telling
                except Exception:  # the notice is a courtesy; the calls go on without it
                    log.exception("could not tell about Slack's rate limits")

        task = asyncio.get_running_loop().create_task(tell(), name="slack-slowdown-notice")
        self._telling.add(task)
        task.add_done_callback(self._telling.discard)

    async def close(self) -> None:
        """Stop pacing; a slowdown still going on ends here, told as cut short by the stop (not as Slack letting
        up), so that no notice is left saying calls wait."""
        for handle in (self._end_check, *(lane.wake for lane in self._lanes.values())):
            if handle is not None:
                handle.cancel()
        slowdown, self._slowdown = self._slowdown, None
        if slowdown is not None:
            slowdown.ended = datetime.now(UTC)
            slowdown.stopped = True
            if self.observer is not None:
                self._tell(self.observer.ended(slowdown))
        if self._telling:
            await asyncio.wait(self._telling, timeout=5)


class SlackRateLimited(Exception):
    """A call waited its whole allowance for its turn under Slack's rate limit."""

    def __init__(self, method: str) -> None:
        super().__init__(f"{method}: ratelimited (waited too long for a turn)")
        self.method = method


def _retry_after(exc: SlackApiError) -> float:
    """The 429's Retry-After in seconds (1 when it has none or one that cannot be believed)."""
    headers = exc.response.headers if exc.response is not None else {}
    value = None
    for name, given in (headers or {}).items():
        if str(name).lower() == "retry-after":
            value = given[0] if isinstance(given, list) and given else given
    try:
        seconds = float(str(value))
    except ValueError:
        return 1.0
    return seconds if 0 < seconds <= MAX_RETRY_AFTER_S else 1.0
