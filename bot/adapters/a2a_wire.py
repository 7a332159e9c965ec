"""The A2A wire shapes, read and written: a Task or a Message in protocol 0.3 or 1.0 as one `AgentReply`, the stream
events (`statusUpdate` / `status-update`, `artifactUpdate` / `artifact-update`) folded into the task they describe,
and the message sre-agent sends. Pure: no I/O.

What an agent said is read from everything it sent in the task: the status message, the earlier status messages the
task keeps as its history (a streamed answer is many working updates that reuse one messageId: they are joined), its
artifacts, and the A2UI cards among the data parts (bot/adapters/a2ui.py). A user's own messages are not its words.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from bot.adapters.a2ui import Surface, is_a2ui, surfaces_of
from bot.domain.agent_gate import GateRequest

__all__ = ["AgentReply", "StreamFold", "message", "reply_of", "state_of"]

TERMINAL = frozenset({"completed", "failed", "canceled", "rejected"})
INTERRUPTED = frozenset({"input-required", "auth-required"})
_TOOL_IN_WORDS = re.compile(r"tool\s+'([^']+)'|tool\s+\"([^\"]+)\"")
APPROVAL_CARDS = frozenset({"hitlApprovalCard", "approvalCard"})
TOOL_CARDS = frozenset({"toolExecutionCard"})


@dataclass(frozen=True)
class AgentReply:
    state: str  # completed, failed, input-required, working, submitted, canceled, rejected, auth-required, unknown
    task_id: str | None
    context_id: str | None
    text: str
    data: tuple[dict[str, Any], ...] = ()
    surfaces: tuple[Surface, ...] = ()  # the A2UI cards it showed, folded
    progress: tuple[str, ...] = ()  # what it said while working, before its answer

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    @property
    def needs_input(self) -> bool:
        return self.state in INTERRUPTED

    @property
    def tools(self) -> tuple[tuple[str, str], ...]:
        """Its tool cards as (tool, status), in order."""
        return tuple(
            (str(s.model.get("toolName") or s.id), str(s.model.get("status") or ""))
            for s in self.surfaces
            if TOOL_CARDS & set(s.components) or "toolName" in s.model
        )

    def gate(self) -> GateRequest:
        """What its approval gate asks (from the newest approval card; from its words where it shows none)."""
        cards = [s for s in self.surfaces if APPROVAL_CARDS & set(s.components) or "proposedAction" in s.model]
        if not cards:
            return GateRequest(text=self.text)
        model = cards[-1].model
        words = str(model.get("proposedAction") or "")
        named = _TOOL_IN_WORDS.search(words)
        tool = str(model.get("toolName") or (next(g for g in named.groups() if g) if named else ""))
        arguments = _arguments(model.get("parameters") if "parameters" in model else model.get("arguments"))
        pending = next(
            (model[k] for k in ("actions", "actionRequests", "action_requests") if isinstance(model.get(k), list)),
            None,
        )
        count = len(pending) if pending is not None else _whole(model.get("pendingActions"), 1)
        return GateRequest(tool, arguments, max(count, 1), cards[-1].text())


def _arguments(raw: Any) -> dict[str, str]:
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return {str(i["key"]): str(i.get("value")) for i in raw if isinstance(i, dict) and "key" in i}
    return {}


def _whole(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def state_of(raw: Any) -> str:
    """`TASK_STATE_INPUT_REQUIRED` (1.0) and `input-required` (0.3) -> `input-required`."""
    text = str(raw or "unknown")
    if text.startswith("TASK_STATE_"):
        text = text.removeprefix("TASK_STATE_").lower().replace("_", "-")
    text = "canceled" if text == "cancelled" else text
    return "unknown" if text == "unspecified" else text


def _agents(messages: list[Any]) -> list[dict[str, Any]]:
    mine = ("user", "role_user")
    return [m for m in messages if isinstance(m, dict) and str(m.get("role") or "agent").lower() not in mine]


def _read(messages: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]], list[dict[str, Any]]]:
    """Texts (a run of parts under one messageId joined as one text), plain data, and A2UI messages."""
    texts: list[str] = []
    data: list[dict[str, Any]] = []
    a2ui: list[dict[str, Any]] = []
    texted: object = object()  # the messageId of the last text kept
    for m in messages:
        chunk = ""
        for part in m.get("parts") or []:
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("text"), str):
                chunk += part["text"]
            elif isinstance(part.get("data"), dict):
                (a2ui if is_a2ui(part) else data).append(part["data"])
            elif isinstance(part.get("data"), list) and is_a2ui(part):
                a2ui += [d for d in part["data"] if isinstance(d, dict)]
        if not chunk:
            continue
        if m.get("messageId") is not None and m.get("messageId") == texted and texts:
            texts[-1] += chunk
        else:
            texts.append(chunk)
            texted = m.get("messageId")
    return [t.strip() for t in texts if t.strip()], data, a2ui


def reply_of(result: Any) -> AgentReply:
    """A Task or a Message, in either version's shape, as an AgentReply."""
    if isinstance(result, dict) and ("task" in result or "message" in result) and "kind" not in result:
        result = result.get("task") or result.get("message")  # 1.0 wraps the result
    if not isinstance(result, dict):
        raise ValueError("the result is neither a task nor a message")
    if "status" not in result:  # a bare message: the agent answered without a task
        texts, data, a2ui = _read([result])
        surfaces = surfaces_of(a2ui)
        shown = [s.text() for s in surfaces if s.text()]
        return AgentReply(
            "completed",
            result.get("taskId"),
            result.get("contextId"),
            "\n".join(texts or shown),
            tuple(data) + tuple(s.model for s in surfaces if s.model),
            tuple(surfaces),
        )
    status = result.get("status") or {}
    history = _agents(list(result.get("history") or []))
    last = status.get("message") if isinstance(status.get("message"), dict) else None
    if last is not None and history and history[-1] == last:
        history = history[:-1]  # the history already ends with it
    earlier, earlier_data, earlier_a2ui = _read(history)
    now, data, a2ui = _read(([last] if last else []) + [{"parts": a.get("parts")} for a in _artifacts(result)])
    surfaces = surfaces_of(earlier_a2ui + a2ui)
    answer, progress = now, earlier
    if not now:  # a streamed answer: its words came while it worked, under the messageId of the turn that ended it
        turn = (last or {}).get("messageId")
        answer = _read([m for m in history if turn and m.get("messageId") == turn])[0] or earlier
        progress = [t for t in earlier if t not in answer]
    cards = [s.text() for s in surfaces if s.text()]
    return AgentReply(
        state_of(status.get("state")),
        result.get("id"),
        result.get("contextId"),
        "\n".join(answer or cards).strip(),  # its words; where it said none, what its cards show
        tuple(earlier_data + data) + tuple(s.model for s in surfaces if s.model),
        tuple(surfaces),
        tuple(progress),
    )


