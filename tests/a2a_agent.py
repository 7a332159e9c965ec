"""An independent A2A server for the client's tests: the a2a-sdk package's own server (1.x, which speaks 1.0 and,
with its compatibility layer, 0.3), run in-process with uvicorn on 127.0.0.1 port 0.

What the agent does depends on the words it is sent:
  "complete ..."  a completed task with a text part and a data part
  "fail ..."      a failed task
  "ask ..."       input-required; "approve" with the same task and context ids completes it
  "hang ..."      a task that never ends
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from a2a.helpers import get_message_text, new_task_from_user_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentInterface, AgentSkill, Part, TaskState
from google.protobuf import struct_pb2
from google.protobuf.json_format import ParseDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def _text(text: str) -> Part:
    return Part(text=text)


def _data(data: dict[str, Any]) -> Part:
    return Part(data=ParseDict(data, struct_pb2.Value()), media_type="application/json")


class ScriptedExecutor(AgentExecutor):
    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        text = get_message_text(context.message).strip().lower()
        task = context.current_task
        if task is None:
            task = new_task_from_user_message(context.message)
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        if task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED:
            if text.startswith("approve"):
                await updater.add_artifact([_text("approved, done")], name="result")
                await updater.complete()
            else:
                await updater.failed(updater.new_agent_message([_text(f"rejected: {text}")]))
            return
        await updater.start_work()
        if text.startswith("complete"):
            await updater.add_artifact(
                [_text("rollback finished"), _data({"release": "frontend", "revision": 41})], name="result"
            )
            await updater.complete(updater.new_agent_message([_text("all good")]))
        elif text.startswith("fail"):
            await updater.failed(updater.new_agent_message([_text("boom: cluster unreachable")]))
        elif text.startswith("ask"):
            await updater.requires_input(updater.new_agent_message([_text("approve or reject?")]))
        elif text.startswith("hang"):
            await asyncio.Event().wait()
        else:
            await updater.complete(updater.new_agent_message([_text(f"echo: {text}")]))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await TaskUpdater(event_queue, context.task_id or "", context.context_id or "").cancel()


def card(url: str, versions: tuple[str, ...]) -> AgentCard:
    return AgentCard(
        name="scripted-agent",
        description="a2a-sdk test agent",
        version="0.0.1",
        supported_interfaces=[
            AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version=v) for v in versions
        ],
        capabilities=AgentCapabilities(streaming=False),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain", "application/json"],
        skills=[AgentSkill(id="ops", name="ops", description="does ops", tags=["ops"])],
    )


def sdk_app(url: str, versions: tuple[str, ...] = ("1.0", "0.3"), *, compat: bool = True) -> Starlette:
    agent_card = card(url, versions)
    handler = DefaultRequestHandler(
        agent_executor=ScriptedExecutor(), task_store=InMemoryTaskStore(), agent_card=agent_card
    )
    return Starlette(
        routes=create_agent_card_routes(agent_card)
        + create_jsonrpc_routes(handler, rpc_url="/", enable_v0_3_compat=compat)
    )


def future_only_app(url: str) -> Starlette:
    """An agent whose card offers only a protocol version sre-agent does not speak."""

    async def card_route(_request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "name": "future",
                "supportedInterfaces": [{"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "2.0"}],
            }
        )

    return Starlette(routes=[Route("/.well-known/agent-card.json", card_route)])


@asynccontextmanager
async def serving(factory: Callable[[str], Starlette]) -> AsyncIterator[str]:
    """Serve the app the factory builds for its own URL; yields that URL."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    server = uvicorn.Server(
        uvicorn.Config(factory(url), log_level="error", timeout_graceful_shutdown=1, lifespan="off")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # uvicorn offers no event to wait on  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    try:
        yield url
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


class FixedAnswerExecutor(AgentExecutor):
    """Answers every question with the same words and data (an agent looking at a scripted world)."""

    def __init__(self, text: str, data: dict[str, Any] | None = None, delay_s: float = 0.0) -> None:
        self.text = text
        self.data = data
        self.delay_s = delay_s

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        task = context.current_task or new_task_from_user_message(context.message)
        if context.current_task is None:
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.start_work()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        parts = [_text(self.text)] + ([_data(self.data)] if self.data else [])
        await updater.add_artifact(parts, name="answer")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await TaskUpdater(event_queue, context.task_id or "", context.context_id or "").cancel()


def fixed_app(
    url: str,
    text: str,
    data: dict[str, Any] | None = None,
    versions: tuple[str, ...] = ("1.0", "0.3"),
    delay_s: float = 0.0,
) -> Starlette:
    agent_card = card(url, versions)
    handler = DefaultRequestHandler(
        agent_executor=FixedAnswerExecutor(text, data, delay_s), task_store=InMemoryTaskStore(), agent_card=agent_card
    )
    return Starlette(
        routes=create_agent_card_routes(agent_card)
        + create_jsonrpc_routes(handler, rpc_url="/", enable_v0_3_compat=True)
    )
