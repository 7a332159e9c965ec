"""A2A agents in the sandbox (monitoring, Kubernetes, cloud), answering from a scripted world, in protocol 1.0
(`SendMessage`, `GetTask`, header `A2A-Version: 1.0`) and 0.3 (`message/send`, `tasks/get`) on one endpoint each, as
a2a-sdk servers do.

A request whose data part carries a `change` meets an approval gate like K8s Autopilot's: the task asks for input, and
the follow-up in the same task is the answer to the gate. It approves only when its text starts with "approve" and its
data part says `decision: approve` (or `approved`) with the `plan_hash` the change request named (a change request
without a `plan_hash` is approved by the text alone, as before); "approve" naming another plan, or none, ends the task
`rejected`, anything else `failed`. An approved change then turns out as `changes:` scripts it (done, fail, hang), and a
change that is done changes the world: every agent asked about that service answers with its `after_change:` answer.

Scenario files describe them under `agents:`:

    agents:
      - name: monitoring
        role: monitoring
        versions: ["1.0", "0.3"]     # default: both
        delay_ms: 0                  # how long it takes to answer
        answers:
          payments-api: {text: "p99 latency 3.2s (normal: 200ms) ...", data: {latency_p99_ms: 3200}}
          search-service: {text: "May I restart the search pods to look?", asks: true}   # input-required
          default: {text: "Nothing unusual."}
        changes:                     # how an approved change turns out, by service (default: done, "Done: {change}")
          checkout-service: {outcome: done, text: "Memory limit raised to 768Mi; pods rolling."}
          default: {outcome: fail, text: "Could not apply {change}."}   # done | fail | hang
        after_change:                # answers once a change to that service is done
          checkout-service: {text: "error rate 0.3%", data: {error_rate: 0.003}}
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sandbox.autopilot import Autopilot
from sandbox.autopilot import card as autopilot_card
from sandbox.core import Runtime

__all__ = ["AgentSpec", "AgentWorldError", "Agents", "Answer", "ChangeScript", "GateScript", "parse_agents"]

ROLES = ("monitoring", "kubernetes", "cloud")
STYLES = ("simple", "autopilot")
VERSIONS = ("1.0", "0.3")
OUTCOMES = ("done", "fail", "hang")
_OUTCOME_TEXT = {"done": "Done: {change}", "fail": "Failed: {change}", "hang": "Working on it: {change}"}
REJECTED_TEXT = "The approval does not name this plan: nothing was done."


class AgentWorldError(ValueError):
    """A bad `agents:` section; the message names the path."""


@dataclass(frozen=True)
class Answer:
    text: str
    data: dict[str, Any] | None = None
    asks: bool = False  # the agent wants a person's decision before it answers (input-required)


@dataclass(frozen=True)
class ChangeScript:
    """How an approved change turns out: done (the world changes), fail, or hang (the task stays working)."""

    outcome: str = "done"
    text: str | None = None  # `{change}` and `{service}` are filled in; default by outcome ("Done: {change}")

    def render(self, change: str, service: str | None) -> str:
        text = self.text if self.text is not None else _OUTCOME_TEXT[self.outcome]
        return text.replace("{change}", change).replace("{service}", service or "that service")


@dataclass(frozen=True)
class GateScript:
    """What an autopilot-style agent's approval card asks for instead of the change it was asked to make."""

    tool: str
    arguments: dict[str, str] = field(default_factory=dict)
    actions: int = 1


