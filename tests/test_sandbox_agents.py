"""The sandbox's A2A agents carry out changes: a change request meets the gate, the gate's answer must approve and
name the request's plan_hash, the approved change turns out as scripted (done, fail, hang), and a done change changes
what every agent says about that service. Over real HTTP, in protocol 1.0 and 0.3."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from sandbox.a2a_agents import AgentWorldError, parse_agents
from sandbox.server import Sandbox
from sandbox.world import World

PLAN = "ab" * 32
CHANGE = {
    "change": "Increase memory limit from 512Mi to 768Mi",
    "kind": "raise_memory_limit",
    "service": "checkout-service",
    "namespace": "shop",
    "parameters": {"from": "512Mi", "to": "768Mi"},
    "plan_hash": PLAN,
    "incident": "INC-4211",
}
AGENTS: list[dict[str, Any]] = [
    {
        "name": "monitoring",
        "role": "monitoring",
        "answers": {"checkout-service": {"text": "error rate 8.5%", "data": {"error_rate": 0.085}}},
        "after_change": {"checkout-service": {"text": "error rate 0.3%", "data": {"error_rate": 0.003}}},
    },
    {
        "name": "k8s",
        "role": "kubernetes",
        "answers": {"default": {"text": "3 pods in CrashLoopBackOff"}},
        "changes": {
            "checkout-service": {"outcome": "done", "text": "Raised: {change} on {service}"},
            "search-service": {"outcome": "fail", "text": "quota exceeded"},
            "payments-api": {"outcome": "hang"},
        },
    },
    {"name": "slow-k8s", "role": "kubernetes", "working_ms": 200},
]


class Peer:
    """A bare JSON-RPC client for one protocol version, reading answers into (state, task id, text, data)."""

    def __init__(self, http: aiohttp.ClientSession, sb: Sandbox, version: str) -> None:
        self.http, self.sb, self.version = http, sb, version

    async def _call(self, agent: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
        headers = {"A2A-Version": "1.0"} if self.version == "1.0" else {}
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        async with self.http.post(self.sb.agents.url(agent), json=body, headers=headers) as response:
            answer = await response.json()
        assert "error" not in answer, answer
        result: dict[str, Any] = answer["result"]
        return result["task"] if self.version == "1.0" and "task" in result else result

    async def send(
        self, agent: str, text: str, data: dict[str, Any] | None = None, task_id: str | None = None
    ) -> tuple[str, str, str, dict[str, Any]]:
        if self.version == "1.0":
            parts: list[dict[str, Any]] = [{"text": text}]
            if data is not None:
                parts.append({"data": data, "mediaType": "application/json"})
            message: dict[str, Any] = {"role": "ROLE_USER", "messageId": uuid.uuid4().hex, "parts": parts}
        else:
            parts = [{"kind": "text", "text": text}]
            if data is not None:
                parts.append({"kind": "data", "data": data})
            message = {"kind": "message", "role": "user", "messageId": uuid.uuid4().hex, "parts": parts}
        if task_id:
            message["taskId"] = task_id
        method = "SendMessage" if self.version == "1.0" else "message/send"
        return _read(await self._call(agent, method, {"message": message}))

    async def get(self, agent: str, task_id: str) -> tuple[str, str, str, dict[str, Any]]:
        return _read(await self._call(agent, "GetTask" if self.version == "1.0" else "tasks/get", {"id": task_id}))


def _read(task: dict[str, Any]) -> tuple[str, str, str, dict[str, Any]]:
    state = str(task["status"]["state"])
    if state.startswith("TASK_STATE_"):
        state = state.removeprefix("TASK_STATE_").lower().replace("_", "-")
    parts = list((task["status"].get("message") or {}).get("parts") or [])
    for artifact in task.get("artifacts") or []:
        parts += artifact["parts"]
    text = "\n".join(p["text"] for p in parts if "text" in p)
    data: dict[str, Any] = {}
    for part in parts:
        if isinstance(part.get("data"), dict):
            data.update(part["data"])
    return state, task["id"], text, data


@pytest.fixture
async def sb() -> AsyncIterator[Sandbox]:
    async with Sandbox(
        World.default(), slack_signing_secret="s", pagerduty_webhook_secrets=["p"], agents=parse_agents(AGENTS)
    ) as sandbox:
        yield sandbox


@pytest.fixture(params=["1.0", "0.3"], ids=["a2a-1.0", "a2a-0.3"])
async def peer(request: pytest.FixtureRequest, sb: Sandbox) -> AsyncIterator[Peer]:
    async with aiohttp.ClientSession() as http:
        yield Peer(http, sb, request.param)


async def _gate(peer: Peer, service: str = "checkout-service", agent: str = "k8s") -> str:
    state, task_id, text, _ = await peer.send(agent, "Raise the memory limit", {**CHANGE, "service": service})
    assert state == "input-required"
    assert text == f"This changes the system: {CHANGE['change']}. Approve or reject?"
    return task_id


def _kinds(sb: Sandbox, kind: str) -> list[dict[str, Any]]:
    return [e for e in sb.feed if e["kind"] == kind]


async def test_an_approval_naming_the_plan_changes_the_world(peer: Peer) -> None:
    sb = peer.sb
    assert (await peer.send("monitoring", "error rate?", {"service": "checkout-service"}))[2] == "error rate 8.5%"
    task_id = await _gate(peer)
    assert sb.agents.change_requests == [
        {
            "agent": "k8s",
            "service": "checkout-service",
            "change": CHANGE["change"],
            "plan_hash": PLAN,
            "task_id": task_id,
            "kind": "raise_memory_limit",
            "incident": "INC-4211",
        }
    ]
    assert not sb.agents.changed
    answer = {"decision": "approved", "plan_hash": PLAN, "approvers": ["U0DANA"]}
    state, same, text, _ = await peer.send("k8s", "approved by @dana", answer, task_id=task_id)
    assert (state, same) == ("completed", task_id)
    assert text == f"Raised: {CHANGE['change']} on checkout-service"
    assert sb.agents.changed == {"checkout-service"}
    [execution] = sb.agents.executions
    assert execution == {
        "agent": "k8s",
        "service": "checkout-service",
        "change": CHANGE["change"],
        "plan_hash": PLAN,
        "task_id": task_id,
        "answer_text": "approved by @dana",
        "answer_data": answer,
        "outcome": "done",
    }
    assert (await peer.get("k8s", task_id))[0] == "completed"
    _, _, text, data = await peer.send("monitoring", "error rate?", {"service": "checkout-service"})
    assert (text, data) == ("error rate 0.3%", {"error_rate": 0.003})
    _, _, other, _ = await peer.send("monitoring", "error rate?", {"service": "search-service"})
    assert other == "monitoring sees nothing unusual for search-service."  # other services are as they were
    assert [(e["agent"], e["service"], e["change"]) for e in _kinds(sb, "a2a.change")] == [
        ("k8s", "checkout-service", CHANGE["change"])
    ]
    assert [(e["agent"], e["service"], e["outcome"]) for e in _kinds(sb, "a2a.change_done")] == [
        ("k8s", "checkout-service", "done")
    ]


@pytest.mark.parametrize(
    "answer",
    [{"decision": "approved", "plan_hash": "cd" * 32}, {"decision": "approved"}, {}],
    ids=["other-plan", "no-plan", "no-data"],
)
async def test_an_approval_naming_another_plan_is_rejected_and_nothing_changes(
    peer: Peer, answer: dict[str, Any]
) -> None:
    task_id = await _gate(peer)
    state, _, text, _ = await peer.send("k8s", "Approve", answer, task_id=task_id)
    assert (state, text) == ("rejected", "The approval does not name this plan: nothing was done.")
    assert (await peer.get("k8s", task_id))[0] == "rejected"
    assert not peer.sb.agents.changed
    assert [e["outcome"] for e in peer.sb.agents.executions] == ["rejected"]
    assert (await peer.send("monitoring", "error rate?", {"service": "checkout-service"}))[2] == "error rate 8.5%"
    assert [e["outcome"] for e in _kinds(peer.sb, "a2a.change_done")] == ["rejected"]


async def test_a_rejection_or_an_undecided_approval_fails(peer: Peer) -> None:
    task_id = await _gate(peer)
    state, _, text, _ = await peer.send(
        "k8s", "reject: not now", {"decision": "rejected", "plan_hash": PLAN}, task_id=task_id
    )
    assert (state, text) == ("failed", "Not done, as decided: reject: not now")
    task_id = await _gate(peer)
    state, _, _, _ = await peer.send("k8s", "approve", {"plan_hash": PLAN}, task_id=task_id)  # no decision
    assert state == "failed"
    assert [e["outcome"] for e in peer.sb.agents.executions] == ["failed", "failed"]
    assert not peer.sb.agents.changed


async def test_a_change_scripted_to_fail_fails(peer: Peer) -> None:
    task_id = await _gate(peer, "search-service")
    state, _, text, _ = await peer.send("k8s", "approve", {"decision": "approved", "plan_hash": PLAN}, task_id=task_id)
    assert (state, text) == ("failed", "quota exceeded")
    assert [e["outcome"] for e in peer.sb.agents.executions] == ["failed"]
    assert not peer.sb.agents.changed


async def test_a_change_scripted_to_hang_stays_working(peer: Peer) -> None:
    task_id = await _gate(peer, "payments-api")
    state, _, text, _ = await peer.send("k8s", "approve", {"decision": "approved", "plan_hash": PLAN}, task_id=task_id)
    assert (state, text) == ("working", f"Working on it: {CHANGE['change']}")
    for _ in range(3):
        await asyncio.sleep(0.05)
        assert (await peer.get("k8s", task_id))[0] == "working"
    assert [e["outcome"] for e in peer.sb.agents.executions] == ["working"]
    assert not peer.sb.agents.changed


async def test_a_long_change_is_working_first_and_changes_the_world_when_done(peer: Peer) -> None:
    task_id = await _gate(peer, agent="slow-k8s")
    state, _, _, _ = await peer.send(
        "slow-k8s", "approve", {"decision": "approved", "plan_hash": PLAN}, task_id=task_id
    )
    assert state == "working"
    assert not peer.sb.agents.changed and peer.sb.agents.executions[0]["outcome"] == "working"
    await asyncio.sleep(0.25)
    state, _, text, _ = await peer.get("slow-k8s", task_id)
    assert (state, text) == ("completed", f"Done: {CHANGE['change']}")
    assert peer.sb.agents.changed == {"checkout-service"}
    assert peer.sb.agents.executions[0]["outcome"] == "done"
    assert [e["outcome"] for e in _kinds(peer.sb, "a2a.change_done")] == ["done"]


async def test_a_change_request_without_a_plan_hash_is_approved_by_its_text(peer: Peer) -> None:
    _, task_id, _, _ = await peer.send("k8s", "raise it", {"change": "memory 512Mi -> 768Mi"})
    state, _, text, _ = await peer.send("k8s", "approve", task_id=task_id)
    assert (state, text) == ("completed", "Done: memory 512Mi -> 768Mi")
    assert peer.sb.agents.change_requests[0]["plan_hash"] is None
    assert not peer.sb.agents.changed  # it named no service


@pytest.mark.parametrize("version", ["1.0", "0.3"], ids=["a2a-1.0", "a2a-0.3"])
async def test_the_bots_client_reads_the_gate_and_times_out_on_a_hanging_change(sb: Sandbox, version: str) -> None:
    from bot.adapters.a2a import A2AClient, A2AError

    name = f"k8s-{version}"
    specs = parse_agents([{**AGENTS[1], "name": name, "versions": [version]}])
    sb.agents.specs[name] = specs[0]
    async with aiohttp.ClientSession() as http:
        client = A2AClient(name, sb.agents.url(name), http, timeout_s=0.5)
        gate = await client.send("Raise the memory limit", CHANGE)
        assert gate.needs_input
        rejected = await client.send(
            "approve", {"decision": "approved"}, task_id=gate.task_id, context_id=gate.context_id
        )
        assert rejected.state == "rejected" and rejected.finished
        gate = await client.send("Raise the memory limit", {**CHANGE, "service": "payments-api"})
        with pytest.raises(A2AError) as caught:
            await client.send(
                "approve", {"decision": "approved", "plan_hash": PLAN}, task_id=gate.task_id, context_id=gate.context_id
            )
        assert caught.value.kind == "timeout"
    assert [e["outcome"] for e in sb.agents.executions] == ["rejected", "working"]


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        (
            {"changes": {"checkout-service": {"outcome": "explode"}}},
            "agents[0].changes.checkout-service.outcome: expected one of done, fail, hang, got 'explode'",
        ),
        ({"changes": {"default": {"outcome": "done", "when": "now"}}}, "agents[0].changes.default: unknown key 'when'"),
        ({"changes": {"default": "done"}}, "agents[0].changes.default: expected a mapping with outcome and text"),
        ({"changes": {"default": {"text": 3}}}, "agents[0].changes.default.text: expected a string"),
        ({"changes": ["done"]}, "agents[0].changes: expected a mapping by service name"),
        (
            {"after_change": {"checkout-service": {"data": {}}}},
            "agents[0].after_change.checkout-service.text: required",
        ),
        (
            {"after_change": {"checkout-service": {"text": "ok", "data": [1]}}},
            "agents[0].after_change.checkout-service.data: expected a mapping",
        ),
        (
            {"after_change": {"checkout-service": {"text": "ok", "mood": "calm"}}},
            "agents[0].after_change.checkout-service: unknown key 'mood'",
        ),
        (
            {"after_change": {"default": {"text": "ok"}}},
            "agents[0].after_change.default: after_change is by service name",
        ),
        ({"answers": ["ok"]}, "agents[0].answers: expected a mapping by service name"),
        ({"after": {}}, "agents[0]: unknown key 'after'"),
    ],
)
def test_parse_errors_name_the_path(spec: dict[str, Any], error: str) -> None:
    with pytest.raises(AgentWorldError) as caught:
        parse_agents([{"name": "k8s", "role": "kubernetes", **spec}])
    assert str(caught.value).startswith(error)


def test_the_new_keys_parse() -> None:
    [spec] = parse_agents(
        [
            {
                "name": "k8s",
                "role": "kubernetes",
                "changes": {"default": {"outcome": "hang"}},
                "after_change": {"checkout-service": {"text": "fine", "asks": True}},
            }
        ]
    )
    assert spec.change_for("anything").outcome == "hang"
    assert spec.answer_for("checkout-service").text == "k8s sees nothing unusual for checkout-service."
    assert spec.answer_for("checkout-service", changed=True).asks
    [plain] = parse_agents([{"name": "k8s", "role": "kubernetes"}])
    assert plain.change_for("checkout-service").render("x", "checkout-service") == "Done: x"
