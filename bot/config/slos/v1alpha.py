"""OpenSLO v1alpha (`apiVersion: openslo/v1alpha`), as Sloth users write it: SLOs with their queries inline."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from bot.config.files import PlainData
from bot.config.slos.common import _Calendar, _Strict
from bot.config.slos.v1 import _ServiceSpec

# v1alpha ------------------------------------------------------------------------------------------------------------


class _AlphaQuery(_Strict):
    source: str = Field(min_length=1)
    queryType: str = Field(min_length=1)
    query: str = Field(min_length=1)
    metadata: dict[str, PlainData] | None = None


class _AlphaRatio(_Strict):
    incremental: bool | None = None
    counter: bool | None = None
    good: _AlphaQuery
    total: _AlphaQuery


class _AlphaObjective(_Strict):
    displayName: str | None = Field(None, max_length=1050)
    target: float = Field(ge=0, lt=1)
    timeSliceTarget: float | None = Field(None, ge=0, le=1)
    value: float | None = None
    op: Literal["lte", "gte", "lt", "gt"] | None = None
    ratioMetrics: _AlphaRatio | None = None


class _AlphaWindow(_Strict):
    unit: Literal["Second", "Minute", "Hour", "Day", "Week", "Month", "Quarter", "Year"]
    count: int = Field(gt=0)
    isRolling: bool = True
    calendar: _Calendar | None = None


class _AlphaIndicator(_Strict):
    thresholdMetric: _AlphaQuery


class _AlphaSloSpec(_Strict):
    description: str | None = Field(None, max_length=1050)
    service: str = Field(min_length=1)
    indicator: _AlphaIndicator | None = None
    timeWindows: list[_AlphaWindow] = Field(min_length=1, max_length=1)
    budgetingMethod: Literal["Occurrences", "Timeslices"] = "Occurrences"  # Sloth's files leave it out
    objectives: list[_AlphaObjective] = Field(min_length=1)

    @model_validator(mode="after")
    def _indicator(self) -> _AlphaSloSpec:
        for n, o in enumerate(self.objectives):
            if (o.ratioMetrics is None) == (self.indicator is None):
                raise ValueError(f"objectives[{n}]: give ratioMetrics, or a thresholdMetric indicator for the SLO")
        return self


_ALPHA_UNIT = {  # unit: (its v1 shorthand, seconds)
    "Second": ("", 1),
    "Minute": ("m", 60),
    "Hour": ("h", 3600),
    "Day": ("d", 86400),
    "Week": ("w", 7 * 86400),
    "Month": ("M", 30 * 86400),
    "Quarter": ("Q", 90 * 86400),
    "Year": ("Y", 365 * 86400),
}
_V1ALPHA_SPECS: dict[str, type[BaseModel]] = {"SLO": _AlphaSloSpec, "Service": _ServiceSpec}
