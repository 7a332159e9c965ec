"""The incident card, the announcement in the incidents channel, and the lifecycle messages."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from blocks import budgets as budget_words
from blocks.ids import ActionId, BlockId
from blocks.text import SECTION_LIMIT, channel, escape, link, truncate, user
from bot.domain.events import BudgetSpent
from bot.domain.incident import Incident
from bot.domain.phase import Phase

_PHASE_EMOJI = {
    Phase.TRIGGERED: ":rotating_light:",
    Phase.ACKNOWLEDGED: ":eyes:",
    Phase.RESOLVED: ":white_check_mark:",
    Phase.POSTMORTEM: ":memo:",
}


def _headline(incident: Incident) -> str:
    """`P1 · INC-4211 · checkout-service` (plain text: mentions and links are not parsed there)."""
    return truncate(f"{incident.severity} · {incident.label} · {incident.service}", 150)


def card_text(incident: Incident) -> str:
    """The notification text that goes with the card (mrkdwn, so escaped)."""
    return escape(f"{incident.severity} {incident.label} {incident.service} — {incident.phase.label}: {incident.title}")


def incident_card(incident: Incident, spent: Sequence[BudgetSpent] = ()) -> list[Block]:
    """The card; `spent`: the error budget it spent, per SLO (once it closed)."""
    emoji = _PHASE_EMOJI.get(incident.phase, incident.severity.emoji)
    fields = [
        MarkdownTextObject(text=f"*Severity*\n{incident.severity.emoji} {incident.severity}"),
        MarkdownTextObject(text=f"*Phase*\n{emoji} {incident.phase.label}"),
        MarkdownTextObject(text=f"*Service*\n{escape(incident.service)}"),
        MarkdownTextObject(text=f"*Commander*\n{user(incident.commander)}"),
        MarkdownTextObject(
            text=f"*{incident.pager_name}*\n"
            f"{link(incident.html_url, f'#{incident.number}' if incident.number else 'incident')}"
        ),
        MarkdownTextObject(
            text=f"*Opened*\n<!date^{int(incident.triggered_at.timestamp())}^{{date_short_pretty}} "
            f"{{time}}|{incident.triggered_at.isoformat(timespec='seconds')}>"
        ),
    ]
    blocks: list[Block] = [
        HeaderBlock(block_id=BlockId.CARD_HEADER, text=PlainTextObject(text=_headline(incident), emoji=True)),
        SectionBlock(
            block_id=BlockId.CARD_SUMMARY,
            text=MarkdownTextObject(text=truncate(f"*{escape(incident.title)}*", SECTION_LIMIT)),
        ),
        SectionBlock(block_id=BlockId.CARD_FIELDS, fields=fields),
    ]
    if spent:
        lines = "\n".join(f"• {budget_words.spent_line(s)}" for s in spent)
        blocks.append(
            SectionBlock(
                block_id=BlockId.CARD_BUDGET,
                text=MarkdownTextObject(text=truncate(f"*Error budget spent*\n{lines}", SECTION_LIMIT)),
            )
        )
    buttons: list[ButtonElement] = []
    if incident.is_open:
        buttons.append(
            ButtonElement(
                text="Resolve",
                action_id=ActionId.INCIDENT_RESOLVE,
                value=str(incident.id),
                style="danger",
                confirm=ConfirmObject(
                    title="Resolve this incident?",
                    text=f"{incident.label} will be resolved in Slack and on {incident.pager_name}.",
                    confirm="Resolve",
                    deny="Cancel",
                ),
            )
        )
    if incident.html_url and incident.html_url.startswith(("https://", "http://")):
        buttons.append(
            ButtonElement(
                text=f"Open in {incident.pager_name}", action_id=ActionId.INCIDENT_OPEN_PAGERDUTY, url=incident.html_url
            )
        )
    if buttons:
        blocks.append(ActionsBlock(block_id=BlockId.CARD_ACTIONS, elements=buttons))
    context = f"{incident.phase.label}"
    if incident.resolution and not incident.is_open:
        context += f" · {escape(truncate(incident.resolution, 500))}"
    blocks.append(ContextBlock(block_id=BlockId.CARD_CONTEXT, elements=[MarkdownTextObject(text=context)]))
    return blocks


def announcement(incident: Incident) -> tuple[str, list[Block]]:
    """The line in the team's incidents channel that points at the incident channel."""
    text = (
        f"{incident.severity.emoji} *{incident.severity} {incident.label}* · {escape(incident.service)} · "
        f"{incident.phase.label}\n{escape(truncate(incident.title, 1000))}\n"
        f"Join {channel(incident.channel_id, incident.channel_name)}"
    )
    if incident.html_url:
        text += f" · {link(incident.html_url, incident.pager_name)}"
    return text, [SectionBlock(block_id=BlockId.ANNOUNCEMENT, text=MarkdownTextObject(text=text))]


def topic(incident: Incident) -> str:
    """Channel topics are plain text; Slack caps them at 250 characters."""
    return truncate(f"{incident.severity} · {incident.service} · {incident.title}", 250)
