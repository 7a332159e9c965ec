"""Slack's Block Kit limits (the sandbox enforces them as Slack does, with invalid_blocks): long content is cut with a
clear marker, never rejected; lists stay within 50 blocks."""

from __future__ import annotations

import json

from blocks.text import CUT_MARKER
from tests.harness import Harness, cards, eventually, incident_channels


async def test_a_huge_alert_title_still_gets_its_card(h: Harness) -> None:
    title = "checkout-service: " + "connection reset by peer; " * 400  # ~10,000 characters
    h.sandbox.pagerduty.page("checkout-service", title[:1024], priority="P2")  # PagerDuty keeps 1024
    await h.settle()
    [channel] = incident_channels(h.sandbox)
    [card] = cards(h.sandbox, channel.id)
    header = next(b for b in card.blocks if b["type"] == "header")
    assert len(header["text"]["text"]) <= 150
    assert all(c.ok for c in h.sandbox.slack.calls_for("chat.postMessage"))


async def test_a_huge_note_is_cut_with_a_marker(h: Harness) -> None:
    h.sandbox.pagerduty.page("checkout-service", "checkout-service: error rate 8.5%", priority="P2")
    await h.settle()
    [channel] = incident_channels(h.sandbox)
    await h.sandbox.slack.send_command("U0DANA", channel.id, "/incident", "note " + "x" * 9000)
    await eventually(lambda: any(CUT_MARKER in m.text for m in h.sandbox.slack.messages_in(channel.id)))
    assert all(c.ok for c in h.sandbox.slack.calls_for("chat.postMessage"))


async def test_a_long_list_stays_within_slacks_limits(h: Harness) -> None:
    for i in range(24):
        h.sandbox.pagerduty.page("checkout-service", f"incident number {i}", priority="P3")
    await h.settle()
    assert len(await h.services.store.incidents()) == 24
    await h.sandbox.slack.send_command("U0SAM", "C0INCIDENTS", "/incident", "list")

    def listed() -> list[dict[str, object]] | None:
        for e in h.sandbox.slack.ephemerals:
            if e.user == "U0SAM" and e.blocks:
                return e.blocks
        return None

    await eventually(lambda: listed() is not None)
    blocks = listed()
    assert blocks is not None and len(blocks) <= 50
    assert "… and 4 more" in json.dumps(blocks, ensure_ascii=False)
