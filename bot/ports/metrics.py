"""The metrics port: what the services count and time, for `/metrics`. Nothing here knows Prometheus; the adapter
is `bot/adapters/prometheus.py`, and `NoMetrics` is for code built without one (tools, tests of one piece)."""

from __future__ import annotations

from typing import Protocol


class Metrics(Protocol):
    def page_received(self, source: str, *, duplicate: bool) -> None:
        """A webhook from the pager was stored (or was a duplicate delivery of one stored before)."""

    def webhook_unavailable(self, source: str) -> None:
        """A webhook was answered 503: the database could not store it just then."""

    def delegate_call(self, agent: str, seconds: float, outcome: str) -> None:
        """One request to an agent over A2A and how it ended (`ok`, or the failure's kind: timeout, unavailable...)."""

    def approval(self, outcome: str) -> None:
        """A click on a proposal: the status it led to (approved, rejected, executed...) or `refused`."""

    def slack_error(self, method: str, error: str) -> None:
        """Slack's Web API answered an error (after any retries)."""

    def slack_retry(self, reason: str) -> None:
        """A Slack call is tried again (`ratelimited`, `connection`)."""


class NoMetrics:
    """Counts nothing."""

    def page_received(self, source: str, *, duplicate: bool) -> None:
        pass

    def webhook_unavailable(self, source: str) -> None:
        pass

    def delegate_call(self, agent: str, seconds: float, outcome: str) -> None:
        pass

    def approval(self, outcome: str) -> None:
        pass

    def slack_error(self, method: str, error: str) -> None:
        pass

    def slack_retry(self, reason: str) -> None:
        pass


NO_METRICS = NoMetrics()
