"""Reading OpenSLO files: the documents of each file, their objects checked by kind and version, references
resolved across the files, and each objective of each SLO made a domain `Slo` with its indicator."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from bot.config.files import describe, load_yaml, path_of, read_text, shown
from bot.config.slos.common import _V1, _V1ALPHA, _AlphaMetadata, _Metadata, period_of
from bot.config.slos.v1 import (
    _V1_SPECS,
    _AlertPolicySpec,
    _ConditionRef,
    _PolicyRef,
    _SliSpec,
    _SloSpec,
    _TargetRef,
)
from bot.config.slos.v1alpha import _ALPHA_UNIT, _V1ALPHA_SPECS, _AlphaSloSpec
from bot.domain.slo import Slo, exact, window_name
from bot.errors import ConfigError

__all__ = ["SloDefinition", "load_slos", "parse_slos"]

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
    loaded = load_yaml(text, origin, documents=True)
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
            f"{place}: apiVersion: expected openslo/v1 (or openslo/v1alpha), got {shown(data.get('apiVersion'))}"
        )
    if kind not in specs:
        raise ConfigError(f"{place}: kind: expected one of {', '.join(specs)} for {api}, got {shown(data.get('kind'))}")
    extra = set(data) - {"apiVersion", "kind", "metadata", "spec"}
    if extra:
        raise ConfigError(f"{place}: {path_of((sorted(extra, key=str)[0],))}: unknown key")
    metadata_model = _Metadata if api == _V1 else _AlphaMetadata
    try:
        metadata = metadata_model.model_validate(data.get("metadata"))
    except ValidationError as exc:
        raise ConfigError(describe(exc, f"{place} ({kind})", ("metadata",), data.get("metadata"))) from None
    where = f"{origin}: {kind} {metadata.name}"
    if "spec" not in data:
        raise ConfigError(f"{where}: spec: required")
    try:
        spec = specs[kind].model_validate(data["spec"])
    except ValidationError as exc:
        raise ConfigError(describe(exc, where, ("spec",), data["spec"])) from None
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


def _texts(path: Path) -> list[tuple[str, str]]:
    """(file name, text) of a file, or of every `*.yml` / `*.yaml` of a folder (by file name)."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".yml", ".yaml"))
    elif path.is_file():
        files = [path]
    else:
        raise ConfigError(f"SRE_SLOS_PATH: no file or folder at {path}")
    return [(str(p), read_text(p)) for p in files]


def load_slos(path: Path, *, warning: float = 0.2) -> list[SloDefinition]:
    """The SLOs in a file, or in every `*.yml` / `*.yaml` of a folder (by file name)."""
    return parse_slos(_texts(path), warning=warning)


def slo_documents(path: Path) -> list[Any]:
    """The OpenSLO documents of a file or folder as written (checked first as `load_slos` reads them)."""
    texts = _texts(path)
    parse_slos(texts)
    return [item for origin, text in texts for _, item in _documents(text, origin)]
