"""sre-agent's A2A client against the sandbox agent that answers as K8s Autopilot does (sandbox/autopilot.py): its
words only in streamed working updates and A2UI cards (the final text empty), a card URL on 0.0.0.0, an approval card
with no text, the decision read as the real agent reads it, and runs longer than one request may take. Over real
HTTP, in protocol 1.0 and 0.3."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.adapters.a2a import A2AClient, A2AError
from bot.domain.agent_gate import Outcome, outcome_of
from bot.domain.signals import from_answer
from sandbox.a2a_agents import parse_agents
from sandbox.autopilot import decision_of
from sandbox.server import Sandbox
from sandbox.world import World

PLAN = "cd" * 32
CHANGE = {
    "change": "Increase memory limit from 512Mi to 768Mi",
    "kind": "raise_memory_limit",
    "service": "checkout-service",
    "namespace": "shop",
    "parameters": {"memory_limit": "768Mi"},
    "plan_hash": PLAN,
}
PODS = "3 pods in CrashLoopBackOff (OOMKilled), 14 restarts in 10 minutes"
AUTOPILOT: dict[str, Any] = {
    "name": "k8s-autopilot",
    "role": "kubernetes",
    "style": "autopilot",
    "answers": {"checkout-service": {"text": PODS, "data": {"restarts": 14}}},
    "changes": {
        "checkout-service": {"outcome": "done", "text": "Memory limit raised to 768Mi; pods rolling."},
        "search-service": {"outcome": "fail", "text": "quota exceeded in namespace shop"},
    },
}


@pytest.fixture
async def sb() -> AsyncIterator[Sandbox]:
    agents = parse_agents(
        [
            AUTOPILOT,
            {**AUTOPILOT, "name": "stream-only", "streaming_only": True},
            {**AUTOPILOT, "name": "slow", "working_ms": 1500},
            {**AUTOPILOT, "name": "simple-0.3", "style": "simple", "versions": ["0.3"]},
        ]
    )
    async with Sandbox(World.default(), slack_signing_secret="s", pagerduty_webhook_secrets=["p"], agents=agents) as s:
        yield s


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_its_card_names_a_url_nobody_can_reach_and_the_configured_one_is_used(
    sb: Sandbox, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    client = A2AClient("k8s-autopilot", sb.agents.url("k8s-autopilot"), http, timeout_s=5)
    card = await client.card()
    assert card["supportedInterfaces"][0]["url"].startswith("http://0.0.0.0:")
    assert card["capabilities"]["streaming"] is True
    caplog.set_level("INFO", logger="bot.adapters.a2a")
    reply = await client.send("Why are the checkout pods crashing?", {"service": "checkout-service"})
    assert reply.state == "completed"
    assert any(
        "its card names http://0.0.0.0:" in r.getMessage() and "configured" in r.getMessage() for r in caplog.records
    )
    assert all(r["agent"] == "k8s-autopilot" for r in sb.agents.requests)  # every request reached it


@pytest.mark.parametrize("name", ["k8s-autopilot", "stream-only"])
async def test_diagnosis_is_read_from_its_a2ui_cards(sb: Sandbox, http: aiohttp.ClientSession, name: str) -> None:
    client = A2AClient(name, sb.agents.url(name), http, timeout_s=5)
    reply = await client.send("Why are the checkout pods crashing?", {"service": "checkout-service"})
    assert reply.state == "completed"
    assert reply.text.startswith(PODS)  # its streamed words, joined; its final message's text is empty
    assert reply.surfaces[0].model["terminalOutput"] == PODS  # and its tool card, whose data model is data
    assert from_answer(reply.data, "").restarts is not None
    signals = from_answer(reply.data, reply.text)
    assert signals.pods_in("CrashLoopBackOff") == 3 and signals.restarts is not None
    assert signals.restarts.value == 14
    methods = {r["method"] for r in sb.agents.requests if r["agent"] == name}
    assert methods == {"SendStreamingMessage"}  # its card says it streams


async def test_a_streaming_only_agent_refuses_a_plain_send(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": {"parts": [{"text": "x"}]}}}
    async with http.post(sb.agents.url("stream-only"), json=body) as response:
        answer = await response.json()
    assert answer["error"]["code"] == -32004


async def test_the_approval_card_names_the_tool_and_its_arguments(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    client = A2AClient("k8s-autopilot", sb.agents.url("k8s-autopilot"), http, timeout_s=5)
    gate = await client.send("Carry out this approved change", CHANGE)
    assert gate.state == "input-required"
    request = gate.gate()
    assert request.tool == "k8s_set_resources" and request.actions == 1
    assert request.arguments == {"name": "checkout-service", "namespace": "shop", "memory_limit": "768Mi"}
    done = await client.send("approve", {"decision": "approve"}, context_id=gate.context_id, task_id=gate.task_id)
    assert done.state == "completed" and done.tools == (("k8s_set_resources", "success"),)
    assert outcome_of(done.state, done.text, done.data, done.tools).outcome is Outcome.CARRIED_OUT
    assert "checkout-service" in sb.agents.changed


async def test_a_failed_tool_completes_and_is_read_as_failed(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    client = A2AClient("k8s-autopilot", sb.agents.url("k8s-autopilot"), http, timeout_s=5)
    gate = await client.send("Carry out this approved change", {**CHANGE, "service": "search-service"})
    done = await client.send("approve", context_id=gate.context_id, task_id=gate.task_id)
    assert done.state == "completed"  # as the real agent ends it
    said = outcome_of(done.state, done.text, done.data, done.tools)
    assert said.outcome is Outcome.FAILED and "quota exceeded" in said.why
    assert "search-service" not in sb.agents.changed


@pytest.mark.parametrize(
    ("text", "data", "decision"),
    [
        ("approve", [], ("approve", None)),
        ("reject", [{"decision": "reject", "message": "too risky"}], ("reject", None)),  # the text wins
        ("", [{"decision": "reject", "message": "too risky"}], ("reject", "too risky")),
        ("", [{"userAction": {"name": "hitl_response", "context": {"decision": "reject"}}}], ("reject", None)),
        ("reject: too risky", [], ("approve", None)),  # what it does not know is approve: never send it
        ("please stop", [], ("approve", None)),
    ],
)
def test_it_reads_a_decision_as_the_real_agent_does(
    text: str, data: list[dict[str, Any]], decision: tuple[str, str | None]
) -> None:
    assert decision_of(text, data) == decision


async def test_a_run_longer_than_one_request_is_followed_to_its_end(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    # each request may take 0.5 s; the run takes 1.5 s: the stream goes quiet, and the task is followed
    client = A2AClient("slow", sb.agents.url("slow"), http, timeout_s=0.5)
    reply = await client.send("Why are the checkout pods crashing?", {"service": "checkout-service"}, timeout_s=10)
    assert reply.state == "completed" and PODS in reply.text
    methods = [r["method"] for r in sb.agents.requests if r["agent"] == "slow"]
    assert methods[0] == "SendStreamingMessage" and "GetTask" in methods


async def test_a_question_that_would_time_out_fails_within_its_time(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    client = A2AClient("slow", sb.agents.url("slow"), http, timeout_s=0.2)
    with pytest.raises(A2AError) as caught:
        await client.send("Why?", {"service": "checkout-service"})
    assert caught.value.kind == "timeout"


async def test_a_0_3_camel_case_card_still_works(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    client = A2AClient("simple-0.3", sb.agents.url("simple-0.3"), http, timeout_s=5)
    card = await client.card()
    assert card["url"] and card["protocolVersion"].startswith("0.3")
    reply = await client.send("Why are the checkout pods crashing?", {"service": "checkout-service"})
    assert reply.state == "completed" and reply.text == PODS
    assert {r["method"] for r in sb.agents.requests if r["agent"] == "simple-0.3"} == {"message/send"}
