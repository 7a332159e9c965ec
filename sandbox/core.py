"""Shared plumbing for the peers: the clock, the change feed and the outbound HTTP session."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp

__all__ = ["Feed", "Runtime", "iso_ms", "iso_s", "utc_now"]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_ms(dt: datetime) -> str:
    """``2026-11-20T03:02:12.104Z`` (PagerDuty webhook ``occurred_at``)."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def iso_s(dt: datetime) -> str:
    """``2026-11-20T03:02:11Z`` (PagerDuty ``created_at``)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Feed:
    """Append-only list of change entries with a wake-up for waiters.

    ``entries[i]["seq"] == i + 1``; ``wait(after_seq, timeout)`` returns the entries with a larger seq, waiting up to
    ``timeout`` seconds for at least one.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.entries: list[dict[str, Any]] = []
        self._wakers: set[asyncio.Future[None]] = set()  # one for each wait in progress

    def emit(self, kind: str, /, **details: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "seq": len(self.entries) + 1,
            "at": self._clock().isoformat(),
            "at_monotonic": time.monotonic(),
            "kind": kind,
        }
        entry.update(details)
        self.entries.append(entry)
        for waker in self._wakers:
            if not waker.done():
                waker.set_result(None)
        return entry

    def after(self, after_seq: int) -> list[dict[str, Any]]:
        return self.entries[max(after_seq, 0) :]

    async def wait(self, after_seq: int, timeout: float) -> list[dict[str, Any]]:  # noqa: ASYNC109
        """Entries after `after_seq`, waiting up to `timeout` s for one. Each wait has a future of its own that the
        next entry completes: no lock, so a waiter cancelled at any moment (a tail that stops) ends at once (an
        asyncio.Condition waited on through wait_for could be left re-acquiring its lock for good)."""
        deadline = time.monotonic() + timeout
        while not (new := self.after(after_seq)):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            waker: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._wakers.add(waker)
            try:
                await asyncio.wait([waker], timeout=remaining)
            finally:
                self._wakers.discard(waker)
        return new


class Runtime:
    """What the peers share: clock, feed, the sandbox's own URL, where the bot is, and one HTTP client session."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or utc_now
        self.feed = Feed(self.clock)
        self.url: str = ""
        self.bot_url: str | None = None
        self._session: aiohttp.ClientSession | None = None

    def now(self) -> datetime:
        return self.clock()

    def stamp(self) -> tuple[float, str]:
        """(monotonic seconds, clock() iso) for a recorded thing."""
        return time.monotonic(), self.clock().isoformat()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, force_close=False),
                auto_decompress=True,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def bot_endpoint(self, path: str) -> str | None:
        if not self.bot_url:
            return None
        return self.bot_url.rstrip("/") + path
