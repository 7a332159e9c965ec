"""The postmortem as a document: Markdown from a Jinja2 template (the shipped one, or a team's own file), and JSON.
Times are shown in UTC and in the team's time zone; people by their names where known."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from blocks.text import escape, truncate
from bot.domain.incident import PAGER_NAMES, Incident
from bot.domain.postmortem import Postmortem, duration

__all__ = ["SHIPPED_TEMPLATE", "as_json", "kept", "posted", "render", "shared", "unchanged"]

SHIPPED_TEMPLATE = Path(__file__).resolve().parent / "templates" / "postmortem.md.j2"


def render(
    pm: Postmortem,
    *,
    zone: str = "UTC",
    names: Mapping[str, str] | None = None,
    template: Path | None = None,
) -> str:
    """The Markdown document. `names`: Slack user ids (and pager user ids) to the names people know."""
    path = template or SHIPPED_TEMPLATE
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(path.parent)),
        autoescape=False,  # Markdown, not HTML
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
    )
    tz = ZoneInfo(zone)
    known = dict(names or {})

    def utc(at: datetime | None) -> str:
        return "unknown" if at is None else at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S")

    def local(at: datetime | None) -> str:
        return "unknown" if at is None else at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")

    def when(iso: str) -> str:
        return utc(datetime.fromisoformat(iso)) if iso else "unknown"

    def who(actor: str | None) -> str:
        if not actor:
            return "nobody"
        kind, _, ident = actor.partition(":")
        if kind == "slack" and ident:
            return f"@{known.get(ident, ident)}"
        if kind in PAGER_NAMES and ident:
            return f"{known.get(ident, ident)} ({PAGER_NAMES[kind]})"
        return {**PAGER_NAMES, "sre-agent": "sre-agent"}.get(actor, actor)

    def cell(text: str) -> str:
        """Text for one Markdown table cell: one line, its pipes escaped."""
        return " ".join(text.split()).replace("|", "\\|")

    return env.get_template(path.name).render(
        pm=pm, zone=zone, utc=utc, local=local, when=when, who=who, span=duration, cell=cell
    )


def as_json(pm: Postmortem) -> dict[str, Any]:
    """The same content as data (times ISO, in UTC as stored)."""
    data: dict[str, Any] = _plain(dataclasses.asdict(pm))
    return data


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def shared(pm: Postmortem, *, again: bool = False) -> str:
    """The message the document is shared with (mrkdwn): the summary, the metrics, the action items."""
    m = pm.metrics
    head = ":memo: *Postmortem draft*" + (" (the timeline changed: written again)" if again else "")
    p0 = sum(a.priority == "P0" for a in pm.action_items)
    items = f"{len(pm.action_items)} action item{'s' if len(pm.action_items) != 1 else ''}" + (
        f", {p0} of them P0" if p0 else ""
    )
    return truncate(
        f"{head} for {escape(pm.label)}: written from the timeline; edit it freely.\n{escape(pm.summary)}\n"
        f"Detect {duration(m.time_to_detect_s)} · acknowledge {duration(m.time_to_acknowledge_s)} · "
        f"mitigate {duration(m.time_to_mitigate_s)} · resolve {duration(m.time_to_resolve_s)} · {items}.",
        3900,
    )


def posted(incident: Incident, permalink: str | None) -> str:
    where = f" ({permalink})" if permalink else ""
    return f":memo: The postmortem draft of {escape(incident.label)} is in its channel{where}."


def unchanged(incident: Incident, permalink: str | None) -> str:
    where = f": {permalink}" if permalink else ""
    return f":memo: The postmortem of {escape(incident.label)} is up to date; the timeline has not changed{where}."


def kept(incident: Incident) -> str:
    return f":memo: The postmortem of {escape(incident.label)} is written (`sre-agent postmortem {incident.label}`)."
