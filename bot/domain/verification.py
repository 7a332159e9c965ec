"""Verifying that an action worked: its runbook's signal must stay below a threshold for a whole window, checked on
an interval, within a timeout. Pure: the caller asks the agents and brings each reading with the time it was read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.runbooks import Verification
from bot.domain.signals import Signals

__all__ = ["Progress", "Verdict", "check", "reading", "shown_duration", "shown_value"]

SIGNALS = ("error_rate", "latency_p99_ms", "restarts", "connections", "cpu", "memory")


class Verdict(StrEnum):
    WAITING = "waiting"  # not yet: check again after the interval
    HOLDS = "holds"  # below the threshold for the whole window
    FAILED = "failed"  # the window can no longer fit before the timeout


@dataclass(frozen=True)
class Progress:
    started_at: datetime
    good_since: datetime | None = None
    last: float | None = None
    checks: int = 0


def reading(signals: Signals, name: str) -> float | None:
    """The value of one named signal, if an agent reported it."""
    if name not in SIGNALS:
        raise ValueError(f"unknown verification signal {name!r}")
    value = getattr(signals, name)
    return None if value is None else float(value.value)


def check(v: Verification, progress: Progress, value: float | None, now: datetime) -> tuple[Verdict, Progress]:
    """Take one reading (None: nobody could say). A reading at or above the threshold starts the window again."""
    good = value is not None and value < v.below
    good_since = (progress.good_since or now) if good else None
    after = replace(progress, good_since=good_since, last=value, checks=progress.checks + 1)
    window = timedelta(seconds=v.window_s)
    deadline = progress.started_at + timedelta(seconds=v.timeout_s)
    if good_since is not None and now - good_since >= window:
        return Verdict.HOLDS, after
    if (good_since or now) + window > deadline:
        return Verdict.FAILED, after
    return Verdict.WAITING, after


def shown_value(signal: str, value: float | None) -> str:
    """A reading as people read it: `4.2%`, `850 ms`, `3`."""
    if value is None:
        return "unknown (no agent could say)"
    if signal in ("error_rate", "cpu", "connections"):
        return f"{value:.1%}"
    if signal == "latency_p99_ms":
        return f"{value:.0f} ms"
    return f"{value:g}"


def shown_duration(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
