"""The sandbox feed as a terminal reads it: Slack messages with their Block Kit laid out as text, PagerDuty changes,
and one progress line that is rewritten in place while the demo waits (on a terminal only)."""

from __future__ import annotations

import contextlib
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = ["EMOJI", "Printer", "blocks_text", "mrkdwn_plain", "render_entry", "strip_bold"]

_LINK = re.compile(r"<([^<>]+)>")
_EMOJI_NAME = re.compile(r":([a-z0-9_+-]+):")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
EMOJI = {
    "red_circle": "🔴",
    "large_orange_circle": "🟠",
    "large_yellow_circle": "🟡",
    "large_blue_circle": "🔵",
    "white_circle": "⚪",
    "eyes": "👀",
    "white_check_mark": "✅",
    "warning": "⚠️",
    "hourglass_flowing_sand": "⏳",
    "rotating_light": "🚨",
    "fire": "🔥",
    "mag": "🔍",
    "wrench": "🔧",
    "pushpin": "📌",
    "memo": "📝",
    "arrows_counterclockwise": "🔄",
    "x": "❌",
    "no_entry": "⛔",
    "information_source": "ℹ️",
    "stethoscope": "🩺",
    "pager": "📟",
    "bar_chart": "📊",
    "arrow_double_up": "⏫",
    "repeat": "🔁",
    "large_green_circle": "🟢",
    "sunny": "☀️",
    "ballot_box_with_check": "☑️",
    "gear": "⚙️",
    "hourglass": "⌛",
    "sos": "🆘",
    "arrow_right": "➡️",
    "clipboard": "📋",
}
_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
INDENT = "    "


def mrkdwn_plain(text: str, user_name: Callable[[str], str], channel_name: Callable[[str], str]) -> str:
    """Slack mrkdwn as a person sees it: mentions and links resolved, then `&lt; &gt; &amp;` unescaped.

    Links are resolved before unescaping, so escaped text such as ``&lt;!channel&gt;`` shows as ``<!channel>`` and is
    never mistaken for a mention."""

    def link(match: re.Match[str]) -> str:
        body = match.group(1)
        target, _, label = body.partition("|")
        if target.startswith("@"):
            return "@" + (label or user_name(target[1:]))
        if target.startswith("#"):
            return "#" + (label or channel_name(target[1:]))
        if target.startswith("!date^"):
            with contextlib.suppress(ValueError, IndexError, OverflowError):
                stamp = datetime.fromtimestamp(int(target.split("^")[1]), UTC)
                return stamp.strftime("%Y-%m-%d %H:%M UTC")
            return label
        if target.startswith("!"):
            return label or ("@" + target[1:].split("^")[0])
        return f"{label} ({target})" if label and label != target else target

    resolved = _LINK.sub(link, text)
    resolved = _EMOJI_NAME.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), resolved)
    return resolved.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def strip_bold(text: str, *, ansi: bool) -> str:
    """``*bold*`` as ANSI bold on a terminal, as plain words elsewhere."""
    return _BOLD.sub(lambda m: f"\033[1m{m.group(1)}\033[0m" if ansi else m.group(1), text)


def _text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text") or "")
    return str(obj or "")


