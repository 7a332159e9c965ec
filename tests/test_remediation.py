"""Runbooks with human approval, end to end: a page, the agents' findings, a proposal with Approve / Reject bound to
its hash, a decision in Slack, one execution by the Kubernetes agent (whose own approval gate is answered with the
stored decision), verification of the error rate, and escalation when an action or its verification fails.

The sandbox and the bot share one virtual clock running 600 times the wall clock: a 5 minute verification window
takes half a second."""

from __future__ import annotations

import asyncio
import copy
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.config.runbooks import SHIPPED
from bot.domain.approval import Status
from bot.domain.timeline import EventKind
from bot.ports.clock import ScaledClock
from bot.store import Store
from sandbox.a2a_agents import parse_agents
from sandbox.server import Sandbox
from sandbox.world import DEFAULT_WORLD, World
from tests.harness import Harness, agents_file, eventually, incident_channels, started_sandbox

SPEED = 600.0
TITLE = "checkout-service: error rate 8.5% (threshold 1%)"
MONITORING = {
    "text": "checkout-service error rate is 8.5% over the last 30m (normal: 0.2%); p99 latency 640ms.",
    "data": {"error_rate": 0.085, "latency_p99_ms": 640},
}
RECOVERED = {"text": "checkout-service error rate is 0.3% over the last 5m.", "data": {"error_rate": 0.003}}
KUBERNETES = {
    "text": "3 pods in CrashLoopBackOff in namespace shop (last state: OOMKilled, exit code 137).",
    "data": {"pods": {"CrashLoopBackOff": 3, "OOMKilled": 3}, "restarts": 14},
}
APPROVE, REJECT, DONE = "proposal.approve", "proposal.reject", "proposal.done"


def _agents(
    change: dict[str, Any] | None = None,
    *,
    recovers: bool = True,
    working_ms: int = 0,
    style: str = "simple",
    gates: dict[str, Any] | None = None,
) -> list[Any]:
    monitoring: dict[str, Any] = {
        "name": "monitoring",
        "role": "monitoring",
        "answers": {"checkout-service": MONITORING},
    }
    if recovers:
        monitoring["after_change"] = {"checkout-service": RECOVERED}
    kubernetes: dict[str, Any] = {
        "name": "k8s-autopilot",
        "role": "kubernetes",
        "versions": ["0.3"],
        "answers": {"checkout-service": KUBERNETES},
    }
    if change is not None:
        kubernetes["changes"] = {"checkout-service": change}
    if working_ms:
        kubernetes["working_ms"] = working_ms
    if style != "simple":  # answers as K8s Autopilot does (sandbox/autopilot.py), in both versions
        kubernetes.update(style=style, versions=["1.0", "0.3"], gates=gates or {})
    return parse_agents([monitoring, kubernetes])


@pytest.fixture
def agent_script() -> dict[str, Any]:
    return {"change": None, "recovers": True}


@pytest.fixture
def world() -> World:
    raw = copy.deepcopy(DEFAULT_WORLD)  # plus Pat: in Slack, not on call for checkout-service
    raw["people"].append(
        {
            "key": "pat",
            "name": "Pat Kim",
            "email": "pat@example.com",
            "slack": {"id": "U0PAT", "name": "pat"},
            "pagerduty": {"id": "PPAT111"},
        }
    )
    raw["usergroups"] = [{"id": "S0SRELEADS", "handle": "sre-leads", "members": ["pat"]}]
    return World.from_dict(raw)


@pytest.fixture
def clock() -> ScaledClock:
    return ScaledClock(SPEED)


@pytest.fixture
async def sandbox(world: World, clock: ScaledClock, agent_script: dict[str, Any]) -> AsyncIterator[Sandbox]:
    agents = _agents(
        agent_script["change"],
        recovers=agent_script["recovers"],
        working_ms=agent_script.get("working_ms", 0),
        style=agent_script.get("style", "simple"),
        gates=agent_script.get("gates"),
    )
    async with started_sandbox(world, clock=clock, agents=agents) as sb:
        yield sb


@pytest.fixture
async def h(
    sandbox: Sandbox, database_url: str, clock: ScaledClock, harness_overrides: dict[str, object], tmp_path: Path
) -> AsyncIterator[Harness]:
    agents = agents_file(sandbox, tmp_path, timeout_s=2.0, action_timeout_s=3.0)
    settings = {"SRE_AGENTS_PATH": agents, "SRE_PROPOSAL_EXPIRY_MINUTES": 600, **harness_overrides}
    harness = Harness(sandbox, database_url, clock=clock, **settings)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.close()


