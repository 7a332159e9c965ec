"""Signals read from what other agents answer: structured data parts where they give them, and the plain text
otherwise ("3 pods in CrashLoopBackOff (OOMKilled)", "p99 latency 3.2s (normal: 200ms)", "RDS CPU at 95%").

Every value keeps the words it came from, so a finding can show its evidence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = ["Deploy", "PodState", "Reading", "Signals", "as_data", "from_answer", "from_data", "from_text", "merge"]


@dataclass(frozen=True)
class Reading:
    """One value and where it came from (the words, or ``data:<key>``)."""

    value: float
    source: str


@dataclass(frozen=True)
class PodState:
    state: str  # CrashLoopBackOff, OOMKilled, Pending, ImagePullBackOff, Error, Evicted, Running
    count: int
    source: str


class Deploy(NamedTuple):
    """A deploy an agent reported: the version rolled out, the words it came from, and where it said so, the
    version it replaced and how long before the answer it happened."""

    version: str
    source: str
    previous: str | None = None
    ago_s: float | None = None


@dataclass
class Signals:
    error_rate: Reading | None = None  # a fraction: 0.085
    latency_p99_ms: Reading | None = None
    latency_p99_normal_ms: Reading | None = None
    latency_p50_ms: Reading | None = None
    cpu: Reading | None = None  # a fraction of capacity
    memory: Reading | None = None
    connections: Reading | None = None  # a fraction of the maximum
    restarts: Reading | None = None
    pods: list[PodState] = field(default_factory=list)
    deploys: list[Deploy] = field(default_factory=list)  # the newest first, as the agents list them
    resources: list[str] = field(default_factory=list)  # named things: db-payments-prod, queries...
    healthy: bool = False  # the agent said all is well where it looked
    full_scan: tuple[str, str] | None = None  # (table, column) of a query doing a full table scan
    instance_class: str | None = None  # the database's instance class, as named: db.r6g.large

    @property
    def database(self) -> str | None:
        """The database the agents named, if any."""
        return next((r for r in self.resources if any(k in r for k in ("db", "rds", "postgres", "mysql"))), None)

    def pods_in(self, state: str) -> int:
        return sum(p.count for p in self.pods if p.state.lower() == state.lower())

    @property
    def empty(self) -> bool:
        return not (
            self.error_rate
            or self.latency_p99_ms
            or self.cpu
            or self.memory
            or self.connections
            or self.restarts
            or self.pods
            or self.deploys
            or self.healthy
        )


_NUMBER = r"(\d+(?:[.,]\d+)?)"
_DURATION = rf"{_NUMBER}\s*(ms|milliseconds?|s|sec|seconds?)\b"
_RESOURCE_WORDS = ("db", "rds", "redis", "cache", "queue", "kafka", "postgres", "mysql")
_POD_STATES = (
    "CrashLoopBackOff",
    "OOMKilled",
    "ImagePullBackOff",
    "ErrImagePull",
    "Pending",
    "Evicted",
    "CreateContainerConfigError",
    "Error",
)


_ERROR_RATE = rf"error rate[^0-9%\n]{{0,40}}?{_NUMBER}\s*%"
_FAILING_SHARE = rf"{_NUMBER}\s*%\s*(?:of requests\s*)?(?:errors?|failing|failed|5xx)"
_VERSION = r"\b(v?\d+\.\d+(?:\.\d+)?)\b"
_DEPLOY = r"\b(?:deploy(?:ed|ment)?|release[d]?|rolled out|upgraded? to)\b[^.\n]{0,40}?" + _VERSION
_AGO = r"\b(\d+(?:\.\d+)?)\s*(h|hours?|d|days?|m|min|minutes?)\s+ago\b"
_AGO_UNITS = {"m": 60.0, "h": 3600.0, "d": 86400.0}
_HEALTHY = r"\b(?:all )?pods? (?:are |look )?(?:healthy|running fine|ok)\b|\bno crash(?:es)?\b|\bhealthy\b"
_COUNTED = r"(\d+)\s+(?:\w+\s+){{0,3}}?(?:pods?|containers?|replicas?)\b[^.\n]{{0,40}}?\b{state}\b"
_COUNT_AFTER = r"\b{state}\b[^.\n]{{0,20}}?(?:x|×|count:?|:)\s*(\d+)"


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def _ms(value: str, unit: str) -> float:
    return _num(value) * (1 if unit.startswith("m") else 1000)


_SENTENCE_END = re.compile(r"\.(?=\s|$)|\n")


def _clause(text: str, start: int, end: int) -> str:
    """The words around a match, for the evidence."""
    ends = [m.start() for m in _SENTENCE_END.finditer(text)]  # a full stop, not the dot of "3.2s" or "v2.3.0"
    left = max([i for i in ends if i < start] + [-1]) + 1
    right = min([i for i in ends if i >= end] + [len(text)])
    return " ".join(text[left:right].split())[:300]


def from_text(text: str) -> Signals:
    """What a plain-language answer says, as far as these patterns can tell; anything else is left alone."""
    s = Signals()
    lower = text.lower()
    if (m := re.search(_ERROR_RATE, lower)) or (m := re.search(_FAILING_SHARE, lower)):
        s.error_rate = Reading(_num(m.group(1)) / 100, _clause(text, m.start(), m.end()))
    if m := re.search(rf"p99[^0-9\n]{{0,40}}?{_DURATION}", lower):
        s.latency_p99_ms = Reading(_ms(m.group(1), m.group(2)), _clause(text, m.start(), m.end()))
        tail = lower[m.end() : m.end() + 60]
        if n := re.search(rf"(?:normal|usually|baseline|was|from)[^0-9\n]{{0,15}}{_DURATION}", tail):
            s.latency_p99_normal_ms = Reading(_ms(n.group(1), n.group(2)), s.latency_p99_ms.source)
    if m := re.search(rf"p50[^0-9\n]{{0,40}}?{_DURATION}", lower):
        s.latency_p50_ms = Reading(_ms(m.group(1), m.group(2)), _clause(text, m.start(), m.end()))
    if m := re.search(rf"cpu[^0-9%\n]{{0,40}}?{_NUMBER}\s*%|{_NUMBER}\s*%\s*cpu", lower):
        value = m.group(1) or m.group(2)
        s.cpu = Reading(_num(value) / 100, _clause(text, m.start(), m.end()))
    if m := re.search(rf"memory[^0-9%\n]{{0,40}}?{_NUMBER}\s*%", lower):
        s.memory = Reading(_num(m.group(1)) / 100, _clause(text, m.start(), m.end()))
    if m := re.search(rf"connections?[^0-9%\n]{{0,40}}?{_NUMBER}\s*%", lower):
        s.connections = Reading(_num(m.group(1)) / 100, _clause(text, m.start(), m.end()))
    elif m := re.search(rf"connections?[^0-9\n]{{0,30}}?{_NUMBER}\s*(?:/|of|out of)\s*{_NUMBER}", lower):
        s.connections = Reading(_num(m.group(1)) / max(_num(m.group(2)), 1.0), _clause(text, m.start(), m.end()))
    if m := re.search(rf"{_NUMBER}\s*restarts?|restarts?[^0-9\n]{{0,20}}?{_NUMBER}", lower):
        s.restarts = Reading(_num(m.group(1) or m.group(2)), _clause(text, m.start(), m.end()))
    for state in _POD_STATES:
        counted = [
            PodState(state, int(m.group(1)), _clause(text, m.start(), m.end()))
            for m in re.finditer(_COUNTED.format(state=state), text, flags=re.IGNORECASE)
        ] or [
            PodState(state, int(m.group(1)), _clause(text, m.start(), m.end()))
            for m in re.finditer(_COUNT_AFTER.format(state=state), text, flags=re.IGNORECASE)
        ]
        if not counted and (m := re.search(rf"\b{state}\b", text, flags=re.IGNORECASE)) and state != "Error":
            counted = [PodState(state, 1, _clause(text, m.start(), m.end()))]  # named without a count: at least one
        s.pods += counted[:1]
    for m in re.finditer(_DEPLOY, text, flags=re.IGNORECASE):
        clause = _clause(text, m.start(), m.end())
        previous = re.search(rf"(?:from|replacing|previous(?:ly)?:?|was)\s+{_VERSION}", clause, flags=re.IGNORECASE)
        ago = re.search(_AGO, clause, flags=re.IGNORECASE)
        s.deploys.append(
            Deploy(
                m.group(1),
                clause,
                previous.group(1) if previous and previous.group(1) != m.group(1) else None,
                _num(ago.group(1)) * _AGO_UNITS[ago.group(2)[0].lower()] if ago else None,
            )
        )
    for m in re.finditer(r"\b([a-z][a-z0-9]*(?:-[a-z0-9]+){1,5})\b", text):
        name = m.group(1)
        if any(k in name for k in _RESOURCE_WORDS) and name not in s.resources:
            s.resources.append(name)
    if re.search(_HEALTHY, lower):
        s.healthy = not s.pods
    query = _QUERY.search(text)
    if query is not None and re.search(_FULL_SCAN, lower):
        s.full_scan = (query.group(1), query.group(2))
    instance = _INSTANCE_CLASS.search(text)
    if instance is not None:
        s.instance_class = instance.group(0)
    return s


_QUERY = re.compile(r"\bFROM\s+([A-Za-z_][\w.]*)\s+WHERE\s+([A-Za-z_]\w*)\s*=", re.IGNORECASE)
_FULL_SCAN = r"full (?:table )?scan|seq(?:uential)? scan|missing index"
_INSTANCE_CLASS = re.compile(r"\bdb\.[a-z][a-z0-9]*\.(?:\d*x)?(?:micro|small|medium|large|metal)\b")


_DATA_KEYS = {
    "error_rate": ("error_rate",),
    "latency_p99_ms": ("latency_p99_ms", "p99_ms"),
    "latency_p99_normal_ms": ("latency_p99_baseline_ms", "p99_baseline_ms", "p99_normal_ms"),
    "latency_p50_ms": ("latency_p50_ms", "p50_ms"),
    "cpu": ("cpu", "cpu_utilization"),
    "memory": ("memory", "memory_utilization"),
    "connections": ("connections", "connection_utilization"),
    "restarts": ("restarts",),
}


def _fraction(key: str, value: float) -> float:
    """Data parts may give percentages (95) or fractions (0.95) for ratios."""
    if key in ("error_rate", "cpu", "memory", "connections") and value > 1:
        return value / 100
    return value


def from_data(data: Mapping[str, Any]) -> Signals:
    """Signals from a structured data part: known keys only; ratios as fractions or percentages."""
    s = Signals()
    for attr, keys in _DATA_KEYS.items():
        for key in keys:
            value = data.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                setattr(s, attr, Reading(_fraction(attr, float(value)), f"data:{key}"))
                break
    pods = data.get("pods")
    if isinstance(pods, Mapping):
        for state, count in pods.items():
            if isinstance(count, int) and not isinstance(count, bool):
                s.pods.append(PodState(str(state), count, f"data:pods.{state}"))
    deploys = data.get("deploys")
    if isinstance(deploys, list):
        for d in deploys:
            if isinstance(d, Mapping) and d.get("version"):
                ago = d.get("ago_s")
                s.deploys.append(
                    Deploy(
                        str(d["version"]),
                        "data:deploys",
                        str(d["previous"]) if d.get("previous") else None,
                        float(ago) if isinstance(ago, int | float) and not isinstance(ago, bool) and ago >= 0 else None,
                    )
                )
    resources = data.get("resources")
    if isinstance(resources, list):
        s.resources = [str(r) for r in resources]
    s.healthy = data.get("healthy") is True
    return s


def as_data(stored: Mapping[str, Any]) -> dict[str, Any]:
    """The data part that gives these signals again (`from_data`'s shape), from signals as the store keeps them
    (`dataclasses.asdict`): what a recorded agent says to be read as it was read then. What only words carry (a
    full table scan, an instance class) is left to the words."""
    data: dict[str, Any] = {}
    for attr, keys in _DATA_KEYS.items():
        reading = stored.get(attr)
        if isinstance(reading, Mapping) and isinstance(reading.get("value"), int | float):
            data[keys[0]] = reading["value"]
    pods = [p for p in stored.get("pods") or [] if isinstance(p, Mapping) and p.get("state")]
    if pods:
        data["pods"] = {str(p["state"]): p.get("count", 0) for p in pods}
    deploys = []
    for d in stored.get("deploys") or []:
        if isinstance(d, list | tuple) and d and d[0]:
            deploy = Deploy(*d[:4])
            deploys.append(
                {"version": deploy.version}
                | ({"previous": deploy.previous} if deploy.previous else {})
                | ({"ago_s": deploy.ago_s} if deploy.ago_s is not None else {})
            )
    if deploys:
        data["deploys"] = deploys
    if stored.get("resources"):
        data["resources"] = [str(r) for r in stored["resources"]]
    if stored.get("healthy") is True:
        data["healthy"] = True
    return data


def merge(parts: list[Signals]) -> Signals:
    """One view of several answers: the first value of each kind wins (data parts are passed first)."""
    out = Signals()
    for part in parts:
        for attr in _DATA_KEYS:
            if getattr(out, attr) is None and getattr(part, attr) is not None:
                setattr(out, attr, getattr(part, attr))
        known = {p.state.lower() for p in out.pods}
        out.pods += [p for p in part.pods if p.state.lower() not in known]
        for deploy in part.deploys:  # one entry a version; what one answer leaves out another may say
            known_at = next((i for i, d in enumerate(out.deploys) if d.version == deploy.version), None)
            if known_at is None:
                out.deploys.append(deploy)
            else:
                d = out.deploys[known_at]
                out.deploys[known_at] = d._replace(
                    previous=d.previous or deploy.previous, ago_s=d.ago_s if d.ago_s is not None else deploy.ago_s
                )
        out.resources += [r for r in part.resources if r not in out.resources]
        out.healthy = out.healthy or part.healthy
        out.full_scan = out.full_scan or part.full_scan
        out.instance_class = out.instance_class or part.instance_class
    if out.pods and out.healthy:
        out.healthy = False
    return out


def from_answer(parts: Sequence[Mapping[str, Any]], text: str) -> Signals:
    """What one answer reports: its data parts first, then its words."""
    return merge([from_data(d) for d in parts] + [from_text(text)])
