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
        self._cond: asyncio.Condition | None = None
        self._waiters = 0

    def emit(self, kind: str, /, **details: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "seq": len(self.entries) + 1,
            "at": self._clock().isoformat(),
            "at_monotonic": time.monotonic(),
            "kind": kind,
        }
        entry.update(details)
        self.entries.append(entry)
        if self._waiters and self._cond is not None:
            asyncio.get_running_loop().create_task(self._notify())
        return entry

    async def _notify(self) -> None:
        assert self._cond is not None
        async with self._cond:
            self._cond.notify_all()

    def after(self, after_seq: int) -> list[dict[str, Any]]:
        return self.entries[max(after_seq, 0) :]

    async def wait(self, after_seq: int, timeout: float) -> list[dict[str, Any]]:  # noqa: ASYNC109
        new = self.after(after_seq)
        if new or timeout <= 0:
            return new
        if self._cond is None:
            self._cond = asyncio.Condition()
        deadline = time.monotonic() + timeout
        self._waiters += 1
        try:
            async with self._cond:
                while not (new := self.after(after_seq)):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        await asyncio.wait_for(self._cond.wait(), remaining)
                    except TimeoutError:
                        break
        finally:
            self._waiters -= 1
        return self.after(after_seq)


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
