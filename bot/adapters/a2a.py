"""The A2A port: asking another agent over A2A JSON-RPC (aiohttp), in protocol 0.3 (`message/send`, `tasks/get`) or
1.0 (`SendMessage`, `GetTask`, header `A2A-Version: 1.0`), whichever the agent's card offers (1.0 preferred).

A request is a plain-language instruction plus a structured data part. The answer is normalised to one shape
(`AgentReply`: state, ids, text, data parts) whatever the version. A task that is still working is polled until it
ends, asks for input, or the agent's time runs out. Transport failures are retried a bounded number of times with
backoff; an agent that keeps failing is cut off for a while by a circuit breaker, and every call to it fails at once
with the reason, so an incident never waits on a dead agent.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.errors import SreAgentError

log = logging.getLogger(__name__)

__all__ = ["A2AClient", "A2AError", "AgentReply", "Breaker", "choose_interface"]

CARD_PATH = "/.well-known/agent-card.json"
CARD_TTL_S = 300.0
TERMINAL = frozenset({"completed", "failed", "canceled", "rejected"})
INTERRUPTED = frozenset({"input-required", "auth-required"})
POLL_FIRST_S = 0.1
POLL_MAX_S = 1.0


class A2AError(SreAgentError):
    """No usable answer from an agent. `kind`: timeout, unavailable, refused (it does not speak our protocol or
    rejected the request), protocol (an answer we cannot read), circuit_open."""

    def __init__(self, agent: str, kind: str, reason: str) -> None:
        super().__init__(f"{agent}: {reason}", user_message=f"{agent} is unavailable: {reason}")
        self.agent = agent
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True)
class AgentReply:
    state: str  # completed, failed, input-required, working, submitted, canceled, rejected, auth-required, unknown
    task_id: str | None
    context_id: str | None
    text: str
    data: tuple[dict[str, Any], ...] = ()

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    @property
    def needs_input(self) -> bool:
        return self.state in INTERRUPTED


def choose_interface(card: dict[str, Any]) -> tuple[str, str] | None:
    """(protocol version, JSON-RPC URL) from an agent card: a 1.x interface first, then 0.3; a card without
    `supportedInterfaces` (0.3 SDKs) is 0.3 at its `url`. None when nothing fits."""
    interfaces = [i for i in card.get("supportedInterfaces") or [] if isinstance(i, dict)]
    jsonrpc = [
        i for i in interfaces if str(i.get("protocolBinding") or "JSONRPC").upper() == "JSONRPC" and i.get("url")
    ]
    for prefix, version in (("1.", "1.0"), ("0.3", "0.3")):
        for interface in jsonrpc:
            if str(interface.get("protocolVersion") or "").startswith(prefix):
                return version, str(interface["url"])
    if not interfaces and card.get("url"):
        declared = str(card.get("protocolVersion") or "0.3")
        if declared.startswith("0.3") or declared.startswith("0.2"):
            return "0.3", str(card["url"])
    return None


@dataclass
class Breaker:
    """Opens after `threshold` failures in a row; while open every call fails at once; after `cooldown_s` one call
    is let through, and its outcome closes or reopens it."""

    threshold: int = 3
    cooldown_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None

    def check(self) -> float | None:
        """None when a call may go; else the seconds until it may."""
        if self.opened_at is None:
            return None
        left = self.cooldown_s - (self.clock() - self.opened_at)
        return left if left > 0 else None

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = self.clock()


def _state(raw: Any) -> str:
    """`TASK_STATE_INPUT_REQUIRED` (1.0) and `input-required` (0.3) -> `input-required`."""
    text = str(raw or "unknown")
    if text.startswith("TASK_STATE_"):
        text = text.removeprefix("TASK_STATE_").lower().replace("_", "-")
    return "unknown" if text == "unspecified" else text


def _parts(parts: Any) -> tuple[list[str], list[dict[str, Any]]]:
    texts: list[str] = []
    data: list[dict[str, Any]] = []
    for part in parts or []:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(part.get("data"), dict):
            data.append(part["data"])
    return texts, data


def _reply(result: Any) -> AgentReply:
    """A Task or a Message, in either version's shape, as an AgentReply."""
    if isinstance(result, dict) and ("task" in result or "message" in result) and "kind" not in result:
        result = result.get("task") or result.get("message")  # 1.0 wraps the result
    if not isinstance(result, dict):
        raise ValueError("the result is neither a task nor a message")
    if "status" not in result:  # a bare message: the agent answered without a task
        texts, data = _parts(result.get("parts"))
        return AgentReply("completed", result.get("taskId"), result.get("contextId"), "\n".join(texts), tuple(data))
    status = result.get("status") or {}
    texts, data = _parts((status.get("message") or {}).get("parts"))
    for artifact in result.get("artifacts") or []:
        more_texts, more_data = _parts((artifact or {}).get("parts"))
        texts += more_texts
        data += more_data
    return AgentReply(
        _state(status.get("state")), result.get("id"), result.get("contextId"), "\n".join(texts), tuple(data)
    )


