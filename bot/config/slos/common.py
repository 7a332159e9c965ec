"""What both OpenSLO versions share: names, durations, calendars and the strictness of every object."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from bot.config.files import shown, time_zone

__all__ = ["period_of"]

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DURATION = re.compile(r"^([1-9][0-9]*)([mhdwMQY])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "M": 30 * 86400, "Q": 90 * 86400, "Y": 365 * 86400}
_V1 = "openslo/v1"
_V1ALPHA = "openslo/v1alpha"


def period_of(duration: str) -> timedelta:
    """An OpenSLO duration shorthand (`30d`, `4w`, `1M`): months are 30 days, quarters 90, years 365."""
    match = _DURATION.match(duration)
    if match is None:
        raise ValueError(
            f"expected a duration such as 28d, 4w or 1M (a positive number, then m h d w M Q or Y), got {duration!r}"
        )
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def _dns_label(value: str) -> str:
    if not _LABEL.match(value):
        raise ValueError("expected a name of lowercase letters, digits and dashes (at most 63, as in RFC 1123)")
    return value


_Name = Annotated[str, AfterValidator(_dns_label)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Metadata(_Strict):
    name: _Name
    displayName: str | None = Field(None, max_length=1050)
    labels: dict[str, str | list[str]] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class _AlphaMetadata(_Strict):
    name: _Name
    displayName: str | None = Field(None, max_length=1050)


def _duration(value: Any) -> str:
    period_of(str(value))
    return str(value)


class _Calendar(_Strict):
    startTime: str
    timeZone: str

    @field_validator("startTime", mode="before")
    @classmethod
    def _start(cls, value: Any) -> str:
        if isinstance(value, datetime):  # YAML reads an unquoted `2024-01-01 00:00:00` as a timestamp
            value = value.strftime("%Y-%m-%d %H:%M:%S")
        try:
            datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise ValueError(f"expected a start time such as 2024-01-01 00:00:00, got {shown(value)}") from None
        return str(value)

    @field_validator("timeZone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return time_zone(value)
