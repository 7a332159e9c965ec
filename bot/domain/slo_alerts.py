"""SLO alert state: what changed since the last evaluation, so that each thing is said once. A tier that starts
firing, still fires, or clears; a budget that crosses down into warning or exhausted, recovers, or becomes unknown."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.domain.slo import TIERS, Alert, BudgetState, DataState, SloStatus

__all__ = ["Change", "Transition", "transitions"]


class Change(StrEnum):
    FIRED = "fired"  # a tier started firing: announced once (a page tier may open an incident)
    FIRING = "firing"  # it still fires: its announcement is updated
    CLEARED = "cleared"  # it stopped: said once
    BUDGET_LOW = "budget_low"  # the budget crossed down into warning or exhausted: announced once per crossing
    BUDGET_RECOVERED = "budget_recovered"  # back up from warning or exhausted
    NO_DATA = "no_data"  # the budget became unknown: the delegate returns nothing for the period


@dataclass(frozen=True)
class Transition:
    change: Change
    tier: str | None = None
    alert: Alert | None = None


_RANK = {BudgetState.HEALTHY: 0, BudgetState.WARNING: 1, BudgetState.EXHAUSTED: 2}


def transitions(
    previous_budget: BudgetState | None, previous_firing: frozenset[str] | set[str], status: SloStatus
) -> tuple[list[Transition], frozenset[str]]:
    """What to say about `status` given what was said before (the budget state and the tiers firing then; None: never
    evaluated, taken as healthy), and the tiers firing now. A tier whose windows have no data keeps its state: it is
    neither announced nor cleared on no information."""
    out: list[Transition] = []
    firing_now = {a.tier: a for a in status.firing}
    unknown = {
        t.name
        for t in TIERS
        if status.windows[t.long].data is DataState.NO_DATA or status.windows[t.short].data is DataState.NO_DATA
    }
    for tier in TIERS:
        was = tier.name in previous_firing
        alert = firing_now.get(tier.name)
        if alert is not None:
            out.append(Transition(Change.FIRING if was else Change.FIRED, tier.name, alert))
        elif was and tier.name not in unknown:
            out.append(Transition(Change.CLEARED, tier.name))
    kept = frozenset(firing_now) | (frozenset(previous_firing) & unknown)
    before = previous_budget or BudgetState.HEALTHY
    after = status.budget
    if after is BudgetState.UNKNOWN:
        if before is not BudgetState.UNKNOWN:
            out.append(Transition(Change.NO_DATA))
    elif before is BudgetState.UNKNOWN:
        if after is not BudgetState.HEALTHY and previous_budget is not None:
            out.append(Transition(Change.BUDGET_LOW))
    elif _RANK[after] > _RANK[before]:
        out.append(Transition(Change.BUDGET_LOW))
    elif _RANK[after] < _RANK[before]:
        out.append(Transition(Change.BUDGET_RECOVERED))
    return out, kept
