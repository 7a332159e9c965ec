"""Approving a proposal: who may, how many people it takes, and when a click no longer counts.

A click counts only while the hash it carries is the hash of the plan stored (the plan that was shown), the proposal
has not expired and is still waiting, and the person may approve (on call for the service, or a configured approver).
Plans that are high-risk or cannot be undone need two different people (and, later, whatever the budget policy says).
Every refusal says why, in words the clicker sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.runbooks import Plan, Risk

__all__ = ["DEFAULT_EXPIRY", "Decision", "Proposal", "Status", "approvals_needed", "decide"]

DEFAULT_EXPIRY = timedelta(minutes=15)


class Status(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    EXECUTING = "executing"
    EXECUTED = "executed"
    FAILED = "failed"


def approvals_needed(plan: Plan, *, budget_exhausted: bool = False) -> int:
    """Two different people for a high-risk or irreversible plan, or while the error budget is spent."""
    return 2 if plan.risk is Risk.HIGH or not plan.reversible or budget_exhausted else 1


@dataclass(frozen=True)
class Proposal:
    id: int
    incident_id: int
    plan: Plan
    plan_hash: str
    status: Status
    created_at: datetime
    expires_at: datetime
    needed: int = 1
    approvers: tuple[str, ...] = ()
    rejected_by: str | None = None
    reason: str = ""
    version: int = 0  # the store's: every change is conditional on it
    agent: str | None = None  # who carries it out, in which A2A task
    task_id: str | None = None
    context_id: str | None = None
    outcome: str = ""  # what the agent (or the person, for a manual task) said when it ended
    policy: str = ""  # what the error budget policy said when it was proposed (shown with it)


@dataclass(frozen=True)
class Decision:
    counted: bool
    proposal: Proposal
    message: str  # what the clicker is told
    events: tuple[str, ...] = field(default_factory=tuple)  # what goes on the timeline (kinds), if anything


def decide(
    proposal: Proposal,
    *,
    user: str,
    shown_hash: str,
    approve: bool,
    now: datetime,
    allowed: frozenset[str],
    incident_open: bool = True,
    reason: str = "",
) -> Decision:
    """Apply one click. The returned proposal is the new state when `counted`; otherwise unchanged."""

    def refuse(message: str) -> Decision:
        return Decision(False, proposal, message, ("approval_refused",))

    if not incident_open:
        return refuse("The incident is closed: nothing will be done.")
    if shown_hash != proposal.plan_hash:
        return refuse("This button belongs to a plan that has changed since it was shown: nothing was done.")
    if proposal.status is Status.PROPOSED and now >= proposal.expires_at:
        return Decision(
            False, replace(proposal, status=Status.EXPIRED), "This proposal has expired.", ("proposal_expired",)
        )
    if proposal.status is not Status.PROPOSED:
        return refuse(f"This proposal is {proposal.status} already: nothing more happens.")
    if user not in allowed:
        return refuse("Only the people on call for this service or the configured approvers may decide this.")
    if not approve:
        rejected = replace(proposal, status=Status.REJECTED, rejected_by=user, reason=reason)
        return Decision(True, rejected, "Rejected: nothing will be done.", ("proposal_rejected",))
    if user in proposal.approvers:
        return refuse("You approved this already; it needs a second, different person.")
    approvers = (*proposal.approvers, user)
    if len(approvers) < proposal.needed:
        waiting = replace(proposal, approvers=approvers)
        return Decision(
            True,
            waiting,
            f"Approved by you; it needs {proposal.needed - len(approvers)} more, from someone else.",
            ("proposal_approved",),
        )
    approved = replace(proposal, approvers=approvers, status=Status.APPROVED)
    return Decision(True, approved, "Approved: it will be carried out now.", ("proposal_approved",))
