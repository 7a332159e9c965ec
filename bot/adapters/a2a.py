"""The A2A port: asking another agent over A2A JSON-RPC (aiohttp), in protocol 0.3 (`message/send`, `message/stream`,
`tasks/get`) or 1.0 (`SendMessage`, `SendStreamingMessage`, `GetTask`, header `A2A-Version: 1.0`), whichever the
agent's card offers (1.0 preferred). Requests go to the URL sre-agent was configured with: a card's own URL can name
the agent's side of a container (`http://0.0.0.0:8000`), so only the protocol version is taken from the card.

A request is a plain-language instruction plus a structured data part. The answer is normalised to one shape
(`AgentReply`: state, ids, text, data parts, A2UI cards; bot/adapters/a2a_wire.py) whatever the version. An agent
that streams (`capabilities.streaming`) is asked over SSE and its events are folded into the task; any other is asked
to return at once (`returnImmediately`, 0.3's `blocking: false`) and its task is followed with `GetTask`; either way
no single HTTP request has to outlast a long run, and a stream that breaks is followed by polling. The wait ends
when the task ends, asks for input, or the time given runs out. Transport failures are retried a bounded number of
times with backoff; an agent that keeps failing is cut off for a while by a circuit breaker, and every call to it
fails at once with the reason, so an incident never waits on a dead agent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.adapters.a2a_wire import AgentReply, StreamFold, message, reply_of
from bot.adapters.retrying import backoff
from bot.errors import SreAgentError
from bot.ports.metrics import NO_METRICS, Metrics

log = logging.getLogger(__name__)

__all__ = ["A2AClient", "A2AError", "AgentReply", "Breaker", "choose_interface"]

CARD_PATH = "/.well-known/agent-card.json"
CARD_TTL_S = 300.0
APPROVE = "approve"  # the decision words K8s Autopilot reads exactly (schema/interrupts.py); anything else is approve
REJECT = "reject"
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


@dataclass
class A2AClient:
    name: str
    url: str
    session: aiohttp.ClientSession
    timeout_s: float = 30.0  # one request's time; a whole ask may be given longer (`send(timeout_s=)`)
    retries: int = 2
    breaker: Breaker = field(default_factory=Breaker)
    skill: str | None = None  # the card's skill this client asks for (sent in the message's metadata)
    metrics: Metrics = NO_METRICS
    _card: dict[str, Any] | None = None
    _card_at: float = 0.0
    _told: str | None = None  # the card URL already logged as differing from the configured one

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

    async def endpoint(self) -> tuple[str, str, bool]:
        """(protocol version from the card, the configured URL, whether it streams)."""
        try:
            card = await self.card()
        except aiohttp.ClientError as exc:
            raise A2AError(self.name, "unavailable", f"its agent card could not be read ({exc})") from exc
        chosen = choose_interface(card)
        if chosen is None:
            raise A2AError(self.name, "refused", "its card offers no A2A version sre-agent speaks (0.3 or 1.0)")
        version, advertised = chosen
        if advertised.rstrip("/") != self.url.rstrip("/") and self._told != advertised:
            self._told = advertised
            log.info(
                "agent %s: its card names %s; sre-agent uses the configured %s (A2A %s)",
                self.name,
                advertised,
                self.url,
                version,
            )
        streams = (card.get("capabilities") or {}).get("streaming") in (True, "true", "True")
        return version, self.url, streams

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
        """Ask; wait (following a long task) until the agent is done or asks for input, within `timeout_s`.
        `resend=False`: a message that changes something is sent once, never again after a transport error (the
        agent may have acted on it); following it is retried all the same. `timeout_s`: this time, instead of the
        client's (a change that rolls pods out takes longer than a question). `on_task`: told the first answer
        (with the task's id) before waiting on it, so a caller can keep it."""
        wait = self.breaker.check()
        if wait is not None:
            raise A2AError(self.name, "circuit_open", f"cut off after repeated failures; trying again in {wait:.0f} s")
        limit = timeout_s or self.timeout_s
        started = time.monotonic()
        try:
            reply = await asyncio.wait_for(self._send(instruction, data, context_id, task_id, resend, on_task), limit)
        except TimeoutError:
            self.breaker.failure()
            self.metrics.delegate_call(self.name, time.monotonic() - started, "timeout")
            raise A2AError(self.name, "timeout", f"no answer within {limit:g} s") from None
        except A2AError as exc:
            if exc.kind in ("unavailable", "timeout"):
                self.breaker.failure()
            self.metrics.delegate_call(self.name, time.monotonic() - started, exc.kind)
            raise
        self.breaker.success()
        self.metrics.delegate_call(self.name, time.monotonic() - started, "ok")
        return reply

    async def ask(
        self, instruction: str, data: dict[str, Any] | None = None, *, context_id: str | None = None
    ) -> AgentReply:
        """A question, which changes nothing: an approval gate it meets is closed at once (`decline`), so that it
        is not left open, nor answered by whatever is next said in that context. The reply still shows the gate."""
        reply = await self.send(instruction, data, context_id=context_id)
        if reply.needs_input:
            await self.decline(reply, "sre-agent only asked a question; a change is approved by people in Slack")
        return reply

    async def approve(self, reply: AgentReply, decision: dict[str, Any], *, timeout_s: float) -> AgentReply:
        """Answer an approval gate: the word K8s Autopilot reads as approve, and the decision (plan, approvers) in a
        data part. Sent once."""
        return await self.send(
            APPROVE,
            {"decision": "approve", **decision},
            context_id=reply.context_id,
            task_id=reply.task_id,
            resend=False,
            timeout_s=timeout_s,
        )

    async def decline(self, reply: AgentReply, why: str) -> bool:
        """Close an approval gate with a rejection: the exact word `reject` (K8s Autopilot reads any other text,
        `reject: <why>` included, as approve) and the reason in a data part `{"decision": "reject", "message": why}`.
        Whether the agent took it."""
        if reply.task_id is None and reply.context_id is None:
            return False
        try:
            await self.send(
                REJECT,
                {"decision": "reject", "message": why},
                context_id=reply.context_id,
                task_id=reply.task_id,
                resend=False,
            )
        except A2AError as exc:
            log.warning("agent %s: its approval gate could not be closed (%s): %s", self.name, why, exc.reason)
            return False
        log.info("agent %s: its approval gate was closed with a rejection: %s", self.name, why)
        return True

    async def _send(
        self,
        instruction: str,
        data: dict[str, Any] | None,
        context_id: str | None,
        task_id: str | None,
        resend: bool = True,
        on_task: Callable[[AgentReply], Awaitable[None]] | None = None,
    ) -> AgentReply:
        version, url, streams = await self.endpoint()
        metadata = {"skill": self.skill} if self.skill else None
        sent = message(version, instruction, data, context_id, task_id, metadata)
        retries = None if resend else 0
        if streams:
            return await self._stream(url, version, sent, retries, on_task)
        if version == "1.0":
            params = {"message": sent, "configuration": {"returnImmediately": True}}
            reply = self._read(await self._call(url, version, "SendMessage", params, retries))
        else:
            params = {"message": sent, "configuration": {"blocking": False}}
            reply = self._read(await self._call(url, version, "message/send", params, retries))
        if on_task is not None and reply.task_id is not None:
            await on_task(reply)
        return await self._poll(url, version, reply)

    async def _stream(
        self,
        url: str,
        version: str,
        sent: dict[str, Any],
        retries: int | None,
        on_task: Callable[[AgentReply], Awaitable[None]] | None,
    ) -> AgentReply:
        """Ask over SSE; fold the events until the task ends or asks for input. A stream that breaks or ends early
        is followed by polling the task it named."""
        method = "SendStreamingMessage" if version == "1.0" else "message/stream"
        fold = StreamFold()
        told = False
        retries = self.retries if retries is None else retries
        attempt = 0
        while True:
            try:
                async with self.session.post(
                    url,
                    json=_body(method, {"message": sent}),
                    headers={**_headers(version), "Accept": "text/event-stream"},
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=self.timeout_s),
                ) as response:
                    self._status(response, method, attempt, retries)
                    if "text/event-stream" not in response.headers.get("Content-Type", ""):
                        answer = await response.json(content_type=None)  # an error, or one answer in full
                        fold.add(self._result(method, answer))
                    else:
                        async for event in _events(response):
                            fold.add(self._result(method, event))
                            if not told and on_task is not None and fold.task_id is not None:
                                told = True
                                await on_task(self._read(fold.task))
                            if fold.done:
                                break
                break
            except (aiohttp.ClientError, _Retry, TimeoutError) as exc:
                if fold.task_id is not None:
                    break  # the task is known: follow it instead of asking again
                attempt = await self._again(method, exc, attempt, retries)
            except ValueError as exc:
                raise A2AError(self.name, "protocol", f"{method} sent an event sre-agent cannot read ({exc})") from exc
        reply = fold.reply()
        if reply is None:
            raise A2AError(self.name, "protocol", f"{method} ended before it named a task")
        if not told and on_task is not None and reply.task_id is not None:
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
            version, url, _ = await self.endpoint()
            method = "GetTask" if version == "1.0" else "tasks/get"
            return await self._poll(url, version, self._read(await self._call(url, version, method, {"id": task_id})))

        limit = timeout_s or self.timeout_s
        try:
            return await asyncio.wait_for(look(), limit)
        except TimeoutError:
            raise A2AError(self.name, "timeout", f"no answer within {limit:g} s") from None

    def _read(self, result: Any) -> AgentReply:
        try:
            return reply_of(result)
        except (ValueError, TypeError, AttributeError) as exc:
            raise A2AError(self.name, "protocol", f"an answer sre-agent cannot read ({exc})") from exc

    def _result(self, method: str, answer: Any) -> Any:
        """The result of one JSON-RPC answer; its error as an A2AError."""
        if not isinstance(answer, dict):
            raise A2AError(self.name, "protocol", f"{method} answered something that is not JSON-RPC")
        if "error" in answer:
            error = answer["error"] if isinstance(answer["error"], dict) else {}
            code, text = error.get("code"), str(error.get("message") or "no message")
            kind = "refused" if code in (-32601, -32009, -32004) or "not supported" in text else "protocol"
            raise A2AError(self.name, kind, f"{method} was refused: {text} (code {code})")
        try:
            return answer["result"]
        except KeyError:
            raise A2AError(self.name, "protocol", f"{method} answered without a result") from None

    async def _call(
        self, url: str, version: str, method: str, params: dict[str, Any], retries: int | None = None
    ) -> Any:
        """One JSON-RPC call, retried on transport failures and 5xx with backoff (`retries`: the client's). A call
        that takes longer than the client's timeout is a transport failure."""
        retries = self.retries if retries is None else retries
        attempt = 0
        while True:
            try:
                async with self.session.post(
                    url,
                    json=_body(method, params),
                    headers=_headers(version),
                    timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                ) as response:
                    self._status(response, method, attempt, retries)
                    try:
                        answer = await response.json(content_type=None)
                    except ValueError as exc:
                        raise A2AError(self.name, "protocol", f"{method} answered something that is not JSON") from exc
                break
            except (aiohttp.ClientError, _Retry, TimeoutError) as exc:
                attempt = await self._again(method, exc, attempt, retries)
        return self._result(method, answer)

    def _status(self, response: aiohttp.ClientResponse, method: str, attempt: int, retries: int) -> None:
        """A 5xx is tried again while tries are left; any other status but 200 is the agent's refusal."""
        if response.status >= 500 and attempt < retries:
            raise _Retry(f"HTTP {response.status}")
        if response.status != 200:
            raise A2AError(self.name, "unavailable", f"{method} answered HTTP {response.status}")

    async def _again(self, method: str, exc: BaseException, attempt: int, retries: int) -> int:
        """After a transport failure: the next attempt's number, after a backoff; unavailable when none is left."""
        if attempt >= retries:
            raise A2AError(self.name, "unavailable", f"{method} failed: {exc!r}") from exc
        await asyncio.sleep(backoff(attempt))
        return attempt + 1


class _Retry(Exception):
    pass


def _headers(version: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if version == "1.0":
        headers["A2A-Version"] = "1.0"
    return headers


def _body(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": uuid.uuid4().hex, "method": method, "params": params}


async def _events(response: aiohttp.ClientResponse) -> AsyncIterator[Any]:
    """The JSON of each SSE event's `data:` lines."""
    lines: list[str] = []
    async for raw in response.content:
        line = raw.decode("utf-8").rstrip("\r\n")
        if line.startswith("data:"):
            lines.append(line[5:].lstrip(" "))
        elif not line and lines:
            yield json.loads("\n".join(lines))
            lines = []
    if lines:
        yield json.loads("\n".join(lines))
