"""The reply to "how's the checkout error budget looking?" when a budget burns and the agents found why: the budget's
figures, the likely cause, the recommended actions (the matching runbook's exact plan first, with the burn it is
expected to save), the error budget policy, and Approve / Reject bound to the plan's hash. Once decided, the same
message shows who decided and what followed instead of the buttons."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, ContextBlock, MarkdownTextObject, SectionBlock

from blocks.ids import ActionId, BlockId
from blocks.proposals import HASH_SHOWN
from blocks.text import escape, truncate, user
from bot.domain.offers import Offer, OfferStatus

__all__ = ["Recommended", "offer_blocks", "offer_text"]


@dataclass(frozen=True)
class Recommended:
    """What the reply recommends: the cause the agents point to, the plan (its action and the burn it saves), and
    the other things to do."""

    cause: str | None
    action: str | None = None
    saves: str = ""  # "saves ~2.1x burn rate: ...", or nothing when it cannot be told
    others: tuple[str, ...] = ()
    unanswered: tuple[str, ...] = ()  # the agents that could not say, with why


def offer_text(figures: str, found: Recommended) -> str:
    """The whole reply as text (the figures are mrkdwn from blocks.budgets.answer)."""
    lines = [figures]
    if found.cause:
        lines.append(f"*Root cause:* {escape(found.cause)}")
    elif found.unanswered:
        lines.append("I asked the agents what changed; none could say: " + escape("; ".join(found.unanswered)) + ".")
    else:
        lines.append("I asked the agents what changed; nothing they report explains the burn.")
    steps = [f"{escape(found.action)}" + (f" ({escape(found.saves)})" if found.saves else "")] if found.action else []
    steps += [escape(o) for o in found.others]
    if steps:
        lines.append("*Recommended action:*\n" + "\n".join(f"{n}. {step}" for n, step in enumerate(steps, start=1)))
    return truncate("\n".join(lines), 3000)


def offer_blocks(text: str, policy: str, offer: Offer | None) -> list[Block]:
    """The reply (`text` from offer_text), the policy, and while it waits Approve / Reject for the offer's plan;
    once decided, who decided in their place."""
    blocks: list[Block] = [SectionBlock(block_id=BlockId.OFFER, text=MarkdownTextObject(text=truncate(text, 3000)))]
    if offer is None:
        return blocks
    if policy:
        blocks.append(
            ContextBlock(block_id=BlockId.OFFER_POLICY, elements=[MarkdownTextObject(text=truncate(policy, 3000))])
        )
    if offer.status is OfferStatus.OFFERED:
        value = f"{offer.id}:{offer.plan_hash}"
        blocks.append(
            SectionBlock(
                block_id=BlockId.OFFER_ASK,
                text=MarkdownTextObject(text=truncate(f"*{escape(offer.plan.action)}?*", 3000)),
            )
        )
        blocks.append(
            ActionsBlock(
                block_id=BlockId.OFFER_ACTIONS,
                elements=[
                    ButtonElement(text="Approve", action_id=ActionId.OFFER_APPROVE, value=value, style="primary"),
                    ButtonElement(text="Reject", action_id=ActionId.OFFER_REJECT, value=value, style="danger"),
                ],
            )
        )
    line = f"{state_line(offer)} · plan `{offer.plan_hash[:HASH_SHOWN]}`"
    blocks.append(ContextBlock(block_id=BlockId.OFFER_STATE, elements=[MarkdownTextObject(text=truncate(line, 3000))]))
    return blocks


def state_line(offer: Offer) -> str:
    by = user(offer.decided_by) if offer.decided_by else "nobody"
    if offer.status is OfferStatus.OFFERED:
        return (
            f"Runbook _{escape(offer.plan.runbook)}_. Approving opens an incident for it, where it is carried out and "
            f"verified; this offer expires at {offer.expires_at:%H:%M} UTC."
        )
    if offer.status is OfferStatus.APPROVED:
        return f":white_check_mark: Approved by {by}: it goes on in its incident."
    if offer.status is OfferStatus.REJECTED:
        return f":no_entry_sign: Rejected by {by}: nothing will be done."
    return ":hourglass: Expired: nothing was done. Ask again for what the agents see now."
