"""A proposal as people see it: the exact plan (what, where, with which parameters, how risky, whether it can be
undone, what should happen), why it was matched, and Approve / Reject buttons bound to the plan's hash. Once decided,
the same message shows what became of it instead of the buttons. Also: the reason modal, the verified message and
the request for human help."""

from __future__ import annotations

import json

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from blocks.ids import ActionId, BlockId, CallbackId
from blocks.text import escape, truncate, user, when
from bot.domain.approval import Proposal, Status
from bot.domain.incident import Incident
from bot.domain.runbooks import Plan, Risk

__all__ = [
    "button_value",
    "help_text",
    "proposal_blocks",
    "proposal_text",
    "read_button_value",
    "reject_modal",
    "verified_blocks",
]

HASH_SHOWN = 12


def button_value(proposal: Proposal) -> str:
    """What a button carries: the proposal and the hash of the plan shown, so a click is bound to that plan."""
    return f"{proposal.id}:{proposal.plan_hash}"


def read_button_value(value: str) -> tuple[int, str] | None:
    head, _, digest = value.partition(":")
    return (int(head), digest) if head.isdigit() and digest else None


def _where(plan: Plan) -> str:
    target = plan.target
    where = f"`{escape(str(target.get('service', '?')))}`"
    if target.get("namespace"):
        where += f" in namespace `{escape(str(target['namespace']))}`"
    return where


def _parameters(plan: Plan) -> str:
    if not plan.parameters:
        return "none"
    return ", ".join(
        f"{escape(str(k))}: `{escape(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))}`"
        for k, v in sorted(plan.parameters.items())
    )


def _names(users: tuple[str, ...]) -> str:
    return ", ".join(user(u) for u in users) or "nobody yet"


def state_line(proposal: Proposal) -> str:
    status, outcome = proposal.status, escape(truncate(proposal.outcome, 1500))
    if status is Status.PROPOSED:
        needed = f"needs {proposal.needed} different approvers" if proposal.needed > 1 else "needs 1 approver"
        got = f"; approved by {_names(proposal.approvers)}" if proposal.approvers else ""
        return f":hourglass_flowing_sand: Waiting for a decision ({needed}{got}) · expires {when(proposal.expires_at)}"
    if status is Status.APPROVED:
        return f":white_check_mark: Approved by {_names(proposal.approvers)}: being carried out"
    if status is Status.EXECUTING:
        agent = f" by *{escape(proposal.agent)}*" if proposal.agent else ""
        return f":gear: Approved by {_names(proposal.approvers)}; being carried out{agent}"
    if status is Status.EXECUTED:
        if proposal.plan.manual:
            return f":white_check_mark: Done by {_names(proposal.approvers)}"
        return f":white_check_mark: Carried out (approved by {_names(proposal.approvers)}): {outcome}"
    if status is Status.FAILED:
        return f":x: Failed (approved by {_names(proposal.approvers)}): {outcome}"
    if status is Status.REJECTED:
        reason = f": {escape(truncate(proposal.reason, 1500))}" if proposal.reason else ""
        return f":no_entry: Rejected by {user(proposal.rejected_by)}{reason}. Nothing was done."
    if proposal.outcome:  # withdrawn, or never carried out: the reason
        return f":hourglass: {outcome[:1].upper()}{outcome[1:]}. Nothing was done."
    return ":hourglass: Expired without a decision. Nothing was done."


def proposal_text(proposal: Proposal, title: str) -> str:
    plan = proposal.plan
    verb = "To do by hand" if plan.manual else "Proposed"
    return truncate(f"{verb} ({escape(title)}): {escape(plan.action)}", 3000)


