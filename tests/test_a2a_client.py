"""The A2A client against an independent server, the a2a-sdk package's own, in protocol 0.3 and 1.0: completed
answers with text and data parts, failed tasks, input-required resumed with the same ids, a version the agent does
not speak, and an agent that never answers (timeout, then the circuit breaker)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import aiohttp
import pytest

from bot.adapters.a2a import A2AClient, A2AError, Breaker, choose_interface
from tests.a2a_agent import future_only_app, sdk_app, serving

VERSIONS = [("1.0",), ("0.3",)]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(params=VERSIONS, ids=["a2a-1.0", "a2a-0.3"])
async def agent(request: pytest.FixtureRequest, http: aiohttp.ClientSession) -> AsyncIterator[A2AClient]:
    """A client for an a2a-sdk server whose card offers exactly one protocol version."""
    async with serving(partial(sdk_app, versions=request.param)) as url:
        yield A2AClient("scripted", url, http, timeout_s=5)


async def test_the_version_comes_from_the_card(agent: A2AClient) -> None:
    version, url = choose_interface(await agent.card()) or ("?", "?")
    assert url == agent.url
    assert version in ("1.0", "0.3")


async def test_a_completed_answer_with_text_and_data(agent: A2AClient) -> None:
    reply = await agent.send("complete the rollback", {"service": "checkout-service", "window": "30m"})
    assert reply.state == "completed" and reply.finished
    assert "all good" in reply.text and "rollback finished" in reply.text
    assert reply.data == ({"release": "frontend", "revision": 41.0},)
    assert reply.task_id and reply.context_id


async def test_a_failed_task(agent: A2AClient) -> None:
    reply = await agent.send("fail please")
    assert reply.state == "failed" and reply.text == "boom: cluster unreachable"


async def test_input_required_is_resumed_with_the_same_task_and_context(agent: A2AClient) -> None:
    first = await agent.send("ask before scaling")
    assert first.state == "input-required" and first.needs_input and first.text == "approve or reject?"
    second = await agent.send("approve", task_id=first.task_id, context_id=first.context_id)
    assert second.state == "completed" and second.text == "approved, done"
    assert (second.task_id, second.context_id) == (first.task_id, first.context_id)


async def test_one_context_for_several_tasks(agent: A2AClient) -> None:
    first = await agent.send("complete one")
    second = await agent.send("complete two", context_id=first.context_id)
    assert second.context_id == first.context_id and second.task_id != first.task_id


async def test_a_card_with_only_an_unknown_version_is_refused(http: aiohttp.ClientSession) -> None:
    async with serving(future_only_app) as url:
        with pytest.raises(A2AError) as caught:
            await A2AClient("future", url, http, timeout_s=5).send("complete")
    assert caught.value.kind == "refused"
    assert "no A2A version sre-agent speaks" in caught.value.reason


async def test_a_server_that_does_not_serve_the_version_its_card_names(http: aiohttp.ClientSession) -> None:
    # the card says 0.3, but the server runs without its 0.3 layer: it refuses message/send
    async with serving(partial(sdk_app, versions=("0.3",), compat=False)) as url:
        with pytest.raises(A2AError) as caught:
            await A2AClient("half", url, http, timeout_s=5).send("complete")
    assert caught.value.kind == "refused" and "message/send was refused" in caught.value.reason


@pytest.mark.parametrize("versions", VERSIONS, ids=["a2a-1.0", "a2a-0.3"])
async def test_an_agent_that_never_answers_times_out_and_the_breaker_opens(
    http: aiohttp.ClientSession, versions: tuple[str, ...]
) -> None:
    async with serving(partial(sdk_app, versions=versions)) as url:
        client = A2AClient("slow", url, http, timeout_s=0.5, breaker=Breaker(threshold=2, cooldown_s=60))
        for _ in range(2):
            with pytest.raises(A2AError) as caught:
                await client.send("hang forever")
            assert caught.value.kind == "timeout" and caught.value.reason == "no answer within 0.5 s"
        with pytest.raises(A2AError) as caught:
            await client.send("complete")  # would work, but the agent is cut off for now
        assert caught.value.kind == "circuit_open"


async def test_the_breaker_lets_one_call_through_after_its_cooldown() -> None:
    now = [0.0]
    breaker = Breaker(threshold=1, cooldown_s=10, clock=lambda: now[0])
    breaker.failure()
    assert breaker.check() == 10
    now[0] = 10.5
    assert breaker.check() is None
    breaker.success()
    assert breaker.failures == 0 and breaker.opened_at is None


async def test_an_agent_nobody_listens_on_is_unavailable(http: aiohttp.ClientSession) -> None:
    client = A2AClient("gone", "http://127.0.0.1:9", http, timeout_s=2, retries=1)
    with pytest.raises(A2AError) as caught:
        await client.send("complete")
    assert caught.value.kind == "unavailable" and "agent card could not be read" in caught.value.reason


@pytest.mark.parametrize("versions", [("1.0",), ("0.3",)], ids=["a2a-1.0", "a2a-0.3"])
async def test_the_sandbox_agents_speak_both_versions_with_an_approval_gate(
    http: aiohttp.ClientSession, versions: tuple[str, ...]
) -> None:
    from sandbox.a2a_agents import parse_agents
    from sandbox.server import Sandbox
    from sandbox.world import World

    specs = parse_agents(
        [
            {
                "name": "k8s",
                "role": "kubernetes",
                "versions": list(versions),
                "answers": {
                    "checkout-service": {
                        "text": "3 pods in CrashLoopBackOff",
                        "data": {"pods": {"CrashLoopBackOff": 3}},
                    }
                },
            }
        ]
    )
    async with Sandbox(World.default(), slack_signing_secret="s", pagerduty_webhook_secrets=["p"], agents=specs) as sb:
        client = A2AClient("k8s", sb.agents.url("k8s"), http, timeout_s=5)
        reply = await client.send("why are the pods crashing?", {"service": "checkout-service"})
        assert reply.state == "completed" and reply.text == "3 pods in CrashLoopBackOff"
        assert reply.data == ({"pods": {"CrashLoopBackOff": 3}},)
        gate = await client.send(
            "raise the memory limit", {"change": "memory 512Mi -> 768Mi"}, context_id=reply.context_id
        )
        assert gate.needs_input and "Approve or reject?" in gate.text
        done = await client.send("approve", task_id=gate.task_id, context_id=gate.context_id)
        assert done.state == "completed" and done.text == "Done: memory 512Mi -> 768Mi"
        assert {r["version"] for r in sb.agents.requests} == {versions[0]}


@pytest.mark.parametrize("versions", [("1.0",), ("0.3",)], ids=["a2a-1.0", "a2a-0.3"])
async def test_a_long_task_is_polled_until_done(http: aiohttp.ClientSession, versions: tuple[str, ...]) -> None:
    from sandbox.a2a_agents import parse_agents
    from sandbox.server import Sandbox
    from sandbox.world import World

    specs = parse_agents(
        [
            {
                "name": "slowpoke",
                "role": "monitoring",
                "versions": list(versions),
                "working_ms": 300,
                "answers": {"default": {"text": "error rate 8.5%"}},
            }
        ]
    )
    async with Sandbox(World.default(), slack_signing_secret="s", pagerduty_webhook_secrets=["p"], agents=specs) as sb:
        reply = await A2AClient("slowpoke", sb.agents.url("slowpoke"), http, timeout_s=5).send("how is checkout?")
        assert reply.state == "completed" and reply.text == "error rate 8.5%"
        methods = [r["method"] for r in sb.agents.requests]
        assert methods[0] in ("SendMessage", "message/send") and len(methods) >= 2
        assert set(methods[1:]) == {"GetTask" if versions == ("1.0",) else "tasks/get"}