async def _paged(h: Harness) -> str:
    """Page for checkout-service and wait for the proposal; the incident channel's id."""
    h.sandbox.pagerduty.page("checkout-service", TITLE, urgency="high")
    await eventually(lambda: bool(incident_channels(h.sandbox)), within=10)
    [channel] = incident_channels(h.sandbox)
    await eventually(lambda: _proposal_message(h, channel) is not None or _help(h, channel) is not None, within=10)
    await h.settle()
    return channel.id


def _proposal_message(h: Harness, channel: Any, nth: int = -1) -> Any:
    channel_id = channel if isinstance(channel, str) else channel.id
    found = [
        m
        for m in h.sandbox.slack.messages_in(channel_id)
        if any(b.get("block_id") == "proposal" for b in m.blocks or [])
    ]
    return found[nth] if found else None


def _proposal_count(h: Harness, channel_id: str) -> int:
    return sum(
        any(b.get("block_id") == "proposal" for b in m.blocks or []) for m in h.sandbox.slack.messages_in(channel_id)
    )


def _reject_views(h: Harness) -> list[Any]:
    return [
        v
        for v in h.sandbox.slack.views.values()
        if v.view.get("callback_id") == "proposal.reject_reason" and not v.closed
    ]


def _help(h: Harness, channel: Any) -> Any:
    channel_id = channel if isinstance(channel, str) else channel.id
    return next((m for m in h.sandbox.slack.messages_in(channel_id) if m.text.startswith(":sos:")), None)


def _button(message: Any, action_id: str) -> dict[str, Any] | None:
    for block in message.blocks or []:
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element
    return None


def _state(h: Harness, channel_id: str, ts: str) -> str:
    message = h.sandbox.slack.message(channel_id, ts)
    assert message is not None
    [state] = [b for b in message.blocks or [] if b.get("block_id") == "proposal.state"]
    return str(state["elements"][0]["text"])


def _told(h: Harness, user: str) -> list[str]:
    """What a person was told privately (through response_url or chat.postEphemeral)."""
    return [e.text for e in h.sandbox.slack.ephemerals if e.user == user]


async def _incident(h: Harness) -> Any:
    [incident] = await h.services.store.incidents()
    return incident


async def _events(h: Harness, kind: EventKind) -> list[Any]:
    incident = await _incident(h)
    return [e for e in await h.services.store.timeline(incident.id) if e.kind is kind]


async def _click(h: Harness, user: str, channel_id: str, ts: str, action: str, value: str | None = None) -> None:
    result = await h.sandbox.slack.send_action(user, channel_id, ts, action, value)
    assert result["status"] == 200, result


async def test_proposed_approved_executed_once_verified_and_resolved(h: Harness) -> None:
    channel = await _paged(h)
    message = _proposal_message(h, channel)
    assert "Increase memory limit from 512Mi to 768Mi" in message.text
    [proposal] = await h.services.store.proposals()
    approve = _button(message, APPROVE)
    assert approve is not None and approve["value"] == f"{proposal.id}:{proposal.plan_hash}"
    assert "confirm" not in approve  # medium risk and reversible: one click, no dialog
    assert _button(message, REJECT) is not None
    assert proposal.plan.runbook == "memory-pressure" and proposal.needed == 1
    assert (await _incident(h)).phase == "awaiting_approval"

    await _click(h, "U0DANA", channel, message.ts, APPROVE)
    await eventually(lambda: _has(h, EventKind.VERIFIED), within=15)
    await h.settle()

    # executed once, by the Kubernetes agent, whose gate got the stored decision for exactly this plan
    agents = h.sandbox.agents
    assert [r["plan_hash"] for r in agents.change_requests] == [proposal.plan_hash]
    [execution] = agents.executions
    assert execution["outcome"] == "done"
    assert execution["answer_data"]["decision"] == "approve"
    assert execution["answer_data"]["plan_hash"] == proposal.plan_hash
    assert execution["answer_data"]["approvers"] == ["U0DANA"]
    assert execution["answer_text"] == "approve"  # the exact word K8s Autopilot reads
    [done] = await h.services.store.proposals()
    assert done.status is Status.EXECUTED and done.approvers == ("U0DANA",) and done.agent == "k8s-autopilot"
    assert "Carried out (approved by <@U0DANA>)" in _state(h, channel, message.ts)
    assert _button(h.sandbox.slack.message(channel, message.ts), APPROVE) is None
    assert "Approved: it will be carried out now." in _told(h, "U0DANA")

    # verified at 0.3%, then offered Resolve; the timeline tells it all, in order
    texts = [m.text for m in h.sandbox.slack.messages_in(channel)]
    [verified] = [t for t in texts if t.startswith(":white_check_mark: *Verified*")]
    assert "error rate is 0.3%, below 1.0% for 5 min" in verified
    incident = await _incident(h)
    assert incident.phase == "verifying"
    kinds = [e.kind for e in await h.services.store.timeline(incident.id)]
    order = [
        EventKind.DIAGNOSED,
        EventKind.PROPOSED,
        EventKind.PROPOSAL_APPROVED,
        EventKind.EXECUTION_STARTED,
        EventKind.EXECUTED,
        EventKind.VERIFYING,
        EventKind.VERIFIED,
    ]
    assert [k for k in kinds if k in order] == order
    [approved] = await _events(h, EventKind.PROPOSAL_APPROVED)
    assert approved.actor == "slack:U0DANA" and approved.data["plan_hash"] == proposal.plan_hash

    resolve_message = [m for m in h.sandbox.slack.messages_in(channel) if m.text.startswith(":white_check_mark: *Ver")]
    await _click(h, "U0DANA", channel, resolve_message[0].ts, "incident.resolve")
    await eventually(lambda: h.sandbox.pagerduty.incidents[incident.external_id].status == "resolved", within=10)


