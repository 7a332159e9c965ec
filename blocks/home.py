"""App Home: the user's own open incidents and pending approvals, every open incident, and the error budgets."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from blocks import budgets as budget_words
from blocks.ids import BlockId
from blocks.listing import incident_sections
from blocks.text import channel, escape, truncate
from bot.domain.approval import Proposal
from bot.domain.incident import Incident
from bot.domain.slo import SloStatus, by_budget

MAX_HOME_BLOCKS = 100  # Slack's limit for a Home tab


def _section(block_id: str, text: str) -> SectionBlock:
    return SectionBlock(block_id=block_id, text=MarkdownTextObject(text=text))


def _incidents(prefix: str, incidents: list[Incident], now: datetime, empty: str) -> list[Block]:
    if not incidents:
        return [_section(f"{prefix}.empty", empty)]
    return incident_sections(
        incidents, now, item_prefix=prefix, more_block_id=f"{prefix}.more", more_text="`/incident list` shows them all."
    )


MAX_APPROVALS = 10


def _approvals(waiting: list[tuple[Incident, Proposal]]) -> SectionBlock:
    if not waiting:
        return _section(f"{BlockId.HOME_MINE}.approvals", ":ballot_box_with_check: No approvals are waiting for you.")
    lines = [f":ballot_box_with_check: *Waiting for your decision ({len(waiting)})*"]
    for incident, proposal in waiting[:MAX_APPROVALS]:
        lines.append(
            f"• *{incident.label}* {channel(incident.channel_id, incident.channel_name)}: "
            f"{escape(truncate(proposal.plan.action, 200))} _({proposal.plan.risk} risk, expires "
            f"<!date^{int(proposal.expires_at.timestamp())}^{{time}}|{proposal.expires_at:%H:%M} UTC>)_"
        )
    if len(waiting) > MAX_APPROVALS:
        lines.append(f"…and {len(waiting) - MAX_APPROVALS} more.")
    return _section(f"{BlockId.HOME_MINE}.approvals", truncate("\n".join(lines), 3000))


MAX_BUDGETS = 20


def _budgets(statuses: list[SloStatus] | None) -> list[Block]:
    if statuses is None:
        return [
            _section(
                f"{BlockId.HOME_BUDGETS}.none", "No SLOs are configured, so there are no error budgets to show yet."
            )
        ]
    ordered = by_budget(statuses)
    lines = [budget_words.home_line(s) for s in ordered[:MAX_BUDGETS]]
    if len(ordered) > MAX_BUDGETS:
        lines.append(f"…and {len(ordered) - MAX_BUDGETS} more: `sre-agent slo status` lists them all.")
    return [_section(f"{BlockId.HOME_BUDGETS}.list", truncate("\n".join(lines) or "No SLOs.", 3000))]


def home_view(
    user_id: str,
    incidents: list[Incident],
    now: datetime,
    *,
    approvals: list[tuple[Incident, Proposal]] | None = None,
    budgets: list[SloStatus] | None = None,
) -> View:
    """`approvals`: the proposals this user may decide and has not approved yet, with their incidents. `budgets`:
    every SLO's status (None: no SLOs are configured)."""
    mine = [i for i in incidents if i.commander == user_id]
    blocks: list[Block] = [
        HeaderBlock(block_id=BlockId.HOME_MINE, text=PlainTextObject(text="Your incidents")),
        *_incidents(BlockId.HOME_MINE, mine, now, "You are not commanding an open incident."),
        _approvals(approvals or []),
        DividerBlock(),
        HeaderBlock(block_id=BlockId.HOME_ALL, text=PlainTextObject(text=f"All open incidents ({len(incidents)})")),
        *_incidents(BlockId.HOME_ALL, incidents, now, ":sunny: No open incidents."),
        DividerBlock(),
        HeaderBlock(block_id=BlockId.HOME_BUDGETS, text=PlainTextObject(text="Error budgets")),
        *_budgets(budgets),
        ContextBlock(
            block_id=BlockId.HOME_FOOTER,
            elements=[MarkdownTextObject(text=f"Updated {now:%Y-%m-%d %H:%M} UTC · `/incident help` for commands")],
        ),
    ]
    return View(type="home", blocks=blocks[:MAX_HOME_BLOCKS])
