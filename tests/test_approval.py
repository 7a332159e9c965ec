"""Approval rules: bound to the plan's hash, expiry, who may, two people where the risk asks for it, and every
refusal said."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from bot.config.runbooks import load_runbooks
from bot.domain.approval import DEFAULT_EXPIRY, Proposal, Status, approvals_needed, decide
from bot.domain.runbooks import Risk, match
from bot.domain.signals import from_text

NOW = datetime(2026, 11, 25, 3, 5, tzinfo=UTC)
[PLAN, *_] = match(load_runbooks(), from_text("3 pods OOMKilled"), {"service": "checkout-service"})
ALLOWED = frozenset({"U0DANA", "U0SAM"})


def _proposal(**changes: object) -> Proposal:
    base = Proposal(1, 7, PLAN, PLAN.hash, Status.PROPOSED, NOW, NOW + DEFAULT_EXPIRY, approvals_needed(PLAN))
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _click(p: Proposal, user: str = "U0DANA", *, approve: bool = True, at: datetime = NOW, **kw: object):  # type: ignore[no-untyped-def]
    return decide(
        p,
        user=user,
        shown_hash=str(kw.get("hash", p.plan_hash)),
        approve=approve,
        now=at,
        allowed=ALLOWED,
        incident_open=bool(kw.get("open", True)),
        reason=str(kw.get("reason", "")),
    )


def test_one_on_call_approval_is_enough_for_a_reversible_medium_risk_plan() -> None:
    assert approvals_needed(PLAN) == 1
    decision = _click(_proposal())
    assert decision.counted and decision.proposal.status is Status.APPROVED
    assert decision.proposal.approvers == ("U0DANA",)


def test_high_risk_or_irreversible_needs_two_different_people() -> None:
    risky = dataclasses.replace(PLAN, risk=Risk.HIGH)
    assert approvals_needed(risky) == 2 and approvals_needed(dataclasses.replace(PLAN, reversible=False)) == 2
    assert approvals_needed(PLAN, budget_exhausted=True) == 2
    p = _proposal(needed=2)
    first = _click(p)
    assert first.counted and first.proposal.status is Status.PROPOSED and "needs 1 more" in first.message
    again = _click(first.proposal)
    assert not again.counted and "second, different person" in again.message
    second = _click(first.proposal, "U0SAM")
    assert second.counted and second.proposal.status is Status.APPROVED
    assert second.proposal.approvers == ("U0DANA", "U0SAM")


def test_refusals_say_why_and_change_nothing() -> None:
    p = _proposal()
    cases = [
        (_click(p, "U0MALLORY"), "Only the people on call"),
        (_click(p, hash="0" * 64), "changed since it was shown"),
        (_click(p, open=False), "The incident is closed"),
        (_click(_proposal(status=Status.EXECUTED)), "is executed already"),
    ]
    for decision, words in cases:
        assert not decision.counted and words in decision.message
        assert decision.proposal == p or decision.proposal.status is Status.EXECUTED


def test_expiry() -> None:
    late = _click(_proposal(), at=NOW + DEFAULT_EXPIRY + timedelta(seconds=1))
    assert not late.counted and late.proposal.status is Status.EXPIRED and late.message == "This proposal has expired."


def test_reject_with_a_reason() -> None:
    decision = _click(_proposal(), "U0SAM", approve=False, reason="we are rolling back instead")
    assert decision.counted and decision.proposal.status is Status.REJECTED
    assert decision.proposal.rejected_by == "U0SAM" and decision.proposal.reason == "we are rolling back instead"


def test_a_budget_offer_counts_one_decision_from_someone_who_may_on_the_plan_shown_before_it_expires() -> None:
    from bot.domain.offers import OFFER_EXPIRY, Offer, OfferStatus, decide_offer

    offer = Offer(3, "checkout-service", PLAN, PLAN.hash, (), "t", "shown", "", "U0DANA", NOW, NOW + OFFER_EXPIRY)

    def click(o: Offer, user: str = "U0DANA", **kw: object):  # type: ignore[no-untyped-def]
        return decide_offer(
            o,
            user=user,
            shown_hash=str(kw.get("hash", o.plan_hash)),
            approve=bool(kw.get("approve", True)),
            now=kw.get("at", NOW),  # type: ignore[arg-type]
            allowed=ALLOWED,
        )

    approved = click(offer)
    assert approved.counted and approved.offer.status is OfferStatus.APPROVED and approved.offer.decided_by == "U0DANA"
    rejected = click(offer, "U0SAM", approve=False)
    assert rejected.counted and rejected.offer.status is OfferStatus.REJECTED
    for refused, said in [
        (click(offer, "U0LEE"), "Only the people on call"),
        (click(offer, hash="0" * 64), "changed since it was shown"),
        (click(approved.offer, "U0SAM"), "approved already"),
    ]:
        assert not refused.counted and said in refused.message
        assert refused.offer.status is not OfferStatus.EXPIRED
    late = click(offer, at=NOW + OFFER_EXPIRY)
    assert not late.counted and late.offer.status is OfferStatus.EXPIRED and "expired" in late.message
