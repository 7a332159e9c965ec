"""Maintenance windows: planned time when a service is expected to fail. Inside one, no SLO alert fires for it; the
error budget spent inside one is counted apart (it still counts: users saw it), so a team sees what its planned work
cost. A window is one-off (from, until) or recurring (a start time computed by the caller from a crontab, and a
length)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Maintenance", "covering"]


@dataclass(frozen=True)
class Maintenance:
    name: str
    start: datetime
    end: datetime
    services: tuple[str, ...] = ()  # none: every service
    reason: str = ""

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"maintenance window {self.name!r} ends before it starts")

    def covers(self, service: str, at: datetime) -> bool:
        return (not self.services or service in self.services) and self.start <= at < self.end

    @property
    def length(self) -> timedelta:
        return self.end - self.start


def covering(windows: Sequence[Maintenance], service: str, at: datetime) -> Maintenance | None:
    """The window `service` is in at `at`, if any (the one that ends last)."""
    found = [w for w in windows if w.covers(service, at)]
    return max(found, key=lambda w: w.end) if found else None
