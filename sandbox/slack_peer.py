"""Slack peer: the Web API over HTTP (``/slack/api/{method}``), fault injection, and signed Slack -> bot requests
(slash commands, block actions, view submissions, Events API callbacks, response_url answers)."""

from __future__ import annotations

import json
import math
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from sandbox.core import Runtime
from sandbox.holds import Hold, Holds
from sandbox.signing import slack_headers
from sandbox.slack_socket import SocketMode
from sandbox.slack_state import (
    Channel,
    Ephemeral,
    Message,
    ResponseURL,
    SlackCall,
    SlackError,
    SlackState,
    Trigger,
    View,
)
from sandbox.slack_webapi import METHODS
from sandbox.world import World

__all__ = [
    "SLACK_RATE_TIERS",
    "Channel",
    "Ephemeral",
    "Message",
    "RateTier",
    "RateTiers",
    "SlackCall",
    "SlackPeer",
    "View",
]

TRIGGER_TTL_S = 3.0
RESPONSE_URL_MAX_USES = 5


@dataclass
class _Injection:
    status: int
    error: str
    retry_after: int | None
    remaining: int
    match: Callable[[dict[str, Any]], bool] | None = None  # the calls it answers, by their arguments (None: any)


# ---- Slack's per-method rate limit tiers -------------------------------------------------------------------
@dataclass(frozen=True)
class RateTier:
    """At most ``calls`` calls in any window of ``window_s`` seconds (at scale 1)."""

    name: str
    calls: int
    window_s: float


TIER_1 = RateTier("Tier 1", 1, 60.0)  # "1+ per minute"
TIER_2 = RateTier("Tier 2", 20, 60.0)  # "20+ per minute"
TIER_3 = RateTier("Tier 3", 50, 60.0)  # "50+ per minute"
TIER_4 = RateTier("Tier 4", 100, 60.0)  # "100+ per minute"
# "Special" methods. auth.test and chat.getPermalink: "hundreds of requests per minute", held to Tier 4's floor.
SPECIAL_HUNDREDS = RateTier("special", 100, 60.0)
# chat.postMessage: "generally allows posting one message per second per channel, while also maintaining a
# workspace-wide limit"; "short bursts >1 allowed". Slack publishes no burst size and no workspace-wide figure:
# a burst of 3 per channel (1/s on average over 3 s) and 300 per minute for the workspace are this sandbox's choice.
POST_MESSAGE_PER_CHANNEL = RateTier("special (per channel)", 3, 3.0)
POST_MESSAGE_PER_WORKSPACE = RateTier("special (workspace)", 300, 60.0)

# Each method's tier as the "Facts > Rate limits" line of its page at https://docs.slack.dev/reference/methods/{method}
# gives it; the tiers themselves are https://docs.slack.dev/apis/web-api/rate-limits, applied "per
# API method per workspace/team per app". conversations.history / conversations.replies are Tier 3 for internal
# and Marketplace apps (commercially distributed non-Marketplace apps get 1 per minute since 2025, not modelled).
# apps.connections.open: docs.slack.dev says Tier 3 (the older api.slack.com page said Tier 1).
SLACK_RATE_TIERS: dict[str, RateTier] = {
    "apps.connections.open": TIER_3,
    "auth.test": SPECIAL_HUNDREDS,
    "bookmarks.add": TIER_2,
    "chat.getPermalink": SPECIAL_HUNDREDS,
    "chat.postEphemeral": TIER_4,
    "chat.postMessage": POST_MESSAGE_PER_WORKSPACE,  # and POST_MESSAGE_PER_CHANNEL per channel
    "chat.update": TIER_3,
    "conversations.create": TIER_2,
    "conversations.history": TIER_3,
    "conversations.info": TIER_3,
    "conversations.invite": TIER_3,
    "conversations.join": TIER_3,
    "conversations.list": TIER_2,
    "conversations.members": TIER_4,
    "conversations.replies": TIER_3,
    "conversations.setTopic": TIER_2,
    "files.completeUploadExternal": TIER_4,
    "files.getUploadURLExternal": TIER_4,
    "files.info": TIER_4,
    "pins.add": TIER_2,
    "reactions.add": TIER_3,
    "usergroups.users.list": TIER_2,
    "users.info": TIER_4,
    "users.lookupByEmail": TIER_3,
    "views.open": TIER_4,
    "views.publish": TIER_4,
    "views.push": TIER_4,
    "views.update": TIER_4,
}
PER_CHANNEL_TIERS: dict[str, RateTier] = {"chat.postMessage": POST_MESSAGE_PER_CHANNEL}