@dataclass(frozen=True)
class AgentSpec:
    name: str
    role: str
    versions: tuple[str, ...] = VERSIONS
    delay_ms: int = 0
    answers: dict[str, Answer] = field(default_factory=dict)
    working_ms: int = 0  # a long task: answered "working" at once, done this much later (the client polls)
    changes: dict[str, ChangeScript] = field(default_factory=dict)  # by service or `default`
    after_change: dict[str, Answer] = field(default_factory=dict)  # by service: the answer once its change is done
    # SLI counts by SLO name and window ({"total": N, "good": N} or "bad"), for sre-agent's batched SLI request;
    # `slis_after_change` by service: the counts of that service's SLOs once its change is done
    slis: dict[str, dict[str, Any]] = field(default_factory=dict)
    slis_after_change: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    style: str = "simple"  # simple | autopilot (answers as K8s Autopilot does: sandbox/autopilot.py)
    streaming_only: bool = False  # autopilot style: refuses SendMessage / message/send
    gates: dict[str, GateScript] = field(default_factory=dict)  # autopilot style: what its gate asks, by service

    def counts_for(self, slo: str, service: str | None, *, changed: bool) -> dict[str, Any] | None:
        if changed and service and slo in self.slis_after_change.get(service, {}):
            return self.slis_after_change[service][slo]
        return self.slis.get(slo)

    def answer_for(self, service: str | None, *, changed: bool = False) -> Answer:
        if changed and service and service in self.after_change:
            return self.after_change[service]
        return (
            self.answers.get(service or "")
            or self.answers.get("default")
            or Answer(f"{self.name} sees nothing unusual for {service or 'that service'}.")
        )

    def change_for(self, service: str | None) -> ChangeScript:
        return self.changes.get(service or "") or self.changes.get("default") or ChangeScript()


