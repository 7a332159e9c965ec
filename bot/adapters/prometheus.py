"""The metrics port in Prometheus's text format (`GET /metrics`). Each app has its own registry, so that several
apps in one process (tests) count apart. Counters count what this process saw; the gauges that describe the whole
system (incidents by phase, the queue of inbound events, due timers) are read from the database at each scrape, so
every replica tells the same."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "Prometheus"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
_PREFIX = "sre_agent"
# a question takes a second or a few; a change that rolls pods out, minutes
_DELEGATE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class Prometheus:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._pages = Counter(
            f"{_PREFIX}_pages_received",
            "Pager webhooks stored (duplicate deliveries apart)",
            ["source", "duplicate"],
            registry=r,
        )
        self._unavailable = Counter(
            f"{_PREFIX}_webhooks_unavailable",
            "Webhooks answered 503 because the database could not store them",
            ["source"],
            registry=r,
        )
        self._delegate = Histogram(
            f"{_PREFIX}_delegate_seconds",
            "Requests to agents over A2A, by agent and outcome",
            ["agent", "outcome"],
            buckets=_DELEGATE_BUCKETS,
            registry=r,
        )
        self._delegate_failures = Counter(
            f"{_PREFIX}_delegate_failures",
            "Requests to agents that failed, by agent and kind",
            ["agent", "kind"],
            registry=r,
        )
        self._approvals = Counter(
            f"{_PREFIX}_approval_clicks",
            "Clicks on proposals, by what they led to (refused: did not count)",
            ["outcome"],
            registry=r,
        )
        self._slack_errors = Counter(
            f"{_PREFIX}_slack_api_errors", "Slack Web API errors, by method and error", ["method", "error"], registry=r
        )
        self._slack_retries = Counter(
            f"{_PREFIX}_slack_api_retries", "Slack Web API calls tried again, by reason", ["reason"], registry=r
        )
        self._phases = Gauge(f"{_PREFIX}_incidents", "Incidents by phase (from the database)", ["phase"], registry=r)
        self._inbound = Gauge(
            f"{_PREFIX}_inbound_events",
            "Inbound events by status (from the database); pending and processing are the queue not yet handled",
            ["status"],
            registry=r,
        )
        self._queue = Gauge(
            f"{_PREFIX}_inbound_queue_depth",
            "Inbound events stored and not yet handled (from the database)",
            registry=r,
        )
        self._timers = Gauge(f"{_PREFIX}_timers_due", "Timers due and not fired yet (from the database)", registry=r)

    # ---- the port ----------------------------------------------------------------------------------------------
    def page_received(self, source: str, *, duplicate: bool) -> None:
        self._pages.labels(source, "true" if duplicate else "false").inc()

    def webhook_unavailable(self, source: str) -> None:
        self._unavailable.labels(source).inc()

    def delegate_call(self, agent: str, seconds: float, outcome: str) -> None:
        self._delegate.labels(agent, outcome).observe(seconds)
        if outcome != "ok":
            self._delegate_failures.labels(agent, outcome).inc()

    def approval(self, outcome: str) -> None:
        self._approvals.labels(outcome).inc()

    def slack_error(self, method: str, error: str) -> None:
        self._slack_errors.labels(method, error).inc()

    def slack_retry(self, reason: str) -> None:
        self._slack_retries.labels(reason).inc()

    # ---- a scrape ----------------------------------------------------------------------------------------------
    def exposition(
        self, *, phases: Mapping[str, int], inbound: Mapping[str, int], queue: int, timers_due: int
    ) -> bytes:
        """The text format, with the database's figures as read for this scrape."""
        self._phases.clear()
        for phase, count in phases.items():
            self._phases.labels(phase).set(count)
        self._inbound.clear()
        for status, count in inbound.items():
            self._inbound.labels(status).set(count)
        self._queue.set(queue)
        self._timers.set(timers_due)
        return generate_latest(self.registry)
