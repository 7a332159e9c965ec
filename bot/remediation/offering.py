"""Budget offers: when someone asks how a service's error budget looks and it burns (the budget is low or spent, or
it burns at least twice its usual rate), sre-agent asks the agents what changed, names the likely cause, and offers
the matching runbook's exact plan with the burn it is expected to save, behind Approve / Reject (bot.domain.offers).

Approve opens an incident for the change (the approver is its commander), which starts from what the agents said
then, so its first proposal is the plan that was shown; the approval is carried over to that proposal through the
same decision as any click (bot.remediation.deciding), with the same rules: who may approve, and two approvers while
the budget is spent. Reject does nothing but say so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from blocks import budgets as budget_words
from blocks import offers as offer_blocks
from blocks.offers import Recommended
from blocks.text import channel as channel_link
from blocks.text import user as user_link
from bot.adapters.slack.gateway import SlackGateway
from bot.budgets.standing import Standing
from bot.domain.approval import Status
from bot.domain.catalog import Catalog
from bot.domain.diagnosis import Hypothesis, Symptom, rank
from bot.domain.offers import OFFER_EXPIRY, Offer, OfferStatus, decide_offer
from bot.domain.runbooks import Plan, Runbook, covers, match
from bot.domain.signals import Deploy, merge
from bot.domain.slo import BudgetAnswer, BudgetState, SloStatus
from bot.errors import DuplicateIncident, SreAgentError
from bot.lifecycle.conversation import Reply
from bot.lifecycle.declaring import Declaration, Declarer, suggest_severity
from bot.lifecycle.delegation import Delegator, Findings
from bot.ports.clock import Clock
from bot.remediation.approvers import Approvers
from bot.remediation.deciding import Click, Decider
from bot.runtime.background import Background
from bot.runtime.scheduler import Scheduler
from bot.store import Store, Timer

__all__ = ["OFFER_EXPIRE", "BudgetOffers", "OfferClick"]

log = logging.getLogger(__name__)

OFFER_EXPIRE = "offer_expire"  # the durable timer that ends an offer nobody decided on
DECIDE_ATTEMPTS = 5
UNUSUAL = 2.0  # a burn at least this many times the usual one is worth asking the agents about
GONE = "That offer no longer exists: nothing was done."
CONTENDED = "Someone decided on this offer at the same moment; look at it again."


@dataclass(frozen=True)
class OfferClick:
    offer_id: int
    shown_hash: str
    user_id: str
    approve: bool


def worth_a_look(statuses: list[SloStatus]) -> bool:
    """Whether the budget burns enough to ask the agents why: low or spent, or burning unusually fast."""
    return any(
        s.budget in (BudgetState.WARNING, BudgetState.EXHAUSTED) or (s.against_usual or 0.0) >= UNUSUAL
        for s in statuses
    )


class BudgetOffers:
    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        slack: SlackGateway,
        delegator: Delegator,
        standing: Standing,
        catalog: Catalog,
        runbooks: Mapping[str, Runbook],
        approvers: Approvers,
        declarer: Declarer,
        decider: Decider,
        background: Background,
        scheduler: Scheduler,
        expiry: timedelta = OFFER_EXPIRY,
    ) -> None:
        self.scheduler = scheduler
        self.expiry = expiry
        self.store = store
        self.clock = clock
        self.slack = slack
        self.delegator = delegator
        self.standing = standing
        self.catalog = catalog
        self.runbooks = runbooks
        self.approvers = approvers
        self.declarer = declarer
        self.decider = decider
        self.background = background

    async def offer(self, service: str, answer: BudgetAnswer, figures: str, asked_by: str) -> Reply | None:
        """For a budget question about `service` (whose figures are `figures`): the cause and the plan, when it
        burns and agents are there to ask; None otherwise (the figures are the whole answer)."""
        if not self.delegator.configured or not worth_a_look(answer.statuses):
            return None
        now = self.clock.now()
        found = await self.delegator.look(service)
        signals = merge([e.signals for e in found.evidence if e.usable])
        target: dict[str, Any] = {"service": service}
        known = self.catalog.get(service)
        if known is not None and known.namespace:
            target["namespace"] = known.namespace
        stance = await self.standing.stance(service)
        plans = [p for p in match(list(self.runbooks.values()), signals, target) if not p.manual]
        if stance.reversible_first:
            plans.sort(key=lambda p: not p.reversible)
        top = found.hypotheses[0] if found.hypotheses else None
        burning = max(answer.statuses, key=lambda s: (s.against_usual or 0.0, s.burn_now or 0.0))
        plan = plans[0] if plans else None
        recommended = Recommended(
            cause=top.text if top else None,
            action=plan.action if plan else None,
            saves=await self._saves(burning, signals.deploys, now) if plan else "",
            others=_others(top, plan),
            unanswered=tuple(f"{e.agent}: {e.reason or e.outcome}" for e in found.evidence if not e.usable),
        )
        text = offer_blocks.offer_text(figures, recommended)
        if plan is None:
            return Reply(text, offer_blocks.offer_blocks(text, "", None))
        policy = budget_words.policy_note(stance)
        offer = await self.store.add_offer(
            service,
            plan,
            found.evidence,
            title=_title(service, burning),
            shown=text,
            policy=policy,
            asked_by=asked_by,
            now=now,
            expires_at=now + self.expiry,
        )
        await self.scheduler.at(OFFER_EXPIRE, offer.expires_at, payload={"offer": offer.id}, key=f"offer-{offer.id}")
        return Reply(text, offer_blocks.offer_blocks(text, policy, offer), offer.id)

    async def _saves(self, status: SloStatus, deploys: list[Deploy], now: datetime) -> str:
        """What undoing the change is expected to save: the burn now less the burn before the deploy (its day
        before it, from the snapshots), or less the usual burn when it is not known when it was deployed."""
        if status.burn_now is None:
            return ""
        definition = next((d for d in self.standing.definitions if d.slo.name == status.slo.name), None)
        before = None
        if deploys and deploys[0].ago_s is not None and definition is not None:
            before = await self.standing.burn_before(definition, now - timedelta(seconds=deploys[0].ago_s))
        usual = status.burn_now / status.against_usual if status.against_usual else None
        if before is None:
            before = usual
        if before is None or before >= status.burn_now:
            return ""
        since = f", as before {deploys[0].version}" if deploys else ""
        if usual:
            saved, back = (status.burn_now - before) / usual, before / usual
            return f"saves ~{saved:.1f}x burn rate: back to {back:.1f}x normal{since}"
        return f"saves ~{status.burn_now - before:.2f}x the budget's rate{since}"

    async def on_timer(self, timer: Timer) -> None:
        """The offer's durable expiry: one nobody decided on in time says so, and its buttons go."""
        offer = await self.store.offer(int(timer.payload["offer"]))
        if offer is None or offer.status is not OfferStatus.OFFERED:
            return
        expired = replace(offer, status=OfferStatus.EXPIRED)
        if await self.store.save_offer(offer, expired, now=self.clock.now()):
            await self._redraw(expired)

    async def resume(self) -> None:
        """At start: an approval a stop cut short before its incident was on record opens it now (once: the
        declaration's key is the offer's)."""
        for offer in await self.store.offers(status=OfferStatus.APPROVED, opened=False):
            if offer.decided_by:
                await self._open_for(offer, offer.decided_by)

    async def shown(self, offer_id: int, channel_id: str, ts: str) -> None:
        """Where the offer was posted, so that its message shows the decision when there is one."""
        for _ in range(DECIDE_ATTEMPTS):  # a click may be written at the same moment: read it again
            offer = await self.store.offer(offer_id)
            if offer is None:
                return
            placed = replace(offer, channel_id=channel_id, message_ts=ts)
            if await self.store.save_offer(offer, placed, now=self.clock.now()):
                if placed.status is not OfferStatus.OFFERED:  # decided before it was on record where it is
                    await self._redraw(placed)
                return
        log.warning("budget offer %s: where it was posted could not be recorded", offer_id)

    async def click(self, click: OfferClick) -> str:
        """One Approve / Reject on an offer; returns what the clicker is told (privately)."""
        offer = await self.store.offer(click.offer_id)
        if offer is None:
            return GONE
        allowed = await self.approvers.for_service(offer.service)
        for _ in range(DECIDE_ATTEMPTS):  # a click that lost a race is decided again on what won it
            now = self.clock.now()
            decision = decide_offer(
                offer, user=click.user_id, shown_hash=click.shown_hash, approve=click.approve, now=now, allowed=allowed
            )
            after = decision.offer
            if after == offer:
                return decision.message
            if await self.store.save_offer(offer, after, now=now):
                break
            fresh = await self.store.offer(click.offer_id)
            if fresh is None:
                return GONE
            offer = fresh
        else:
            return CONTENDED
        await self._redraw(after)
        if not decision.counted:  # an expiry, recorded
            return decision.message
        if after.status is OfferStatus.APPROVED:
            self.background.spawn(self._open_for(after, click.user_id), name=f"budget offer {after.id}")
        return decision.message

    async def _open_for(self, offer: Offer, user_id: str) -> None:
        """The approved offer's incident, and the approval carried over to its proposal of the same plan."""
        found = Findings(
            Symptom.LATENCY, offer.evidence, tuple(rank(list(offer.evidence), offer.service)), offer.created_at
        )
        try:
            incident = await self.declarer.declare(
                Declaration(
                    title=offer.title,
                    service=offer.service,
                    severity=suggest_severity(offer.title, offer.service, self.catalog),
                    user_id=user_id,
                    description=f"Opened from the error budget offer approved by {user_id}: {offer.plan.action}.",
                    findings=found,
                    key=f"budget-offer-{offer.id}",
                )
            )
        except DuplicateIncident:  # opened before a restart cut this short: the pager's webhook brings it here
            log.info("budget offer %s: its incident was opened already", offer.id)
            await self._say(offer, ":information_source: Its incident was opened already; decide in its channel.")
            return
        except SreAgentError as exc:
            log.warning("budget offer %s: the incident could not be opened: %s", offer.id, exc)
            await self._say(offer, f":warning: The incident for this could not be opened: {exc.user_message}")
            return
        assert incident.id is not None
        latest = await self.store.offer(offer.id)
        if latest is not None:
            await self.store.save_offer(latest, replace(latest, incident_id=incident.id), now=self.clock.now())
            offer = latest  # where it is shown may have been recorded since the click
        where = channel_link(incident.channel_id) if incident.channel_id else incident.label
        same = [
            p
            for p in await self.store.proposals(incident.id)
            if p.plan_hash == offer.plan_hash and p.status is Status.PROPOSED
        ]
        if not same:
            await self._say(
                offer,
                f":warning: Opened {where}, but its proposal is not the plan approved here: nothing was carried "
                "over. Decide there.",
            )
            return
        told = await self.decider.click(Click(same[0].id, offer.plan_hash, user_id, True))
        await self._say(offer, f":rotating_light: {user_link(user_id)} approved: opened {where}. {told}")

    async def _say(self, offer: Offer, text: str) -> None:
        if offer.channel_id and offer.message_ts:
            await self.slack.post(offer.channel_id, text, thread_ts=offer.message_ts)

    async def _redraw(self, offer: Offer) -> None:
        """The offer's message with the decision in place of the buttons."""
        if not offer.channel_id or not offer.message_ts:
            return
        try:
            await self.slack.update(
                offer.channel_id,
                offer.message_ts,
                offer.shown,
                offer_blocks.offer_blocks(offer.shown, offer.policy, offer),
            )
        except SreAgentError as exc:  # the decision stands; only its showing failed
            log.warning("budget offer %s: its message could not be redrawn: %s", offer.id, exc)


def _title(service: str, status: SloStatus) -> str:
    if status.against_usual is not None:
        return f"{service} is burning its error budget {status.against_usual:.1f}x normal"
    return f"{service} is burning its error budget ({budget_words.percent(status.remaining)} left)"


def _others(top: Hypothesis | None, plan: Plan | None) -> tuple[str, ...]:
    """The cause's other recommendations: those the plan does not already do."""
    if top is None:
        return ()
    return tuple(r for r in top.recommendations if plan is None or not covers(plan.action, r))