def parse_agents(raw: Any, origin: str = "agents") -> list[AgentSpec]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise AgentWorldError(f"{origin}: expected a list of agents")
    out: list[AgentSpec] = []
    for i, item in enumerate(raw):
        path = f"{origin}[{i}]"
        if not isinstance(item, dict):
            raise AgentWorldError(f"{path}: expected a mapping")
        unknown = sorted(
            set(item)
            - {
                "name",
                "role",
                "versions",
                "delay_ms",
                "working_ms",
                "answers",
                "changes",
                "after_change",
                "slis",
                "slis_after_change",
                "style",
                "streaming_only",
                "gates",
            }
        )
        if unknown:
            raise AgentWorldError(f"{path}: unknown key {unknown[0]!r}")
        name, role = item.get("name"), item.get("role")
        if not isinstance(name, str) or not name:
            raise AgentWorldError(f"{path}.name: required")
        if role not in ROLES:
            raise AgentWorldError(f"{path}.role: expected one of {', '.join(ROLES)}, got {role!r}")
        versions = tuple(str(v) for v in item.get("versions", VERSIONS))
        if not versions or any(v not in VERSIONS for v in versions):
            raise AgentWorldError(f"{path}.versions: expected some of {', '.join(VERSIONS)}")
        delay, working = item.get("delay_ms", 0), item.get("working_ms", 0)
        for key, value in (("delay_ms", delay), ("working_ms", working)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise AgentWorldError(f"{path}.{key}: expected a whole number of milliseconds")
        answers = {
            service: _parse_answer(f"{path}.answers.{service}", answer)
            for service, answer in _mapping(f"{path}.answers", item.get("answers")).items()
        }
        changes = {
            service: _parse_change(f"{path}.changes.{service}", change)
            for service, change in _mapping(f"{path}.changes", item.get("changes")).items()
        }
        after_change = _mapping(f"{path}.after_change", item.get("after_change"))
        if "default" in after_change:
            raise AgentWorldError(f"{path}.after_change.default: after_change is by service name; it has no default")
        after = {
            service: _parse_answer(f"{path}.after_change.{service}", answer) for service, answer in after_change.items()
        }
        slis = {
            slo: _parse_counts(f"{path}.slis.{slo}", c) for slo, c in _mapping(f"{path}.slis", item.get("slis")).items()
        }
        slis_after = {
            service: {
                slo: _parse_counts(f"{path}.slis_after_change.{service}.{slo}", c)
                for slo, c in _mapping(f"{path}.slis_after_change.{service}", by_slo).items()
            }
            for service, by_slo in _mapping(f"{path}.slis_after_change", item.get("slis_after_change")).items()
        }
        style = item.get("style", "simple")
        if style not in STYLES:
            raise AgentWorldError(f"{path}.style: expected one of {', '.join(STYLES)}, got {style!r}")
        gates = {
            service: _parse_gate(f"{path}.gates.{service}", gate)
            for service, gate in _mapping(f"{path}.gates", item.get("gates")).items()
        }
        if (gates or item.get("streaming_only")) and style != "autopilot":
            raise AgentWorldError(f"{path}: gates and streaming_only are for style: autopilot")
        out.append(
            AgentSpec(
                name,
                str(role),
                versions,
                delay,
                answers,
                working,
                changes,
                after,
                slis,
                slis_after,
                str(style),
                bool(item.get("streaming_only", False)),
                gates,
            )
        )
    if len({a.name for a in out}) != len(out):
        raise AgentWorldError(f"{origin}: agent names must be unique")
    return out


def _mapping(path: str, raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise AgentWorldError(f"{path}: expected a mapping by service name")
    return {str(k): v for k, v in raw.items()}


def _parse_answer(path: str, answer: Any) -> Answer:
    if not isinstance(answer, dict) or not isinstance(answer.get("text"), str):
        raise AgentWorldError(f"{path}.text: required")
    data = answer.get("data")
    if data is not None and not isinstance(data, dict):
        raise AgentWorldError(f"{path}.data: expected a mapping")
    unknown = sorted(set(answer) - {"text", "data", "asks"})
    if unknown:
        raise AgentWorldError(f"{path}: unknown key {unknown[0]!r}")
    return Answer(answer["text"], data, bool(answer.get("asks", False)))


def _parse_gate(path: str, gate: Any) -> GateScript:
    if not isinstance(gate, dict) or not isinstance(gate.get("tool"), str):
        raise AgentWorldError(f"{path}.tool: required")
    unknown = sorted(set(gate) - {"tool", "arguments", "actions"})
    if unknown:
        raise AgentWorldError(f"{path}: unknown key {unknown[0]!r}")
    arguments = gate.get("arguments") or {}
    actions = gate.get("actions", 1)
    if not isinstance(arguments, dict):
        raise AgentWorldError(f"{path}.arguments: expected a mapping")
    if not isinstance(actions, int) or isinstance(actions, bool) or actions < 1:
        raise AgentWorldError(f"{path}.actions: expected a whole number of at least 1")
    return GateScript(gate["tool"], {str(k): str(v) for k, v in arguments.items()}, actions)


def _parse_counts(path: str, counts: Any) -> dict[str, Any]:
    """An SLO's counts by window: each {"total": N, "good": N} (or "bad"), or null for no data."""
    if not isinstance(counts, dict):
        raise AgentWorldError(f"{path}: expected a mapping of windows (5m, 1h, 30d...)")
    for window, value in counts.items():
        if value is None:
            continue
        if not isinstance(value, dict) or "total" not in value or not set(value) - {"total"} <= {"good", "bad"}:
            raise AgentWorldError(f"{path}.{window}: expected {{total: N, good: N}} or {{total: N, bad: N}}")
    return {str(k): v for k, v in counts.items()}


def _parse_change(path: str, change: Any) -> ChangeScript:
    if not isinstance(change, dict):
        raise AgentWorldError(f"{path}: expected a mapping with outcome and text")
    unknown = sorted(set(change) - {"outcome", "text"})
    if unknown:
        raise AgentWorldError(f"{path}: unknown key {unknown[0]!r}")
    outcome = change.get("outcome", "done")
    if outcome not in OUTCOMES:
        raise AgentWorldError(f"{path}.outcome: expected one of {', '.join(OUTCOMES)}, got {outcome!r}")
    text = change.get("text")
    if text is not None and not isinstance(text, str):
        raise AgentWorldError(f"{path}.text: expected a string")
    return ChangeScript(str(outcome), text)


@dataclass
class _Task:
    id: str
    context_id: str
    state: str  # 0.3 spelling: completed, input-required, ...
    text: str
    data: dict[str, Any] | None
    change: str | None = None
    ready_at: float = 0.0  # time.monotonic() from which a working task is done
    agent: str = ""
    gate: bool = False  # a change request waiting for its gate answer (not an `asks: true` question)
    service: str | None = None
    plan_hash: str | None = None
    execution: dict[str, Any] | None = None  # a done change still working (working_ms): finished at ready_at


class Agents:
    """The sandbox's A2A agents, mounted at /a2a/{name}/ on the sandbox's server."""

    def __init__(self, specs: list[AgentSpec], rt: Runtime) -> None:
        self.specs = {s.name: s for s in specs}
        self.rt = rt
        self.tasks: dict[str, _Task] = {}
        self.requests: list[dict[str, Any]] = []  # every JSON-RPC request with the agent, method and version
        self.change_requests: list[dict[str, Any]] = []  # agent, service, change, plan_hash, task_id, kind, incident
        # every gate answer: agent, service, change, plan_hash, task_id, answer_text, answer_data,
        # outcome (done, failed, rejected, working: a hanging change, or a done one until working_ms have passed)
        self.executions: list[dict[str, Any]] = []
        self.changed: set[str] = set()  # services whose change is done: their agents answer with `after_change`
        self.sli_requests: list[dict[str, Any]] = []  # each batched SLI request: agent, the SLOs asked
        self.autopilot = Autopilot(self)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/a2a/{name}/.well-known/agent-card.json", self.card)
        app.router.add_post("/a2a/{name}/", self.rpc)

    def url(self, name: str) -> str:
        return f"{self.rt.url}/a2a/{name}/"

    def agents_file(self, timeout_s: float = 10.0, action_timeout_s: float = 60.0) -> dict[str, Any]:
        """What SRE_AGENTS_PATH's file says to point sre-agent at these agents."""
        return {
            "agents": [
                {
                    "name": s.name,
                    "role": s.role,
                    "url": self.url(s.name),
                    "timeout_s": timeout_s,
                    "action_timeout_s": action_timeout_s,
                }
                for s in self.specs.values()
            ]
        }

    def _spec(self, request: web.Request) -> AgentSpec:
        spec = self.specs.get(request.match_info["name"])
        if spec is None:
            raise web.HTTPNotFound(text=json.dumps({"error": "no such agent"}), content_type="application/json")
        return spec

    async def card(self, request: web.Request) -> web.Response:
        spec = self._spec(request)
        if spec.style == "autopilot":
            return web.json_response(autopilot_card(spec, request.url.port or 80))
        url = self.url(spec.name)
        card: dict[str, Any] = {
            "name": spec.name,
            "description": f"sandbox {spec.role} agent",
            "version": "1.0.0",
            "supportedInterfaces": [
                {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": v} for v in spec.versions
            ],
            "capabilities": {"streaming": False},
            "defaultInputModes": ["text/plain", "application/json"],
            "defaultOutputModes": ["text/plain", "application/json"],
            "skills": [
                {"id": spec.role, "name": spec.role, "description": f"{spec.role} questions", "tags": [spec.role]}
            ],
        }
        if "0.3" in spec.versions:
            card.update(url=url, protocolVersion="0.3.0", preferredTransport="JSONRPC")
        return web.json_response(card)

    async def rpc(self, request: web.Request) -> web.StreamResponse:
        spec = self._spec(request)
        try:
            body = await request.json()
        except ValueError:
            return _error(None, -32700, "Parse error")
        if not isinstance(body, dict) or body.get("jsonrpc") != "2.0" or not isinstance(body.get("method"), str):
            return _error(body.get("id") if isinstance(body, dict) else None, -32600, "Invalid Request")
        rpc_id, method, params = body.get("id"), body["method"], body.get("params") or {}
        self._settle()
        header = request.headers.get("A2A-Version", "")
        streams = spec.style == "autopilot"
        version = (
            "1.0"
            if method in ("SendMessage", "GetTask") or (streams and method == "SendStreamingMessage")
            else "0.3"
            if method in ("message/send", "tasks/get") or (streams and method == "message/stream")
            else None
        )
        self.requests.append({"agent": spec.name, "method": method, "version": version, "header": header})
        self.rt.feed.emit("a2a.request", agent=spec.name, method=method, version=version)
        if version is None:
            return _error(rpc_id, -32601, "Method not found")
        if version not in spec.versions or (version == "1.0" and not header.startswith("1.")):
            return _error(rpc_id, -32009, f"A2A version {header or '0.3'!r} is not supported by this agent")
        if streams:
            return await self.autopilot.rpc(spec, request, rpc_id, method, params if isinstance(params, dict) else {})
        if method in ("GetTask", "tasks/get"):
            task = self.tasks.get(str(params.get("id")))
            if task is None:
                return _error(rpc_id, -32001, "Task not found")
            return _result(rpc_id, _task_json(_shown(task), version), version, wrap=False)
        message = params.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("parts"), list):
            return _error(rpc_id, -32602, "Invalid params: message with parts required")
        text, data = _read_parts(message["parts"])
        if spec.delay_ms:
            await asyncio.sleep(spec.delay_ms / 1000)
        task = self._answer(spec, message, text, data)
        if spec.working_ms and task.state == "completed" and not task.ready_at:
            task.ready_at = time.monotonic() + spec.working_ms / 1000
        return _result(rpc_id, _task_json(_shown(task), version), version, wrap=True)

    def _answer(self, spec: AgentSpec, message: dict[str, Any], text: str, data: dict[str, Any]) -> _Task:
        previous = self.tasks.get(str(message.get("taskId") or ""))
        if previous is not None and previous.state == "input-required":
            if previous.gate:
                return self._gate_answer(spec, previous, text, data)
            approved = text.strip().lower().startswith("approve")
            previous.state = "completed" if approved else "failed"
            previous.text = f"Done: {previous.change}" if approved else f"Not done, as decided: {text.strip()}"
            previous.data = None
            return previous
        context = str(message.get("contextId") or uuid.uuid4())
        if isinstance(data.get("slis"), list):  # sre-agent's batched SLI request: counts for each SLO asked
            return self._counts(spec, context, data["slis"])
        change = data.get("change")
        service = str(data.get("service") or "") or None
        if change:
            plan_hash = data.get("plan_hash")
            task = _Task(
                str(uuid.uuid4()),
                context,
                "input-required",
                f"This changes the system: {change}. Approve or reject?",
                None,
                str(change),
                agent=spec.name,
                gate=True,
                service=service,
                plan_hash=str(plan_hash) if plan_hash else None,
            )
            self.change_requests.append(
                {
                    "agent": spec.name,
                    "service": service,
                    "change": task.change,
                    "plan_hash": task.plan_hash,
                    "task_id": task.id,
                    "kind": data.get("kind"),
                    "incident": data.get("incident"),
                }
            )
            self.rt.feed.emit(
                "a2a.change",
                agent=spec.name,
                service=service,
                change=task.change,
                plan_hash=task.plan_hash,
                task_id=task.id,
            )
        else:
            answer = spec.answer_for(service, changed=service in self.changed)
            state = "input-required" if answer.asks else "completed"
            task = _Task(
                str(uuid.uuid4()),
                context,
                state,
                answer.text,
                answer.data,
                answer.text if answer.asks else None,
                agent=spec.name,
                service=service,
            )
        self.tasks[task.id] = task
        return task

    def _counts(self, spec: AgentSpec, context: str, asked: list[Any]) -> _Task:
        self.sli_requests.append({"agent": spec.name, "slos": [a.get("slo") for a in asked if isinstance(a, dict)]})
        answer: dict[str, Any] = {}
        for item in asked:
            if not isinstance(item, dict):
                continue
            slo, service = str(item.get("slo")), item.get("service")
            counts = spec.counts_for(slo, service, changed=service in self.changed)
            if counts is not None:
                answer[slo] = {w: counts.get(w) for w in item.get("windows", counts)}
        text = f"Counts for {len(answer)} of {len(asked)} SLOs."
        task = _Task(str(uuid.uuid4()), context, "completed", text, {"slis": answer}, None, agent=spec.name)
        self.tasks[task.id] = task
        return task

    def _gate_answer(self, spec: AgentSpec, task: _Task, text: str, data: dict[str, Any]) -> _Task:
        """The answer to a change request's gate: approved only by "approve..." with `decision: approved` and the
        request's `plan_hash` (by the text alone when the request named no plan_hash)."""
        change = task.change or ""
        says_approve = text.strip().lower().startswith("approve")
        names_plan = task.plan_hash is None or data.get("plan_hash") == task.plan_hash
        decided = task.plan_hash is None or data.get("decision") in ("approve", "approved")
        task.data = None
        task.gate = False
        execution: dict[str, Any] = {
            "agent": spec.name,
            "service": task.service,
            "change": change,
            "plan_hash": task.plan_hash,
            "task_id": task.id,
            "answer_text": text,
            "answer_data": dict(data),
            "outcome": "",
        }
        self.executions.append(execution)
        if says_approve and not names_plan:
            task.state, task.text, execution["outcome"] = "rejected", REJECTED_TEXT, "rejected"
        elif not (says_approve and decided):
            task.state, task.text = "failed", f"Not done, as decided: {text.strip()}"
            execution["outcome"] = "failed"
        else:
            script = spec.change_for(task.service)
            task.text = script.render(change, task.service)
            task.data = {"outcome": "failed" if script.outcome == "fail" else "done"}  # what it says it did
            if script.outcome == "fail":
                task.state, execution["outcome"] = "failed", "failed"
            elif script.outcome == "hang":
                task.state, execution["outcome"] = "working", "working"  # never finishes: the client times out
            else:
                task.state = "completed"
                execution["outcome"] = "working"
                task.execution = execution
                if spec.working_ms:  # answered "working" until then; the world changes when it is done
                    task.ready_at = time.monotonic() + spec.working_ms / 1000
                    asyncio.get_running_loop().call_later(spec.working_ms / 1000, self._finish, task)
                    return task
                self._finish(task)
                return task
        self.emit_done(execution)
        return task

    def _finish(self, task: _Task) -> None:
        """A done change's task is over: its service is changed from now on."""
        execution, task.execution = task.execution, None
        if execution is None:
            return
        execution["outcome"] = "done"
        if task.service:
            self.changed.add(task.service)
        self.emit_done(execution)

    def _settle(self) -> None:
        now = time.monotonic()
        for task in [t for t in self.tasks.values() if t.execution is not None and now >= t.ready_at]:
            self._finish(task)

    def emit_done(self, execution: dict[str, Any]) -> None:
        self.rt.feed.emit(
            "a2a.change_done",
            agent=execution["agent"],
            service=execution["service"],
            change=execution["change"],
            outcome=execution["outcome"],
            task_id=execution["task_id"],
        )


def _shown(task: _Task) -> _Task:
    """The task as a client sees it now: "working" until its ready_at."""
    if time.monotonic() < task.ready_at:
        return _Task(task.id, task.context_id, "working", "Working on it…", None)
    return task


def _read_parts(parts: list[Any]) -> tuple[str, dict[str, Any]]:
    texts: list[str] = []
    data: dict[str, Any] = {}
    for part in parts:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(part, dict) and isinstance(part.get("data"), dict):
            data.update(part["data"])
    return "\n".join(texts), data


_STATES_1_0 = {
    "completed": "TASK_STATE_COMPLETED",
    "failed": "TASK_STATE_FAILED",
    "rejected": "TASK_STATE_REJECTED",
    "input-required": "TASK_STATE_INPUT_REQUIRED",
    "working": "TASK_STATE_WORKING",
}


def _task_json(task: _Task, version: str) -> dict[str, Any]:
    if version == "1.0":
        parts: list[dict[str, Any]] = [{"text": task.text}]
        if task.data:
            parts.append({"data": task.data, "mediaType": "application/json"})
        status: dict[str, Any] = {"state": _STATES_1_0[task.state]}
        if task.state != "completed":  # a finished task's answer is its artifact; otherwise the status says why
            status["message"] = {
                "messageId": uuid.uuid4().hex,
                "role": "ROLE_AGENT",
                "taskId": task.id,
                "contextId": task.context_id,
                "parts": [{"text": task.text}],
            }
        return {
            "id": task.id,
            "contextId": task.context_id,
            "status": status,
            "artifacts": [{"artifactId": task.id + "-a", "name": "answer", "parts": parts}]
            if task.state == "completed"
            else [],
        }
    parts = [{"kind": "text", "text": task.text}]
    if task.data:
        parts.append({"kind": "data", "data": task.data})
    status = {"state": task.state}
    if task.state != "completed":
        status["message"] = {
            "kind": "message",
            "messageId": uuid.uuid4().hex,
            "role": "agent",
            "taskId": task.id,
            "contextId": task.context_id,
            "parts": [{"kind": "text", "text": task.text}],
        }
    return {
        "kind": "task",
        "id": task.id,
        "contextId": task.context_id,
        "status": status,
        "artifacts": [{"artifactId": task.id + "-a", "name": "answer", "parts": parts}]
        if task.state == "completed"
        else [],
    }


def _result(rpc_id: Any, task: dict[str, Any], version: str, *, wrap: bool) -> web.Response:
    result = {"task": task} if version == "1.0" and wrap else task
    return web.json_response({"jsonrpc": "2.0", "id": rpc_id, "result": result})


def _error(rpc_id: Any, code: int, message: str) -> web.Response:
    return web.json_response({"jsonrpc": "2.0", "id": rpc_id, "error": {"code": code, "message": message}})
