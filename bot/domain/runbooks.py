"""Runbooks: when a runbook applies (its trigger, over the signals the agents reported), what it does (an exact
action, by which kind of agent), how risky and reversible that is, how to verify it worked, and what to follow up.

A match becomes a proposal: an exact plan (runbook, action, target, parameters, risk, reversibility, expected
effect) and a hash over all of it, so that an approval is bound to exactly the plan that was shown.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.domain.diagnosis import Role
from bot.domain.signals import Signals

__all__ = [
    "PLACEHOLDERS",
    "Plan",
    "Risk",
    "Runbook",
    "Trigger",
    "Verification",
    "covers",
    "fill",
    "match",
    "next_size",
]


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True)
class Trigger:
    """Every condition given must hold (an empty trigger never matches)."""

    error_rate_above: float | None = None  # a fraction
    pods_in_state: str | None = None
    pods_more_than: int = 0
    oom: bool = False
    connections_above: float | None = None
    cpu_above: float | None = None
    p99_above_ms: float | None = None
    p99_above_normal: float | None = None  # p99 latency above this many times its normal
    after_deploy: bool = False  # a deploy was reported (its version, and the one before, fill in the plan)
    full_scan: bool = False  # a query doing a full table scan was reported (its table and column fill in the plan)
    # How long the condition must hold. Not checked yet: the agents report figures over the last 30 minutes,
    # which is taken as long enough for any `sustained` up to that (see README, Runbooks and approvals).
    sustained_s: float = 0.0

    def conditions(self) -> int:
        return (
            sum(
                x is not None
                for x in (
                    self.error_rate_above,
                    self.connections_above,
                    self.cpu_above,
                    self.p99_above_ms,
                    self.p99_above_normal,
                )
            )
            + bool(self.pods_in_state)
            + self.oom
            + self.after_deploy
            + self.full_scan
        )

    @property
    def specificity(self) -> int:
        """How closely the trigger points at a cause rather than a symptom: what a pod or a database is doing
        (OOMKilled, crash loops, saturation) says more than an error rate or a slow p99."""
        return (
            3 * (self.oom + bool(self.pods_in_state))
            + 2 * ((self.connections_above is not None) + (self.cpu_above is not None))
            + 2 * self.after_deploy
            + 2 * self.full_scan
            + (self.error_rate_above is not None)
            + (self.p99_above_ms is not None)
            + (self.p99_above_normal is not None)
        )

    def holds(self, s: Signals) -> list[str]:
        """The reasons it holds, one per condition; empty when any condition fails."""
        if not self.conditions():
            return []
        reasons: list[str] = []
        if self.error_rate_above is not None:
            if s.error_rate is None or s.error_rate.value <= self.error_rate_above:
                return []
            reasons.append(f"error rate {s.error_rate.value:.1%} is above {self.error_rate_above:.1%}")
        if self.pods_in_state:
            count = s.pods_in(self.pods_in_state)
            if count <= self.pods_more_than:
                return []
            reasons.append(f"{count} pods in {self.pods_in_state} (more than {self.pods_more_than})")
        if self.oom:
            if not s.pods_in("OOMKilled"):
                return []
            reasons.append("pods were OOMKilled")
        if self.connections_above is not None:
            if s.connections is None or s.connections.value <= self.connections_above:
                return []
            reasons.append(f"connections at {s.connections.value:.0%} of the maximum")
        if self.cpu_above is not None:
            if s.cpu is None or s.cpu.value <= self.cpu_above:
                return []
            reasons.append(f"CPU at {s.cpu.value:.0%}")
        if self.p99_above_ms is not None:
            if s.latency_p99_ms is None or s.latency_p99_ms.value <= self.p99_above_ms:
                return []
            reasons.append(f"p99 latency {s.latency_p99_ms.value / 1000:.1f}s above {self.p99_above_ms / 1000:.1f}s")
        if self.p99_above_normal is not None:
            slow, normal = s.latency_p99_ms, s.latency_p99_normal_ms
            if slow is None or normal is None or normal.value <= 0:
                return []
            if slow.value <= self.p99_above_normal * normal.value:
                return []
            reasons.append(
                f"p99 latency {slow.value:.0f}ms is {slow.value / normal.value:.1f}x its normal {normal.value:.0f}ms"
            )
        if self.after_deploy:
            if not s.deploys:
                return []
            reasons.append(f"{s.deploys[0].version} was deployed")
        if self.full_scan:
            if s.full_scan is None:
                return []
            reasons.append(f"a query on {s.full_scan[0]} by {s.full_scan[1]} does a full table scan")
        return reasons


@dataclass(frozen=True)
class Verification:
    signal: str  # error_rate | latency_p99_ms | restarts | connections | cpu
    below: float
    window_s: float = 300.0
    interval_s: float = 30.0
    timeout_s: float = 900.0
    also: tuple[tuple[str, float], ...] = ()  # other signals that must be below their thresholds at the same time


@dataclass(frozen=True)
class Runbook:
    name: str
    title: str
    trigger: Trigger
    action: str  # what is done, in words
    kind: str  # rollback | scale | raise_memory_limit | scale_replicas | check_dependencies | manual ...
    delegate: Role | None
    risk: Risk
    reversible: bool
    expected: str
    parameters: dict[str, Any] = field(default_factory=dict)
    verification: Verification | None = None
    follow_up: tuple[str, ...] = ()
    manual: bool = False  # a person does it (shown as a task with a Done button); never executed
    source: str = ""


@dataclass(frozen=True)
class Plan:
    """An exact plan for one incident: what the approval is bound to."""

    runbook: str
    action: str
    kind: str
    target: dict[str, Any]
    parameters: dict[str, Any]
    risk: Risk
    reversible: bool
    expected: str
    manual: bool
    reasons: tuple[str, ...]

    @property
    def hash(self) -> str:
        canonical = json.dumps(
            {
                "runbook": self.runbook,
                "action": self.action,
                "kind": self.kind,
                "target": self.target,
                "parameters": self.parameters,
                "risk": str(self.risk),
                "reversible": self.reversible,
                "expected": self.expected,
                "manual": self.manual,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def match(runbooks: list[Runbook], signals: Signals, target: dict[str, Any]) -> list[Plan]:
    """Plans for the runbooks whose triggers hold, the most specific first (see Trigger.specificity), then by name."""
    found: list[tuple[int, str, Plan]] = []
    values = _values(signals, target)
    for runbook in runbooks:
        reasons = runbook.trigger.holds(signals)
        if not reasons:
            continue
        action, expected = fill(runbook.action, values), fill(runbook.expected, values)
        parameters = {k: fill(v, values) if isinstance(v, str) else v for k, v in runbook.parameters.items()}
        if action is None or expected is None or None in parameters.values():
            continue  # the plan would not be exact: what it names is not known
        plan = Plan(
            runbook.name,
            action,
            runbook.kind,
            dict(target),
            parameters,
            runbook.risk,
            runbook.reversible,
            expected,
            runbook.manual,
            tuple(reasons),
        )
        found.append((-runbook.trigger.specificity, runbook.name, plan))
    return [plan for _, _, plan in sorted(found, key=lambda item: (item[0], item[1]))]


# what a runbook's action, expected and parameters may name
PLACEHOLDERS = (
    "service",
    "version",
    "previous_version",
    "database",
    "instance_class",
    "next_instance_class",
    "table",
    "column",
)
# instance sizes in the order a scale-up takes them (db.r6g.large -> db.r6g.xlarge)
_SIZES = ("micro", "small", "medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")


def _values(signals: Signals, target: dict[str, Any]) -> dict[str, str | None]:
    deploy = signals.deploys[0] if signals.deploys else None
    return {
        "service": str(target.get("service")) if target.get("service") else None,
        "version": deploy.version if deploy else None,
        "previous_version": deploy.previous if deploy else None,
        "database": signals.database,
        "instance_class": signals.instance_class,
        "next_instance_class": next_size(signals.instance_class) if signals.instance_class else None,
        "table": signals.full_scan[0] if signals.full_scan else None,
        "column": signals.full_scan[1] if signals.full_scan else None,
    }


def next_size(instance_class: str) -> str | None:
    """The next instance class up in the same family (db.r6g.large -> db.r6g.xlarge); None past the largest."""
    family, _, size = instance_class.rpartition(".")
    if size not in _SIZES or _SIZES.index(size) + 1 >= len(_SIZES):
        return None
    return f"{family}.{_SIZES[_SIZES.index(size) + 1]}"


def fill(text: str, values: dict[str, str | None]) -> str | None:
    """`text` with its placeholders ({service}, {version}: the newest deploy's, {previous_version}: the one it
    replaced) filled in; None when one of them is not known."""
    missing = False

    def value(m: re.Match[str]) -> str:
        nonlocal missing
        found = values.get(m.group(1))
        missing = missing or found is None
        return found or ""

    filled = _PLACEHOLDER.sub(value, text)
    return None if missing else filled


_WORD = re.compile(r"[a-z0-9][a-z0-9.\-]*[a-z0-9]|[a-z0-9]")
_SMALL = frozenset({"the", "and", "for", "from", "with", "its", "whether", "watch", "then", "into", "onto"})


def covers(action: str, recommendation: str) -> bool:
    """Whether doing `action` is doing what `recommendation` says: they share most of what the recommendation
    names (three words or more, and at least half of its words that mean something)."""

    def words(text: str) -> set[str]:
        return {w for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in _SMALL}

    wanted, done = words(recommendation), words(action)
    shared = len(wanted & done)
    return shared >= 3 and 2 * shared >= len(wanted) - 1
