"""Diagnosis by delegation, end to end through Slack: three agents (a2a-sdk servers, in 1.0 and 0.3) asked in
parallel, the findings posted under the triage, every question and answer in the thread, and an agent that is down
reported as unavailable while the incident goes on."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path

import pytest

from tests.a2a_agent import fixed_app, serving
from tests.harness import Harness, eventually, incident_channels

MONITORING = (
    "p99 latency for payments-api is 3.2s (normal: 200ms); error rate 0.4%. CloudWatch: RDS instance "
    "db-payments-prod is at 95% CPU. Top query: SELECT * FROM transactions WHERE user_id = ? "
    "(full table scan)."
)
KUBERNETES = "All pods are healthy: 4/4 Running in namespace payments, no crashes, 0 restarts."
CLOUD = "db-payments-prod: CPU 95%, connections 120/500, no throttling."


@pytest.fixture
async def agents_file(tmp_path: Path) -> AsyncIterator[Path]:
    async with AsyncExitStack() as stack:
        monitoring = await stack.enter_async_context(serving(partial(fixed_app, text=MONITORING, versions=("1.0",))))
        kubernetes = await stack.enter_async_context(serving(partial(fixed_app, text=KUBERNETES, versions=("0.3",))))
        cloud = await stack.enter_async_context(serving(partial(fixed_app, text=CLOUD, data={"cpu": 95})))
        path = tmp_path / "agents.yml"
        path.write_text(
            "agents:\n"
            f"  - {{name: monitoring, role: monitoring, url: '{monitoring}', timeout_s: 5}}\n"
            f"  - {{name: k8s-autopilot, role: kubernetes, url: '{kubernetes}', timeout_s: 5}}\n"
            f"  - {{name: aws, role: cloud, url: '{cloud}', timeout_s: 5}}\n"
        )
        yield path


async def _declare_payments(h: Harness) -> str:
    await h.sandbox.slack.send_command("U0DANA", "C0INCIDENTS", "/incident", "declare payments API is timing out")
    await eventually(lambda: bool(incident_channels(h.sandbox)), within=10)
    await h.settle()
    [channel] = incident_channels(h.sandbox)
    return channel.id


@pytest.fixture
def harness_overrides(agents_file: Path) -> dict[str, object]:
    return {"SRE_AGENTS_PATH": str(agents_file)}


async def test_findings_name_the_database_and_the_thread_lists_every_exchange(h: Harness) -> None:
    channel = await _declare_payments(h)
    messages = h.sandbox.slack.messages_in(channel)
    [findings] = [m for m in messages if m.text.startswith(":stethoscope: *Findings*")]
    assert "The database db-payments-prod is saturated (at 95% CPU)" in findings.text
    assert "likely root cause" in findings.text
    assert "Add an index on transactions.user_id (manual: needs a DBA)." in findings.text
    assert "Scale db-payments-prod up" in findings.text
    assert "Unavailable" not in findings.text
    thread = [m.text for m in messages if m.thread_ts == findings.ts and m.ts != findings.ts]
    assert len(thread) == 3
    assert any(
        t.startswith(
            "*k8s-autopilot* (kubernetes) was asked:\n>Find out why the payments-api pods in "
            "namespace payments are unhealthy"
        )
        for t in thread
    )
    assert all("_answered, " in t for t in thread)
    [incident] = await h.services.store.incidents()
    assert incident.id is not None
    stored = await h.services.store.evidence(incident.id)
    assert sorted(e["agent"] for e in stored) == ["aws", "k8s-autopilot", "monitoring"]
    assert all(e["outcome"] == "answered" and e["context_id"] for e in stored)
    [diagnosed] = [e for e in await h.services.store.timeline(incident.id) if e.kind == "diagnosed"]
    assert diagnosed.data["hypotheses"][0]["confidence"] >= 0.85


async def test_one_context_per_incident_per_agent(h: Harness) -> None:
    await _declare_payments(h)
    [incident] = await h.services.store.incidents()
    assert incident.id is not None
    context = await h.services.store.agent_context(incident.id, "monitoring")
    delegator = h.services.delegator
    assert delegator is not None
    found = await delegator.diagnose(incident)  # asked again for the same incident
    assert len(found.evidence) == 3
    stored = [e for e in await h.services.store.evidence(incident.id) if e["agent"] == "monitoring"]
    assert [e["context_id"] for e in stored] == [context, context]


@pytest.fixture
def dead_cloud(agents_file: Path) -> Path:
    text = re.sub(r"role: cloud, url: '[^']*'", "role: cloud, url: 'http://127.0.0.1:9'", agents_file.read_text())
    agents_file.write_text(text)  # nothing listens on port 9 (discard)
    return agents_file


@pytest.mark.parametrize("harness_overrides", [{}])
async def test_a_dead_agent_is_unavailable_and_the_incident_goes_on(h: Harness, dead_cloud: Path) -> None:
    h.overrides["SRE_AGENTS_PATH"] = str(dead_cloud)
    await h.restart()
    channel = await _declare_payments(h)
    [findings] = [m for m in h.sandbox.slack.messages_in(channel) if m.text.startswith(":stethoscope:")]
    assert "*Unavailable*\n• aws (cloud): its agent card could not be read" in findings.text
    assert "db-payments-prod" in findings.text  # the other agents' answers still made the diagnosis


@pytest.mark.parametrize("style", ["simple", "autopilot"])
async def test_a_gate_met_by_a_question_is_closed_with_a_rejection(h: Harness, tmp_path: Path, style: str) -> None:
    from sandbox.a2a_agents import parse_agents

    [spec] = parse_agents(
        [
            {
                "name": "k8s",
                "role": "kubernetes",
                "style": style,
                "answers": {"payments-api": {"text": "May I restart the payments pods to look?", "asks": True}},
            }
        ]
    )
    h.sandbox.agents.specs["k8s"] = spec
    path = tmp_path / "sandbox-agents.yml"
    path.write_text(f"agents:\n  - {{name: k8s, role: kubernetes, url: '{h.sandbox.agents.url('k8s')}'}}\n")
    h.overrides["SRE_AGENTS_PATH"] = str(path)
    await h.restart()
    channel = await _declare_payments(h)
    [findings] = [m for m in h.sandbox.slack.messages_in(channel) if m.text.startswith(":stethoscope:")]
    assert "• k8s (kubernetes): asked to " in findings.text
    assert "sre-agent declined (a change is proposed and approved here, in Slack)" in findings.text
    # the question, then at once the exact word "reject" in that task, with the reason in a data part
    sends = [r for r in h.sandbox.agents.requests if r["method"] not in ("GetTask", "tasks/get")]
    assert len(sends) == 2
    [incident] = await h.services.store.incidents()
    assert incident.id is not None
    [stored] = await h.services.store.evidence(incident.id)
    assert stored["outcome"] == "input_required"
    if style == "autopilot":
        [closed] = h.sandbox.agents.executions
        assert closed["answer_text"] == "reject" and closed["decision"] == "reject"
        assert stored["task_id"] == closed["task_id"]
    else:
        [task] = h.sandbox.agents.tasks.values()
        assert task.state == "failed" and stored["task_id"] == task.id


def _repoint(agents_file: Path, name: str, url: str, *, timeout_s: float) -> None:
    text = re.sub(
        rf"(name: {name}, role: \w+, url: )'[^']*', timeout_s: \d+",
        rf"\1'{url}', timeout_s: {timeout_s:g}",
        agents_file.read_text(),
    )
    agents_file.write_text(text)


async def test_a_hanging_agent_times_out_and_the_findings_come_anyway(h: Harness, agents_file: Path) -> None:
    async with serving(partial(fixed_app, text=KUBERNETES, delay_s=30)) as slow:
        _repoint(agents_file, "k8s-autopilot", slow, timeout_s=1)  # now it never answers in time
        await h.restart()
        channel = await _declare_payments(h)
        [findings] = [m for m in h.sandbox.slack.messages_in(channel) if m.text.startswith(":stethoscope:")]
        assert "• k8s-autopilot (kubernetes): no answer within 1 s" in findings.text
        assert "db-payments-prod" in findings.text
