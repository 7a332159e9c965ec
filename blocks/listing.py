"""Lists of incidents: `/incident list`, `/incident status` outside an incident channel, and later App Home."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import Block, ContextBlock, HeaderBlock, MarkdownTextObject, PlainTextObject, SectionBlock

from blocks.ids import BlockId
from blocks.text import channel, escape, truncate, user
from bot.domain.incident import Incident

MAX_LISTED = 20  # two blocks each at most, far below Slack's 50 per message


def age(since: datetime, now: datetime) -> str:
    """``3m``, ``2h 5m``, ``4d 3h``."""
    seconds = max(0, int((now - since).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


def incident_line(incident: Incident, now: datetime) -> str:
    return (
        f"{incident.severity.emoji} *{incident.severity} {incident.label}* · {escape(incident.service)} · "
        f"{incident.phase.label} · {age(incident.triggered_at, now)} · commander {user(incident.commander)} · "
        f"{channel(incident.channel_id, incident.channel_name)}\n{escape(truncate(incident.title, 300))}"
    )


def incident_sections(
    incidents: list[Incident], now: datetime, *, item_prefix: str, more_block_id: str, more_text: str
) -> list[Block]:
    """One section per incident, at most MAX_LISTED, then "… and N more, <more_text>"."""
    blocks: list[Block] = [
        SectionBlock(block_id=f"{item_prefix}.{i.id}", text=MarkdownTextObject(text=incident_line(i, now)))
        for i in incidents[:MAX_LISTED]
    ]
    if len(incidents) > MAX_LISTED:
        blocks.append(
            ContextBlock(
                block_id=more_block_id,
                elements=[MarkdownTextObject(text=f"… and {len(incidents) - MAX_LISTED} more, {more_text}")],
            )
        )
    return blocks


def incident_list(
    incidents: list[Incident], now: datetime, *, title: str = "Open incidents"
) -> tuple[str, list[Block]]:
    if not incidents:
        text = ":sunny: No open incidents."
        return text, [SectionBlock(block_id=BlockId.LIST_EMPTY, text=MarkdownTextObject(text=text))]
    blocks: list[Block] = [
        HeaderBlock(block_id=BlockId.LIST_HEADER, text=PlainTextObject(text=f"{title} ({len(incidents)})")),
        *incident_sections(
            incidents,
            now,
            item_prefix=BlockId.LIST_ITEM,
            more_block_id=BlockId.LIST_MORE,
            more_text="less severe or newer.",
        ),
    ]
    text = f"{title}: " + ", ".join(f"{i.severity} {i.label}" for i in incidents[:MAX_LISTED])
    return text, blocks
