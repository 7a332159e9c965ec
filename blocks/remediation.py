"""What remediation says in an incident's channel (mrkdwn) and to the person who clicked (ephemeral): the next
plan, a decision, the agent asked, the outcome, the verification and its verdict, a failure and the escalation.
Every piece of untrusted text is escaped here. The proposal message itself is in blocks/proposals.py."""

from __future__ import annotations

from blocks.text import escape, truncate, user
from bot.domain.approval import Proposal
from bot.domain.runbooks import Verification
from bot.domain.verification import shown_duration, shown_value

GONE = "That proposal no longer exists: nothing was done."
CONTENDED = "Others are deciding this at the same moment; look at the message again."
MARKED_DONE = "Marked done; it is on the incident's timeline."
NOT_A_TASK = "That plan is carried out by an agent once approved, not marked done by hand: nothing was done."
OTHER_INCIDENT = "That button belongs to another incident's message: nothing was done."
NO_VERIFICATION = "This runbook has no verification: the people on call decide whether it helped."


def _signal(signal: str) -> str:
    return {"latency_p99_ms": "p99 latency", "cpu": "CPU"}.get(signal, signal.replace("_", " "))


def next_plan(after: str, action: str) -> str:
    """Before the next proposal: what happened to the last one, and what comes now."""
    return f":arrow_right: {escape(after)} Next: {escape(action)}"


def rejected(user_id: str, action: str, reason: str) -> str:
    return f":no_entry: {user(user_id)} rejected *{escape(action)}*: {escape(reason)}"


def expired(proposal: Proposal) -> str:
    return (
        f":hourglass: The proposal *{escape(proposal.plan.action)}* expired without a decision; nothing was "
        "done. Say what to do next in the channel, or `/incident escalate`."
    )


def did(user_id: str, action: str) -> str:
    return f":white_check_mark: {user(user_id)} did *{escape(action)}*."


def asking(agent: str, action: str) -> str:
    return f":gear: Asking *{escape(agent)}* to do it: *{escape(action)}*"


def done(outcome: str) -> str:
    return f":white_check_mark: Done: {escape(truncate(outcome, 1500))}"


def unconfirmed(action: str, said: str) -> str:
    """The agent ended its task without saying whether the change was made: the verification will tell."""
    return (
        f":grey_question: The agent ended without saying whether *{escape(action)}* was done "
        f"({escape(truncate(said, 1000))}): the verification will tell."
    )


def unknown(action: str, what: str) -> str:
    """A fix whose signal nobody could report: neither verified nor failed."""
    return (
        f":grey_question: *{escape(action)}* could not be verified: {escape(what)}. "
        "Whether it helped is for the people on call to judge: resolve the incident when you agree, or escalate."
    )


def verifying(v: Verification) -> str:
    also = "".join(f" and {_signal(name)} below {shown_value(name, below)}" for name, below in v.also)
    return (
        f":mag: Verifying: {_signal(v.signal)} must stay below {shown_value(v.signal, v.below)}{also} for "
        f"{shown_duration(v.window_s)}; checking every {shown_duration(v.interval_s)}, for at most "
        f"{shown_duration(v.timeout_s)}."
    )


def verified(signal: str, value: float | None, below: float, window_s: float, action: str) -> str:
    return (
        f":white_check_mark: *Verified*: {_signal(signal)} is {shown_value(signal, value)}, below "
        f"{shown_value(signal, below)} for {shown_duration(window_s)} after *{escape(action)}*."
    )


def not_resolved(why: str) -> str:
    """The fix held but resolving failed (the pager refused): a person resolves it."""
    return f"sre-agent could not resolve it: {escape(why)} Resolve it when you can."


def action_failed(action: str, outcome: str) -> str:
    """What failed, as `failed` below says it (plain: escaped there)."""
    return f"*{action}* failed: {outcome}"


def not_fixed(action: str, v: Verification, value: float | None) -> str:
    """A verification that did not hold, as `failed` below says it (plain: escaped there)."""
    return (
        f"*{action}* did not fix it: {_signal(v.signal)} is {shown_value(v.signal, value)}, not below "
        f"{shown_value(v.signal, v.below)} for {shown_duration(v.window_s)}"
    )


def failed(what: str) -> str:
    return f":x: {escape(what)}"


def not_escalated(why: str) -> str:
    return f":warning: Not escalated: {escape(why)}"