async def _has(h: Harness, kind: EventKind) -> bool:
    """Whether the incident's timeline has an event of this kind yet (for `eventually`)."""
    for incident in await h.services.store.incidents():
        assert incident.id is not None
        if any(e.kind is kind for e in await h.services.store.timeline(incident.id)):
            return True
    return False


async def test_who_may_not_approve_is_told_and_the_attempt_is_audited(h: Harness) -> None:
    channel = await _paged(h)
    message = _proposal_message(h, channel)
    await _click(h, "U0PAT", channel, message.ts, APPROVE)
    await h.settle()
    assert any("Only the people on call for this service or the configured approvers" in t for t in _told(h, "U0PAT"))
    [refused] = await _events(h, EventKind.APPROVAL_REFUSED)
    assert refused.actor == "slack:U0PAT"
    # nor reject: told at once, without being asked for a reason first
    await _click(h, "U0PAT", channel, message.ts, REJECT)
    await h.settle()
    assert len([t for t in _told(h, "U0PAT") if t.startswith("Only the people on call")]) == 2
    assert not _reject_views(h) and len(await _events(h, EventKind.APPROVAL_REFUSED)) == 2
    [proposal] = await h.services.store.proposals()
    assert proposal.status is Status.PROPOSED and h.sandbox.agents.change_requests == []


@pytest.mark.parametrize(
    "harness_overrides", [{"SRE_APPROVERS": "U0PAT"}, {"SRE_APPROVERS": "U0XYZ,S0SRELEADS"}], ids=["user", "group"]
)
async def test_a_configured_approver_may_approve(h: Harness) -> None:
    channel = await _paged(h)
    await _click(h, "U0PAT", channel, _proposal_message(h, channel).ts, APPROVE)
    await eventually(lambda: _has(h, EventKind.EXECUTED), within=10)
    [proposal] = await h.services.store.proposals()
    assert proposal.approvers == ("U0PAT",)