def proposal_blocks(proposal: Proposal, title: str) -> list[Block]:
    plan = proposal.plan
    risky = plan.risk is Risk.HIGH or not plan.reversible
    if plan.manual:
        head = (
            f":clipboard: *A task for a person* (runbook _{escape(title)}_): *{escape(plan.action)}*\n"
            "sre-agent does not do this itself. Click *Done* when it is done."
        )
    else:
        head = f":wrench: *Proposed* (runbook _{escape(title)}_): *{escape(plan.action)}*"
    why = "\n".join(f"• {escape(r)}" for r in plan.reasons) or "• (no reasons recorded)"
    fields = [
        MarkdownTextObject(text=f"*Target*\n{_where(plan)}"),
        MarkdownTextObject(text=f"*Parameters*\n{truncate(_parameters(plan), 1900)}"),
        MarkdownTextObject(text=f"*Risk*\n{plan.risk}{' :warning:' if risky else ''}"),
        MarkdownTextObject(text=f"*Reversible*\n{'yes' if plan.reversible else 'no'}"),
        MarkdownTextObject(text=f"*Expected*\n{escape(truncate(plan.expected, 1900))}"),
        MarkdownTextObject(text=f"*Why*\n{truncate(why, 1900)}"),
    ]
    blocks: list[Block] = [
        SectionBlock(block_id=BlockId.PROPOSAL, text=MarkdownTextObject(text=truncate(head, 3000))),
        SectionBlock(block_id=BlockId.PROPOSAL_FIELDS, fields=fields),
    ]
    if proposal.policy:  # written by blocks.budgets.policy_note when it was proposed (escaped there)
        blocks.append(
            ContextBlock(
                block_id=BlockId.PROPOSAL_POLICY, elements=[MarkdownTextObject(text=truncate(proposal.policy, 3000))]
            )
        )
    if proposal.status is Status.PROPOSED:
        value = button_value(proposal)
        if plan.manual:
            buttons = [ButtonElement(text="Done", action_id=ActionId.PROPOSAL_DONE, value=value, style="primary")]
        else:
            confirm = None
            if risky:
                confirm = ConfirmObject(
                    title="Approve a risky change?",
                    text=truncate(
                        f"{escape(plan.action)} ({plan.risk} risk, "
                        f"{'reversible' if plan.reversible else 'cannot be undone'}). "
                        f"It needs {proposal.needed} different approvers.",
                        300,
                    ),
                    confirm="Approve",
                    deny="Cancel",
                )
            buttons = [
                ButtonElement(
                    text="Approve", action_id=ActionId.PROPOSAL_APPROVE, value=value, style="primary", confirm=confirm
                ),
                ButtonElement(text="Reject", action_id=ActionId.PROPOSAL_REJECT, value=value, style="danger"),
            ]
        blocks.append(ActionsBlock(block_id=BlockId.PROPOSAL_ACTIONS, elements=buttons))
    blocks.append(
        ContextBlock(
            block_id=BlockId.PROPOSAL_STATE,
            elements=[
                MarkdownTextObject(
                    text=truncate(f"{state_line(proposal)} · plan `{proposal.plan_hash[:HASH_SHOWN]}`", 3000)
                )
            ],
        )
    )
    return blocks


def reject_modal(proposal: Proposal, channel_id: str) -> View:
    return View(
        type="modal",
        callback_id=CallbackId.REJECT,
        private_metadata=json.dumps({"proposal": proposal.id, "hash": proposal.plan_hash, "channel": channel_id}),
        title=PlainTextObject(text="Reject the proposal"),
        submit=PlainTextObject(text="Reject"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=truncate(f"*{escape(proposal.plan.action)}*", 3000))),
            InputBlock(
                block_id=BlockId.REJECT_REASON,
                label="Why not? (it goes on the incident's timeline)",
                element=PlainTextInputElement(
                    action_id=ActionId.REJECT_REASON, multiline=True, min_length=3, max_length=1000
                ),
            ),
        ],
    )


def verified_blocks(incident: Incident, text: str) -> list[Block]:
    """The action worked: say so, and offer to resolve."""
    return [
        SectionBlock(block_id=BlockId.VERIFIED, text=MarkdownTextObject(text=truncate(text, 3000))),
        ActionsBlock(
            block_id=BlockId.VERIFIED_ACTIONS,
            elements=[
                ButtonElement(
                    text="Resolve", action_id=ActionId.INCIDENT_RESOLVE, value=str(incident.id), style="primary"
                ),
            ],
        ),
    ]


def help_text(incident: Incident, why: str, people: list[str]) -> str:
    """No runbook applies (any more): ask the people plainly."""
    who = " ".join(user(p) for p in people) or "on-call responders"
    return truncate(
        f":sos: *{incident.label} needs a person.* {escape(why)}\n"
        f"{who}: please look at the findings above and decide what to do; `/incident note` what you try, "
        "`/incident escalate` to page the next level.",
        3000,
    )
