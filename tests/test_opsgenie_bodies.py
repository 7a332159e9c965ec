"""Whatever an OpsGenie webhook carries, with the shared secret: never a 5xx, every refusal says why, and nothing
accepted is left pending or failed (hypothesis, seeded)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from sandbox.opsgenie_peer import OG_WEBHOOK_HEADER, Alert
from tests.harness import Harness

pytestmark = pytest.mark.parametrize("harness_overrides", [{"SRE_PAGER": "opsgenie"}])

_JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_ACTIONS = st.sampled_from(["Create", "Acknowledge", "UnAcknowledge", "AddNote", "Close", "Escalate", "AddTags"])
_FIELDS = st.sampled_from(
    ["alertId", "message", "tinyId", "alias", "entity", "priority", "createdAt", "updatedAt", "username", "note"]
)
_MUTATIONS = st.lists(st.tuples(_FIELDS, st.one_of(_JUNK, st.just(KeyError))), max_size=3)


def _known(h: Harness, alert_id: Any) -> None:
    """OpsGenie has the alert the body names (so that acknowledging it can succeed)."""
    og = h.sandbox.opsgenie
    if not isinstance(alert_id, str) or alert_id in og.alerts:
        return
    now = og.rt.now()
    og.alerts[alert_id] = Alert(
        id=alert_id,
        tiny_id=str(len(og.alerts) + 1),
        alias=alert_id,
        message="m",
        description="",
        entity="checkout-service",
        details={"service": "checkout-service"},
        priority="P3",
        escalation=None,
        created_at=now,
        updated_at=now,
    )


async def test_no_body_is_a_500_and_none_accepted_is_left_pending(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    assert h.http is not None
    http = h.http
    outcomes: dict[int, int] = {}
    caplog.set_level(logging.WARNING)
    headers = {OG_WEBHOOK_HEADER: h.sandbox.opsgenie.webhook_secret, "Content-Type": "application/json"}

    async def post(raw: bytes) -> tuple[int, dict[str, Any]]:
        async with http.post(f"{h.url}/webhooks/opsgenie", data=raw, headers=headers) as response:
            return response.status, await response.json(content_type=None)

    @seed(20261206)
    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(action=_ACTIONS, mutations=_MUTATIONS)
    def prop(action: str, mutations: list[tuple[str, Any]]) -> None:
        alert: dict[str, Any] = {
            "alertId": str(uuid.uuid4()),
            "message": "checkout-service error rate 8.5%",
            "tinyId": "7",
            "entity": "checkout-service",
            "priority": "P2",
            "createdAt": int(time.time() * 1000),
            "updatedAt": time.time_ns(),
            "username": "dana@example.com",
            "note": "looking",
        }
        for field, junk in mutations:
            if junk is KeyError:
                alert.pop(field, None)
            else:
                alert[field] = junk
        loop.call_soon_threadsafe(_known, h, alert.get("alertId"))
        raw = json.dumps({"action": action, "alert": alert}).encode()
        status, reply = asyncio.run_coroutine_threadsafe(post(raw), loop).result(timeout=30)
        assert status == 202 or 400 <= status < 500, (status, reply)
        if status != 202:
            assert isinstance(reply.get("error"), str) and reply["error"], reply
        outcomes[status] = outcomes.get(status, 0) + 1

    await asyncio.to_thread(prop)
    await h.settle()
    counts = await h.services.store.inbound_counts()
    assert not {"pending", "processing", "failed"} & counts.keys(), counts
    assert outcomes.get(202, 0) >= 20 and outcomes.get(400, 0) >= 20, outcomes  # both sides were exercised
    assert len(await h.services.store.incidents()) >= 5
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [f"{r.name}: {r.getMessage()}" for r in bad[:5]]
