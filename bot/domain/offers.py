"""A budget offer: the runbook plan sre-agent recommends when someone asks how a burning error budget looks, shown
with Approve / Reject in the reply, outside any incident. Approving it opens an incident for the change, where it
is carried out, verified and kept on the timeline like any other; the approval carries over to that incident's
proposal only while the plan is the one that was shown (the same hash).

Decided here, as `bot.domain.approval` decides a proposal: a click counts only with the hash of the plan stored, before
it expires, while the offer still waits, and from someone who may approve changes to the service.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.diagnosis import Evidence
from bot.domain.runbooks import Plan

__all__ = ["OFFER_EXPIRY", "Offer", "OfferDecision", "OfferStatus", "decide_offer"]

OFFER_EXPIRY = timedelta(minutes=15)  # as a proposal's (SRE_PROPOSAL_EXPIRY_MINUTES sets both)


class OfferStatus(StrEnum):
    OFFERED = "offered"
    APPROVED = "approved"  # an incident is opened for it (see `incident_id`)
    REJECTED = "rejected"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Offer:
    id: int
    service: str
    plan: Plan
    plan_hash: str
    evidence: tuple[Evidence, ...]  # what the agents said: the incident opened for it starts from the same
    title: str  # the incident's title if it is approved
    shown: str  # the reply's words (mrkdwn), drawn again with the decision
    policy: str  # what the error budget policy said, shown with it
    asked_by: str
    created_at: datetime
    expires_at: datetime
    status: OfferStatus = OfferStatus.OFFERED
    decided_by: str | None = None
    incident_id: int | None = None
    channel_id: str | None = None  # where the offer was shown, once posted
    message_ts: str | None = None
    version: int = 0  # the store's: every change is conditional on it


@dataclass(frozen=True)
class OfferDecision:
    counted: bool
    offer: Offer
    message: str  # what the clicker is told


def decide_offer(
    offer: Offer, *, user: str, shown_hash: str, approve: bool, now: datetime, allowed: frozenset[str]
) -> OfferDecision:
    """Apply one click. The returned offer is the new state when `counted` (or an expiry to record)."""
    if shown_hash != offer.plan_hash:
        return OfferDecision(
            False, offer, "This button belongs to a plan that has changed since it was shown: nothing was done."
        )
    if offer.status is OfferStatus.OFFERED and now >= offer.expires_at:
        expired = replace(offer, status=OfferStatus.EXPIRED)
        return OfferDecision(False, expired, "This offer has expired: ask again for what the agents see now.")
    if offer.status is not OfferStatus.OFFERED:
        return OfferDecision(False, offer, f"This offer is {offer.status} already: nothing more happens.")
    if user not in allowed:
        return OfferDecision(
            False, offer, "Only the people on call for this service or the configured approvers may decide this."
        )
    if not approve:
        return OfferDecision(
            True, replace(offer, status=OfferStatus.REJECTED, decided_by=user), "Rejected: nothing will be done."
        )
    return OfferDecision(
        True,
        replace(offer, status=OfferStatus.APPROVED, decided_by=user),
        "Approved: an incident is being opened for it, where it is carried out and verified.",
    )
