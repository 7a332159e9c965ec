"""Signed PagerDuty v3 webhook deliveries to ``{bot_url}/webhooks/pagerduty`` with PagerDuty's retry rules:
retry on connection errors, timeouts (5 s), 5xx and 429; drop on any other 4xx; at least once."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from sandbox.core import Runtime
from sandbox.signing import DEFAULT_SUBSCRIPTION_ID, pagerduty_headers

__all__ = ["Delivery", "WebhookDeliverer"]

WEBHOOK_PATH = "/webhooks/pagerduty"


@dataclass
class Delivery:
    id: str  # X-Webhook-Id, kept across retries and redeliveries
    event: dict[str, Any]
    body: bytes
    headers: dict[str, str]
    at_monotonic: float
    at: str
    attempts: list[dict[str, Any]] = field(default_factory=list)
    state: str = "pending"  # pending | retrying | delivered | dropped | failed

    @property
    def event_type(self) -> str:
        return str(self.event.get("event_type", ""))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event": self.event,
            "attempts": self.attempts,
            "state": self.state,
            "at": self.at,
            "at_monotonic": self.at_monotonic,
            "headers": self.headers,
        }


class WebhookDeliverer:
    """Deliveries of PagerDuty's shape; a peer that sends other webhooks (OpsGenie's) overrides the path, the
    headers, how a body is wrapped and how its incident is named in the feed."""

    path = WEBHOOK_PATH
    feed_kind = "pagerduty.webhook"

    def __init__(
        self,
        rt: Runtime,
        secrets: list[str],
        retry_delays: list[float],
        *,
        timeout: float = 5.0,
        subscription_id: str = DEFAULT_SUBSCRIPTION_ID,
    ) -> None:
        self.rt = rt
        self.secrets = list(secrets)
        self.retry_delays = list(retry_delays)
        self.timeout = timeout
        self.subscription_id = subscription_id
        self.deliveries: dict[str, Delivery] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._paused = False
        self._held: list[Delivery] = []
        self._idle: asyncio.Event | None = None

    # ---- creating deliveries ---------------------------------------------------------------------
    def enqueue(self, event: dict[str, Any]) -> Delivery:
        return self.deliver_raw({"event": event})

    def deliver_raw(self, body: dict[str, Any], webhook_id: str | None = None) -> Delivery:
        """Deliver any body; a bare event dict (no ``event`` key) is wrapped as ``{"event": ...}``."""
        body = self._wrap(body)
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        wid = webhook_id or str(uuid.uuid4())
        headers = self._headers(raw, wid)
        mono, at = self.rt.stamp()
        d = Delivery(id=wid, event=self._event(body), body=raw, headers=headers, at_monotonic=mono, at=at)
        self.deliveries[wid] = d
        if self._paused:
            self._held.append(d)
        else:
            self._start(d)
        return d

    def _wrap(self, body: dict[str, Any]) -> dict[str, Any]:
        return body if "event" in body else {"event": body}

    def _event(self, body: dict[str, Any]) -> dict[str, Any]:
        return body["event"] if isinstance(body.get("event"), dict) else {}

    def _headers(self, raw: bytes, webhook_id: str) -> dict[str, str]:
        return pagerduty_headers(self.secrets, raw, webhook_id, self.subscription_id)

    def _incident_of(self, d: Delivery) -> Any:
        data = d.event.get("data")
        if not isinstance(data, dict):
            return None
        ref = data.get("incident")
        return data.get("id") if data.get("type") == "incident" else (ref.get("id") if isinstance(ref, dict) else None)

    def _start(self, d: Delivery) -> None:
        task = asyncio.get_running_loop().create_task(self._run(d))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not self._tasks and self._idle is not None:
            self._idle.set()

    # ---- pause / resume / drain ------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        held, self._held = self._held, []
        for d in held:
            self._start(d)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait until no delivery or retry is in flight (held deliveries while paused do not count)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._tasks:
            self._idle = asyncio.Event()
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                await asyncio.wait_for(self._idle.wait(), remaining)
            except TimeoutError:
                raise TimeoutError(f"{len(self._tasks)} webhook deliveries still in flight") from None

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---- sending ---------------------------------------------------------------------------------
    async def _run(self, d: Delivery) -> None:
        delays = [0.0, *self.retry_delays]
        for n, delay in enumerate(delays):
            if delay:
                d.state = "retrying"
                await asyncio.sleep(delay)
            status, _ = await self._attempt(d, retry=n)
            if status is not None and 200 <= status < 300:
                d.state = "delivered"
                return
            if status is not None and 400 <= status < 500 and status != 429:
                d.state = "dropped"
                return
            d.state = "retrying" if n + 1 < len(delays) else "failed"
        d.state = "failed"

    async def _attempt(self, d: Delivery, *, retry: int, redelivery: bool = False) -> tuple[int | None, str | None]:
        url = self.rt.bot_endpoint(self.path)
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        if url is None:
            error = "bot_url not set"
        else:
            try:
                async with self.rt.session.post(
                    url, data=d.body, headers=d.headers, timeout=aiohttp.ClientTimeout(total=self.timeout)
                ) as resp:
                    await resp.read()
                    status = resp.status
            except TimeoutError:
                error = "timeout"
            except aiohttp.ClientError as e:
                error = f"{type(e).__name__}: {e}"
        elapsed = (time.monotonic() - started) * 1000
        attempt = {
            "status": status,
            "error": error,
            "at_monotonic": started,
            "at": self.rt.now().isoformat(),
            "elapsed_ms": elapsed,
            "retry": retry,
            "redelivery": redelivery,
        }
        d.attempts.append(attempt)
        self.rt.feed.emit(
            self.feed_kind,
            delivery_id=d.id,
            event_type=d.event_type,
            incident_id=self._incident_of(d),
            status=status,
            error=error,
            attempt=len(d.attempts),
            redelivery=redelivery,
            elapsed_ms=elapsed,
        )
        return status, error

    async def redeliver(self, delivery_id: str, times: int = 1, concurrently: bool = True) -> list[dict[str, Any]]:
        """Re-POST the same body and headers (same X-Webhook-Id) ``times`` times, once each, no retries."""
        d = self.deliveries.get(delivery_id)
        if d is None:
            raise KeyError(f"unknown delivery {delivery_id!r}")
        if concurrently:
            results = await asyncio.gather(*(self._attempt(d, retry=0, redelivery=True) for _ in range(times)))
        else:
            results = [await self._attempt(d, retry=0, redelivery=True) for _ in range(times)]
        return [{"status": s, "error": e} for s, e in results]