@pytest.fixture
def risky_runbooks(tmp_path: Path) -> Path:
    """The shipped runbooks, with memory-pressure marked high risk (two people must approve)."""
    folder = tmp_path / "runbooks"
    shutil.copytree(SHIPPED, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = folder / "memory-pressure.yml"
    path.write_text(path.read_text().replace("risk: medium", "risk: high"))
    return folder


@pytest.fixture
def harness_overrides(request: pytest.FixtureRequest) -> dict[str, object]:
    if "risky_runbooks" in request.fixturenames:
        return {"SRE_RUNBOOKS_PATH": str(request.getfixturevalue("risky_runbooks"))}
    if "manual_runbooks" in request.fixturenames:
        return {"SRE_RUNBOOKS_PATH": str(request.getfixturevalue("manual_runbooks"))}
    if "short_expiry" in request.fixturenames:
        return {"SRE_PROPOSAL_EXPIRY_MINUTES": 2}
    return {}


async def test_two_different_people_for_a_high_risk_plan(risky_runbooks: Path, h: Harness) -> None:
    channel = await _paged(h)
    message = _proposal_message(h, channel)
    approve = _button(message, APPROVE)
    assert approve is not None and approve["confirm"]["title"]["text"] == "Approve a risky change?"
    await _click(h, "U0DANA", channel, message.ts, APPROVE)
    await h.settle()
    assert any("it needs 1 more, from someone else" in t for t in _told(h, "U0DANA"))
    await _click(h, "U0DANA", channel, message.ts, APPROVE)
    await h.settle()
    assert any("You approved this already; it needs a second, different person." in t for t in _told(h, "U0DANA"))
    assert h.sandbox.agents.change_requests == []
    assert "approved by <@U0DANA>" in _state(h, channel, message.ts)
    await _click(h, "U0SAM", channel, message.ts, APPROVE)  # on call at level 2 of the same policy
    await eventually(lambda: _has(h, EventKind.EXECUTED), within=10)
    [proposal] = await h.services.store.proposals()
    assert proposal.approvers == ("U0DANA", "U0SAM") and len(h.sandbox.agents.change_requests) == 1
    assert h.sandbox.agents.executions[0]["answer_data"]["approvers"] == ["U0DANA", "U0SAM"]


@pytest.fixture
def short_expiry() -> None:
    """SRE_PROPOSAL_EXPIRY_MINUTES=2 (0.2 s of wall time here)."""


async def test_an_expired_proposal_changes_its_message_and_clicks_do_nothing(short_expiry: None, h: Harness) -> None:
    channel = await _paged(h)
    message = _proposal_message(h, channel)
    await eventually(lambda: _has(h, EventKind.PROPOSAL_EXPIRED), within=10)
    await h.settle()
    assert "Expired without a decision. Nothing was done." in _state(h, channel, message.ts)
    assert any("expired without a decision" in m.text for m in h.sandbox.slack.messages_in(channel))
    value = _button(h.sandbox.slack.message(channel, message.ts), APPROVE)
    assert value is None  # the buttons are gone; a click on the message as it was still carries its value
    [proposal] = await h.services.store.proposals()
    await _click(h, "U0DANA", channel, message.ts, APPROVE, f"{proposal.id}:{proposal.plan_hash}")
    await h.settle()
    assert any("This proposal is expired already" in t for t in _told(h, "U0DANA"))
    assert proposal.status is Status.EXPIRED and h.sandbox.agents.change_requests == []
    assert (await _incident(h)).phase == "diagnosing"


async def test_a_click_carrying_another_plans_hash_does_nothing(h: Harness) -> None:
    channel = await _paged(h)
    message = _proposal_message(h, channel)
    [proposal] = await h.services.store.proposals()
    await _click(h, "U0DANA", channel, message.ts, APPROVE, f"{proposal.id}:{'0' * 64}")
    await h.settle()
    assert any("a plan that has changed since it was shown" in t for t in _told(h, "U0DANA"))
    [refused] = await _events(h, EventKind.APPROVAL_REFUSED)
    assert refused.data["shown_hash"] == "0" * 64 and refused.data["plan_hash"] == proposal.plan_hash
    assert (await h.services.store.proposals())[0].status is Status.PROPOSED
    assert h.sandbox.agents.change_requests == []


async def test_twenty_clicks_at_once_execute_once(h: Harness) -> None:
    channel = await _paged(h)
    message = _proposal_message(h, channel)
    results = await asyncio.gather(
        *(h.sandbox.slack.send_action("U0DANA", channel, message.ts, APPROVE) for _ in range(20))
    )
    assert all(r["status"] == 200 for r in results)
    await eventually(lambda: _has(h, EventKind.VERIFIED), within=15)
    await h.settle()
    assert len(h.sandbox.agents.change_requests) == 1 and len(h.sandbox.agents.executions) == 1
    assert len(await _events(h, EventKind.PROPOSAL_APPROVED)) == 1
    assert len(await _events(h, EventKind.EXECUTION_STARTED)) == 1
    told = _told(h, "U0DANA")
    assert told.count("Approved: it will be carried out now.") == 1
    assert sum("already: nothing more happens" in t for t in told) == 19


async def test_reject_asks_why_and_the_reason_goes_on_the_timeline(h: Harness) -> None:
    channel = await _paged(h)
    message = _proposal_message(h, channel)
    await _click(h, "U0DANA", channel, message.ts, REJECT)
    await eventually(
        lambda: any(v.view.get("callback_id") == "proposal.reject_reason" for v in h.sandbox.slack.views.values()),
        within=5,
    )
    [view] = [v for v in h.sandbox.slack.views.values() if v.view.get("callback_id") == "proposal.reject_reason"]
    empty = await h.sandbox.slack.send_view_submission("U0DANA", view.id, {"proposal.reject_reason": {"reason": ""}})
    assert '"response_action": "errors"' in empty["body"] or '"response_action":"errors"' in empty["body"]
    await h.sandbox.slack.send_view_submission(
        "U0DANA", view.id, {"proposal.reject_reason": {"reason": "a memory leak; more memory only hides it"}}
    )
    await eventually(lambda: _has(h, EventKind.PROPOSAL_REJECTED), within=5)
    await h.settle()
    [rejected] = await _events(h, EventKind.PROPOSAL_REJECTED)
    assert rejected.actor == "slack:U0DANA" and rejected.data["reason"] == "a memory leak; more memory only hides it"
    assert "Rejected by <@U0DANA>: a memory leak; more memory only hides it" in _state(h, channel, message.ts)
    assert h.sandbox.agents.change_requests == []
    proposal, following = await h.services.store.proposals()
    assert proposal.status is Status.REJECTED and proposal.rejected_by == "U0DANA"
    assert following.plan.runbook == "high-error-rate" and following.status is Status.PROPOSED  # the next one


@pytest.mark.parametrize(
    "agent_script", [{"change": {"outcome": "fail", "text": "the deployment is locked"}, "recovers": True}]
)
async def test_a_failed_action_escalates_and_the_next_proposal_follows(h: Harness) -> None:
    channel = await _paged(h)
    await _click(h, "U0DANA", channel, _proposal_message(h, channel).ts, APPROVE)
    await eventually(lambda: _proposal_count(h, channel) == 2, within=15)
    await h.settle()
    incident = await _incident(h)
    [failed] = await _events(h, EventKind.EXECUTION_FAILED)
    assert "the deployment is locked" in failed.text
    [escalated] = [e for e in await _events(h, EventKind.ESCALATED) if e.actor == "sre-agent"]
    assert escalated.data["to"] == 2
    pd = h.sandbox.pagerduty.incidents[incident.external_id]
    assert pd.escalation_level == 2
    assert any("sre-agent escalated to level 2" in n.content for n in pd.notes)
    assert "U0SAM" in h.sandbox.slack.channels[channel].members  # the next on-call, invited
    texts = [m.text for m in h.sandbox.slack.messages_in(channel)]
    assert any(t.startswith(":x: *Increase memory limit") and "the deployment is locked" in t for t in texts)
    # the next proposal follows: the error rate is still above 1%, so the rollback
    assert "That did not work. Next: Roll back the last deployment" in texts[-2]
    first, second = await h.services.store.proposals()
    assert first.status is Status.FAILED and second.plan.runbook == "high-error-rate"
    assert second.status is Status.PROPOSED and (await _incident(h)).phase == "awaiting_approval"
    # rejecting that one too leaves nothing: a person is asked, plainly
    await _click(h, "U0DANA", channel, _proposal_message(h, channel).ts, REJECT)
    await eventually(lambda: bool(_reject_views(h)), within=5)
    await h.sandbox.slack.send_view_submission(
        "U0DANA", _reject_views(h)[-1].id, {"proposal.reject_reason": {"reason": "nothing was deployed"}}
    )
    await eventually(lambda: _help(h, channel) is not None, within=5)
    assert "No other runbook applies to what the agents found." in _help(h, channel).text
    assert "<@U0DANA>" in _help(h, channel).text and "<@U0SAM>" in _help(h, channel).text


@pytest.mark.parametrize("agent_script", [{"change": None, "recovers": False}])
async def test_a_fix_that_does_not_hold_escalates(h: Harness) -> None:
    channel = await _paged(h)
    await _click(h, "U0DANA", channel, _proposal_message(h, channel).ts, APPROVE)
    await eventually(lambda: _proposal_count(h, channel) == 2, within=20)
    await h.settle()
    [failed] = await _events(h, EventKind.VERIFICATION_FAILED)
    assert "error_rate is 8.5%" in failed.text and failed.data["readings"]
    assert not await _events(h, EventKind.VERIFIED)
    assert [e.data["to"] for e in await _events(h, EventKind.ESCALATED) if e.actor == "sre-agent"] == [2]
    texts = [m.text for m in h.sandbox.slack.messages_in(channel)]
    assert any("did not fix it: error rate is 8.5%, not below 1.0% for 5 min" in t for t in texts)


@pytest.mark.parametrize("agent_script", [{"change": {"outcome": "hang"}, "recovers": True}])
async def test_an_action_that_never_finishes_times_out_and_escalates(h: Harness) -> None:
    channel = await _paged(h)
    await _click(h, "U0DANA", channel, _proposal_message(h, channel).ts, APPROVE)
    await eventually(lambda: _proposal_count(h, channel) == 2, within=20)
    [failed] = await _events(h, EventKind.EXECUTION_FAILED)
    assert "no answer within 3 s" in failed.text
    assert [e.data["to"] for e in await _events(h, EventKind.ESCALATED) if e.actor == "sre-agent"] == [2]


async def test_approved_before_a_restart_is_executed_once_after_it(h: Harness, database_url: str) -> None:
    channel = await _paged(h)
    [proposal] = await h.services.store.proposals()
    incident = await _incident(h)
    await h.stop()
    # the bot stopped after writing the approval and before claiming the execution: the same write a click makes
    store = await Store.open(database_url)
    try:
        decided = await store.proposal(proposal.id)
        assert decided is not None
        from dataclasses import replace

        assert await store.save_proposal(
            decided,
            replace(decided, status=Status.APPROVED, approvers=("U0DANA",)),
            now=decided.created_at,
            incident=incident,
        )
    finally:
        await store.close()
    await h.start()
    await eventually(lambda: _has(h, EventKind.VERIFIED), within=15)
    await h.restart()
    await h.settle()
    await asyncio.sleep(0.3)
    assert len(h.sandbox.agents.change_requests) == 1
    assert len(await _events(h, EventKind.EXECUTION_STARTED)) == 1
    assert channel


@pytest.fixture
def manual_runbooks(tmp_path: Path) -> Path:
    folder = tmp_path / "manual"
    folder.mkdir()
    (folder / "node-memory.yml").write_text(
        "version: 1\nname: node-memory\ntitle: Node memory\ntrigger: {oom: true}\n"
        "action: Move checkout to the high-memory node pool (needs the platform team)\nkind: manual\n"
        "risk: medium\nreversible: true\nmanual: true\n"
        "expected: The pods get the memory they need\n"
    )
    return folder


async def test_a_manual_runbook_is_a_task_with_a_done_button(manual_runbooks: Path, h: Harness) -> None:
    channel = await _paged(h)
    message = _proposal_message(h, channel)
    assert message.text.startswith("To do by hand (Node memory)")
    assert _button(message, APPROVE) is None and _button(message, DONE) is not None
    await _click(h, "U0DANA", channel, message.ts, DONE)
    await eventually(lambda: _has(h, EventKind.TASK_DONE), within=5)
    await h.settle()
    assert "Done by <@U0DANA>" in _state(h, channel, message.ts)
    assert "Marked done; it is on the incident's timeline." in _told(h, "U0DANA")
    assert (await _incident(h)).phase == "remediating"
    assert h.sandbox.agents.change_requests == []
    assert (await h.services.store.proposals())[0].status is Status.EXECUTED


async def test_audit_verify_catches_an_edited_decision(h: Harness, database_url: str, tmp_path: Path) -> None:
    import sqlalchemy as sa

    from tests.test_cli import _base_env, _run

    channel = await _paged(h)
    await _click(h, "U0DANA", channel, _proposal_message(h, channel).ts, APPROVE)
    await eventually(lambda: _has(h, EventKind.EXECUTED), within=10)
    await h.settle()
    env = {**_base_env(tmp_path), "SRE_DATABASE_URL": database_url}
    code, out, err = await _run("audit", "verify", "INC-4211", env=env)
    assert code == 0 and out.strip().endswith("the chain holds"), (out, err)
    # someone changes who approved, in the database
    await h.services.store.run(
        lambda c: c.execute(
            sa.text("UPDATE timeline_events SET actor = 'slack:U0PAT' WHERE kind = 'proposal_approved'")
        )
    )
    [approved] = await _events(h, EventKind.PROPOSAL_APPROVED)
    code, out, _ = await _run("audit", "verify", "INC-4211", env=env)
    assert code == 1 and f"INC-4211: broken at event {approved.seq} (" in out
    assert "proposal_approved" in out or "its content does not match its hash" in out


async def test_app_home_lists_the_approvals_waiting_for_me(h: Harness) -> None:
    from tests.test_app_home import _open_home, _texts

    await _paged(h)
    dana = _texts(await _open_home(h, "U0DANA"))
    assert "Waiting for your decision (1)" in dana and "INC-4211" in dana
    assert "Increase memory limit from 512Mi to 768Mi" in dana and "medium risk" in dana
    assert "No approvals are waiting for you." in _texts(await _open_home(h, "U0PAT"))  # not on call, not approver


@pytest.mark.parametrize("harness_overrides", [{"SRE_AUTO_RESOLVE": "true"}])
async def test_auto_resolve_once_verified(h: Harness) -> None:
    channel = await _paged(h)
    await _click(h, "U0DANA", channel, _proposal_message(h, channel).ts, APPROVE)
    await eventually(lambda: _has(h, EventKind.RESOLVED), within=15)
    await h.settle()
    incident = await _incident(h)
    assert incident.phase == "resolved" and incident.resolution == "verified: error_rate 0.3%"
    assert h.sandbox.pagerduty.incidents[incident.external_id].status == "resolved"
    [resolved] = await _events(h, EventKind.RESOLVED)
    assert resolved.actor == "sre-agent"


async def _stopped_while_executing(h: Harness, database_url: str, *, task: Any = None) -> None:
    """Stop the bot and leave the store as a crash after the execution was claimed would: approved by Dana,
    executing, with the agent's task when it had been asked."""
    from dataclasses import replace

    [proposal] = await h.services.store.proposals()
    incident = await _incident(h)
    await h.stop()
    store = await Store.open(database_url)
    try:
        approved = replace(proposal, status=Status.APPROVED, approvers=("U0DANA",))
        assert await store.save_proposal(proposal, approved, now=proposal.created_at, incident=incident)
        assert await store.claim_execution(proposal.id, now=proposal.created_at)
        if task is not None:
            await store.set_execution_task(
                proposal.id, agent="k8s-autopilot", task_id=task.task_id, context_id=task.context_id
            )
    finally:
        await store.close()


async def test_a_restart_while_the_agent_waits_at_its_gate_answers_it_once(h: Harness, database_url: str) -> None:
    import aiohttp

    from bot.adapters.a2a import A2AClient

    await _paged(h)
    [proposal] = await h.services.store.proposals()
    async with aiohttp.ClientSession() as session:  # the change as the bot sent it before it stopped
        client = A2AClient("k8s-autopilot", h.sandbox.agents.url("k8s-autopilot"), session, timeout_s=5)
        task = await client.send(
            "Carry out this approved change",
            {"change": proposal.plan.action, "service": "checkout-service", "plan_hash": proposal.plan_hash},
        )
    assert task.needs_input
    await _stopped_while_executing(h, database_url, task=task)
    await h.start()
    await eventually(lambda: _has(h, EventKind.VERIFIED), within=15)
    agents = h.sandbox.agents
    assert len(agents.change_requests) == 1  # not sent again
    [execution] = agents.executions
    assert execution["outcome"] == "done" and execution["answer_data"]["plan_hash"] == proposal.plan_hash


async def test_a_restart_before_the_agent_was_asked_is_not_guessed(h: Harness, database_url: str) -> None:
    channel = await _paged(h)
    await _stopped_while_executing(h, database_url)
    await h.start()
    await eventually(lambda: _proposal_count(h, channel) == 2, within=15)
    [failed] = await _events(h, EventKind.EXECUTION_FAILED)
    assert "whether the change was made is not known" in failed.text
    assert h.sandbox.agents.change_requests == []
    assert [e.data["to"] for e in await _events(h, EventKind.ESCALATED) if e.actor == "sre-agent"] == [2]


async def test_a_click_after_the_incident_was_resolved_does_nothing(h: Harness) -> None:
    channel = await _paged(h)
    message = _proposal_message(h, channel)
    await h.sandbox.slack.send_command("U0DANA", channel, "/incident", "resolve it recovered by itself")
    await eventually(lambda: _has(h, EventKind.RESOLVED), within=10)
    await h.settle()
    [shown] = await h.services.store.proposals()  # a click from a screen that still shows the buttons
    await _click(h, "U0DANA", channel, message.ts, APPROVE, f"{shown.id}:{shown.plan_hash}")
    await h.settle()
    assert "The incident is closed: nothing will be done." in _told(h, "U0DANA")
    assert h.sandbox.agents.change_requests == []
    [proposal] = await h.services.store.proposals()
    assert proposal.status is Status.EXPIRED and proposal.outcome == "withdrawn: the incident was resolved"
    assert "Withdrawn: the incident was resolved. Nothing was done." in _state(h, channel, message.ts)
    assert _button(h.sandbox.slack.message(channel, message.ts), APPROVE) is None


@pytest.mark.parametrize("harness_overrides", [{"SRE_APPROVERS": "U0PAT"}])
async def test_when_pagerduty_cannot_say_who_is_on_call_the_configured_approvers_still_may(h: Harness) -> None:
    channel = await _paged(h)
    message = _proposal_message(h, channel)
    h.sandbox.pagerduty.fail("GET", "/oncalls", 500, count=20)  # pdpyras retries 5xx; every try fails
    await _click(h, "U0DANA", channel, message.ts, APPROVE)  # on call, but PagerDuty cannot say so now
    await h.settle()
    assert any("Only the people on call" in t for t in _told(h, "U0DANA"))
    await _click(h, "U0PAT", channel, message.ts, APPROVE)
    await eventually(lambda: _has(h, EventKind.EXECUTED), within=10)
    [proposal] = await h.services.store.proposals()
    assert proposal.approvers == ("U0PAT",)


@pytest.mark.parametrize("agent_script", [{"change": None, "recovers": True, "working_ms": 1500}])
async def test_a_restart_during_a_long_change_follows_the_same_task(h: Harness) -> None:
    channel = await _paged(h)
    await _click(h, "U0DANA", channel, _proposal_message(h, channel).ts, APPROVE)
    # the gate is answered and the agent works on it (1.5 s): sre-agent stops meanwhile
    await eventually(lambda: any(e["outcome"] == "working" for e in h.sandbox.agents.executions), within=5)
    [proposal] = await h.services.store.proposals()
    assert proposal.status is Status.EXECUTING and proposal.task_id  # kept before the work was done
    await h.services.background.close(within_s=0)  # the process dies: the waiting on the agent is cut off
    await h.restart()
    await eventually(lambda: _has(h, EventKind.VERIFIED), within=15)
    assert len(h.sandbox.agents.change_requests) == 1  # followed, not sent again
    [execution] = h.sandbox.agents.executions
    assert execution["outcome"] == "done"
    assert len(await _events(h, EventKind.EXECUTED)) == 1


async def test_every_event_of_a_whole_incident_reads_back_into_its_typed_payload(h: Harness) -> None:
    """The timeline is a contract: each stored event, whatever wrote it, is its kind's payload exactly (read back
    and written again, the same data), so the postmortem and the metrics can read it by type."""
    from bot.domain.events import Payload, payload_of, record

    channel = await _paged(h)
    await _click(h, "U0PAT", channel, _proposal_message(h, channel).ts, APPROVE)  # not on call: refused
    await _click(h, "U0DANA", channel, _proposal_message(h, channel).ts, APPROVE)
    await eventually(lambda: _has(h, EventKind.VERIFIED), within=15)
    incident = await _incident(h)
    await h.services.actions.add_note(incident.id, "checked the dashboards", user_id="U0DANA")
    await h.services.actions.set_commander(incident.id, "U0DANA", user_id="U0DANA")
    await h.settle()
    timeline = await h.services.store.timeline((await _incident(h)).id)
    kinds = {e.kind for e in timeline}
    assert {
        EventKind.TRIGGERED,
        EventKind.CHANNEL_CREATED,
        EventKind.TRIAGED,
        EventKind.DIAGNOSED,
        EventKind.PROPOSED,
        EventKind.APPROVAL_REFUSED,
        EventKind.PROPOSAL_APPROVED,
        EventKind.EXECUTION_STARTED,
        EventKind.EXECUTED,
        EventKind.VERIFYING,
        EventKind.VERIFIED,
        EventKind.NOTE,
        EventKind.COMMANDER_CHANGED,
        EventKind.PAGERDUTY_NOTE,
        EventKind.ACKNOWLEDGED,
    } <= kinds
    for event in timeline:
        payload = payload_of(event)
        assert isinstance(payload, Payload) and event.kind in payload.KINDS
        again = record(payload, kind=event.kind, at=event.at, actor=event.actor, text=event.text, ref=event.ref)
        assert again.data == event.data, (event.kind, event.data, again.data)
