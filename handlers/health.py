"""The operational routes:
- GET /healthz: the process is up and its store answers; how many inbound events were given up on.
- GET /readyz: this replica can take traffic: the database answers and Slack takes the token (asked at most every
  READY_CACHE_S, so a probe every second costs Slack one call in ten). 503, naming what is not ready, otherwise.
- GET /metrics: Prometheus's text format (bot/adapters/prometheus.py); the system-wide figures read from the
  database at each scrape.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot import __version__
from bot.adapters.prometheus import CONTENT_TYPE
from bot.errors import SreAgentError, StoreUnavailable
from bot.services import SERVICES
from bot.store.store import FAILED, PENDING, PROCESSING

# what says the store did not answer: the store's own word for it, and what a query may still raise past it
_STORE_DOWN = (StoreUnavailable, SQLAlchemyError, OSError)
READY_CACHE_S = 10.0
CHECK_TIMEOUT_S = 3.0


@dataclass
class SlackSeen:
    """When Slack was last asked, and what was wrong then (None: nothing)."""

    at: float = float("-inf")
    problem: str | None = None


SLACK_SEEN = web.AppKey("slack_seen", SlackSeen)  # set when the app is built, updated by /readyz


async def healthz(request: web.Request) -> web.Response:
    try:
        counts = await asyncio.wait_for(request.app[SERVICES].store.inbound_counts(), CHECK_TIMEOUT_S)
    except (TimeoutError, *_STORE_DOWN) as exc:
        return web.json_response({"ok": False, "store": _why(exc)}, status=503)
    # a failed event is one a person was told of in the incidents channel; the process itself is fine
    return web.json_response(
        {"ok": True, "store": "ok", "version": __version__, "inbound_failed": counts.get(FAILED, 0)}
    )


async def readyz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    store_problem: str | None = None
    try:
        await asyncio.wait_for(services.store.inbound_counts(), CHECK_TIMEOUT_S)
    except (TimeoutError, *_STORE_DOWN) as exc:
        store_problem = _why(exc)
    slack_problem = await _slack(request)
    ready = store_problem is None and slack_problem is None
    return web.json_response(
        {"ready": ready, "store": store_problem or "ok", "slack": slack_problem or "ok"}, status=200 if ready else 503
    )


async def _slack(request: web.Request) -> str | None:
    seen = request.app[SLACK_SEEN]
    if time.monotonic() - seen.at < READY_CACHE_S:
        return seen.problem
    problem: str | None = None
    try:
        await asyncio.wait_for(request.app[SERVICES].slack.reachable(), CHECK_TIMEOUT_S)
    except (TimeoutError, SreAgentError, OSError) as exc:
        problem = _why(exc)
    seen.at, seen.problem = time.monotonic(), problem
    return problem


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {CHECK_TIMEOUT_S:g} s"
    return str(exc) if isinstance(exc, SreAgentError) else type(exc).__name__


async def metrics_text(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        phases = await services.store.incident_counts()
        inbound = await services.store.inbound_counts()
        timers_due = await services.store.due_timer_count(services.clock.now())
    except _STORE_DOWN as exc:
        return web.Response(status=503, text=f"# the database is unavailable: {_why(exc)}\n")
    body = services.metrics.exposition(
        phases=phases,
        inbound=inbound,
        queue=inbound.get(PENDING, 0) + inbound.get(PROCESSING, 0),
        timers_due=timers_due,
    )
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
