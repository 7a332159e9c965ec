"""The pager's API failing (5xx, 429 every time): the incident goes on in Slack (channel, card), the channel says once
that the pager would not take the acknowledgement, and it is tried again later (the event's retries, with backoff),
a bounded number of times each (a 429 a few times within the call, a 5xx of a write not within it: the next attempt
first looks whether it was done)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import Harness, cards, eventually, texts

SERVICE = "checkout-service"
TITLE = "CRITICAL: checkout-service error rate at 8.5% (threshold: 1%)"
CASES = [
    pytest.param({"SRE_PAGER": "pagerduty"}, 500, id="pagerduty-500"),
    pytest.param({"SRE_PAGER": "pagerduty"}, 429, id="pagerduty-429"),
    pytest.param({"SRE_PAGER": "opsgenie"}, 500, id="opsgenie-500"),
    pytest.param({"SRE_PAGER": "opsgenie"}, 429, id="opsgenie-429"),
]


def _acknowledgements(h: Harness) -> list[Any]:
    sb = h.sandbox
    if h.services.pager.source == "opsgenie":
        return [c for c in sb.opsgenie.calls if c.method == "POST" and c.path.endswith("/acknowledge")]
    return [c for c in sb.pagerduty.calls if c.method == "PUT" and c.path.startswith("/incidents/")]


@pytest.mark.parametrize(("harness_overrides", "status"), CASES)
async def test_the_pager_refusing_every_acknowledgement_is_said_in_the_channel_and_the_incident_goes_on(
    h: Harness, status: int
) -> None:
    sb = h.sandbox
    opsgenie = h.services.pager.source == "opsgenie"
    if opsgenie:
        sb.opsgenie.fail("POST", "/alerts/", status, count=1000)
        sb.opsgenie.page(SERVICE, TITLE, priority="P1")
    else:
        sb.pagerduty.fail("PUT", "/incidents/", status, count=1000)
        sb.pagerduty.page(SERVICE, TITLE, priority="P1")

    async def told() -> bool:
        incidents = await h.services.store.incidents()
        channel = incidents[0].channel_id if incidents else None
        return bool(channel) and any("acknowledge" in t.lower() for t in texts(sb, channel) if ":warning:" in t)

    await eventually(told, within=60)
    first_attempt = len(_acknowledgements(h))
    assert 1 <= first_attempt <= 4, f"{first_attempt} tries in the first attempt"  # bounded within a call
    await eventually(lambda: len(_acknowledgements(h)) > first_attempt, within=30)  # tried again, later
    [incident] = await h.services.store.incidents()
    assert incident.channel_id and len(cards(sb, incident.channel_id)) == 1  # the incident goes on in Slack
    said = [t for t in texts(sb, incident.channel_id) if ":warning:" in t and "acknowledge" in t.lower()]
    assert len(said) == 1, said  # said once, however often it is tried
    assert ("OpsGenie" if opsgenie else "PagerDuty") in said[0], said
