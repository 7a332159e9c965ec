"""Diagnosis: what to ask which kind of agent for a kind of symptom, and what the answers point to.

A plan lists questions per role (monitoring, kubernetes, cloud); they go out in parallel. The answers become evidence
(who was asked what, what came back, the signals read from it, how long it took, or why nothing came). Hypotheses
are ranked by a confidence and cite the evidence they rest on; recommendations say what a person (or, later, a
runbook) could do about the top one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.domain.signals import Deploy, Signals, merge

__all__ = [
    "Evidence",
    "Hypothesis",
    "Outcome",
    "Question",
    "Role",
    "Symptom",
    "plan",
    "rank",
    "regression",
    "symptom_of",
]


class Role(StrEnum):
    MONITORING = "monitoring"
    KUBERNETES = "kubernetes"
    CLOUD = "cloud"


class Symptom(StrEnum):
    ERROR_RATE = "error_rate"
    LATENCY = "latency"
    CRASHES = "crashes"
    MEMORY = "memory"
    SATURATION = "saturation"
    UNKNOWN = "unknown"


class Outcome(StrEnum):
    ANSWERED = "answered"
    FAILED = "failed"  # the agent said it could not do it
    UNAVAILABLE = "unavailable"  # no answer: down, slow, breaker open, refused the protocol
    INPUT_REQUIRED = "input_required"  # the agent waits for a person's decision


_SYMPTOM_WORDS = [
    (Symptom.MEMORY, r"\boom\w*|out of memory|memory"),
    (Symptom.CRASHES, r"crash\w*|restart\w*|backoff|pods? (?:down|dying)"),
    (Symptom.LATENCY, r"latency|slow|timing out|time(?:d)? ?outs?|p9\d|hanging"),
    (Symptom.SATURATION, r"saturat\w*|cpu|connections?|throttl\w*|queue (?:depth|backlog)"),
    (Symptom.ERROR_RATE, r"error rate|errors?|5\d\d|5xx|failing|failures?"),
]


def symptom_of(text: str) -> Symptom:
    """The kind of symptom an alert title or message describes; the first kind named in this order wins:
    memory, crashes, latency, saturation, error rate."""
    lower = text.lower()
    for symptom, pattern in _SYMPTOM_WORDS:
        if re.search(pattern, lower):
            return symptom
    return Symptom.UNKNOWN


@dataclass(frozen=True)
class Question:
    role: Role
    instruction: str  # what a person would ask
    wanted: tuple[str, ...]  # the signals wanted, for the structured data part


def plan(symptom: Symptom, service: str, namespace: str | None, window: str = "30m") -> list[Question]:
    """Questions per role for a kind of symptom. Every plan asks monitoring for the service's golden signals and
    kubernetes for its pods and recent deploys; latency and saturation also ask the cloud agent about databases."""
    where = f" in namespace {namespace}" if namespace else ""
    questions = [
        Question(
            Role.MONITORING,
            f"What are the error rate and the p50/p99 latency of {service} over the last {window}, "
            "compared with normal? Are any of its databases or dependencies saturated?",
            ("error_rate", "latency_p99_ms", "latency_p50_ms", "cpu", "connections"),
        ),
        Question(
            Role.KUBERNETES,
            f"Find out why the {service} pods{where} are unhealthy: pod states, restarts, OOMKilled events, "
            f"and deployments in the last {window} with their versions.",
            ("pods", "restarts", "deploys", "memory"),
        ),
    ]
    if symptom in (Symptom.LATENCY, Symptom.SATURATION, Symptom.UNKNOWN):
        questions.append(
            Question(
                Role.CLOUD,
                f"Check the cloud resources {service} depends on (databases, caches, queues): CPU, connections, "
                "slow queries, throttling.",
                ("cpu", "connections", "resources"),
            )
        )
    return questions


@dataclass(frozen=True)
class Evidence:
    agent: str
    role: Role
    question: str
    outcome: Outcome
    answer: str = ""
    signals: Signals = field(default_factory=Signals)
    duration_ms: float = 0.0
    reason: str = ""  # why there is no answer, for UNAVAILABLE / FAILED
    data: tuple[dict[str, Any], ...] = ()  # the structured parts of the answer, as the agent sent them

    @property
    def usable(self) -> bool:
        return self.outcome is Outcome.ANSWERED


@dataclass(frozen=True)
class Hypothesis:
    text: str
    confidence: float  # 0..1
    cites: tuple[str, ...]  # "agent: the words it rests on"
    recommendations: tuple[str, ...] = ()
    since_s: float | None = None  # how long before the answers the cause began, where they say (a deploy's age)


def _cite(evidence: list[Evidence], source: str) -> str:
    """Who said it, in their words (or, from a data part, the value they gave)."""
    if source.startswith("data:"):
        key = source.removeprefix("data:")
        head, _, rest = key.partition(".")
        for e in evidence:
            for part in e.data:
                if head in part:
                    value = part[head]
                    if rest and isinstance(value, dict):
                        value = value.get(rest)
                    shown = json.dumps(value, separators=(", ", ": "), ensure_ascii=False, default=str)
                    return f"{e.agent}: {key} = {shown[:200]}"
    for e in evidence:
        if source and source in e.answer:
            return f"{e.agent}: {source}"
    return source


REGRESSION_FACTOR = 2.0  # p99 at least this many times its normal after a deploy: the deploy made it slow


def regression(s: Signals) -> tuple[Deploy, float, float] | None:
    """(the deploy, p99 now, p99 normally) when p99 latency is at least REGRESSION_FACTOR times its normal and a
    deploy was reported: the newest deploy is the likely cause."""
    if not s.deploys or s.latency_p99_ms is None or s.latency_p99_normal_ms is None:
        return None
    slow, normal = s.latency_p99_ms.value, s.latency_p99_normal_ms.value
    if normal <= 0 or slow < REGRESSION_FACTOR * normal:
        return None
    return s.deploys[0], slow, normal


def _ago(ago_s: float | None) -> str:
    """ " 20 h ago", " 3 days ago", " 12 min ago", or nothing when the agent did not say."""
    if ago_s is None:
        return ""
    if ago_s >= 48 * 3600:
        return f" {ago_s / 86400:.0f} days ago"
    if ago_s >= 3600:
        return f" {ago_s / 3600:.0f} h ago"
    return f" {max(1, round(ago_s / 60))} min ago"


def rank(evidence: list[Evidence], service: str) -> list[Hypothesis]:
    """Hypotheses from everything that was answered, most likely first. Nothing answered: nothing claimed."""
    usable = [e for e in evidence if e.usable]
    if not usable:
        return []
    s = merge([e.signals for e in usable])
    found: list[Hypothesis] = []

    crashloop = s.pods_in("CrashLoopBackOff")
    oom = s.pods_in("OOMKilled")
    if oom:
        source = next(p.source for p in s.pods if p.state.lower() == "oomkilled")
        found.append(
            Hypothesis(
                f"The {service} pods run out of memory (OOMKilled) and crash-loop: the memory limit is too low for the "
                "current load, or memory leaks.",
                0.85 if crashloop else 0.7,
                (_cite(usable, source),),
                ("Raise the memory limit (e.g. 512Mi -> 768Mi) and watch whether the restarts stop.",),
            )
        )
    if crashloop and not oom:
        source = next(p.source for p in s.pods if p.state.lower() == "crashloopbackoff")
        found.append(
            Hypothesis(
                f"{crashloop} {service} pods are crash-looping; their logs say why.",
                0.6 if crashloop > 3 else 0.5,
                (_cite(usable, source),),
                ("Read the logs of a crashing pod; scale the healthy ones to carry the load.",),
            )
        )
    if s.deploys and (crashloop or (s.error_rate and s.error_rate.value >= 0.01)):
        deploy = s.deploys[0]
        found.append(
            Hypothesis(
                f"The recent deploy {deploy.version} of {service} brought this on.",
                0.55,
                (_cite(usable, deploy.source),),
                (f"Roll back {service} to {deploy.previous or f'the version before {deploy.version}'}.",),
                deploy.ago_s,
            )
        )

    db = next((r for r in s.resources if any(k in r for k in ("db", "rds", "postgres", "mysql"))), None)
    hot_cpu = s.cpu is not None and s.cpu.value >= 0.85
    saturated = hot_cpu or (s.connections is not None and s.connections.value >= 0.8)
    if saturated:
        reading = s.cpu if hot_cpu else s.connections
        assert reading is not None
        what = f"at {reading.value:.0%} CPU" if reading is s.cpu else f"at {reading.value:.0%} of its connections"
        target = f"The database {db}" if db else "A database or cache it depends on"
        slow_pods_fine = s.healthy or not s.pods
        recommendations = []
        if s.full_scan is not None:
            table, column = s.full_scan
            recommendations.append(f"Add an index on {table}.{column} (manual: needs a DBA).")
        recommendations.append(
            f"Scale {db or 'the database'} up (a larger instance or read replicas) as temporary relief."
        )
        cites = [_cite(usable, reading.source)]
        if s.latency_p99_ms is not None:
            cites.append(_cite(usable, s.latency_p99_ms.source))
        found.append(
            Hypothesis(
                f"{target} is saturated ({what}), so {service} waits on it: the likely root cause.",
                0.85 if slow_pods_fine and s.latency_p99_ms is not None else 0.7,
                tuple(cites),
                tuple(recommendations),
            )
        )

    regressed = regression(s)
    if regressed is not None and not saturated:
        deploy, slow, normal = regressed
        recommendations = [f"Roll back {service} to {deploy.previous or f'the version before {deploy.version}'}."]
        if any(re.search(r"\bleak", e.answer, flags=re.IGNORECASE) for e in usable):
            recommendations.append(f"Investigate the memory leak in {deploy.version}.")
        assert s.latency_p99_ms is not None
        found.append(
            Hypothesis(
                f"p99 latency of {service} increased from {normal:.0f}ms to {slow:.0f}ms after the deploy of "
                f"{deploy.version}{_ago(deploy.ago_s)}.",
                0.75,
                (_cite(usable, s.latency_p99_ms.source), _cite(usable, deploy.source)),
                tuple(recommendations),
                deploy.ago_s,
            )
        )
    elif s.latency_p99_ms is not None and not saturated:
        slow = s.latency_p99_ms.value
        usual = s.latency_p99_normal_ms.value if s.latency_p99_normal_ms else None
        if slow >= 5000 or (usual and slow >= 3 * usual):
            found.append(
                Hypothesis(
                    f"Requests to {service} are slow (p99 {slow / 1000:.1f}s"
                    + (f", normally {usual:.0f}ms" if usual else "")
                    + "): a dependency is likely slow or timing out.",
                    0.5,
                    (_cite(usable, s.latency_p99_ms.source),),
                    ("Check the health and latency of its dependencies.",),
                )
            )
    if s.error_rate is not None and not found:
        found.append(
            Hypothesis(
                f"{s.error_rate.value:.1%} of requests to {service} fail; nothing found so far says why.",
                0.3,
                (_cite(usable, s.error_rate.source),),
                ("Look at the errors' messages and at what changed recently.",),
            )
        )
    return sorted(found, key=lambda h: h.confidence, reverse=True)