@dataclass
class A2AClient:
    name: str
    url: str
    session: aiohttp.ClientSession
    timeout_s: float = 30.0
    retries: int = 2
    breaker: Breaker = field(default_factory=Breaker)
    _card: dict[str, Any] | None = None
    _card_at: float = 0.0

    async def card(self, *, refresh: bool = False) -> dict[str, Any]:
        """The agent card, read at first use and again after CARD_TTL_S (or when asked)."""
        if self._card is None or refresh or time.monotonic() - self._card_at > CARD_TTL_S:
            async with self.session.get(
                self.url.rstrip("/") + CARD_PATH, timeout=aiohttp.ClientTimeout(total=min(self.timeout_s, 10))
            ) as response:
                if response.status != 200:
                    raise A2AError(self.name, "unavailable", f"its agent card answered HTTP {response.status}")
                card = await response.json(content_type=None)
            if not isinstance(card, dict):
                raise A2AError(self.name, "protocol", "its agent card is not a JSON object")
            self._card, self._card_at = card, time.monotonic()
        return self._card

    async def send(
        self,
        instruction: str,
        data: dict[str, Any] | None = None,
        *,
        context_id: str | None = None,
        task_id: str | None = None,
        resend: bool = True,
        timeout_s: float | None = None,
        on_task: Callable[[AgentReply], Awaitable[None]] | None = None,
    ) -> AgentReply:
        """Ask; wait (polling a long task) until the agent is done or asks for input, within `timeout_s`.
        `resend=False`: a message that changes something is sent once, never again after a transport error (the
        agent may have acted on it); polling is retried all the same. `timeout_s`: this time, instead of the
        client's (a change that rolls pods out takes longer than a question). `on_task`: told the first answer
        (with the task's id) before any polling, so a caller can keep it."""
        wait = self.breaker.check()
        if wait is not None:
            raise A2AError(self.name, "circuit_open", f"cut off after repeated failures; trying again in {wait:.0f} s")
        limit = timeout_s or self.timeout_s
        try:
            reply = await asyncio.wait_for(self._send(instruction, data, context_id, task_id, resend, on_task), limit)
        except TimeoutError:
            self.breaker.failure()
            raise A2AError(self.name, "timeout", f"no answer within {limit:g} s") from None
        except A2AError as exc:
            if exc.kind in ("unavailable", "timeout"):
                self.breaker.failure()
            raise
        self.breaker.success()
        return reply

    async def _send(
        self,
        instruction: str,
        data: dict[str, Any] | None,
        context_id: str | None,
        task_id: str | None,
        resend: bool = True,
        on_task: Callable[[AgentReply], Awaitable[None]] | None = None,
    ) -> AgentReply:
        try:
            chosen = choose_interface(await self.card())
        except aiohttp.ClientError as exc:
            raise A2AError(self.name, "unavailable", f"its agent card could not be read ({exc})") from exc
        if chosen is None:
            raise A2AError(self.name, "refused", "its card offers no A2A version sre-agent speaks (0.3 or 1.0)")
        version, url = chosen
        message = _message(version, instruction, data, context_id, task_id)
        retries = None if resend else 0
        if version == "1.0":
            reply = self._read(await self._call(url, version, "SendMessage", {"message": message}, retries))
        else:
            params = {"message": message, "configuration": {"blocking": True}}
            reply = self._read(await self._call(url, version, "message/send", params, retries))
        if on_task is not None and reply.task_id is not None:
            await on_task(reply)
        return await self._poll(url, version, reply)

    async def _poll(self, url: str, version: str, reply: AgentReply) -> AgentReply:
        delay = POLL_FIRST_S
        while not reply.finished and not reply.needs_input:
            if reply.task_id is None:
                raise A2AError(self.name, "protocol", f"a task in state {reply.state} without an id")
            await asyncio.sleep(delay)
            delay = min(delay * 2, POLL_MAX_S)
            method = "GetTask" if version == "1.0" else "tasks/get"
            reply = self._read(await self._call(url, version, method, {"id": reply.task_id}))
        return reply

    async def follow(self, task_id: str, *, timeout_s: float | None = None) -> AgentReply:
        """Look at a task sent earlier (before a restart): wait until it is done or asks for input."""

        async def look() -> AgentReply:
            chosen = choose_interface(await self.card())
            if chosen is None:
                raise A2AError(self.name, "refused", "its card offers no A2A version sre-agent speaks (0.3 or 1.0)")
            version, url = chosen
            method = "GetTask" if version == "1.0" else "tasks/get"
            return await self._poll(url, version, self._read(await self._call(url, version, method, {"id": task_id})))

        limit = timeout_s or self.timeout_s
        try:
            return await asyncio.wait_for(look(), limit)
        except TimeoutError:
            raise A2AError(self.name, "timeout", f"no answer within {limit:g} s") from None
        except aiohttp.ClientError as exc:
            raise A2AError(self.name, "unavailable", f"its agent card could not be read ({exc})") from exc

    def _read(self, result: Any) -> AgentReply:
        try:
            return _reply(result)
        except (ValueError, TypeError, AttributeError) as exc:
            raise A2AError(self.name, "protocol", f"an answer sre-agent cannot read ({exc})") from exc

    async def _call(
        self, url: str, version: str, method: str, params: dict[str, Any], retries: int | None = None
    ) -> Any:
        """One JSON-RPC call, retried on transport failures and 5xx with backoff (`retries`: the client's)."""
        retries = self.retries if retries is None else retries
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if version == "1.0":
            headers["A2A-Version"] = "1.0"
        body = {"jsonrpc": "2.0", "id": uuid.uuid4().hex, "method": method, "params": params}
        attempt = 0
        while True:
            try:
                async with self.session.post(url, json=body, headers=headers) as response:
                    if response.status >= 500 and attempt < retries:
                        raise _Retry(f"HTTP {response.status}")
                    if response.status != 200:
                        raise A2AError(self.name, "unavailable", f"{method} answered HTTP {response.status}")
                    try:
                        answer = await response.json(content_type=None)
                    except ValueError as exc:
                        raise A2AError(self.name, "protocol", f"{method} answered something that is not JSON") from exc
                break
            except (aiohttp.ClientError, _Retry) as exc:
                if attempt >= retries:
                    raise A2AError(self.name, "unavailable", f"{method} failed: {exc}") from exc
                attempt += 1
                await asyncio.sleep(0.2 * 2 ** (attempt - 1))
        if not isinstance(answer, dict):
            raise A2AError(self.name, "protocol", f"{method} answered something that is not JSON-RPC")
        if "error" in answer:
            error = answer["error"] if isinstance(answer["error"], dict) else {}
            code, text = error.get("code"), str(error.get("message") or "no message")
            kind = "refused" if code in (-32601, -32009) or "not supported" in text else "protocol"
            raise A2AError(self.name, kind, f"{method} was refused: {text} (code {code})")
        try:
            return answer["result"]
        except KeyError:
            raise A2AError(self.name, "protocol", f"{method} answered without a result") from None


class _Retry(Exception):
    pass


def _message(
    version: str, instruction: str, data: dict[str, Any] | None, context_id: str | None, task_id: str | None
) -> dict[str, Any]:
    if version == "1.0":
        parts: list[dict[str, Any]] = [{"text": instruction}]
        if data:
            parts.append({"data": data, "mediaType": "application/json"})
        message: dict[str, Any] = {"role": "ROLE_USER", "messageId": uuid.uuid4().hex, "parts": parts}
    else:
        parts = [{"kind": "text", "text": instruction}]
        if data:
            parts.append({"kind": "data", "data": data})
        message = {"kind": "message", "role": "user", "messageId": uuid.uuid4().hex, "parts": parts}
    if context_id:
        message["contextId"] = context_id
    if task_id:
        message["taskId"] = task_id
    return message
