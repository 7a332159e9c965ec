"""Slack's Socket Mode, as the sandbox plays it: `apps.connections.open` (with the app-level token) hands out a
websocket URL; on connect the server says `hello`; every request that would have been an HTTP POST to the bot goes
down the socket as an envelope `{envelope_id, type, payload, accepts_response_payload, retry_attempt, retry_reason}`
and the app answers `{envelope_id, payload?}` within 3 seconds. `disconnect` asks the app to reconnect."""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from sandbox.core import Runtime

__all__ = ["SOCKET_PATH", "SocketMode"]

SOCKET_PATH = "/_sandbox/slack/socket"
ACK_TIMEOUT_S = 3.0

_TYPES = {
    "command": "slash_commands",
    "block_actions": "interactive",
    "view_submission": "interactive",
    "view_closed": "interactive",
    "event": "events_api",
}


@dataclass
class _Connection:
    ws: web.WebSocketResponse
    acks: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)


class SocketMode:
    def __init__(self, rt: Runtime, app_id: str) -> None:
        self.rt = rt
        self.app_id = app_id
        self.tickets: set[str] = set()
        self.connections: list[_Connection] = []
        self.envelopes: list[dict[str, Any]] = []  # every envelope sent, with the ack it got

    @property
    def connected(self) -> bool:
        return any(not c.ws.closed for c in self.connections)

    def open_url(self) -> str:
        """What `apps.connections.open` answers: a one-time websocket URL."""
        ticket = secrets.token_hex(16)
        self.tickets.add(ticket)
        return self.rt.url.replace("http://", "ws://", 1) + f"{SOCKET_PATH}?ticket={ticket}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self.tickets:
            return web.json_response({"ok": False, "error": "invalid_ticket"}, status=401)
        self.tickets.discard(ticket)
        ws = web.WebSocketResponse(heartbeat=None, autoping=True)
        await ws.prepare(request)
        conn = _Connection(ws)
        self.connections.append(conn)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self.connections),
                "debug_info": {"host": "sandbox", "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }
        )
        self.rt.feed.emit("slack.socket", action="connected", connections=len(self.connections))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    continue
                future = conn.acks.pop(str(data.get("envelope_id", "")), None) if isinstance(data, dict) else None
                if future is not None and not future.done():
                    future.set_result(data)
        finally:
            if conn in self.connections:
                self.connections.remove(conn)
            for future in conn.acks.values():
                if not future.done():
                    future.set_exception(ConnectionError("socket closed"))
            self.rt.feed.emit("slack.socket", action="closed", connections=len(self.connections))
        return ws

    async def deliver(self, body: bytes, kind: str, extra_headers: dict[str, str] | None) -> dict[str, Any]:
        """Send what would have been the HTTP body of a Slack -> bot request as an envelope; the app's ack payload
        comes back as the "body", as a JSON response body would over HTTP."""
        conn = next(c for c in self.connections if not c.ws.closed)
        envelope_id = secrets.token_hex(8)
        retry = int((extra_headers or {}).get("X-Slack-Retry-Num", "0"))
        envelope = {
            "envelope_id": envelope_id,
            "type": _TYPES.get(kind, "events_api"),
            "payload": _payload(body, kind),
            "accepts_response_payload": kind in ("command", "block_actions", "view_submission"),
            "retry_attempt": retry,
            "retry_reason": (extra_headers or {}).get("X-Slack-Retry-Reason", ""),
        }
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        conn.acks[envelope_id] = future
        record: dict[str, Any] = {"envelope": envelope}
        self.envelopes.append(record)
        await conn.ws.send_json(envelope)
        try:
            ack = await asyncio.wait_for(future, ACK_TIMEOUT_S)
        except (TimeoutError, ConnectionError) as exc:
            conn.acks.pop(envelope_id, None)
            record["error"] = type(exc).__name__
            return {"status": 0, "body": "", "error": f"no ack: {type(exc).__name__}"}
        record["ack"] = ack
        payload = ack.get("payload")
        return {"status": 200, "body": json.dumps(payload) if payload else "", "content_type": "application/json"}

    async def disconnect_all(self, reason: str = "refresh_requested") -> None:
        for conn in list(self.connections):
            if not conn.ws.closed:
                await conn.ws.send_json({"type": "disconnect", "reason": reason, "debug_info": {"host": "sandbox"}})

    async def close(self) -> None:
        for conn in list(self.connections):
            await conn.ws.close()


def _payload(body: bytes, kind: str) -> Any:
    if kind == "command":
        return dict(parse_qsl(body.decode(), keep_blank_values=True))
    if kind in ("block_actions", "view_submission", "view_closed"):
        return json.loads(dict(parse_qsl(body.decode(), keep_blank_values=True))["payload"])
    return json.loads(body)
