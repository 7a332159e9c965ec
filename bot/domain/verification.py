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
    UNKNOWN = "unknown"  # the time is up and no agent could report the signal once: people decide


@dataclass(frozen=True)
class Progress:
    started_at: datetime
    good_since: datetime | None = None
    last: float | None = None
    checks: int = 0
    known: int = 0  # checks at which every signal could be read


def reading(signals: Signals, name: str) -> float | None:
    """The value of one named signal, if an agent reported it."""
    if name not in SIGNALS:
        raise ValueError(f"unknown verification signal {name!r}")
    value = getattr(signals, name)
    return None if value is None else float(value.value)


def check(
    v: Verification, progress: Progress, value: float | None, now: datetime, *, also: tuple[float | None, ...] = ()
) -> tuple[Verdict, Progress]:
    """Take one reading of the signal (None: nobody could say) and of the others it is verified with (`also`, in the
    order of `v.also`). A reading at or above a threshold starts the window again. A time that runs out without one
    complete reading is unknown, not a failed fix."""
    complete = value is not None and all(a is not None for a in also)
    good = (
        value is not None
        and value < v.below
        and all(a is not None and a < below for a, (_, below) in zip(also, v.also, strict=False))
    )
    good_since = (progress.good_since or now) if good else None
    after = replace(
        progress, good_since=good_since, last=value, checks=progress.checks + 1, known=progress.known + complete
    )
    window = timedelta(seconds=v.window_s)
    deadline = progress.started_at + timedelta(seconds=v.timeout_s)
    if good_since is not None and now - good_since >= window:
        return Verdict.HOLDS, after
    if (good_since or now) + window > deadline:
        return (Verdict.FAILED if after.known else Verdict.UNKNOWN), after
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
