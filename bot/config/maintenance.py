"""Reading maintenance windows (SRE_SLO_MAINTENANCE_PATH, YAML). One-off windows give `start` and `end`; recurring
ones a crontab (`every`), a time zone and a length (`for`). A bad file stops the start with one line naming the file,
the place in it and the problem.

    version: 1
    windows:
      - name: db-upgrade
        services: [payments-api]          # none: every service
        start: 2026-12-05T02:00:00Z
        end: 2026-12-05T04:00:00Z
        reason: Database upgrade
      - name: weekly-deploy
        every: "0 2 * * 6"
        timezone: Europe/Berlin
        for: 1h
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.config.crontab import cron_trigger
from bot.config.files import describe, read_yaml, shown, time_zone
from bot.config.runbooks import parse_duration_s
from bot.domain.maintenance import Maintenance
from bot.errors import ConfigError

__all__ = ["MaintenancePlan", "load_maintenance", "parse_maintenance"]


class _Window(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(min_length=1, max_length=100)
    services: list[str] = Field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    every: str | None = None
    timezone: str = "UTC"
    length: str | float | None = Field(None, alias="for")
    reason: str = Field("", max_length=500)

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give the time zone, e.g. 2026-12-05T02:00:00Z")
        if value is not None:
            try:
                value.astimezone(UTC)
            except OverflowError:  # 9999-12-31T23:00:00-05:00 is in the year 10000 in UTC
                raise ValueError("expected a time within the years 1 to 9999 in UTC") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return time_zone(value)

    @field_validator("length", mode="before")
    @classmethod
    def _no_yes_or_no(cls, value: Any) -> Any:
        if isinstance(value, bool):  # `for: yes` is YAML's true, which pydantic would read as 1 s
            raise ValueError("expected a length such as 1h or 30m")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> _Window:
        one_off = self.start is not None or self.end is not None
        if one_off == (self.every is not None):
            raise ValueError("a window has start and end, or every (a crontab) and for (a length), not both")
        if one_off and (self.start is None or self.end is None or self.end <= self.start):
            raise ValueError("a one-off window needs start and end, the end after the start")
        if self.every is not None:
            if self.length is None:
                raise ValueError("a recurring window needs for (its length, e.g. 1h)")
            try:
                cron_trigger(self.every, ZoneInfo(self.timezone))
            except ValueError as exc:
                raise ValueError(f"every: expected a crontab such as '0 2 * * 6': {exc}") from None
            try:
                seconds = parse_duration_s(self.length)
            except ValueError as exc:
                raise ValueError(f"for: {exc}") from None
            if seconds < 1:  # a window of no time at all (timedelta counts microseconds)
                raise ValueError(f"for: expected a length of at least 1 s, got {shown(self.length)}")
        return self


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    windows: list[_Window] = Field(default_factory=list)


@dataclass(frozen=True)
class _Recurring:
    name: str
    trigger: CronTrigger
    length: timedelta
    services: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class MaintenancePlan:
    """The windows of the file: `between` lays the recurring ones out as one-off windows."""

    one_off: tuple[Maintenance, ...] = ()
    recurring: tuple[_Recurring, ...] = ()

    def between(self, since: datetime, until: datetime) -> list[Maintenance]:
        """Every window that overlaps [since, until]."""
        out = [w for w in self.one_off if w.end > since and w.start < until]
        for r in self.recurring:
            at = r.trigger.get_next_fire_time(None, since - r.length)
            while at is not None and at < until:
                start = at.astimezone(UTC)
                out.append(Maintenance(r.name, start, start + r.length, r.services, r.reason))
                at = r.trigger.get_next_fire_time(at, at + timedelta(seconds=1))
        return sorted(out, key=lambda w: w.start)

    def at(self, when: datetime) -> list[Maintenance]:
        """The windows open at `when`."""
        return [w for w in self.between(when, when + timedelta(microseconds=1)) if w.start <= when < w.end]


def parse_maintenance(data: Any, origin: str) -> MaintenancePlan:
    try:
        parsed = _File.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(describe(exc, origin, data=data)) from None
    one_off, recurring = [], []
    for w in parsed.windows:
        services = tuple(w.services)
        if w.every is None:
            assert w.start is not None and w.end is not None
            one_off.append(Maintenance(w.name, w.start.astimezone(UTC), w.end.astimezone(UTC), services, w.reason))
        else:
            trigger = cron_trigger(w.every, ZoneInfo(w.timezone))
            length = timedelta(seconds=parse_duration_s(w.length))
            recurring.append(_Recurring(w.name, trigger, length, services, w.reason))
    return MaintenancePlan(tuple(one_off), tuple(recurring))


def load_maintenance(path: Path | None) -> MaintenancePlan:
    if path is None:
        return MaintenancePlan()
    if not path.is_file():
        raise ConfigError(f"SRE_SLO_MAINTENANCE_PATH: no file at {path}")
    return parse_maintenance(read_yaml(path), str(path))
