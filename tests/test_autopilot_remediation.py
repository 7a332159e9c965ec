"""An approved change carried out by an agent that answers as K8s Autopilot does (sandbox/autopilot.py), end to end:
its approval card answered `approve` once for the approved plan; a card asking for another tool, other arguments or
several actions closed with `reject` and the reason (in a data part), shown in the channel, and escalated; a change
the agent completed but reported failed escalates and is never shown as done."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain.approval import Status
from bot.domain.timeline import EventKind
from tests import test_remediation as base
from tests.harness import Harness, eventually
from tests.test_remediation import APPROVE, _click, _events, _has, _paged, _proposal_count, _proposal_message

# the remediation tests' sandbox, clock, world and harness; the agent script below makes its Kubernetes agent the
# K8s-Autopilot-like one
world, clock, sandbox, h = base.world, base.clock, base.sandbox, base.h

RIGHT = {"name": "checkout-service", "namespace": "shop", "memory_limit": "768Mi"}


def _script(**more: Any) -> dict[str, Any]:
    return {"change": None, "recovers": True, "style": "autopilot", **more}


@pytest.fixture
def agent_script() -> dict[str, Any]:
    return _script()


def _texts(h: Harness, channel: str) -> list[str]:
    return [m.text for m in h.sandbox.slack.messages_in(channel)]


async def test_its_gate_is_answered_approve_once_and_the_change_is_verified(h: Harness) -> None:
    channel = await _paged(h)
    [proposal] = await h.services.store.proposals()
    await _click(h, "U0DANA", channel, _proposal_message(h, channel).ts, APPROVE)
    await eventually(lambda: _has(h, EventKind.VERIFIED), within=15)
    await h.settle()
    agents = h.sandbox.agents
    [asked] = agents.change_requests
    assert asked["tool"] == "k8s_set_resources" and asked["plan_hash"] == proposal.plan_hash
    [execution] = agents.executions
    assert execution["answer_text"] == "approve" and execution["decision"] == "approve"
    assert execution["answer_data"][0]["plan_hash"] == proposal.plan_hash
    assert execution["answer_data"][0]["approvers"] == ["U0DANA"]
    assert execution["outcome"] == "done"
    [done] = await h.services.store.proposals()
    assert done.status is Status.EXECUTED
    assert any(t.startswith(":white_check_mark: Done:") for t in _texts(h, channel))
    # diagnosis read its words from its cards: the pods it reported are in the findings
    [findings] = [t for t in _texts(h, channel) if t.startswith(":stethoscope:")]
    assert "CrashLoopBackOff" in findings, findings


@pytest.mark.parametrize(
    ("agent_script", "why"),
    [
        (
            _script(gates={"checkout-service": {"tool": "helm_uninstall", "arguments": {"release_name": "checkout"}}}),
            "it asks to run helm_uninstall, not a raise memory limit",
        ),
        (
            _script(
                gates={"checkout-service": {"tool": "k8s_set_resources", "arguments": {**RIGHT, "namespace": "prod"}}}
            ),
            "it names namespace prod, not shop",
        ),
        (
            _script(
                gates={"checkout-service": {"tool": "k8s_set_resources", "arguments": {**RIGHT, "memory_limit": "4Gi"}}}
            ),
            "it sets memory_limit to 4Gi, not 768Mi",
        ),
        (
            _script(gates={"checkout-service": {"tool": "k8s_set_resources", "arguments": RIGHT, "actions": 3}}),
            "it asks for 3 actions at once; the approval covers one",
        ),
    ],
    ids=["other-tool", "other-namespace", "other-limit", "batch"],
)
async def test_a_gate_for_anything_but_the_approved_plan_is_rejected_and_shown(h: Harness, why: str) -> None:
    channel = await _paged(h)
    await _click(h, "U0DANA", channel, _proposal_message(h, channel).ts, APPROVE)
    await eventually(lambda: _proposal_count(h, channel) == 2, within=15)
    await h.settle()
    [execution] = h.sandbox.agents.executions
    # the exact word the agent reads as a rejection; the reason in a data part, as it reads one
    assert execution["answer_text"] == "reject" and execution["decision"] == "reject"
    assert execution["answer_data"] == [{"decision": "reject", "message": f"not the approved plan: {why}"}]
    assert execution["outcome"] == "rejected" and not h.sandbox.agents.changed
    [failed] = await _events(h, EventKind.EXECUTION_FAILED)
    assert "its approval gate asked for" in failed.text and why in failed.text
    said = [t for t in _texts(h, channel) if t.startswith(":x: *Increase memory limit")]
    assert said and "not the approved plan" in said[0] and why in said[0]
    assert [e.data["to"] for e in await _events(h, EventKind.ESCALATED) if e.actor == "sre-agent"] == [2]
    assert not any(t.startswith(":white_check_mark: Done") for t in _texts(h, channel))


@pytest.mark.parametrize("agent_script", [_script(change={"outcome": "fail", "text": "quota exceeded in shop"})])
async def test_a_change_it_completed_but_reported_failed_escalates(h: Harness) -> None:
    channel = await _paged(h)
    await _click(h, "U0DANA", channel, _proposal_message(h, channel).ts, APPROVE)
    await eventually(lambda: _proposal_count(h, channel) == 2, within=15)
    await h.settle()
    [execution] = h.sandbox.agents.executions
    assert execution["decision"] == "approve" and execution["outcome"] == "failed"
    [failed] = await _events(h, EventKind.EXECUTION_FAILED)
    assert "FAILED: quota exceeded in shop" in failed.text
    assert not await _events(h, EventKind.EXECUTED)
    assert not any(t.startswith(":white_check_mark: Done") for t in _texts(h, channel))
    assert [e.data["to"] for e in await _events(h, EventKind.ESCALATED) if e.actor == "sre-agent"] == [2]
    first, _ = await h.services.store.proposals()
    assert first.status is Status.FAILED