class RateTiers:
    """Enforces `SLACK_RATE_TIERS` per token (a token is one app in one workspace) with a sliding window per method,
    and per channel where `PER_CHANNEL_TIERS` says so. Off unless ``enabled``; ``scale`` > 1 shrinks every window
    (scale 60: a per-minute tier becomes per-second) so tests need not wait minutes."""

    def __init__(
        self, *, enabled: bool = False, scale: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.enabled = False
        self.scale = 1.0
        self._clock = clock
        self._windows: dict[tuple[str, ...], deque[float]] = {}
        self.configure(enabled=enabled, scale=scale)

    def configure(self, *, enabled: bool | None = None, scale: float | None = None) -> None:
        """Change what is given and start every window afresh."""
        if scale is not None:
            if isinstance(scale, bool) or not isinstance(scale, int | float) or not math.isfinite(scale) or scale <= 0:
                raise ValueError("scale: must be a positive number")
            self.scale = float(scale)
        if enabled is not None:
            self.enabled = bool(enabled)
        self._windows.clear()

    def check(self, token: str, method: str, channel: str | None = None) -> int | None:
        """None when the call may go ahead (it is counted); else the Retry-After, whole seconds, at least 1."""
        tier = SLACK_RATE_TIERS.get(method)
        if not self.enabled or tier is None:
            return None
        limits: list[tuple[tuple[str, ...], RateTier]] = [((token, method), tier)]
        per_channel = PER_CHANNEL_TIERS.get(method)
        if per_channel is not None and channel:
            limits.append(((token, method, channel), per_channel))
        now = self._clock()
        wait = 0.0
        for key, limit in limits:
            window = limit.window_s / self.scale
            stamps = self._windows.get(key)
            while stamps and stamps[0] <= now - window:
                stamps.popleft()
            if stamps and len(stamps) >= limit.calls:
                wait = max(wait, stamps[len(stamps) - limit.calls] + window - now)
        if wait > 0:
            return max(1, math.ceil(wait))
        for key, _ in limits:
            self._windows.setdefault(key, deque()).append(now)
        return None

    def describe(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "scale": self.scale}


class SlackPeer(SlackState):
    def __init__(
        self,
        world: World,
        rt: Runtime,
        *,
        signing_secret: str,
        request_timeout: float = 10.0,
        rate_tiers: bool = False,
        rate_scale: float = 1.0,
    ) -> None:
        super().__init__(world, rt)
        self.signing_secret = signing_secret
        self.request_timeout = request_timeout
        self.rate_tiers = RateTiers(enabled=rate_tiers, scale=rate_scale)
        self._injections: dict[str, deque[_Injection]] = {}
        self._hang_ups: dict[str, int] = {}  # method -> calls still to be done and then not answered
        self.bot_requests: list[dict[str, Any]] = []
        self.socket = SocketMode(rt, world.bot.app_id)
        self.holds = Holds()  # answers held back: hold(method, match) below

    def hold(self, method: str, match: Callable[[dict[str, Any]], bool] | None = None) -> Hold:
        """The next call of `method` (whose arguments `match`) is carried out, and answered only once the returned
        hold is released."""
        return self.holds.add(lambda m, args, _body: m == method and (match is None or match(args)))

    # ---- fault injection -------------------------------------------------------------------------
    def rate_limit(self, method: str, count: int = 1, retry_after: int = 0) -> None:
        """The next ``count`` calls of ``method`` answer 429 ``ratelimited`` with ``Retry-After``."""
        self._injections.setdefault(method, deque()).append(
            _Injection(status=429, error="ratelimited", retry_after=int(retry_after), remaining=count)
        )

    def fail(
        self,
        method: str,
        error: str,
        count: int = 1,
        status: int = 200,
        match: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """The next ``count`` calls of ``method`` (whose arguments ``match``) answer ``{"ok": false, "error": error}``
        with ``status``."""
        self._injections.setdefault(method, deque()).append(
            _Injection(status=status, error=error, retry_after=None, remaining=count, match=match)
        )

    def hang_up(self, method: str, count: int = 1) -> None:
        """The next ``count`` calls of ``method`` are carried out, then their connections closed without an answer (a
        proxy dropping it, say): the caller cannot tell whether the call was done."""
        self._hang_ups[method] = self._hang_ups.get(method, 0) + count

    def set_rate_tiers(self, enabled: bool | None = None, scale: float | None = None) -> dict[str, Any]:
        """Turn Slack's per-method rate limit tiers on or off and/or set their scale; every window starts afresh."""
        self.rate_tiers.configure(enabled=enabled, scale=scale)
        return self.rate_tiers.describe()

    def _over_tier(self, method: str, args: dict[str, Any], token: str) -> dict[str, Any] | None:
        """Slack's answer when this call is over its method's tier (it is then not carried out), else None."""
        channel: str | None = None
        if method in PER_CHANNEL_TIERS:
            ref = str(args.get("channel") or "")
            ch = self.channel(ref)
            channel = ch.id if ch is not None else ref
        retry_after = self.rate_tiers.check(token, method, channel)
        if retry_after is None:
            return None
        return {"ok": False, "error": "ratelimited", "_status": 429, "_retry_after": retry_after}

    def _take_injection(self, method: str, args: dict[str, Any]) -> _Injection | None:
        q = self._injections.get(method)
        if not q or (q[0].match is not None and not q[0].match(args)):
            return None
        inj = q[0]
        inj.remaining -= 1
        if inj.remaining <= 0:
            q.popleft()
        return inj

    # ---- Web API over HTTP -----------------------------------------------------------------------
    async def handle_api(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        method = request.match_info["method"]
        args = await _merged_args(request)
        token = _bearer(request) or (str(args.get("token")) if args.get("token") else None)
        args.pop("token", None)
        status, body, headers = 200, self._dispatch(method, args, token), None
        await self.holds.pause(method, args, body)
        if body.get("_status"):
            status = int(body.pop("_status"))
            retry_after = body.pop("_retry_after", None)
            if retry_after is not None:
                headers = {"Retry-After": str(retry_after)}
        mono, at = self.rt.stamp()
        self.record_call(
            SlackCall(
                method=method,
                args=args,
                ok=bool(body.get("ok")),
                error=body.get("error"),
                status=status,
                at_monotonic=started,
                at=at,
                elapsed_ms=(mono - started) * 1000,
            )
        )
        if self._hang_ups.get(method) and request.transport is not None:  # done, and not answered
            self._hang_ups[method] -= 1
            request.transport.close()
        return web.json_response(body, status=status, headers=headers)

    def _dispatch(self, method: str, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        if token is None:
            return {"ok": False, "error": "not_authed"}
        if method == "apps.connections.open":  # the one method that takes the app-level token, and only that
            if token == self.world.bot.token:
                return {"ok": False, "error": "not_allowed_token_type"}
            if token != self.world.bot.app_token:
                return {"ok": False, "error": "invalid_auth"}
            return self._over_tier(method, args, token) or {"ok": True, "url": self.socket.open_url()}
        if token != self.world.bot.token:
            return {"ok": False, "error": "invalid_auth"}
        inj = self._take_injection(method, args)
        if inj is not None:
            out: dict[str, Any] = {"ok": False, "error": inj.error}
            if inj.status != 200:
                out["_status"] = inj.status
            if inj.retry_after is not None:
                out["_retry_after"] = inj.retry_after
            return out
        fn = METHODS.get(method)
        if fn is None:
            return {"ok": False, "error": "unknown_method"}
        limited = self._over_tier(method, args, token)
        if limited is not None:
            return limited
        try:
            result = fn(self, args)
        except SlackError as e:
            return {"ok": False, "error": e.error, **e.extra}
        return {"ok": True, **result}

    # ---- Slack -> bot ----------------------------------------------------------------------------
    async def _post_to_bot(
        self, body: bytes, content_type: str, kind: str, extra_headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        url = self.rt.bot_endpoint("/slack/events")
        started = time.monotonic()
        record: dict[str, Any] = {"kind": kind, "at": self.rt.now().isoformat(), "at_monotonic": started}
        if self.socket.connected:  # the app connected over Socket Mode: requests go down the websocket
            delivered = await self.socket.deliver(body, kind, extra_headers)
            delivered["elapsed_ms"] = (time.monotonic() - started) * 1000
            record.update(delivered, via="socket_mode")
            self.bot_requests.append(record)
            return delivered
        if url is None:
            record.update(status=0, body="", elapsed_ms=0.0, error="bot_url not set")
            self.bot_requests.append(record)
            return {"status": 0, "body": "", "elapsed_ms": 0.0, "error": "bot_url not set"}
        headers = {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            **slack_headers(self.signing_secret, body),
        }
        if extra_headers:
            headers.update(extra_headers)
        result: dict[str, Any]
        try:
            async with self.rt.session.post(
                url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=self.request_timeout)
            ) as resp:
                text = await resp.text()
                result = {"status": resp.status, "body": text, "content_type": resp.content_type}
        except (aiohttp.ClientError, TimeoutError) as e:
            result = {"status": 0, "body": "", "error": f"{type(e).__name__}: {e}"}
        result["elapsed_ms"] = (time.monotonic() - started) * 1000
        record.update(result)
        self.bot_requests.append(record)
        return result

    def _new_trigger(self, user_id: str) -> str:
        tid = self.new_trigger_id()
        self.triggers[tid] = Trigger(id=tid, user_id=user_id, expires_monotonic=time.monotonic() + TRIGGER_TTL_S)
        return tid

    def _new_response_url(self, channel_id: str, user_id: str, message_ts: str | None) -> str:
        rid = secrets.token_hex(12)
        self.response_urls[rid] = ResponseURL(id=rid, channel_id=channel_id, user_id=user_id, message_ts=message_ts)
        return f"{self.rt.url}/_sandbox/slack/response/{rid}"

    def _channel_name(self, channel_id: str) -> str:
        ch = self.channels.get(channel_id)
        if ch is None:
            return channel_id.lower()
        return "directmessage" if ch.is_im else ch.name

    def _user_block(self, user_id: str) -> dict[str, Any]:
        name = self.user_name(user_id)
        return {"id": user_id, "username": name, "name": name, "team_id": self.world.team.id}

    def command_body(self, user_id: str, channel_id: str, command: str, text: str = "") -> tuple[str, str, bytes]:
        """(user id, channel id, form body) of a slash command as Slack sends it (unsigned)."""
        user_id = self.resolve_user(user_id)
        ch = self.channel(channel_id)
        channel_id = ch.id if ch else channel_id
        w = self.world
        fields = [
            ("token", "verification-token-unused"),
            ("team_id", w.team.id),
            ("team_domain", w.team.domain),
            ("channel_id", channel_id),
            ("channel_name", self._channel_name(channel_id)),
            ("user_id", user_id),
            ("user_name", self.user_name(user_id)),
            ("command", command if command.startswith("/") else "/" + command),
            ("text", text),
            ("api_app_id", w.bot.app_id),
            ("is_enterprise_install", "false"),
            ("response_url", self._new_response_url(channel_id, user_id, None)),
            ("trigger_id", self._new_trigger(user_id)),
        ]
        return user_id, channel_id, urlencode(fields).encode()

    async def send_command(self, user_id: str, channel_id: str, command: str, text: str = "") -> dict[str, Any]:
        user_id, channel_id, body = self.command_body(user_id, channel_id, command, text)
        result = await self._post_to_bot(body, "application/x-www-form-urlencoded", "command")
        if result["status"] == 200 and result["body"].strip():
            self._command_ack_reply(channel_id, user_id, result)
        return result

    def _command_ack_reply(self, channel_id: str, user_id: str, result: dict[str, Any]) -> None:
        """Slack shows a slash command's ack body: plain text as an ephemeral, JSON as a message."""
        raw = result["body"]
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = {"text": raw}
        if not isinstance(payload, dict) or not (payload.get("text") or payload.get("blocks")):
            return
        blocks = payload.get("blocks") if isinstance(payload.get("blocks"), list) else None
        text = str(payload.get("text") or "")
        ch = self.channels.get(channel_id)
        if payload.get("response_type") == "in_channel" and ch is not None:
            self.add_message(ch, self.world.bot.user_id, text, blocks, None, bot=True)
        else:
            self.add_ephemeral(channel_id, user_id, text, blocks, "command_ack")

    def action_body(
        self,
        user_id: str,
        channel_id: str,
        message_ts: str,
        action_id: str,
        value: str | None = None,
        block_id: str | None = None,
    ) -> bytes:
        """The form body of a button click on a message, as Slack sends it (unsigned)."""
        user_id = self.resolve_user(user_id)
        ch = self.channel_or_error_value(channel_id)
        msg = self.message(ch.id, message_ts)
        eph = None if msg is not None else self.ephemeral(message_ts)
        if msg is None and eph is None:
            raise KeyError(f"no message {message_ts} in {ch.id}")
        blocks = (msg.blocks if msg is not None else eph.blocks if eph is not None else None) or []
        element, found_block = _find_element(blocks, action_id, block_id)
        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block_id or found_block or "sandbox_block",
            "type": (element or {}).get("type", "button"),
            "value": value if value is not None else (element or {}).get("value", ""),
            "text": (element or {}).get("text", {"type": "plain_text", "text": action_id, "emoji": True}),
            "action_ts": self.next_ts(),
        }
        w = self.world
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user_block(user_id),
            "api_app_id": w.bot.app_id,
            "token": "verification-token-unused",
            "trigger_id": self._new_trigger(user_id),
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": ch.id,
                "is_ephemeral": eph is not None,
            },
            "team": {"id": w.team.id, "domain": w.team.domain},
            "channel": {"id": ch.id, "name": self._channel_name(ch.id)},
        }
        if msg is not None:
            payload["message"] = {
                "type": "message",
                "ts": msg.ts,
                "text": msg.text,
                "blocks": msg.blocks or [],
                "user": msg.user,
                **({"bot_id": msg.bot_id} if msg.bot_id else {}),
            }
        payload["response_url"] = self._new_response_url(ch.id, user_id, message_ts)
        payload["actions"] = [action]
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return body

    async def send_action(
        self,
        user_id: str,
        channel_id: str,
        message_ts: str,
        action_id: str,
        value: str | None = None,
        block_id: str | None = None,
    ) -> dict[str, Any]:
        body = self.action_body(user_id, channel_id, message_ts, action_id, value, block_id)
        return await self._post_to_bot(body, "application/x-www-form-urlencoded", "block_actions")

    def channel_or_error_value(self, ref: str) -> Channel:
        ch = self.channel(ref)
        if ch is None:
            raise KeyError(f"unknown channel {ref!r}")
        return ch

    async def send_view_submission(
        self, user_id: str, view_id: str, values: dict[str, Any], callback_id: str | None = None
    ) -> dict[str, Any]:
        user_id = self.resolve_user(user_id)
        v = self.views.get(view_id)
        if v is None:
            raise KeyError(f"unknown view {view_id!r}")
        view = v.to_api(self.world, _state_values(values, v.view.get("blocks")))
        if callback_id is not None:
            view["callback_id"] = callback_id
        w = self.world
        payload = {
            "type": "view_submission",
            "team": {"id": w.team.id, "domain": w.team.domain},
            "user": self._user_block(user_id),
            "api_app_id": w.bot.app_id,
            "token": "verification-token-unused",
            "trigger_id": self._new_trigger(user_id),
            "view": view,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        result = await self._post_to_bot(body, "application/x-www-form-urlencoded", "view_submission")
        self._apply_view_response(v, result)
        return result

    def _apply_view_response(self, v: View, result: dict[str, Any]) -> None:
        if result["status"] != 200:
            return
        try:
            resp = json.loads(result["body"]) if result["body"].strip() else {}
        except ValueError:
            resp = {}
        v.last_response = resp if isinstance(resp, dict) else {}
        action = v.last_response.get("response_action")
        if action == "update" and isinstance(v.last_response.get("view"), dict):
            v.view = v.last_response["view"]
            v.versions.append(v.view)
        elif action != "errors":
            v.closed = True
        self.rt.feed.emit(
            "slack.view",
            view_id=v.id,
            user=v.user_id,
            view_kind=v.kind,
            action=f"submit:{action or 'close'}",
            errors=v.last_response.get("errors"),
        )

    async def send_event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None
    ) -> dict[str, Any]:
        w = self.world
        envelope = {
            "token": "verification-token-unused",
            "team_id": w.team.id,
            "api_app_id": w.bot.app_id,
            "type": "event_callback",
            "event_id": event_id or "Ev" + secrets.token_hex(5).upper(),
            "event_time": int(self.rt.now().timestamp()),
            "authed_users": [w.bot.user_id],
            "event": event,
        }
        extra = None
        if retry_num is not None:
            extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        result = await self._post_to_bot(json.dumps(envelope).encode(), "application/json", "event", extra)
        result["event_id"] = envelope["event_id"]
        return result

    def _human_message(self, user_id: str, channel_id: str, text: str, thread_ts: str | None = None) -> Message:
        ch = self.channel_or_error_value(channel_id)
        return self.add_message(ch, user_id, text, None, thread_ts, bot=False)

    async def send_mention(
        self, user_id: str, channel_id: str, text: str, thread_ts: str | None = None
    ) -> dict[str, Any]:
        user_id = self.resolve_user(user_id)
        full = f"<@{self.world.bot.user_id}> {text}"
        msg = self._human_message(user_id, channel_id, full, thread_ts)
        event: dict[str, Any] = {
            "type": "app_mention",
            "user": user_id,
            "text": full,
            "ts": msg.ts,
            "channel": msg.channel,
            "event_ts": msg.ts,
            "team": self.world.team.id,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        result = await self.send_event(event)
        result["ts"] = msg.ts
        return result

    async def send_message(
        self, user_id: str, channel_id: str, text: str, thread_ts: str | None = None
    ) -> dict[str, Any]:
        user_id = self.resolve_user(user_id)
        msg = self._human_message(user_id, channel_id, text, thread_ts)
        ch = self.channels[msg.channel]
        event: dict[str, Any] = {
            "type": "message",
            "channel": msg.channel,
            "user": user_id,
            "text": text,
            "ts": msg.ts,
            "event_ts": msg.ts,
            "channel_type": "im" if ch.is_im else ("group" if ch.is_private else "channel"),
            "team": self.world.team.id,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        result = await self.send_event(event)
        result["ts"] = msg.ts
        return result

    async def send_reaction(self, user_id: str, channel_id: str, ts: str, name: str) -> dict[str, Any]:
        user_id = self.resolve_user(user_id)
        ch = self.channel_or_error_value(channel_id)
        msg = self.message(ch.id, ts)
        if msg is None:
            raise KeyError(f"no message {ts} in {ch.id}")
        name = name.strip(":")
        users = msg.reactions.setdefault(name, [])
        if user_id not in users:
            users.append(user_id)
        self.rt.feed.emit("slack.reaction", channel=ch.id, channel_name=ch.name, ts=ts, user=user_id, name=name)
        event = {
            "type": "reaction_added",
            "user": user_id,
            "reaction": name,
            "item_user": msg.user,
            "item": {"type": "message", "channel": ch.id, "ts": ts},
            "event_ts": self.next_ts(),
        }
        return await self.send_event(event)

    async def send_pin(self, user_id: str, channel_id: str, ts: str) -> dict[str, Any]:
        user_id = self.resolve_user(user_id)
        ch = self.channel_or_error_value(channel_id)
        msg = self.message(ch.id, ts)
        if msg is None:
            raise KeyError(f"no message {ts} in {ch.id}")
        if user_id not in msg.pinned_by:
            msg.pinned_by.append(user_id)
        self.rt.feed.emit("slack.pin", channel=ch.id, channel_name=ch.name, ts=ts, user=user_id)
        now = int(self.rt.now().timestamp())
        event = {
            "type": "pin_added",
            "user": user_id,
            "channel_id": ch.id,
            "item": {
                "type": "message",
                "channel": ch.id,
                "created": now,
                "created_by": user_id,
                "message": msg.to_api(),
            },
            "event_ts": self.next_ts(),
        }
        return await self.send_event(event)

    # ---- the external upload flow: a file's bytes posted to the URL files.getUploadURLExternal issued ------------
    async def handle_upload(self, request: web.Request) -> web.Response:
        file = self.files.get(request.match_info["id"])
        if file is None or file.content is not None:
            return web.Response(status=404, text="upload URL not found or used")
        body = await request.read()
        if len(body) != file.length:
            return web.Response(status=400, text=f"expected {file.length} bytes, got {len(body)}")
        file.content = body
        return web.Response(text=f"OK - {len(body)}")

    # ---- response_url ----------------------------------------------------------------------------
    async def handle_response_url(self, request: web.Request) -> web.Response:
        rid = request.match_info["id"]
        ru = self.response_urls.get(rid)
        if ru is None:
            return web.json_response({"ok": False, "error": "expired_url"}, status=404)
        if ru.uses >= RESPONSE_URL_MAX_USES:
            return web.json_response({"ok": False, "error": "used_url"}, status=404)
        try:
            payload = await request.json()
        except ValueError:
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        if not isinstance(payload, dict):
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        ru.uses += 1
        try:
            self.apply_response(ru, payload)
        except SlackError as e:
            return web.json_response({"ok": False, "error": e.error}, status=400)
        return web.json_response({"ok": True})

    def apply_response(self, ru: ResponseURL, payload: dict[str, Any]) -> None:
        blocks_raw = payload.get("blocks")
        if blocks_raw is not None and (
            not isinstance(blocks_raw, list) or not all(isinstance(b, dict) and "type" in b for b in blocks_raw)
        ):
            raise SlackError("invalid_blocks")
        blocks: list[dict[str, Any]] | None = blocks_raw
        text = str(payload.get("text") or "")
        original_msg = self.message(ru.channel_id, ru.message_ts) if ru.message_ts else None
        original_eph = self.ephemeral(ru.message_ts) if ru.message_ts and original_msg is None else None
        if _truthy(payload.get("delete_original")):
            if original_msg is not None:
                original_msg.deleted = True
                self.rt.feed.emit(
                    "slack.update",
                    channel=ru.channel_id,
                    ts=original_msg.ts,
                    deleted=True,
                    text=original_msg.text,
                    blocks=original_msg.blocks,
                    user=original_msg.user,
                )
            elif original_eph is not None:
                original_eph.deleted = True
            return
        if _truthy(payload.get("replace_original")):
            if original_msg is not None:
                self.update_message(original_msg, text, blocks, keep_blocks=False)
                return
            if original_eph is not None:
                original_eph.text, original_eph.blocks = text, blocks
                original_eph.versions.append({"text": text, "blocks": blocks, "at": self.rt.now().isoformat()})
                self.rt.feed.emit(
                    "slack.ephemeral",
                    channel=ru.channel_id,
                    user=original_eph.user,
                    user_name=self.user_name(original_eph.user),
                    text=text,
                    blocks=blocks,
                    message_ts=original_eph.message_ts,
                    source="response_url",
                    replaced=True,
                )
                return
        if not text and not blocks:
            raise SlackError("no_text")
        ch = self.channels.get(ru.channel_id)
        if payload.get("response_type") == "in_channel" and ch is not None:
            self.add_message(ch, self.world.bot.user_id, text, blocks, payload.get("thread_ts"), bot=True)
        else:
            self.add_ephemeral(ru.channel_id, ru.user_id, text, blocks, "response_url", payload.get("thread_ts"))


# ---- helpers -------------------------------------------------------------------------------------
def _truthy(v: Any) -> bool:
    return v is True or str(v).lower() == "true"


def _bearer(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        tok = auth[7:].strip()
        return tok or None
    return None


async def _merged_args(request: web.Request) -> dict[str, Any]:
    args: dict[str, Any] = dict(request.query)
    if request.method != "POST" or not request.can_read_body:
        return args
    ctype = request.content_type
    if ctype == "application/json":
        try:
            body = await request.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            args.update(body)
    elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for k, v in form.items():
            args[k] = v if isinstance(v, str) else getattr(v, "filename", "")
    return args


def _find_element(
    blocks: list[dict[str, Any]], action_id: str, block_id: str | None
) -> tuple[dict[str, Any] | None, str | None]:
    for b in blocks:
        if block_id and b.get("block_id") != block_id:
            continue
        elements: list[Any] = list(b.get("elements") or [])
        if isinstance(b.get("accessory"), dict):
            elements.append(b["accessory"])
        for el in elements:
            if isinstance(el, dict) and el.get("action_id") == action_id:
                return el, b.get("block_id")
    return None, None


def _state_values(values: dict[str, Any], blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Accept full Slack state values, or the shorthand ``{block_id: {action_id: "text"}}``: the shorthand becomes
    what Slack sends for that element of the view (a select's chosen option, a text input's value)."""
    elements: dict[tuple[str, str], dict[str, Any]] = {}
    for block in blocks or []:
        element = block.get("element")
        if isinstance(element, dict) and element.get("action_id"):
            elements[(str(block.get("block_id")), str(element["action_id"]))] = element
    out: dict[str, Any] = {}
    for block_id, actions in values.items():
        out[block_id] = {}
        for action_id, v in (actions or {}).items():
            if isinstance(v, dict):
                out[block_id][action_id] = v
                continue
            element = elements.get((block_id, action_id), {})
            kind = element.get("type", "plain_text_input")
            if kind == "static_select":
                options = [
                    o
                    for group in element.get("option_groups") or [{"options": element.get("options")}]
                    for o in group.get("options") or []
                ]
                chosen = next((o for o in options if o.get("value") == v), None)
                if chosen is None:
                    raise ValueError(f"{block_id}.{action_id}: no option {v!r} in the select")
                out[block_id][action_id] = {"type": kind, "selected_option": chosen}
            else:
                out[block_id][action_id] = {"type": kind, "value": v}
    return out
