"""Triage: how far an incident reaches, from the service catalog, and what severity that suggests.

The blast radius is the service, every service that depends on it (transitively: whatever calls something that calls
it), which of those users see and roughly how many users that is, and the SLO impact: each affected SLO's budget
left and burn now (said plainly when there are none). The suggested severity comes from the services' tiers, the user
impact, the signals and the SLOs, when there are any; it is a suggestion: the severity a person or PagerDuty set
always wins.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.catalog import Catalog, Service
from bot.domain.severity import Severity
from bot.domain.signals import from_text as text_signals
from bot.domain.slo import BudgetState, SloStatus

__all__ = [
    "NO_SLOS",
    "BlastRadius",
    "Signals",
    "blast_radius",
    "dependents",
    "signals_from_title",
    "slo_summary",
    "suggest_severity",
]

NO_SLOS = "no SLOs configured"
MANY_USERS = 1_000_000


@dataclass(frozen=True)
class Signals:
    """What is known of the symptoms so far (from the page now; from the monitoring agents later)."""

    error_rate: float | None = None  # 0.085 for 8.5%
    total_outage: bool = False


@dataclass(frozen=True)
class BlastRadius:
    service: str
    known: bool
    dependents: tuple[str, ...]
    user_facing: tuple[str, ...]
    users: int | None
    slo: str
    suggested: Severity
    reasons: tuple[str, ...]

    @property
    def affected(self) -> tuple[str, ...]:
        return (self.service, *self.dependents)


_OUTAGE = re.compile(r"\b(?:down|outage|unavailable|unreachable|not responding|100% errors?)\b", re.IGNORECASE)


def signals_from_title(title: str) -> Signals:
    """What an alert's title says of the symptom: an error rate (``error rate at 8.5%``) or a total outage."""
    words = text_signals(title)
    rate = words.error_rate.value if words.error_rate is not None else None
    return Signals(error_rate=rate, total_outage=bool(_OUTAGE.search(title)) or (rate is not None and rate >= 0.99))


def dependents(service: str, catalog: Catalog) -> tuple[str, ...]:
    """Every service that depends on `service`, directly or through others; nearest first, then by name."""
    callers: dict[str, list[str]] = {}
    for s in catalog:
        for dep in s.depends_on:
            callers.setdefault(dep, []).append(s.name)
    seen = {service}
    order: list[str] = []
    queue = deque([service])
    while queue:
        current = queue.popleft()
        for caller in sorted(callers.get(current, [])):
            if caller not in seen:
                seen.add(caller)
                order.append(caller)
                queue.append(caller)
    return tuple(order)


def slo_summary(budgets: Sequence[SloStatus]) -> str:
    """The affected SLOs in one line: each one's budget left and burn now."""
    if not budgets:
        return NO_SLOS
    parts = []
    for b in budgets:
        left = "budget unknown" if b.remaining is None else f"{b.remaining * 100:.1f}% of its budget left"
        burning = "" if b.burn_now is None else f", burning {b.burn_now:.2f}x"
        firing = f" ({', '.join(a.tier for a in b.firing)})" if b.firing else ""
        parts.append(f"{b.slo.name} {left}{burning}{firing}")
    return "; ".join(parts)


def suggest_severity(
    services: list[Service], signals: Signals | None = None, budgets: Sequence[SloStatus] = ()
) -> tuple[Severity, tuple[str, ...]]:
    """P5 minus one level for each of: a tier-1 service (two levels) or tier-2 one, users seeing it, a million users
    or more, a high error rate (25% or more) or a total outage, an SLO burning at a page rate or a spent error budget.
    At most P1, at least P4."""
    score = 0
    reasons: list[str] = []
    best_tier = min((s.tier for s in services), default=None)
    if best_tier == 1:
        score += 2
        reasons.append("a tier-1 service is affected")
    elif best_tier == 2:
        score += 1
        reasons.append("a tier-2 service is affected")
    facing = [s for s in services if s.user_facing]
    if facing:
        score += 1
        reasons.append("users see it")
    users = max((s.users or 0 for s in facing), default=0)
    if users >= MANY_USERS:
        score += 1
        reasons.append(f"about {users:,} users")
    if signals is not None:
        if signals.total_outage:
            score += 1
            reasons.append("a total outage")
        elif signals.error_rate is not None and signals.error_rate >= 0.25:
            score += 1
            reasons.append(f"{signals.error_rate:.0%} of requests fail")
    paging = [b.slo.name for b in budgets if any(a.severity == "page" for a in b.firing)]
    spent = [b.slo.name for b in budgets if b.budget is BudgetState.EXHAUSTED]
    if paging:
        score += 1
        reasons.append(f"{paging[0]} burns its error budget at a page rate")
    elif spent:
        score += 1
        reasons.append(f"the error budget of {spent[0]} is spent")
    level = min(4, max(1, 5 - score))
    return Severity(f"P{level}"), tuple(reasons)


def blast_radius(
    service: str, catalog: Catalog, signals: Signals | None = None, budgets: Sequence[SloStatus] = ()
) -> BlastRadius:
    """What an incident of `service` reaches; `budgets`: the SLOs of the affected services, as they stand."""
    known = catalog.get(service)
    if known is None:
        return BlastRadius(
            service=service,
            known=False,
            dependents=(),
            user_facing=(),
            users=None,
            slo=NO_SLOS,
            suggested=Severity.P3,
            reasons=(f"{service} is not in the service catalog",),
        )
    affected = [known] + [s for name in dependents(service, catalog) if (s := catalog.get(name)) is not None]
    facing = [s for s in affected if s.user_facing]
    users = max((s.users for s in facing if s.users is not None), default=None)
    names = {s.name for s in affected}
    mine = [b for b in budgets if b.slo.service in names]
    suggested, reasons = suggest_severity(affected, signals, mine)
    return BlastRadius(
        service=service,
        known=True,
        dependents=tuple(s.name for s in affected[1:]),
        user_facing=tuple(s.name for s in facing),
        users=users,
        slo=slo_summary(mine),
        suggested=suggested,
        reasons=reasons,
    )