def blocks_text(blocks: list[dict[str, Any]], plain: Callable[[str], str]) -> list[str]:
    """Block Kit blocks as lines of text: header, sections with their fields two by two, context, buttons."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"▌ {plain(_text_of(block.get('text'))).upper()}")
        elif kind == "section":
            if block.get("text"):
                lines.extend(plain(_text_of(block["text"])).splitlines())
            fields = [plain(_text_of(f)).replace("\n", " ") for f in block.get("fields") or []]
            for i in range(0, len(fields), 2):
                pair = fields[i : i + 2]
                lines.append("   ".join(f"{f:<38}" if n == 0 and len(pair) > 1 else f for n, f in enumerate(pair)))
            accessory = block.get("accessory")
            if isinstance(accessory, dict) and accessory.get("type") == "button":
                lines.append(f"[ {plain(_text_of(accessory.get('text')))} ]")
        elif kind == "context":
            parts = [plain(_text_of(e)) for e in block.get("elements") or [] if e.get("type") != "image"]
            lines.append(" · ".join(p for p in parts if p))
        elif kind == "actions":
            buttons = [f"[ {plain(_text_of(e.get('text')))} ]" for e in block.get("elements") or []]
            lines.append(" ".join(buttons))
        elif kind == "divider":
            lines.append("─" * 40)
        elif kind == "rich_text":
            continue  # the message's text says the same
    return lines


def _clock(at: str | None) -> str:
    if not at:
        return "--:--:--"
    try:
        return datetime.fromisoformat(at).strftime("%H:%M:%S")
    except ValueError:
        return at[:8]


def render_entry(
    entry: dict[str, Any], user_name: Callable[[str], str], channel_name: Callable[[str], str]
) -> list[str] | None:
    """Lines for one feed entry, or None for entries a reader does not need (raw deliveries, view bookkeeping)."""
    kind = entry["kind"]
    stamp = _clock(entry.get("at"))

    def plain(text: str) -> str:
        return mrkdwn_plain(text, user_name, channel_name)

    def where() -> str:
        return "#" + (entry.get("channel_name") or channel_name(entry.get("channel") or "?"))

    def body() -> list[str]:
        shown = blocks_text(entry.get("blocks") or [], plain) if entry.get("blocks") else []
        if not shown:
            shown = plain(entry.get("text") or "").splitlines()
        return [INDENT + line for line in shown]

    if kind == "slack.message":
        who = entry.get("user_name") or user_name(entry.get("user") or "")
        thread = " (in thread)" if entry.get("thread_ts") else ""
        return [f"{stamp}  {where()}  {who}{thread}:", *body()]
    if kind == "slack.update":
        if entry.get("deleted"):
            return [f"{stamp}  {where()}  a message was deleted"]
        return [f"{stamp}  {where()}  {user_name(entry.get('user') or '')} edited a message:", *body()]
    if kind == "slack.ephemeral":
        who = entry.get("user_name") or user_name(entry.get("user") or "")
        return [f"{stamp}  {where()}  (only {who} sees this):", *body()]
    if kind == "slack.channel":
        return [f"{stamp}  Slack: channel #{entry.get('name')} created"]
    if kind == "slack.topic":
        return [f"{stamp}  Slack: {where()} topic set: {plain(entry.get('topic') or '')}"]
    if kind == "slack.invite":
        names = ", ".join("@" + n for n in entry.get("user_names") or [])
        return [f"{stamp}  Slack: {names} invited to {where()}"]
    if kind == "slack.reaction":
        return [f"{stamp}  Slack: :{entry.get('name')}: on a message in {where()}"]
    if kind == "slack.pin":
        return [f"{stamp}  Slack: a message in {where()} was pinned"]
    if kind == "pagerduty.incident":
        priority = f" ({entry['priority']})" if entry.get("priority") else ""
        return [
            f"{stamp}  PagerDuty: #{entry.get('number')} triggered on {entry.get('service')}{priority}: "
            f"{entry.get('title')}"
        ]
    if kind == "pagerduty.status" and entry.get("status") != "triggered":
        return [f"{stamp}  PagerDuty: #{entry.get('number')} {entry.get('status')} by {entry.get('by') or 'PagerDuty'}"]
    if kind == "pagerduty.note":
        return [f"{stamp}  PagerDuty: note on #{entry.get('number')} by {entry.get('by')}: {entry.get('content')}"]
    if kind == "pagerduty.status" and ":escalated:" in str(entry.get("via") or ""):
        level = str(entry["via"]).rsplit(":", 1)[-1]
        return [f"{stamp}  PagerDuty: #{entry.get('number')} escalated to level {level} by {entry.get('by') or '?'}"]
    if kind == "opsgenie.alert":
        return _opsgenie_line(stamp, entry)
    if kind == "a2a.change":
        return [f"{stamp}  A2A: {entry.get('agent')} is asked to change {entry.get('service')}: {entry.get('change')}"]
    if kind == "a2a.change_done":
        return [f"{stamp}  A2A: {entry.get('agent')}: {entry.get('change')} -> {entry.get('outcome')}"]
    if kind == "pagerduty.webhook" and entry.get("error"):
        return [f"{stamp}  PagerDuty: webhook {entry.get('event_type')} not delivered: {entry.get('error')}"]
    return None


_OPSGENIE_WORDS = {
    "Acknowledge": "acknowledged",
    "UnAcknowledge": "unacknowledged",
    "Close": "closed",
    "Escalate": "escalated to the next rule",
    "UpdatePriority": "priority changed",
}


def _opsgenie_line(stamp: str, entry: dict[str, Any]) -> list[str] | None:
    alert, by = f"#{entry.get('tiny_id')}", entry.get("by") or "OpsGenie"
    action = entry.get("action")
    if action == "Create":
        return [
            f"{stamp}  OpsGenie: alert {alert} created for {entry.get('entity')} ({entry.get('priority')}): "
            f"{entry.get('message')}"
        ]
    if action == "AddNote":
        return [f"{stamp}  OpsGenie: note on {alert} by {by}: {entry.get('note')}"]
    words = _OPSGENIE_WORDS.get(str(action))
    return [f"{stamp}  OpsGenie: {alert} {words} by {by}"] if words else None


class Printer:
    """Writes lines to a stream; on a terminal it keeps one progress line at the bottom, rewritten in place."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.tty = self.stream.isatty()
        self._progress: str | None = None
        self._started = 0.0
        self._frame = 0

    def line(self, text: str = "") -> None:
        if self.quiet:
            return
        self._clear()
        print(strip_bold(text, ansi=self.tty), file=self.stream, flush=True)
        self._draw()

    def lines(self, texts: list[str]) -> None:
        for text in texts:
            self.line(text)

    def progress(self, text: str | None) -> None:
        """Show (or, with None, remove) the progress line."""
        if self.quiet:
            return
        self._clear()
        self._progress = text
        self._started = time.monotonic()
        if text and not self.tty:
            print(f"… {text}", file=self.stream, flush=True)
        self._draw()

    def tick(self) -> None:
        if self._progress and self.tty and not self.quiet:
            self._frame += 1
            self._clear()
            self._draw()

    def _clear(self) -> None:
        if self._progress and self.tty:
            self.stream.write("\r\033[2K")

    def _draw(self) -> None:
        if self._progress and self.tty:
            spin = _SPINNER[self._frame % len(_SPINNER)]
            self.stream.write(f"{spin} {self._progress} ({time.monotonic() - self._started:.1f}s)")
            self.stream.flush()
