"""The operational routes of a running bot: /metrics counts what happened in an incident's loop (in Prometheus's
text format, the system-wide figures from the database), /readyz says what is not ready, and the process's log lines
are JSON objects naming their incident with no secret in them."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from bot.domain.timeline import EventKind
from bot.runtime.logs import JsonFormatter, Redactor, about_incident
from sandbox.botapp import free_port
from tests import test_remediation as base
from tests.harness import Harness, eventually
from tests.test_remediation import APPROVE, _click, _has, _paged, _proposal_message

world, clock, sandbox, h, agent_script = base.world, base.clock, base.sandbox, base.h, base.agent_script


async def _metrics(h: Harness) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    assert h.http is not None
    async with h.http.get(f"{h.url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_count_pages_delegations_approvals_and_slack_retries(h: Harness) -> None:
    h.sandbox.slack.rate_limit("conversations.setTopic", count=1, retry_after=0)  # retried, and counted
    channel = await _paged(h)
    message = _proposal_message(h, channel)
    await _click(h, "U0PAT", channel, message.ts, APPROVE)  # not on call: refused
    await _click(h, "U0DANA", channel, message.ts, APPROVE)
    await eventually(lambda: _has(h, EventKind.VERIFIED), within=15)
    await h.settle()
    # the same delivery again: stored once, counted as a duplicate
    [delivery] = [d for d in h.sandbox.pagerduty.deliveries.values() if d.event_type == "incident.triggered"]
    status, answer = await h.post_webhook(delivery.body, delivery.headers)
    assert (status, answer["duplicate"]) == (202, True)

    m = await _metrics(h)
    assert _value(m, "sre_agent_pages_received_total", source="pagerduty", duplicate="true") == 1
    triggered = sum(
        1 for d in h.sandbox.pagerduty.deliveries.values() if d.state == "delivered"
    )  # every event PagerDuty sent (triggered, the echo of the acknowledgement...) was stored once
    assert _value(m, "sre_agent_pages_received_total", source="pagerduty", duplicate="false") == triggered
    assert _value(m, "sre_agent_incidents", phase="verifying") == 1
    assert sum(v for (name, _), v in m.items() if name == "sre_agent_incidents") == 1
    assert _value(m, "sre_agent_delegate_seconds_count", agent="monitoring", outcome="ok") >= 2  # diagnosis, checks
    assert _value(m, "sre_agent_delegate_seconds_count", agent="k8s-autopilot", outcome="ok") >= 2  # look, change
    assert _value(m, "sre_agent_approval_clicks_total", outcome="refused") == 1
    assert _value(m, "sre_agent_approval_clicks_total", outcome="approved") == 1
    assert _value(m, "sre_agent_slack_api_retries_total", reason="ratelimited") == 1
    assert _value(m, "sre_agent_inbound_queue_depth") == 0
    handled = [_value(m, "sre_agent_inbound_events", status=s) for s in ("done", "ignored")]  # ignored: echoes
    clicks = 2  # a Slack request is stored before it is answered, as a page is
    assert sum(handled) == triggered + clicks and handled[0] >= 1 + clicks


async def test_a_delegate_that_fails_is_counted_by_agent_and_kind(h: Harness, tmp_path: Path) -> None:
    agents = h.sandbox.agents.agents_file(timeout_s=2.0, action_timeout_s=3.0)
    for agent in agents["agents"]:
        if agent["name"] == "monitoring":
            agent["url"] = f"http://127.0.0.1:{free_port()}/"  # nobody listens there
    path = tmp_path / "dead-monitoring.yml"
    path.write_text(yaml.safe_dump(agents))
    h.overrides["SRE_AGENTS_PATH"] = str(path)
    await h.restart()
    await _paged(h)
    m = await _metrics(h)
    assert _value(m, "sre_agent_delegate_failures_total", agent="monitoring", kind="unavailable") >= 1
    assert _value(m, "sre_agent_delegate_seconds_count", agent="monitoring", outcome="ok") == 0


async def test_readyz_names_what_is_not_ready_and_asks_slack_at_most_every_ten_seconds(h: Harness) -> None:
    assert h.http is not None
    h.sandbox.slack.fail("auth.test", "invalid_auth", count=1)
    before = sum(1 for c in h.sandbox.slack.calls if c.method == "auth.test")
    async with h.http.get(f"{h.url}/readyz") as response:
        assert response.status == 503
        assert await response.json() == {
            "ready": False,
            "store": "ok",
            "slack": "Slack auth.test failed: invalid_auth",
        }
    async with h.http.get(f"{h.url}/readyz") as response:  # asked again within ten seconds: the same answer
        assert response.status == 503
    assert sum(1 for c in h.sandbox.slack.calls if c.method == "auth.test") == before + 1
    async with h.http.get(f"{h.url}/healthz") as response:  # the process itself is up
        assert response.status == 200


async def test_readyz_is_200_when_the_store_and_slack_answer(h: Harness) -> None:
    assert h.http is not None
    async with h.http.get(f"{h.url}/readyz") as response:
        assert (response.status, await response.json()) == (200, {"ready": True, "store": "ok", "slack": "ok"})


def _line(record: logging.LogRecord, secrets: list[str]) -> dict[str, Any]:
    Redactor(secrets).filter(record)
    return dict(json.loads(JsonFormatter().format(record)))


def _record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("bot.test", logging.WARNING, __file__, 1, msg, args, exc_info)


def test_a_log_line_is_one_json_object_about_its_incident() -> None:
    with about_incident(12), about_incident(pager_incident="Q1ABCDEF"):
        line = _line(_record("acknowledged %s", "Q1ABCDEF"), [])
    assert line["message"] == "acknowledged Q1ABCDEF" and line["level"] == "WARNING" and line["logger"] == "bot.test"
    assert line["incident"] == "12" and line["pager_incident"] == "Q1ABCDEF" and line["time"].endswith("+00:00")
    assert "incident" not in _line(_record("outside"), [])  # nothing leaks out of the block


def test_no_secret_reaches_a_log_line_not_even_in_a_traceback() -> None:
    secret, token = "pd-webhook-secret-3f9a", "xoxb-1234567890-abcdefghij"
    try:
        raise ValueError(f"bad signature with {secret}")
    except ValueError as exc:
        line = _line(_record("calling with %s and %s", token, secret, exc=exc), [secret])
    text = json.dumps(line)
    assert secret not in text and token not in text
    assert line["message"] == "calling with [redacted] and [redacted]"
    assert "ValueError: bad signature with [redacted]" in line["exception"]
