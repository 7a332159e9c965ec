"""The error budget policy: how sre-agent acts on a service by the state of its error budgets.

While the budget lasts it moves fast: the matching runbook is proposed at once with one approver (in warning, the
same, with the budget shown). Once a budget is spent (or, configured so, once it runs low) it is cautious: two
approvers for every change, reversible actions first, a change-freeze notice to the owning team (see the tick), and
no automatic resolve. The worst budget of the service's SLOs decides; a service without SLOs (or without data) moves
fast, as before SLOs existed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.slo import BudgetState, SloStatus

__all__ = ["Policy", "Stance", "stance"]

_WORST = (BudgetState.EXHAUSTED, BudgetState.WARNING, BudgetState.HEALTHY)


@dataclass(frozen=True)
class Policy:
    """What each mode asks for (the defaults are the design's)."""

    fast_approvers: int = 1
    cautious_approvers: int = 2
    cautious_when: BudgetState = BudgetState.EXHAUSTED  # or WARNING: cautious as soon as the budget runs low

    def __post_init__(self) -> None:
        if not 1 <= self.fast_approvers <= self.cautious_approvers:
            raise ValueError("approvers: at least one, and no fewer when cautious than when moving fast")
        if self.cautious_when not in (BudgetState.EXHAUSTED, BudgetState.WARNING):
            raise ValueError("cautious when: the budget is exhausted, or in warning")

    def cautious(self, budget: BudgetState | None) -> bool:
        """Whether a budget in this state makes sre-agent cautious."""
        if budget is BudgetState.EXHAUSTED:
            return True
        return budget is BudgetState.WARNING and self.cautious_when is BudgetState.WARNING


@dataclass(frozen=True)
class Stance:
    cautious: bool
    approvers: int  # at least this many people approve a change
    reversible_first: bool
    auto_resolve: bool  # may a verified fix resolve the incident by itself (when configured)
    budget: BudgetState | None  # the worst budget state among the service's SLOs; None: no SLO has data
    deciding: SloStatus | None  # the SLO whose budget decided

    @property
    def mode(self) -> str:
        return "be cautious" if self.cautious else "move fast"


def stance(statuses: Sequence[SloStatus], policy: Policy | None = None) -> Stance:
    """The stance for a service whose SLOs are in `statuses`."""
    policy = policy or Policy()
    known = [s for s in statuses if s.budget is not BudgetState.UNKNOWN]
    deciding = None
    for state in _WORST:
        deciding = next((s for s in sorted(known, key=lambda s: s.remaining or 0.0) if s.budget is state), None)
        if deciding is not None:
            break
    if deciding is not None and policy.cautious(deciding.budget):
        return Stance(True, policy.cautious_approvers, True, False, deciding.budget, deciding)
    return Stance(False, policy.fast_approvers, False, True, deciding.budget if deciding else None, deciding)
