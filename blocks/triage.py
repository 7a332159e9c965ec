"""The triage message: the blast radius of an incident and the severity it suggests."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from blocks.ids import BlockId
from blocks.text import escape, truncate
from bot.domain.incident import Incident
from bot.domain.triage import BlastRadius

MAX_NAMED = 15  # dependents named one by one; the rest are counted


def _names(names: tuple[str, ...]) -> str:
    shown = ", ".join(f"`{escape(n)}`" for n in names[:MAX_NAMED])
    return shown + (f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else "")


def triage_text(incident: Incident, radius: BlastRadius) -> str:
    if not radius.known:
        return (
            f":mag: *Blast radius*: `{escape(radius.service)}` is not in the service catalog, so I cannot tell what "
            "depends on it or who sees it. Add it to the catalog for a fuller picture next time."
        )
    lines = [f":mag: *Blast radius* of `{escape(radius.service)}`"]
    if radius.dependents:
        lines.append(f"• Depends on it: {_names(radius.dependents)}")
    else:
        lines.append("• Nothing in the catalog depends on it.")
    if radius.user_facing:
        users = f", about {radius.users:,} users" if radius.users else ""
        lines.append(f"• Users see: {_names(radius.user_facing)}{users}")
    else:
        lines.append("• No service that users see is affected.")
    lines.append(f"• Error budgets: {radius.slo}.")
    why = "; ".join(radius.reasons) or "nothing points higher"
    suggestion = f"• Suggested severity *{radius.suggested}* ({why})"
    if radius.suggested != incident.severity:
        suggestion += f"; it is {incident.severity} now: `/incident sev {radius.suggested}` changes it."
    else:
        suggestion += ", as it is."
    lines.append(suggestion)
    return truncate("\n".join(lines), 3000)


def triage_blocks(incident: Incident, radius: BlastRadius) -> list[Block]:
    return [
        SectionBlock(block_id=BlockId.TRIAGE, text=MarkdownTextObject(text=triage_text(incident, radius))),
        ContextBlock(
            block_id=BlockId.TRIAGE_CONTEXT,
            elements=[MarkdownTextObject(text="From the service catalog. The severity a person sets always wins.")],
        ),
    ]
