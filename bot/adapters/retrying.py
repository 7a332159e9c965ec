"""One HTTP request to a peer's JSON API, asked again while the peer turns it away: what the OpsGenie and
Statuspage adapters share. Each says which answers mean "not done, ask again" and whether a request that could not
be sent (or whose answer was lost) may be sent again; each turns what comes back, or the failure, into its own error.

Between tries it waits the peer's `Retry-After` (in seconds, at most 30), else a doubling delay from a quarter of a
second, at most 5 seconds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

__all__ = ["Answer", "backoff", "request_json"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    status: int
    data: Any  # the JSON body, None when it is not JSON


def backoff(attempt: int, retry_after: str = "") -> float:
    if retry_after.isdigit():
        return min(float(retry_after), 30.0)
    return min(0.25 * 2.0**attempt, 5.0)


async def request_json(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    retries: int,
    again: Callable[[int], bool],
    resend: bool,
    params: dict[str, str] | None = None,
    body: Any = None,
) -> Answer:
    """The peer's last answer. An answer whose status is `again` is asked again up to `retries` times; a request that
    could not be sent is sent again only when `resend` (else, and after the last try, its aiohttp.ClientError or
    TimeoutError is raised)."""
    for attempt in range(retries + 1):
        last = attempt == retries
        try:
            async with session.request(method, url, params=params, json=body) as response:
                status = response.status
                try:
                    data = await response.json(content_type=None)
                except ValueError:
                    data = None
                retry_after = response.headers.get("Retry-After", "")
        except (aiohttp.ClientError, TimeoutError):
            if last or not resend:
                raise
            await asyncio.sleep(backoff(attempt))
            continue
        if again(status) and not last:
            log.info("%s %s answered %s; trying again", method, url.split("?", 1)[0], status)
            await asyncio.sleep(backoff(attempt, retry_after))
            continue
        return Answer(status, data)
    raise AssertionError("unreachable")  # pragma: no cover
