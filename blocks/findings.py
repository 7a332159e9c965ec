"""The findings message (what is known, the likely causes, what is unavailable) and the thread under it that lists
exactly what was asked of whom and what came back."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from blocks.ids import BlockId
from blocks.text import escape, truncate
from bot.domain.diagnosis import Evidence, Hypothesis, Outcome

MAX_HYPOTHESES = 3


def _known(item: Evidence) -> str:
    first = next((line.strip() for line in item.answer.splitlines() if line.strip()), "(no words)")
    return f"• *{escape(item.agent)}*: {escape(truncate(first, 300))}"


def findings_text(service: str, evidence: tuple[Evidence, ...], hypotheses: tuple[Hypothesis, ...]) -> str:
    answered = [e for e in evidence if e.outcome is Outcome.ANSWERED]
    lines = [f":stethoscope: *Findings* for `{escape(service)}`"]
    if answered:
        lines.append("*What the agents see*")
        lines += [_known(e) for e in answered]
    if hypotheses:
        lines.append("*Likely causes*")
        for rank, h in enumerate(hypotheses[:MAX_HYPOTHESES], start=1):
            lines.append(f"{rank}. {escape(h.text)} _({h.confidence:.0%})_")
        if hypotheses[0].recommendations:
            lines.append("*What to do*")
            lines += [f"• {escape(r)}" for r in hypotheses[0].recommendations]
    elif answered:
        lines.append("Nothing in the answers points to a cause yet.")
    else:
        lines.append("No agent could answer, so there is no diagnosis: look by hand.")
    missing = [e for e in evidence if e.outcome is not Outcome.ANSWERED]
    if missing:
        lines.append("*Unavailable*")
        lines += [f"• {escape(e.agent)} ({e.role}): {escape(truncate(e.reason, 300))}" for e in missing]
    return truncate("\n".join(lines), 3000)


def findings_blocks(service: str, evidence: tuple[Evidence, ...], hypotheses: tuple[Hypothesis, ...]) -> list[Block]:
    return [
        SectionBlock(
            block_id=BlockId.FINDINGS, text=MarkdownTextObject(text=findings_text(service, evidence, hypotheses))
        ),
        ContextBlock(
            block_id=BlockId.FINDINGS_CONTEXT,
            elements=[
                MarkdownTextObject(text="Asked of the agents in parallel; the thread shows each question and answer.")
            ],
        ),
    ]


def exchange_text(item: Evidence) -> str:
    """One entry of the thread: the question, the answer (or why there is none), the outcome and the time."""
    head = f"*{escape(item.agent)}* ({item.role}) was asked:\n>{escape(truncate(item.question, 800))}"
    if item.answer:
        body = "\n".join(f">{escape(line)}" for line in truncate(item.answer, 2000).splitlines())
        head += f"\nAnswer:\n{body}"
    outcome = item.outcome.value.replace("_", " ")
    tail = f"_{outcome}" + (f": {escape(item.reason)}" if item.reason else "") + f", {item.duration_ms:.0f} ms_"
    return truncate(f"{head}\n{tail}", 3000)
