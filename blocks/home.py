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

from blocks.ids import BlockId
from blocks.listing import incident_sections
from bot.domain.incident import Incident

MAX_HOME_BLOCKS = 100  # Slack's limit for a Home tab


def _section(block_id: str, text: str) -> SectionBlock:
    return SectionBlock(block_id=block_id, text=MarkdownTextObject(text=text))


def _incidents(prefix: str, incidents: list[Incident], now: datetime, empty: str) -> list[Block]:
    if not incidents:
        return [_section(f"{prefix}.empty", empty)]
    return incident_sections(incidents, now, item_prefix=prefix, more_block_id=f"{prefix}.more",
                             more_text="`/incident list` shows them all.")


def home_view(user_id: str, incidents: list[Incident], now: datetime, *, slos_configured: bool = False) -> View:
    mine = [i for i in incidents if i.commander == user_id]
    blocks: list[Block] = [
        HeaderBlock(block_id=BlockId.HOME_MINE, text=PlainTextObject(text="Your incidents")),
        *_incidents(BlockId.HOME_MINE, mine, now, "You are not commanding an open incident."),
        _section(f"{BlockId.HOME_MINE}.approvals", ":ballot_box_with_check: No approvals are waiting for you."),
        DividerBlock(),
        HeaderBlock(block_id=BlockId.HOME_ALL, text=PlainTextObject(text=f"All open incidents ({len(incidents)})")),
        *_incidents(BlockId.HOME_ALL, incidents, now, ":sunny: No open incidents."),
        DividerBlock(),
        HeaderBlock(block_id=BlockId.HOME_BUDGETS, text=PlainTextObject(text="Error budgets")),
        _section(
            f"{BlockId.HOME_BUDGETS}.none",
            "No SLOs are configured, so there are no error budgets to show yet."
            if not slos_configured
            else "Error budgets are not shown here yet.",
        ),
        ContextBlock(
            block_id=BlockId.HOME_FOOTER,
            elements=[MarkdownTextObject(text=f"Updated {now:%Y-%m-%d %H:%M} UTC · `/incident help` for commands")],
        ),
    ]
    return View(type="home", blocks=blocks[:MAX_HOME_BLOCKS])