def _artifacts(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in result.get("artifacts") or [] if isinstance(a, dict)]


class StreamFold:
    """The task a stream of events describes, as it stands after each event."""

    def __init__(self) -> None:
        self.task: dict[str, Any] | None = None
        self.message: dict[str, Any] | None = None  # an agent that answered with a bare message
        self.final = False

    def add(self, result: Any) -> None:
        if not isinstance(result, dict):
            raise ValueError("a stream event that is not an object")
        if "kind" not in result and len(result) == 1:  # 1.0: {"task" | "message" | "statusUpdate" | ...: {...}}
            kind, body = next(iter(result.items()))
        else:
            kind, body = str(result.get("kind")), result
        if not isinstance(body, dict):
            raise ValueError(f"a stream event {kind} that is not an object")
        if kind == "task":
            history, artifacts = list(body.get("history") or []), list(body.get("artifacts") or [])
            self.task = {**body, "history": history, "artifacts": artifacts}
        elif kind == "message":
            self.message, self.final = body, True
        elif kind in ("statusUpdate", "status-update"):
            task = self._task(body)
            before = (task.get("status") or {}).get("message")
            if isinstance(before, dict):
                task["history"].append(before)
            task["status"] = body.get("status") or {}
            self.final = self.final or bool(body.get("final"))
        elif kind in ("artifactUpdate", "artifact-update"):
            task = self._task(body)
            artifact = body.get("artifact") or {}
            same = [a for a in task["artifacts"] if a.get("artifactId") == artifact.get("artifactId")]
            if body.get("append") and same:
                same[-1]["parts"] = list(same[-1].get("parts") or []) + list(artifact.get("parts") or [])
            else:
                task["artifacts"].append(dict(artifact))
        else:
            raise ValueError(f"an unknown stream event {kind!r}")

    def _task(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.task is None:
            self.task = {
                "id": body.get("taskId"),
                "contextId": body.get("contextId"),
                "status": {},
                "history": [],
                "artifacts": [],
            }
        return self.task

    def reply(self) -> AgentReply | None:
        if self.message is not None:
            return reply_of(self.message)
        return reply_of(self.task) if self.task is not None else None

    @property
    def done(self) -> bool:
        """Whether the task has ended or asks for input (read from its state alone, not from all it said)."""
        if self.final:
            return True
        state = state_of(((self.task or {}).get("status") or {}).get("state"))
        return state in TERMINAL or state in INTERRUPTED

    @property
    def task_id(self) -> str | None:
        return str(self.task["id"]) if self.task is not None and self.task.get("id") else None


def message(
    version: str,
    instruction: str,
    data: dict[str, Any] | None,
    context_id: str | None,
    task_id: str | None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    if version == "1.0":
        parts: list[dict[str, Any]] = [{"text": instruction}]
        if data:
            parts.append({"data": data, "mediaType": "application/json"})
        out: dict[str, Any] = {"role": "ROLE_USER", "messageId": uuid.uuid4().hex, "parts": parts}
    else:
        parts = [{"kind": "text", "text": instruction}]
        if data:
            parts.append({"kind": "data", "data": data})
        out = {"kind": "message", "role": "user", "messageId": uuid.uuid4().hex, "parts": parts}
    if context_id:
        out["contextId"] = context_id
    if task_id:
        out["taskId"] = task_id
    if metadata:
        out["metadata"] = metadata
    return out
