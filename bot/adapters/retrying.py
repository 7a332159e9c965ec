"""One HTTP request to a peer's JSON API, asked again while the peer turns it away: what the PagerDuty, OpsGenie
and Statuspage adapters share. Each says which answers mean "not done, ask again" and whether a request that could not
be sent (or whose answer was lost) may be sent again; each turns what comes back, or the failure, into its own error.

Between tries it waits the seconds the peer says (`Retry-After`, or the header the adapter names: PagerDuty's
`ratelimit-reset`; at most 30), else a doubling delay from a quarter of a second, at most 5 seconds."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

__all__ = ["Answer", "OwnSession", "backoff", "request_json"]

log = logging.getLogger(__name__)


class OwnSession:
    """An adapter's own HTTP session: made at first use (and again after it was closed), with the adapter's
    timeout, headers and auth (and, where given, the proxy its requests go through and the TLS context that checks
    the peer); closed with the adapter."""

    def __init__(
        self,
        timeout_s: float,
        headers: dict[str, str] | None = None,
        auth: aiohttp.BasicAuth | None = None,
        *,
        proxy: str | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.headers = headers or {}
        self.auth = auth
        self.proxy = proxy
        self.tls = tls
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                headers=self.headers,
                auth=self.auth,
                proxy=self.proxy,
                connector=aiohttp.TCPConnector(ssl=self.tls) if self.tls is not None else None,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


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
    params: dict[str, str] | Sequence[tuple[str, str]] | None = None,
    body: Any = None,
    wait_header: str = "Retry-After",
) -> Answer:
    """The peer's last answer. An answer whose status is `again` is asked again up to `retries` times, after the
    seconds its `wait_header` says; a request that could not be sent is sent again only when `resend` (else, and
    after the last try, its aiohttp.ClientError or TimeoutError is raised). `params` as a sequence of pairs where a
    name is given more than once (`include[]`)."""
    for attempt in range(retries + 1):
        last = attempt == retries
        try:
            async with session.request(method, url, params=params, json=body) as response:
                status = response.status
                try:
                    data = await response.json(content_type=None)
                except ValueError:
                    data = None
                retry_after = response.headers.get(wait_header, "")
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
