"""Slack workspace state: channels, messages, ephemerals, views, triggers, recorded calls, and the JSON shapes
Slack returns for them."""

from __future__ import annotations

import itertools
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any

from sandbox.core import Runtime
from sandbox.world import Person, World

__all__ = [
    "Channel",
    "Ephemeral",
    "Message",
    "ResponseURL",
    "SlackCall",
    "SlackError",
    "SlackState",
    "Trigger",
    "View",
]

_ALNUM = string.ascii_uppercase + string.digits


class SlackError(Exception):
    """A Web API error answer: ``{"ok": false, "error": code}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class SlackCall:
    method: str
    args: dict[str, Any]
    ok: bool
    error: str | None
    status: int
    at_monotonic: float
    at: str
    elapsed_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "args": self.args,
            "ok": self.ok,
            "error": self.error,
            "status": self.status,
            "at_monotonic": self.at_monotonic,
            "at": self.at,
            "elapsed_ms": self.elapsed_ms,
        }


@dataclass
class UploadedFile:
    """A file of the external upload flow: its URL issued (files.getUploadURLExternal), its bytes posted there,
    then shared (files.completeUploadExternal)."""

    id: str
    name: str
    length: int
    content: bytes | None = None
    title: str = ""
    channel: str | None = None
    ts: str | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "title": self.title or self.name,
            "mimetype": "text/markdown" if self.name.endswith(".md") else "text/plain",
            "filetype": "markdown" if self.name.endswith(".md") else "text",
            "size": len(self.content or b""),
            "permalink": f"https://acme.slack.com/files/{self.id}/{self.name}",
            "channels": [self.channel] if self.channel else [],
            "shares": {"public": {self.channel: [{"ts": self.ts}]}} if self.channel else {},
        }


@dataclass
class Message:
    channel: str
    ts: str
    user: str
    text: str
    blocks: list[dict[str, Any]] | None
    thread_ts: str | None
    versions: list[dict[str, Any]]
    at_monotonic: float
    at: str
    bot_id: str | None = None
    subtype: str | None = None
    reactions: dict[str, list[str]] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)  # shared with the message (files.completeUploadExternal)
    pinned_by: list[str] = field(default_factory=list)
    reply_count: int = 0
    deleted: bool = False
    updated_at_monotonic: float | None = None
    metadata: dict[str, Any] | None = None  # {"event_type": ..., "event_payload": {...}} as posted

    def to_api(self, *, metadata: bool = False) -> dict[str, Any]:
        """The message object as the Web API returns it (its metadata only where asked: include_all_metadata)."""
        d: dict[str, Any] = {"type": "message", "user": self.user, "text": self.text, "ts": self.ts}
        if metadata and self.metadata:
            d["metadata"] = self.metadata
        if self.subtype:
            d["subtype"] = self.subtype
        if self.bot_id:
            d["bot_id"] = self.bot_id
        if self.blocks is not None:
            d["blocks"] = self.blocks
        if self.files:
            d["files"] = self.files
        if self.thread_ts:
            d["thread_ts"] = self.thread_ts
        if self.reply_count:
            d["reply_count"] = self.reply_count
        if len(self.versions) > 1:
            d["edited"] = {"user": self.user, "ts": self.ts}
        if self.reactions:
            d["reactions"] = [{"name": n, "users": u, "count": len(u)} for n, u in self.reactions.items()]
        if self.pinned_by:
            d["pinned_to"] = [self.channel]
        return d

    def to_json(self) -> dict[str, Any]:
        d = self.to_api()
        d.update(
            {
                "channel": self.channel,
                "versions": self.versions,
                "at": self.at,
                "at_monotonic": self.at_monotonic,
                "deleted": self.deleted,
                "pinned_by": self.pinned_by,
                "reactions": self.reactions,
            }
        )
        return d


@dataclass
class Ephemeral:
    channel: str
    user: str
    text: str
    blocks: list[dict[str, Any]] | None
    message_ts: str
    source: str  # "chat.postEphemeral" | "response_url" | "command_ack"
    at_monotonic: float
    at: str
    thread_ts: str | None = None
    versions: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "user": self.user,
            "text": self.text,
            "blocks": self.blocks,
            "message_ts": self.message_ts,
            "source": self.source,
            "at": self.at,
            "at_monotonic": self.at_monotonic,
            "thread_ts": self.thread_ts,
            "versions": self.versions,
            "deleted": self.deleted,
        }


@dataclass
class Channel:
    id: str
    name: str
    topic: str
    members: set[str]
    created_by: str
    is_private: bool = False
    messages: list[Message] = field(default_factory=list)
    created: int = 0
    is_im: bool = False
    purpose: str = ""
    bookmarks: list[dict[str, Any]] = field(default_factory=list)
    topic_set_by: str = ""
    topic_set_at: int = 0
    at_monotonic: float = field(default_factory=time.monotonic)
    at: str = ""

    def to_api(self, bot_user_id: str, *, num_members: bool = False) -> dict[str, Any]:
        if self.is_im:
            other = next((m for m in self.members if m != bot_user_id), bot_user_id)
            return {"id": self.id, "is_im": True, "user": other, "created": self.created, "is_org_shared": False}
        d: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "created": self.created,
            "is_archived": False,
            "is_general": False,
            "unlinked": 0,
            "name_normalized": self.name,
            "is_shared": False,
            "is_org_shared": False,
            "is_ext_shared": False,
            "is_pending_ext_shared": False,
            "is_member": bot_user_id in self.members,
            "creator": self.created_by,
            "topic": {"value": self.topic, "creator": self.topic_set_by, "last_set": self.topic_set_at},
            "purpose": {"value": self.purpose, "creator": "", "last_set": 0},
            "previous_names": [],
        }
        if num_members:
            d["num_members"] = len(self.members)
        return d

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "topic": self.topic,
            "members": sorted(self.members),
            "created_by": self.created_by,
            "is_private": self.is_private,
            "is_im": self.is_im,
            "created": self.created,
            "message_count": len(self.messages),
            "bookmarks": self.bookmarks,
            "at": self.at,
            "at_monotonic": self.at_monotonic,
        }


@dataclass
class View:
    id: str
    user_id: str
    view: dict[str, Any]
    kind: str  # "modal" | "home"
    trigger_id: str | None
    at_monotonic: float
    at: str
    hash: str = ""
    versions: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False
    last_response: dict[str, Any] | None = None
    root_view_id: str | None = None
    previous_view_id: str | None = None

    def to_api(self, world: World, state_values: dict[str, Any] | None = None) -> dict[str, Any]:
        v = self.view
        return {
            "id": self.id,
            "team_id": world.team.id,
            "type": v.get("type", self.kind),
            "blocks": v.get("blocks", []),
            "private_metadata": v.get("private_metadata", ""),
            "callback_id": v.get("callback_id", ""),
            "state": {"values": state_values or {}},
            "hash": self.hash,
            "title": v.get("title"),
            "clear_on_close": v.get("clear_on_close", False),
            "notify_on_close": v.get("notify_on_close", False),
            "close": v.get("close"),
            "submit": v.get("submit"),
            "previous_view_id": self.previous_view_id,
            "root_view_id": self.root_view_id or self.id,
            "app_id": world.bot.app_id,
            "external_id": v.get("external_id", ""),
            "app_installed_team_id": world.team.id,
            "bot_id": world.bot.bot_id,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "kind": self.kind,
            "view": self.view,
            "trigger_id": self.trigger_id,
            "at": self.at,
            "at_monotonic": self.at_monotonic,
            "hash": self.hash,
            "versions": self.versions,
            "closed": self.closed,
            "last_response": self.last_response,
        }


@dataclass
class Trigger:
    id: str
    user_id: str
    expires_monotonic: float
    used: bool = False


@dataclass
class ResponseURL:
    id: str
    channel_id: str
    user_id: str
    message_ts: str | None  # the message an action came from (for replace_original / delete_original)
    uses: int = 0


class SlackState:
    """In-memory workspace. Indexed for O(1) lookups: messages by (channel, ts), channels by id and by name."""

    def __init__(self, world: World, rt: Runtime) -> None:
        self.world = world
        self.rt = rt
        self.channels: dict[str, Channel] = {}
        self._channel_by_name: dict[str, str] = {}
        self._messages: dict[tuple[str, str], Message] = {}
        self.ephemerals: list[Ephemeral] = []
        self.files: dict[str, UploadedFile] = {}  # by id: the external upload flow's files
        self._ephemeral_by_ts: dict[str, Ephemeral] = {}
        self.views: dict[str, View] = {}
        self.home_views: dict[str, View] = {}
        self.triggers: dict[str, Trigger] = {}
        self.response_urls: dict[str, ResponseURL] = {}
        self.calls: list[SlackCall] = []
        self._calls_by_method: dict[str, list[SlackCall]] = {}
        self._last_ts_us = 0
        self._seq = itertools.count(1)
        ch = world.incidents_channel
        members = {world.bot.user_id} | {p.slack.id for p in world.people if p.slack}
        self._add_channel(
            Channel(
                id=ch.id,
                name=ch.name,
                topic="",
                members=members,
                created_by=world.bot.user_id,
                created=int(rt.now().timestamp()),
            )
        )

    # ---- ids and timestamps --------------------------------------------------------------------
    def next_ts(self) -> str:
        """Unique, increasing ``"1763607960.000400"`` strings derived from the clock."""
        us = int(self.rt.now().timestamp() * 1_000_000)
        if us <= self._last_ts_us:
            us = self._last_ts_us + 1
        self._last_ts_us = us
        return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def new_id(self, prefix: str, length: int = 10) -> str:
        return prefix + "0" + "".join(secrets.choice(_ALNUM) for _ in range(length - 1))

    def new_trigger_id(self) -> str:
        return f"{int(self.rt.now().timestamp())}.{next(self._seq)}.{secrets.token_hex(16)}"

    # ---- lookups ---------------------------------------------------------------------------------
    def channel(self, ref: str) -> Channel | None:
        """By id, or by name with or without '#'."""
        if not ref:
            return None
        ch = self.channels.get(ref)
        if ch is not None:
            return ch
        cid = self._channel_by_name.get(ref.lstrip("#"))
        return self.channels.get(cid) if cid else None

    def channel_or_error(self, ref: Any) -> Channel:
        """By id only, as every Web API method but the posting ones takes it: `#incidents` is channel_not_found
        for chat.update, conversations.history and the others (chat.postMessage takes a name: `channel`)."""
        ch = self.channels.get(str(ref or ""))
        if ch is None:
            raise SlackError("channel_not_found")
        return ch

    def message(self, channel_id: str, ts: str) -> Message | None:
        return self._messages.get((channel_id, ts))

    def ephemeral(self, message_ts: str) -> Ephemeral | None:
        return self._ephemeral_by_ts.get(message_ts)

    def messages_in(self, channel_ref: str) -> list[Message]:
        ch = self.channel(channel_ref)
        return list(ch.messages) if ch else []

    def ephemerals_for(self, user_id: str | None = None, channel_id: str | None = None) -> list[Ephemeral]:
        return [
            e
            for e in self.ephemerals
            if (user_id is None or e.user == user_id) and (channel_id is None or e.channel == channel_id)
        ]

    def calls_for(self, method: str) -> list[SlackCall]:
        return list(self._calls_by_method.get(method, ()))

    def is_known_user(self, user_id: str) -> bool:
        return user_id == self.world.bot.user_id or self.world.person_by_slack_id(user_id) is not None

    def person(self, user_id: str) -> Person | None:
        return self.world.person_by_slack_id(user_id)

    def user_name(self, user_id: str) -> str:
        if user_id == self.world.bot.user_id:
            return self.world.bot.name
        p = self.person(user_id)
        return p.slack.name if p and p.slack else user_id.lower()

    def resolve_user(self, ref: str) -> str:
        """A Slack user id, or a person key mapped to that person's Slack id."""
        p = self.world.person_by_key(ref)
        if p is not None:
            if p.slack is None:
                raise KeyError(f"person {ref!r} has no Slack account")
            return p.slack.id
        return ref

    def user_object(self, user_id: str) -> dict[str, Any] | None:
        w = self.world
        if user_id == w.bot.user_id:
            name, real, email, is_bot = w.bot.name, w.bot.name, "", True
        else:
            p = self.person(user_id)
            if p is None or p.slack is None:
                return None
            name, real, email, is_bot = p.slack.name, p.name, p.email, False
        profile: dict[str, Any] = {
            "real_name": real,
            "display_name": name,
            "real_name_normalized": real,
            "display_name_normalized": name,
            "first_name": real.split(" ")[0],
            "title": "",
            "image_48": "https://a.slack-edge.com/80588/img/avatars/ava_0001-48.png",
            "team": w.team.id,
        }
        if email:
            profile["email"] = email
        if is_bot:
            profile["bot_id"] = w.bot.bot_id
        return {
            "id": user_id,
            "team_id": w.team.id,
            "name": name,
            "deleted": False,
            "color": "9f69e7",
            "real_name": real,
            "tz": "Etc/UTC",
            "tz_label": "Coordinated Universal Time",
            "tz_offset": 0,
            "profile": profile,
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": 1763600000,
        }

    # ---- mutations (each emits a feed entry) -----------------------------------------------------
    def _add_channel(self, ch: Channel) -> Channel:
        if not ch.at:
            ch.at = self.rt.now().isoformat()
        self.channels[ch.id] = ch
        if not ch.is_im:
            self._channel_by_name[ch.name] = ch.id
        return ch

    def create_channel(
        self,
        name: str,
        members: list[str] | set[str] | None = None,
        *,
        created_by: str | None = None,
        is_private: bool = False,
    ) -> Channel:
        """Create a channel as a human would (no name validation beyond uniqueness); bot not a member unless listed."""
        if name in self._channel_by_name:
            raise ValueError(f"name_taken: {name}")
        creator = created_by or next((p.slack.id for p in self.world.people if p.slack), self.world.bot.user_id)
        mem = {self.resolve_user(m) for m in (members or [])} | {creator}
        ch = self._add_channel(
            Channel(
                id=self.new_id("C"),
                name=name,
                topic="",
                members=mem,
                created_by=creator,
                is_private=is_private,
                created=int(self.rt.now().timestamp()),
            )
        )
        self.rt.feed.emit("slack.channel", channel=ch.id, name=ch.name, created_by=creator, members=sorted(ch.members))
        return ch

    def open_im(self, user_id: str) -> Channel:
        for ch in self.channels.values():
            if ch.is_im and user_id in ch.members:
                return ch
        return self._add_channel(
            Channel(
                id=self.new_id("D"),
                name=user_id,
                topic="",
                members={self.world.bot.user_id, user_id},
                created_by=user_id,
                is_im=True,
                created=int(self.rt.now().timestamp()),
            )
        )

    def add_message(
        self,
        ch: Channel,
        user: str,
        text: str,
        blocks: list[dict[str, Any]] | None,
        thread_ts: str | None,
        *,
        bot: bool,
        subtype: str | None = None,
    ) -> Message:
        mono, at = self.rt.stamp()
        ts = self.next_ts()
        msg = Message(
            channel=ch.id,
            ts=ts,
            user=user,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            versions=[{"text": text, "blocks": blocks, "at": at, "at_monotonic": mono}],
            at_monotonic=mono,
            at=at,
            bot_id=self.world.bot.bot_id if bot else None,
            subtype=subtype,
        )
        ch.messages.append(msg)
        self._messages[(ch.id, ts)] = msg
        if thread_ts:
            parent = self._messages.get((ch.id, thread_ts))
            if parent is not None:
                parent.reply_count += 1
                if parent.thread_ts is None:
                    parent.thread_ts = parent.ts
        self.rt.feed.emit(
            "slack.message",
            channel=ch.id,
            channel_name=ch.name,
            ts=ts,
            user=user,
            user_name=self.user_name(user),
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            bot=bot,
        )
        return msg

    def update_message(
        self, msg: Message, text: str | None, blocks: list[dict[str, Any]] | None, *, keep_blocks: bool
    ) -> Message:
        mono, at = self.rt.stamp()
        if text is not None:
            msg.text = text
        if not keep_blocks:
            msg.blocks = blocks
        msg.versions.append({"text": msg.text, "blocks": msg.blocks, "at": at, "at_monotonic": mono})
        msg.updated_at_monotonic = mono
        ch = self.channels[msg.channel]
        self.rt.feed.emit(
            "slack.update",
            channel=msg.channel,
            channel_name=ch.name,
            ts=msg.ts,
            user=msg.user,
            text=msg.text,
            blocks=msg.blocks,
            version=len(msg.versions),
        )
        return msg

    def add_ephemeral(
        self,
        channel_id: str,
        user: str,
        text: str,
        blocks: list[dict[str, Any]] | None,
        source: str,
        thread_ts: str | None = None,
    ) -> Ephemeral:
        mono, at = self.rt.stamp()
        e = Ephemeral(
            channel=channel_id,
            user=user,
            text=text,
            blocks=blocks,
            message_ts=self.next_ts(),
            source=source,
            at_monotonic=mono,
            at=at,
            thread_ts=thread_ts,
            versions=[{"text": text, "blocks": blocks, "at": at}],
        )
        self.ephemerals.append(e)
        self._ephemeral_by_ts[e.message_ts] = e
        self.rt.feed.emit(
            "slack.ephemeral",
            channel=channel_id,
            user=user,
            user_name=self.user_name(user),
            text=text,
            blocks=blocks,
            message_ts=e.message_ts,
            source=source,
        )
        return e

    def record_call(self, call: SlackCall) -> None:
        self.calls.append(call)
        self._calls_by_method.setdefault(call.method, []).append(call)
