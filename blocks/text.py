"""Text for Slack: untrusted strings are escaped before they reach mrkdwn, and long ones are cut visibly."""

from __future__ import annotations

import re
from datetime import datetime

from bot.domain.wire import is_plain_url

CUT_MARKER = "… (cut)"
SECTION_LIMIT = 3000


def escape(text: str) -> str:
    """Slack's three control characters as entities: `<!channel>` shows as text and pings nobody,
    `<https://evil|click>` cannot become a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    """`text` within `limit` characters, with a clear marker where it was cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(CUT_MARKER))] + CUT_MARKER


def link(url: str | None, label: str) -> str:
    """A mrkdwn link if `url` is a plain http(s) URL, else the escaped label alone."""
    if url and is_plain_url(url):
        return f"<{url}|{escape(label)}>"
    return escape(label)


def user(user_id: str | None) -> str:
    return f"<@{user_id}>" if user_id and re.fullmatch(r"[UW][A-Z0-9]+", user_id) else "unassigned"


def channel(channel_id: str | None, name: str | None = None) -> str:
    if channel_id and re.fullmatch(r"[CG][A-Z0-9]+", channel_id):
        return f"<#{channel_id}>"
    return f"#{escape(name or '?')}"


def sentence(text: str) -> str:
    """`text` ending as a sentence does (an upstream's own words often end without a full stop)."""
    text = text.rstrip()
    return text if not text or text[-1] in ".!?:)" else f"{text}."


def when(at: datetime) -> str:
    """A time each reader sees in their own time zone (UTC where Slack cannot say)."""
    return f"<!date^{int(at.timestamp())}^{{time}}|{at.strftime('%H:%M UTC')}>"
