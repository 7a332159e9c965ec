"""Reading runbooks from a folder of YAML files (the shipped `runbooks/`, or SRE_RUNBOOKS_PATH). A bad file stops the
start with one line naming the file, the place in it and the problem."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

import runbooks as runbooks_package
from bot.config.files import PlainData, describe, read_yaml, shown
from bot.domain.diagnosis import Role
from bot.domain.runbooks import Risk, Runbook, Trigger, Verification
from bot.errors import ConfigError

__all__ = ["SHIPPED", "load_runbooks", "parse_duration_s", "parse_runbook"]

SHIPPED = Path(runbooks_package.__file__).resolve().parent
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$")


_LONGEST_S = 366 * 86400.0  # a year: durations past it are slips (and past timedelta's range, errors later)


def parse_duration_s(value: Any) -> float:
    """Seconds from `30s`, `5m`, `1h` or a number; ValueError for anything else, and for a duration that is negative,
    not finite or longer than a year."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ValueError(f"expected a duration such as 30s, 5m or 1h, got {shown(value)}")
        seconds = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]
    if not 0 <= seconds <= _LONGEST_S:  # NaN too
        raise ValueError(f"expected a duration from 0 s to 366 days, got {shown(value)}")
    return seconds


class _Pods(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: str
    more_than: int = Field(0, ge=0)


class _Trigger(BaseModel):
    model_config = ConfigDict(extra="forbid")
    error_rate_above: float | None = Field(None, gt=0, lt=1)
    pods: _Pods | None = None
    oom: bool = False
    connections_above: float | None = Field(None, gt=0, le=1)
    cpu_above: float | None = Field(None, gt=0, le=1)
    p99_above: str | float | None = None
    p99_above_normal: float | None = Field(None, gt=1)
    after_deploy: bool = False
    full_scan: bool = False
    sustained: str | float = 0

    @model_validator(mode="after")
    def _something(self) -> _Trigger:
        if not (
            self.error_rate_above
            or self.pods
            or self.oom
            or self.connections_above
            or self.cpu_above
            or self.p99_above
            or self.p99_above_normal
            or self.after_deploy
            or self.full_scan
        ):
            raise ValueError("a trigger needs at least one condition")
        return self


_SIGNAL = r"^(error_rate|latency_p99_ms|restarts|connections|cpu)$"
_Finite = Annotated[float, Field(allow_inf_nan=False)]


class _Verification(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signal: str = Field(pattern=_SIGNAL)
    below: _Finite
    also: dict[str, _Finite] = Field(default_factory=dict)  # {signal: below}: they must hold at the same time
    window: str | float = "5m"
    interval: str | float = "30s"
    timeout: str | float = "15m"


class _Runbook(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    title: str
    trigger: _Trigger
    action: str
    kind: str = Field(pattern=r"^[a-z_]+$")
    delegate: Role | None = None
    risk: Risk
    reversible: bool
    expected: str
    parameters: dict[str, PlainData] = Field(default_factory=dict)
    verification: _Verification | None = None
    follow_up: list[str] = Field(default_factory=list)
    manual: bool = False

    @field_validator("verification")
    @classmethod
    def _also(cls, value: _Verification | None) -> _Verification | None:
        for signal in value.also if value else {}:
            if not re.match(_SIGNAL, signal) or signal == (value.signal if value else ""):
                raise ValueError(f"verification.also: {signal!r} is not another signal sre-agent verifies")
        return value

    @field_validator("title", "action", "expected")
    @classmethod
    def _words(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @model_validator(mode="after")
    def _who_does_it(self) -> _Runbook:
        if not self.manual and self.delegate is None:
            raise ValueError("a runbook that is not manual needs a delegate (monitoring, kubernetes or cloud)")
        return self


def parse_runbook(data: Any, origin: str) -> Runbook:
    try:
        rb = _Runbook.model_validate(data or {})
        trigger = Trigger(
            error_rate_above=rb.trigger.error_rate_above,
            pods_in_state=rb.trigger.pods.state if rb.trigger.pods else None,
            pods_more_than=rb.trigger.pods.more_than if rb.trigger.pods else 0,
            oom=rb.trigger.oom,
            connections_above=rb.trigger.connections_above,
            cpu_above=rb.trigger.cpu_above,
            p99_above_ms=parse_duration_s(rb.trigger.p99_above) * 1000 if rb.trigger.p99_above is not None else None,
            p99_above_normal=rb.trigger.p99_above_normal,
            after_deploy=rb.trigger.after_deploy,
            full_scan=rb.trigger.full_scan,
            sustained_s=parse_duration_s(rb.trigger.sustained),
        )
        verification = None
        if rb.verification is not None:
            v = rb.verification
            verification = Verification(
                v.signal,
                v.below,
                parse_duration_s(v.window),
                parse_duration_s(v.interval),
                parse_duration_s(v.timeout),
                tuple(v.also.items()),
            )
            if verification.interval_s <= 0:  # a check at once after each check, until the timeout
                raise ValueError(f"verification.interval: expected a duration above 0 s, got {shown(v.interval)}")
    except ValidationError as exc:
        raise ConfigError(describe(exc, origin, data=data)) from None
    except ValueError as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    return Runbook(
        rb.name,
        rb.title,
        trigger,
        rb.action,
        rb.kind,
        rb.delegate,
        rb.risk,
        rb.reversible,
        rb.expected,
        rb.parameters,
        verification,
        tuple(rb.follow_up),
        rb.manual,
        origin,
    )


def load_runbooks(folder: Path = SHIPPED) -> list[Runbook]:
    """Every `*.yml` in the folder, by file name; runbook names must be unique."""
    if not folder.is_dir():
        raise ConfigError(f"SRE_RUNBOOKS_PATH: no folder at {folder}")
    runbooks = [parse_runbook(read_yaml(path), str(path)) for path in sorted(folder.glob("*.yml"))]
    seen: dict[str, str] = {}
    for rb in runbooks:
        if rb.name in seen:
            raise ConfigError(f"{rb.source}: name: {rb.name!r} is also the name of {seen[rb.name]}")
        seen[rb.name] = rb.source
    return runbooks
