"""Reading SLOs from OpenSLO YAML (SRE_SLOS_PATH: a file, or a folder of `*.yml` / `*.yaml`).

`openslo/v1` is the format: kinds `SLO`, `SLI`, `AlertPolicy`, `AlertCondition`, `AlertNotificationTarget`,
`DataSource` and `Service`, several to a file (`---`). `openslo/v1alpha` SLOs (what Sloth reads) are read too. A file
that breaks the spec is refused with one line naming the file, the object, the field and the reason
(``slos.yml: SLO checkout-availability: spec.objectives[0].target: Input should be less than 1, got 1.0``).

The metric queries (`metricSource.spec`, v1alpha's `query`) are handed to the monitoring delegate as written: it knows
PromQL or Datadog, sre-agent does not. Each objective of an SLO is one `Slo` (named `<slo>` when there is one,
`<slo>/<objective>` when there are several). Budgeting by `Occurrences` (events) or `Timeslices` (the delegate counts
good and total slices); `RatioTimeslices` and composite SLOs (an indicator on an objective) are refused with the
reason. The alerting tiers are sre-agent's own multi-window, multi-burn-rate tiers; the alert policies are read and
checked so that a file written for other tools loads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.config.files import describe
from bot.domain.slo import Slo, exact, window_name
from bot.errors import ConfigError

__all__ = ["SloDefinition", "load_slos", "parse_slos", "period_of"]

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


# SLI (v1) -----------------------------------------------------------------------------------------------------------


class _MetricSource(_Strict):
    metricSourceRef: _Name | None = None
    type: str | None = None
    spec: dict[str, Any]

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
            raise ValueError(f"expected a start time such as 2024-01-01 00:00:00, got {value!r}") from None
        return str(value)

    @field_validator("timeZone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"not a time zone name (such as Europe/Berlin): {value!r}") from None
        return value


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
    connectionDetails: dict[str, Any] = Field(min_length=1)


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


# v1alpha ------------------------------------------------------------------------------------------------------------


class _AlphaQuery(_Strict):
    source: str = Field(min_length=1)
    queryType: str = Field(min_length=1)
    query: str = Field(min_length=1)
    metadata: dict[str, Any] | None = None


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


# Reading ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SloDefinition:
    """An SLO and how its indicator is measured: `indicator` goes to the monitoring delegate as written."""

    slo: Slo
    indicator: dict[str, Any]  # {"ratioMetric": {...}} or {"thresholdMetric": {...}, "op": .., "value": ..}
    source: str  # the file it came from
    time_slice: dict[str, Any] | None = None  # {"target": .., "window": ..} with Timeslices budgeting


@dataclass
class _Doc:
    api: str
    kind: str
    name: str
    spec: BaseModel
    where: str  # "slos.yml: SLO checkout-availability"
    display: str | None = None  # metadata.displayName


def _documents(text: str, origin: str) -> list[tuple[int, Any]]:
    try:
        loaded = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {exc}".splitlines()[0]) from exc
    out: list[tuple[int, Any]] = []
    for n, doc in enumerate(loaded):
        if doc is None:
            continue
        for item in doc if isinstance(doc, list) else [doc]:
            out.append((n, item))
    return out


def _object(n: int, data: Any, origin: str) -> _Doc:
    place = f"{origin}: document {n + 1}"
    if not isinstance(data, dict):
        raise ConfigError(f"{place}: expected an OpenSLO object (apiVersion, kind, metadata, spec)")
    api, kind = str(data.get("apiVersion")), str(data.get("kind"))
    specs = {_V1: _V1_SPECS, _V1ALPHA: _V1ALPHA_SPECS}.get(api)
    if specs is None:
        raise ConfigError(
            f"{place}: apiVersion: expected openslo/v1 (or openslo/v1alpha), got {data.get('apiVersion')!r}"
        )
    if kind not in specs:
        raise ConfigError(f"{place}: kind: expected one of {', '.join(specs)} for {api}, got {data.get('kind')!r}")
    extra = set(data) - {"apiVersion", "kind", "metadata", "spec"}
    if extra:
        raise ConfigError(f"{place}: {sorted(extra)[0]}: unknown key")
    metadata_model = _Metadata if api == _V1 else _AlphaMetadata
    try:
        metadata = metadata_model.model_validate(data.get("metadata"))
    except ValidationError as exc:
        raise ConfigError(describe(exc, f"{place} ({kind})", ("metadata",))) from None
    where = f"{origin}: {kind} {metadata.name}"
    if "spec" not in data:
        raise ConfigError(f"{where}: spec: required")
    try:
        spec = specs[kind].model_validate(data["spec"])
    except ValidationError as exc:
        raise ConfigError(describe(exc, where, ("spec",))) from None
    return _Doc(api, kind, metadata.name, spec, where, metadata.displayName)


def _plain(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude_none=True, by_alias=True)


def _v1_slos(doc: _Doc, slis: dict[str, _SliSpec], warning: Any) -> list[SloDefinition]:
    spec = doc.spec
    assert isinstance(spec, _SloSpec)
    if spec.indicatorRef is not None:
        if spec.indicatorRef not in slis:
            raise ConfigError(f"{doc.where}: spec.indicatorRef: no SLI named {spec.indicatorRef!r} in these files")
        sli = slis[spec.indicatorRef]
    else:
        assert spec.indicator is not None
        sli = spec.indicator.spec
    window = spec.timeWindow[0]
    out = []
    for n, o in enumerate(spec.objectives):
        if sli.thresholdMetric is not None and (o.op is None or o.value is None):
            raise ConfigError(f"{doc.where}: spec.objectives[{n}]: a thresholdMetric objective needs op and value")
        if sli.thresholdMetric is None and (o.op is not None or o.value is not None):
            raise ConfigError(
                f"{doc.where}: spec.objectives[{n}]: op and value belong to thresholdMetric objectives only"
            )
        indicator: dict[str, Any] = _plain(sli)
        indicator.pop("description", None)
        if sli.thresholdMetric is not None:
            indicator |= {"op": o.op, "value": o.value}
        time_slice = None
        if spec.budgetingMethod == "Timeslices":
            time_slice = {"target": o.timeSliceTarget, "window": o.timeSliceWindow}
        out.append(
            _definition(
                doc,
                n,
                len(spec.objectives),
                o.displayName,
                spec.service,
                o.objective(),
                (window.duration, period_of(window.duration)),
                window.isRolling is not False and window.calendar is None,
                spec.budgetingMethod,
                warning,
                indicator,
                time_slice,
            )
        )
    return out


def _alpha_slos(doc: _Doc, warning: Any) -> list[SloDefinition]:
    spec = doc.spec
    assert isinstance(spec, _AlphaSloSpec)
    window = spec.timeWindows[0]
    code, seconds = _ALPHA_UNIT[window.unit]
    period = timedelta(seconds=window.count * seconds)
    duration = f"{window.count}{code}" if code else window_name(period)
    out = []
    for n, o in enumerate(spec.objectives):
        if o.ratioMetrics is not None:
            ratio = o.ratioMetrics
            indicator: dict[str, Any] = {
                "ratioMetric": {
                    "counter": ratio.counter if ratio.counter is not None else ratio.incremental,
                    "good": {"metricSource": {"type": ratio.good.source, "spec": _plain(ratio.good)}},
                    "total": {"metricSource": {"type": ratio.total.source, "spec": _plain(ratio.total)}},
                }
            }
        else:
            assert spec.indicator is not None
            query = spec.indicator.thresholdMetric
            indicator = {
                "thresholdMetric": {"metricSource": {"type": query.source, "spec": _plain(query)}},
                "op": o.op,
                "value": o.value,
            }
        time_slice = {"target": o.timeSliceTarget} if spec.budgetingMethod == "Timeslices" else None
        out.append(
            _definition(
                doc,
                n,
                len(spec.objectives),
                o.displayName,
                spec.service,
                exact(o.target),
                (duration, period),
                window.isRolling and window.calendar is None,
                spec.budgetingMethod,
                warning,
                indicator,
                time_slice,
            )
        )
    return out


def _definition(
    doc: _Doc,
    n: int,
    of: int,
    display: str | None,
    service: str,
    objective: Any,
    period: tuple[str, timedelta],
    rolling: bool,
    budgeting: str,
    warning: Any,
    indicator: dict[str, Any],
    time_slice: dict[str, Any] | None,
) -> SloDefinition:
    name = doc.name if of == 1 else f"{doc.name}/{_slug(display) or n + 1}"
    shown = doc.display or doc.name
    if of > 1:  # the SLO's name and the objective's
        shown = f"{shown}: {display or f'objective {n + 1}'}"
    try:
        slo = Slo(
            name=name,
            service=service,
            objective=objective,
            period=period[1],
            rolling=rolling,
            budgeting=budgeting,
            warning=warning,
            display_name=shown,
            period_name=period[0],
        )
    except ValueError as exc:
        path = "spec.timeWindow" if "period" in str(exc) else f"spec.objectives[{n}]"
        raise ConfigError(f"{doc.where}: {path}: {str(exc).removeprefix(name + ': ')}") from None
    return SloDefinition(slo, indicator, doc.where.split(": ")[0], time_slice)


def _slug(text: str | None) -> str:
    return re.sub(r"[^a-z0-9]+", "-", (text or "").lower()).strip("-")


def parse_slos(texts: list[tuple[str, str]], *, warning: float = 0.2) -> list[SloDefinition]:
    """SLOs from (origin, YAML text) pairs; `warning`: the budget share at or below which a budget is in warning."""
    docs = [_object(n, data, origin) for origin, text in texts for n, data in _documents(text, origin)]
    seen: dict[tuple[str, str], str] = {}
    for doc in docs:
        key = (doc.kind, doc.name)
        if key in seen:
            raise ConfigError(
                f"{doc.where}: metadata.name: {doc.name!r} is also the name of another {doc.kind} ({seen[key]})"
            )
        seen[key] = doc.where.split(": ")[0]
    slis = {d.name: d.spec for d in docs if isinstance(d.spec, _SliSpec)}
    policies = {d.name for d in docs if d.kind == "AlertPolicy"}
    conditions = {d.name for d in docs if d.kind == "AlertCondition"}
    targets = {d.name for d in docs if d.kind == "AlertNotificationTarget"}
    sources = {d.name for d in docs if d.kind == "DataSource"}
    for doc in docs:
        _check_refs(doc, policies, conditions, targets, sources, slis)
    level = exact(warning)
    out: list[SloDefinition] = []
    for doc in docs:
        if doc.kind == "SLO":
            out += _v1_slos(doc, slis, level) if doc.api == _V1 else _alpha_slos(doc, level)
    names: dict[str, str] = {}
    for definition in out:
        if definition.slo.name in names:
            raise ConfigError(f"{definition.source}: SLO {definition.slo.name}: named twice")
        names[definition.slo.name] = definition.source
    return out


def _check_refs(
    doc: _Doc,
    policies: set[str],
    conditions: set[str],
    targets: set[str],
    sources: set[str],
    slis: dict[str, _SliSpec],
) -> None:
    def missing(path: str, kind: str, name: str) -> ConfigError:
        return ConfigError(f"{doc.where}: {path}: no {kind} named {name!r} in these files")

    spec = doc.spec
    if isinstance(spec, _SloSpec):
        for n, p in enumerate(spec.alertPolicies):
            if isinstance(p, _PolicyRef) and p.alertPolicyRef not in policies:
                raise missing(f"spec.alertPolicies[{n}].alertPolicyRef", "AlertPolicy", p.alertPolicyRef)
        sli = spec.indicator.spec if spec.indicator is not None else None
        prefix = "spec.indicator.spec"
    elif isinstance(spec, _SliSpec):
        sli, prefix = spec, "spec"
    else:
        sli, prefix = None, ""
    if isinstance(spec, _AlertPolicySpec):
        for n, c in enumerate(spec.conditions):
            if isinstance(c, _ConditionRef) and c.conditionRef not in conditions:
                raise missing(f"spec.conditions[{n}].conditionRef", "AlertCondition", c.conditionRef)
        for n, t in enumerate(spec.notificationTargets):
            if isinstance(t, _TargetRef) and t.targetRef not in targets:
                raise missing(f"spec.notificationTargets[{n}].targetRef", "AlertNotificationTarget", t.targetRef)
    if sli is not None:
        metrics = {"thresholdMetric": sli.thresholdMetric}
        if sli.ratioMetric is not None:
            r = sli.ratioMetric
            metrics = {
                "ratioMetric.good": r.good,
                "ratioMetric.bad": r.bad,
                "ratioMetric.total": r.total,
                "ratioMetric.raw": r.raw,
            }
        for path, metric in metrics.items():
            ref = metric.metricSource.metricSourceRef if metric is not None else None
            if ref is not None and ref not in sources:
                raise missing(f"{prefix}.{path}.metricSource.metricSourceRef", "DataSource", ref)


def load_slos(path: Path, *, warning: float = 0.2) -> list[SloDefinition]:
    """The SLOs in a file, or in every `*.yml` / `*.yaml` of a folder (by file name)."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".yml", ".yaml"))
    elif path.is_file():
        files = [path]
    else:
        raise ConfigError(f"SRE_SLOS_PATH: no file or folder at {path}")
    return parse_slos([(str(p), p.read_text(encoding="utf-8")) for p in files], warning=warning)
