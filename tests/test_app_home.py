"""App Home: drawn when someone opens it; their incidents, every open incident, and the budgets said plainly."""

from __future__ import annotations

import json
from typing import Any

from tests.harness import Harness, eventually


async def _open_home(h: Harness, user: str) -> dict[str, Any]:
    before = len(h.sandbox.slack.calls_for("views.publish"))
    result = await h.sandbox.slack.send_event(
        {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home", "event_ts": "1.1"}
    )
    assert result["status"] == 200 and result["elapsed_ms"] < 3000
    await eventually(lambda: len(h.sandbox.slack.calls_for("views.publish")) > before)
    call = h.sandbox.slack.calls_for("views.publish")[-1]
    assert call.ok, call.error
    assert call.args["user_id"] == user
    view = call.args["view"]
    return json.loads(view) if isinstance(view, str) else view  # type: ignore[no-any-return]


def _texts(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


async def test_home_with_nothing_open(h: Harness) -> None:
    view = await _open_home(h, "U0DANA")
    text = _texts(view)
    assert view["type"] == "home"
    assert "You are not commanding an open incident." in text
    assert "No approvals are waiting for you." in text
    assert "No open incidents." in text
    assert "No SLOs are configured, so there are no error budgets to show yet." in text


async def test_home_shows_my_incidents_and_all_open_ones(h: Harness) -> None:
    sb = h.sandbox
    sb.pagerduty.page("checkout-service", "checkout is down", priority="P1")
    await h.settle()
    [incident] = await h.services.store.incidents()
    assert incident.channel_id
    await sb.slack.send_command("U0SAM", incident.channel_id, "/incident", "commander me")
    await eventually(lambda: any("incident commander" in m.text for m in sb.slack.messages_in(incident.channel_id)))

    sam = _texts(await _open_home(h, "U0SAM"))
    dana = _texts(await _open_home(h, "U0DANA"))
    assert "All open incidents (1)" in sam and "All open incidents (1)" in dana
    assert sam.count("P1 INC-4211") == 2  # under "Your incidents" and under "All open incidents"
    assert dana.count("P1 INC-4211") == 1 and "You are not commanding an open incident." in dana
    assert "commander <@U0SAM>" in sam


async def test_home_for_other_tabs_publishes_nothing(h: Harness) -> None:
    result = await h.sandbox.slack.send_event(
        {"type": "app_home_opened", "user": "U0DANA", "channel": "D0HOME", "tab": "messages", "event_ts": "1.1"}
    )
    assert result["status"] == 200
    await _open_home(h, "U0DANA")  # events are handled in order: had the first published, there would be two
    assert len(h.sandbox.slack.calls_for("views.publish")) == 1
