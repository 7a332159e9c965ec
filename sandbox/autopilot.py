"""A sandbox agent that answers the way TalkOps K8s Autopilot does (its a2a-sdk 1.x server, read from its source):

- its card is in 1.0 form with a 0.3 entry, `capabilities.streaming: true`, the A2UI extension, output mode
  `application/json+a2ui`, skills `helm_operator`, `k8s_operator`, `app_operator`, `observability`, and, as its
  container writes it, a URL on `http://0.0.0.0:<port>` that nobody else can reach;
- everything it says comes as status updates: its words as `working` text chunks that reuse one messageId, its tool
  runs as A2UI cards (one data part per A2UI message, `metadata.mimeType: application/json+a2ui`), and a final
  `completed` message whose text is empty: the answer is only in what came before (the task's history);
- a change pauses the task in `input-required` with an approval card (`hitlApprovalCard`: the tool, its arguments)
  and no text. The next message in that context is the decision, read as the real agent reads it: the text wins over
  data parts and must be exactly a decision word (`approve`, `yes`..., `reject`, `deny`, `cancel`, `no`); a data part
  `{"decision": .., "message": ..}` or an A2UI `userAction` named `hitl_response` is read when there is no text; and,
  like the real agent, anything else counts as approve;
- a rejected gate, a failed tool and a done change all end `completed`: only the tool card's status and the words
  ("FAILED: ...") tell them apart.

It answers `SendMessage` / `message/send` (blocking, or at once with `returnImmediately` / `blocking: false`),
`SendStreamingMessage` / `message/stream` (SSE) and `GetTask` / `tasks/get`. `streaming_only: true` refuses the
non-streaming sends. In scenario files: `style: autopilot` on an agent, with the simple agents' `answers`, `changes`,
`after_change`, `working_ms`, and `gates:` by service to make it ask for something else than it was asked:
`{tool: helm_uninstall, arguments: {release_name: x}, actions: 2}`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from sandbox.a2a_agents import Agents, AgentSpec

__all__ = ["Autopilot", "card", "decision_of"]

A2UI = "application/json+a2ui"
CATALOG = "talkops-reasoning-catalog"
SKILLS = ("helm_operator", "k8s_operator", "app_operator", "observability")
_APPROVE = frozenset({"approve", "yes", "confirm", "y", "proceed", "continue", "ok", "true", "1", "hitl_response"})
_REJECT = frozenset({"reject", "deny", "cancel", "no", "n"})
_TOOLS = {  # the tool it would call for each kind of change, and the arguments it names
    "rollback": "helm_rollback",
    "scale": "k8s_scale_deployment",
    "raise_memory_limit": "k8s_set_resources",
}
STEP_S = 0.01  # between the events of one turn


def card(spec: AgentSpec, port: int) -> dict[str, Any]:
    url = f"http://0.0.0.0:{port}/"
    return {
        "name": spec.name,
        "description": "Production-grade multi-agent system for Kubernetes automation.",
        "version": "1.0.0",
        "supportedInterfaces": [
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "0.3"},
        ],
        "capabilities": {
            "streaming": True,
            "extensions": [{"uri": "https://a2ui.org/a2a-extension/a2ui/v0.9", "params": {"catalogIds": [CATALOG]}}],
        },
        "defaultInputModes": ["text", "text/plain"],
        "defaultOutputModes": ["text", "text/plain", "application/json", A2UI],
        "skills": [{"id": s, "name": s, "description": s.replace("_", " "), "tags": [s]} for s in SKILLS],
    }


def decision_of(text: str, data: list[dict[str, Any]]) -> tuple[str, str | None]:
    """(approve | reject, message) as K8s Autopilot reads a resume: the text first, exactly; else the first data
    part (`userAction` or the part itself); anything it does not recognise is approve."""
    if text.strip():
        word = text.strip().lower()
        return ("reject", None) if word in _REJECT else ("approve", None)
    if not data:
        return "approve", None
    first = data[0]
    action: dict[str, Any] = first["userAction"] if isinstance(first.get("userAction"), dict) else first
    context: dict[str, Any] = action["context"] if isinstance(action.get("context"), dict) else {}
    raw = action.get("decision") or context.get("decision") or action.get("action") or action.get("name")
    message = context.get("message") or action.get("message") or action.get("rejectionReason")
    if isinstance(action.get("decisions"), list) and action["decisions"]:
        item = action["decisions"][0] if isinstance(action["decisions"][0], dict) else {}
        raw, message = item.get("type") or item.get("decision"), item.get("message")
    word = str(raw or "").lower().strip()
    if word in _REJECT:
        return "reject", str(message) if message else None
    return "approve", None


@dataclass
class _Task:
    id: str
    context: str
    events: list[tuple[float, dict[str, Any]]]  # (when, status): applied when their time has come
    history: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=lambda: {"state": "submitted"})
    gate: dict[str, Any] | None = None  # a change waiting for its decision
    done: list[Any] = field(default_factory=list)  # what happens when the last event is applied

    def settle(self, now: float) -> None:
        while self.events and self.events[0][0] <= now:
            _, status = self.events.pop(0)
            if self.status.get("message"):
                self.history.append(self.status["message"])
            self.status = status
        if not self.events:
            for effect in self.done:
                effect()
            self.done = []


class Autopilot:
    """The K8s-Autopilot-like agents of a sandbox (those with `style: autopilot`)."""

    def __init__(self, agents: Agents) -> None:
        self.agents = agents
        self.tasks: dict[str, _Task] = {}
        self.gates: dict[str, str] = {}  # context id -> the task waiting for a decision there

    async def rpc(
        self, spec: AgentSpec, request: web.Request, rpc_id: Any, method: str, params: dict[str, Any]
    ) -> web.StreamResponse:
        version = "1.0" if method in ("SendMessage", "SendStreamingMessage", "GetTask") else "0.3"
        now = time.monotonic()
        for task in self.tasks.values():
            task.settle(now)
        if method in ("GetTask", "tasks/get"):
            found = self.tasks.get(str(params.get("id")))
            if found is None:
                return _error(rpc_id, -32001, "Task not found")
            return _json(rpc_id, _task(found, version))
        streaming = method in ("SendStreamingMessage", "message/stream")
        if spec.streaming_only and not streaming:
            return _error(rpc_id, -32004, "This agent answers over streaming only (SendStreamingMessage)")
        message = params.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("parts"), list):
            return _error(rpc_id, -32602, "Invalid params: message with parts required")
        task = self._turn(spec, message)
        if streaming:
            return await self._stream(request, rpc_id, task, version)
        config = params.get("configuration") or {}
        if not (config.get("returnImmediately") or config.get("blocking") is False):
            await self._until_paused(task)
        task.settle(time.monotonic())
        return _json(rpc_id, {"task": _task(task, version)} if version == "1.0" else _task(task, version))

    async def _until_paused(self, task: _Task) -> None:
        """A blocking send: held until the task ends or asks for input (a long run holds the request as long)."""
        while task.events and task.status.get("state") != "input-required":
            await asyncio.sleep(max(0.0, task.events[0][0] - time.monotonic()))
            task.settle(time.monotonic())

    async def _stream(self, request: web.Request, rpc_id: Any, task: _Task, version: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        first = _task(task, version)  # the task as it is when the message arrives (a resumed one has a history)
        await _sse(response, rpc_id, {"task": first} if version == "1.0" else first)
        sent = _count(task)
        while True:
            task.settle(time.monotonic())
            for status in _since(task, sent):
                await _sse(response, rpc_id, _update(task, status, version))
            sent = _count(task)
            if not task.events or task.status.get("state") == "input-required":
                break
            if request.transport is None or request.transport.is_closing():
                return response  # the client went away; the task goes on without it
            await asyncio.sleep(min(0.5, max(0.0, task.events[0][0] - time.monotonic())))
        await response.write_eof()
        return response

    def _turn(self, spec: AgentSpec, message: dict[str, Any]) -> _Task:
        text, data, user = _read(message["parts"])
        context = str(message.get("contextId") or uuid.uuid4())
        waiting = self.tasks.get(self.gates.get(context, ""))
        if waiting is not None and waiting.gate is not None:  # whatever comes next in this context is the decision
            return self._decide(spec, waiting, text, data)
        task = _Task(str(uuid.uuid4()), context, [])
        self.tasks[task.id] = task
        service = str(user.get("service") or "") or None
        at = time.monotonic() + spec.delay_ms / 1000
        turn = uuid.uuid4().hex
        change = user.get("change")
        if change:
            gate = self._gate_for(spec, user, service)
            task.gate = {**gate, "service": service, "change": str(change), "plan_hash": user.get("plan_hash")}
            self.agents.change_requests.append(
                {
                    "agent": spec.name,
                    "service": service,
                    "change": str(change),
                    "plan_hash": user.get("plan_hash"),
                    "task_id": task.id,
                    "kind": user.get("kind"),
                    "incident": user.get("incident"),
                    "tool": gate["tool"],
                }
            )
            self.agents.rt.feed.emit(
                "a2a.change",
                agent=spec.name,
                service=service,
                change=str(change),
                plan_hash=user.get("plan_hash"),
                task_id=task.id,
            )
            task.events = [
                (at, _status("working", turn, [{"text": f"I'll {change[:1].lower()}{change[1:]}"}])),
                (at + STEP_S, _status("input-required", turn, _approval_card(gate))),
            ]
            self.gates[context] = task.id
            return task
        answer = spec.answer_for(service, changed=service in self.agents.changed)
        surface = f"tool-{uuid.uuid4().hex[:8]}"
        model: dict[str, Any] = {
            "toolName": "k8s_describe" if spec.role != "monitoring" else "prometheus_query",
            "status": "success",
            "terminalOutput": answer.text,
            "environment": "sandbox",
        }
        model.update(answer.data or {})
        ready = at + spec.working_ms / 1000
        half = len(answer.text) // 2  # its answer streamed in chunks that share one messageId
        task.events = [
            *[(at, _status("working", turn, [part])) for part in _card(surface, "toolExecutionCard", model)],
            (ready + STEP_S, _status("working", turn, [{"text": answer.text[:half]}])),
            (ready + STEP_S, _status("working", turn, [{"text": answer.text[half:]}])),
        ]
        if answer.asks:  # it wants to run something that changes the cluster before it answers
            gate = {
                "tool": "k8s_restart_pods",
                "arguments": {"name": service or "", "namespace": "default"},
                "actions": 1,
            }
            task.gate = {**gate, "service": service, "change": answer.text, "plan_hash": None}
            task.events.append((ready + 2 * STEP_S, _status("input-required", turn, _approval_card(gate))))
            self.gates[context] = task.id
        else:
            task.events.append((ready + 2 * STEP_S, _status("completed", turn, [{"text": ""}])))
        return task

    def _gate_for(self, spec: AgentSpec, user: dict[str, Any], service: str | None) -> dict[str, Any]:
        scripted = spec.gates.get(service or "") or spec.gates.get("default")
        if scripted is not None:
            return {"tool": scripted.tool, "arguments": dict(scripted.arguments), "actions": scripted.actions}
        kind = str(user.get("kind") or "")
        parameters: dict[str, Any] = user["parameters"] if isinstance(user.get("parameters"), dict) else {}
        arguments = {"name": service or "", "namespace": str(user.get("namespace") or "default")}
        if kind == "rollback":
            arguments = {"release_name": service or "", "namespace": arguments["namespace"]}
        if kind == "raise_memory_limit" and parameters.get("to"):
            arguments["memory_limit"] = str(parameters["to"])
        for key, value in parameters.items():
            if not str(key).endswith("_delta") and key not in ("from", "to"):
                arguments[str(key)] = str(value)
        return {"tool": _TOOLS.get(kind, "kubectl_apply"), "arguments": arguments, "actions": 1}

    def _decide(self, spec: AgentSpec, task: _Task, text: str, data: list[dict[str, Any]]) -> _Task:
        gate, task.gate = task.gate or {}, None
        self.gates.pop(task.context, None)
        if task.status.get("message"):  # resumed: working again from now
            task.history.append(task.status["message"])
        task.status = {"state": "working"}
        decision, said = decision_of(text, data)
        execution: dict[str, Any] = {
            "agent": spec.name,
            "service": gate.get("service"),
            "change": gate.get("change"),
            "plan_hash": gate.get("plan_hash"),
            "task_id": task.id,
            "answer_text": text,
            "answer_data": data,
            "decision": decision,
            "message": said,
            "tool": gate.get("tool"),
            "outcome": "",
        }
        self.agents.executions.append(execution)
        at = time.monotonic() + spec.delay_ms / 1000
        turn = uuid.uuid4().hex
        surface = f"tool-{uuid.uuid4().hex[:8]}"
        model = {"toolName": gate.get("tool"), "environment": "sandbox"}
        if decision == "reject":
            execution["outcome"] = "rejected"
            words = "The change was rejected, so nothing was done. What would you like to change?"
            model.update(status="rejected", terminalOutput=words)
            task.events = [
                *[(at, _status("working", turn, [p])) for p in _card(surface, "toolExecutionCard", model)],
                (at + STEP_S, _status("working", turn, [{"text": words}])),
                (at + 2 * STEP_S, _status("completed", turn, [{"text": ""}])),
            ]
            self.agents.emit_done(execution)
            return task
        change = str(gate.get("change") or "")
        script = spec.change_for(gate.get("service"))
        words = script.render(change, gate.get("service"))
        ready = at + spec.working_ms / 1000
        if script.outcome == "hang":
            execution["outcome"] = "working"
            task.events = [
                (at, _status("working", turn, [{"text": words}])),
                (at + 86400, _status("working", turn, [])),
            ]
            return task
        failed = script.outcome == "fail"
        model.update(status="error" if failed else "success", terminalOutput=words)
        final = f"FAILED: {words}" if failed and not words.upper().startswith("FAILED") else words
        task.events = [
            *[(ready + STEP_S, _status("working", turn, [p])) for p in _card(surface, "toolExecutionCard", model)],
            (ready + 2 * STEP_S, _status("working", turn, [{"text": final}])),
            (ready + 3 * STEP_S, _status("completed", turn, [{"text": ""}])),
        ]
        execution["outcome"] = "working"

        def finish() -> None:
            execution["outcome"] = "failed" if failed else "done"
            if not failed and gate.get("service"):
                self.agents.changed.add(str(gate["service"]))
            self.agents.emit_done(execution)

        task.done.append(finish)
        return task


def _read(parts: list[Any]) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    texts = [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
    data = [p["data"] for p in parts if isinstance(p, dict) and isinstance(p.get("data"), dict)]
    merged: dict[str, Any] = {}
    for item in data:
        merged.update(item)
    return "\n".join(texts), data, merged


def _status(state: str, turn: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"state": state, "message": {"messageId": turn, "parts": parts}}


def _card(surface: str, kind: str, model: dict[str, Any]) -> list[dict[str, Any]]:
    ops = [
        {"version": "v0.9", "createSurface": {"surfaceId": surface, "catalogId": CATALOG}},
        {
            "version": "v0.9",
            "updateComponents": {
                "surfaceId": surface,
                "components": [{"id": "root", "component": {kind: {k: {"path": f"/{k}"} for k in model}}}],
            },
        },
        {"version": "v0.9", "updateDataModel": {"surfaceId": surface, "path": "/", "value": model}},
    ]
    return [{"data": op, "a2ui": True} for op in ops]


def _approval_card(gate: dict[str, Any]) -> list[dict[str, Any]]:
    arguments = gate["arguments"]
    model: dict[str, Any] = {
        "proposedAction": f"Execute tool '{gate['tool']}' ({', '.join(f'{k}={v}' for k, v in arguments.items())})",
        "justification": f"Tool '{gate['tool']}' requires confirmation before proceeding.",
        "riskLevel": "medium",
        "options": [
            {"id": "approve", "label": "1. Approve (y)"},
            {"id": "auto_approve_all", "label": "2. Enable Auto for this thread (a)"},
            {"id": "reject", "label": "3. Reject (n)"},
        ],
        "onDecisionActionId": "hitl_response",
        "phaseId": "execution",
        "parameters": [{"key": k, "value": str(v)[:200]} for k, v in arguments.items()],
    }
    if gate.get("actions", 1) > 1:
        model["pendingActions"] = gate["actions"]
    return _card(f"hitl-{uuid.uuid4().hex[:8]}", "hitlApprovalCard", model)


_STATES = {
    "submitted": "TASK_STATE_SUBMITTED",
    "working": "TASK_STATE_WORKING",
    "input-required": "TASK_STATE_INPUT_REQUIRED",
    "completed": "TASK_STATE_COMPLETED",
    "failed": "TASK_STATE_FAILED",
}


def _state(state: str, version: str) -> str:
    return _STATES[state] if version == "1.0" else state


def _message(task: _Task, message: dict[str, Any], version: str) -> dict[str, Any]:
    parts = []
    for p in message["parts"]:
        if "text" in p:
            parts.append({"text": p["text"]} if version == "1.0" else {"kind": "text", "text": p["text"]})
        else:
            part = {"data": p["data"], "metadata": {"mimeType": A2UI}}
            parts.append(part if version == "1.0" else {"kind": "data", **part})
    out = {
        "messageId": message["messageId"],
        "role": "ROLE_AGENT" if version == "1.0" else "agent",
        "taskId": task.id,
        "contextId": task.context,
        "parts": parts,
    }
    if version == "0.3":
        out["kind"] = "message"
    return out


def _shown_status(task: _Task, status: dict[str, Any], version: str) -> dict[str, Any]:
    out: dict[str, Any] = {"state": _state(str(status.get("state")), version)}
    if status.get("message"):
        out["message"] = _message(task, status["message"], version)
    return out


def _task(task: _Task, version: str) -> dict[str, Any]:
    out = {
        "id": task.id,
        "contextId": task.context,
        "status": _shown_status(task, task.status, version),
        "history": [_message(task, m, version) for m in task.history],
        "artifacts": [],
    }
    if version == "0.3":
        out["kind"] = "task"
    return out


def _count(task: _Task) -> int:
    return len(task.history) + (1 if task.status.get("message") else 0)


def _since(task: _Task, sent: int) -> list[dict[str, Any]]:
    """The statuses the task went through after the first `sent` (each history entry was a status's message)."""
    statuses = [{"state": "working", "message": m} for m in task.history]
    if task.status.get("message"):
        statuses.append(task.status)
    return statuses[sent:]


def _update(task: _Task, status: dict[str, Any], version: str) -> dict[str, Any]:
    state = str(status.get("state"))
    final = state in ("completed", "failed", "canceled", "rejected")
    body = {"taskId": task.id, "contextId": task.context, "status": _shown_status(task, status, version)}
    if version == "1.0":
        return {"statusUpdate": body}
    return {"kind": "status-update", **body, "final": final}


async def _sse(response: web.StreamResponse, rpc_id: Any, result: dict[str, Any]) -> None:
    line = json.dumps({"jsonrpc": "2.0", "id": rpc_id, "result": result})
    await response.write(f"data: {line}\n\n".encode())


def _json(rpc_id: Any, result: dict[str, Any]) -> web.Response:
    return web.json_response({"jsonrpc": "2.0", "id": rpc_id, "result": result})


def _error(rpc_id: Any, code: int, message: str) -> web.Response:
    return web.json_response({"jsonrpc": "2.0", "id": rpc_id, "error": {"code": code, "message": message}})
