"""OpenSLO v1 (`apiVersion: openslo/v1`): its objects as pydantic models, each refusing what breaks the spec."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, Discriminator, Field, Tag, field_validator, model_validator

from bot.config.files import PlainData
from bot.config.slos.common import _Calendar, _duration, _Metadata, _Name, _Strict
from bot.domain.slo import exact

# SLI (v1) -----------------------------------------------------------------------------------------------------------


class _MetricSource(_Strict):
    metricSourceRef: _Name | None = None
    type: str | None = None
    spec: dict[str, PlainData]

    @model_validator(mode="after")
    def _known(self) -> _MetricSource:
        if not self.spec:
            raise ValueError("metricSource.spec must say what to query")
        if self.metricSourceRef is None and not self.type:
            raise ValueError("a metricSource needs a type (or a metricSourceRef to a DataSource)")
        return self


class _Metric(_Strict):
    metricSource: _MetricSource


class _RatioMetric(_Strict):
    counter: bool | None = None
    good: _Metric | None = None
    bad: _Metric | None = None
    total: _Metric | None = None
    raw: _Metric | None = None
    rawType: Literal["success", "failure"] | None = None

    @model_validator(mode="after")
    def _shape(self) -> _RatioMetric:
        if self.raw is not None:
            if self.total is not None or self.good is not None or self.bad is not None:
                raise ValueError("a ratioMetric has either raw, or total with good or bad, not both")
            if self.rawType is None:
                raise ValueError("a raw ratioMetric needs rawType: success or failure")
            return self
        if self.total is None:
            raise ValueError("a ratioMetric needs total (with good or bad), or raw")
        if (self.good is None) == (self.bad is None):
            raise ValueError("a ratioMetric with total needs exactly one of good and bad")
        return self


class _SliSpec(_Strict):
    description: str | None = Field(None, max_length=1050)
    ratioMetric: _RatioMetric | None = None
    thresholdMetric: _Metric | None = None

    @model_validator(mode="after")
    def _one(self) -> _SliSpec:
        if (self.ratioMetric is None) == (self.thresholdMetric is None):
            raise ValueError("an SLI needs exactly one of ratioMetric and thresholdMetric")
        return self


class _InlineSli(_Strict):
    metadata: _Metadata
    spec: _SliSpec


# SLO (v1) -----------------------------------------------------------------------------------------------------------


class _TimeWindow(_Strict):
    duration: str
    isRolling: bool | None = None
    calendar: _Calendar | None = None

    @field_validator("duration", mode="before")
    @classmethod
    def _check_duration(cls, value: Any) -> str:
        return _duration(value)

    @model_validator(mode="after")
    def _kind(self) -> _TimeWindow:
        if self.isRolling and self.calendar is not None:
            raise ValueError("a rolling time window has no calendar")
        if not self.isRolling and self.calendar is None:
            raise ValueError("a time window is rolling (isRolling: true) or has a calendar")
        return self


class _Objective(_Strict):
    displayName: str | None = Field(None, max_length=1050)
    op: Literal["lte", "gte", "lt", "gt"] | None = None
    value: float | None = None
    target: float | None = Field(None, ge=0, lt=1)
    targetPercent: float | None = Field(None, ge=0, lt=100)
    timeSliceTarget: float | None = Field(None, gt=0, le=1)
    timeSliceWindow: str | int | None = None
    indicator: Any = None
    indicatorRef: Any = None
    compositeWeight: Any = None

    @model_validator(mode="after")
    def _target(self) -> _Objective:
        if self.indicator is not None or self.indicatorRef is not None or self.compositeWeight is not None:
            raise ValueError("composite SLOs (an indicator on each objective) are not supported: give the SLO one")
        if (self.target is None) == (self.targetPercent is None):
            raise ValueError("an objective needs exactly one of target (0.999) and targetPercent (99.9)")
        return self

    def objective(self) -> Any:
        return exact(self.target) if self.target is not None else exact(self.targetPercent) / 100  # type: ignore[arg-type]


def _ref_or_inline(value: Any) -> str:
    return "_ref" if isinstance(value, dict) and any(str(k).endswith("Ref") for k in value) else "_inline"


Ref = TypeVar("Ref")
Inline = TypeVar("Inline")
# an item that refers to an object by name (`...Ref`) or writes it inline (with its `kind`); told apart by its keys,
# so that a problem is reported for the form that was written
_RefOr = Annotated[
    Annotated[Ref, Tag("_ref")] | Annotated[Inline, Tag("_inline")],
    Discriminator(_ref_or_inline),
]


class _PolicyRef(_Strict):
    alertPolicyRef: _Name


class _InlinePolicy(_Strict):
    kind: Literal["AlertPolicy"]
    metadata: _Metadata
    spec: _AlertPolicySpec


class _SloSpec(_Strict):
    description: str | None = Field(None, max_length=1050)
    service: str = Field(min_length=1)
    indicator: _InlineSli | None = None
    indicatorRef: _Name | None = None
    timeWindow: list[_TimeWindow] = Field(min_length=1, max_length=1)
    budgetingMethod: Literal["Occurrences", "Timeslices", "RatioTimeslices"]
    objectives: list[_Objective] = Field(min_length=1)
    alertPolicies: list[_RefOr[_PolicyRef, _InlinePolicy]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> _SloSpec:
        if (self.indicator is None) == (self.indicatorRef is None):
            raise ValueError("an SLO needs exactly one of indicator and indicatorRef")
        if self.budgetingMethod == "RatioTimeslices":
            raise ValueError("budgetingMethod RatioTimeslices is not supported: use Occurrences or Timeslices")
        for n, o in enumerate(self.objectives):
            if self.budgetingMethod == "Timeslices" and (o.timeSliceTarget is None or o.timeSliceWindow is None):
                raise ValueError(f"objectives[{n}]: Timeslices budgeting needs timeSliceTarget and timeSliceWindow")
        if self.indicator is not None:
            threshold = self.indicator.spec.thresholdMetric is not None
            for n, o in enumerate(self.objectives):
                if threshold and (o.op is None or o.value is None):
                    raise ValueError(f"objectives[{n}]: a thresholdMetric objective needs op and value")
                if not threshold and (o.op is not None or o.value is not None):
                    raise ValueError(f"objectives[{n}]: op and value belong to thresholdMetric objectives only")
        return self


# Alerting, services and data sources (v1): read and checked ---------------------------------------------------------


class _Condition(_Strict):
    kind: Literal["burnrate"] = "burnrate"
    op: Literal["lte", "gte", "lt", "gt"]
    threshold: float
    lookbackWindow: str
    alertAfter: str | None = None

    @field_validator("lookbackWindow", "alertAfter", mode="before")
    @classmethod
    def _check_durations(cls, value: Any) -> str | None:
        return None if value is None else _duration(value)


class _AlertConditionSpec(_Strict):
    description: str | None = Field(None, max_length=1050)
    severity: str = Field(min_length=1)
    condition: _Condition


class _ConditionRef(_Strict):
    conditionRef: _Name


class _InlineCondition(_Strict):
    kind: Literal["AlertCondition"]
    metadata: _Metadata
    spec: _AlertConditionSpec


class _TargetSpec(_Strict):
    description: str | None = Field(None, max_length=1050)
    target: str = Field(min_length=1)


class _TargetRef(_Strict):
    targetRef: _Name


class _InlineTarget(_Strict):
    kind: Literal["AlertNotificationTarget"]
    metadata: _Metadata
    spec: _TargetSpec


class _AlertPolicySpec(_Strict):
    description: str | None = Field(None, max_length=1050)
    alertWhenNoData: bool = False
    alertWhenResolved: bool = False
    alertWhenBreaching: bool = False
    conditions: list[_RefOr[_ConditionRef, _InlineCondition]] = Field(min_length=1, max_length=1)
    notificationTargets: list[_RefOr[_TargetRef, _InlineTarget]] = Field(min_length=1)


class _ServiceSpec(_Strict):
    description: str | None = Field(None, max_length=1050)


class _DataSourceSpec(_Strict):
    description: str | None = Field(None, max_length=1050)
    type: str = Field(min_length=1)
    connectionDetails: dict[str, PlainData] = Field(min_length=1)


_InlinePolicy.model_rebuild()
_SloSpec.model_rebuild()

_V1_SPECS: dict[str, type[BaseModel]] = {
    "SLO": _SloSpec,
    "SLI": _SliSpec,
    "AlertPolicy": _AlertPolicySpec,
    "AlertCondition": _AlertConditionSpec,
    "AlertNotificationTarget": _TargetSpec,
    "Service": _ServiceSpec,
    "DataSource": _DataSourceSpec,
}
