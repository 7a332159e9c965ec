"""Slack Web API methods: each takes the workspace state and the merged arguments and returns the success body
(without ``ok``) or raises `SlackError`."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from sandbox.slack_state import Channel, Message, SlackError, SlackState, UploadedFile, View

__all__ = ["METHODS"]

Method = Callable[[SlackState, dict[str, Any]], dict[str, Any]]

_NAME_RE = re.compile(r"^[a-z0-9_-]+$")
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT = 40_000


# ---- argument helpers ----------------------------------------------------------------------------
def _str(a: dict[str, Any], key: str) -> str:
    v = a.get(key)
    if v is None:
        return ""
    return v if isinstance(v, str) else str(v)


def _bool(a: dict[str, Any], key: str) -> bool:
    v = a.get(key)
    if isinstance(v, bool):
        return v
    return str(v).lower() in ("1", "true", "yes")


def _int(a: dict[str, Any], key: str, default: int) -> int:
    try:
        return int(a.get(key, default))
    except (TypeError, ValueError):
        raise SlackError("invalid_arguments") from None


def _json_arg(a: dict[str, Any], key: str) -> Any:
    """Blocks / views may arrive as JSON (already parsed) or as a JSON string (form/query)."""
    v = a.get(key)
    if isinstance(v, str):
        if not v.strip():
            return None
        try:
            return json.loads(v)
        except ValueError:
            raise SlackError("invalid_blocks" if key == "blocks" else "invalid_arguments") from None
    return v


def _blocks(a: dict[str, Any], limit: int = MAX_MESSAGE_BLOCKS) -> list[dict[str, Any]] | None:
    if "blocks" not in a or a["blocks"] is None:
        return None
    blocks = _json_arg(a, "blocks")
    if blocks is None:
        return None
    if not isinstance(blocks, list) or not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in blocks):
        raise SlackError("invalid_blocks")
    if len(blocks) > limit:
        raise SlackError("msg_blocks_too_long" if limit == MAX_MESSAGE_BLOCKS else "invalid_arguments")
    for index, block in enumerate(blocks):
        problem = block_problem(block)
        if problem:
            message = f"[ERROR] {problem} [json-pointer:/blocks/{index}]"
            raise SlackError("invalid_blocks", response_metadata={"messages": [message]})
    return blocks


def _text_len(obj: Any) -> int:
    return len(obj.get("text") or "") if isinstance(obj, dict) else 0


def block_problem(block: dict[str, Any]) -> str | None:
    """The first of Slack's Block Kit limits that `block` breaks, as Slack words it, or None."""
    kind = block.get("type")
    if len(str(block.get("block_id") or "")) > 255:
        return "must be less than 256 characters"
    if kind == "section":
        if _text_len(block.get("text")) > 3000:
            return "must be less than 3001 characters"
        fields = block.get("fields") or []
        if len(fields) > 10:
            return "must provide at most 10 items"
        if any(_text_len(f) > 2000 for f in fields):
            return "must be less than 2001 characters"
        if not block.get("text") and not fields:
            return "must provide text or fields"
    elif kind == "header":
        if _text_len(block.get("text")) > 150:
            return "must be less than 151 characters"
    elif kind == "context":
        if len(block.get("elements") or []) > 10:
            return "must provide at most 10 items"
        if any(_text_len(e) > 3000 for e in block.get("elements") or []):
            return "must be less than 3001 characters"
    elif kind == "actions":
        elements = block.get("elements") or []
        if len(elements) > 25:
            return "must provide at most 25 items"
        for element in elements:
            if element.get("type") == "button" and _text_len(element.get("text")) > 75:
                return "must be less than 76 characters"
            if len(str(element.get("value") or "")) > 2000:
                return "must be less than 2001 characters"
    return None


def _has_attachments(a: dict[str, Any]) -> bool:
    att = a.get("attachments")
    return bool(att) and att != "[]"


def _member_channel(st: SlackState, a: dict[str, Any], key: str = "channel") -> Channel:
    ch = st.channel_or_error(a.get(key))
    if st.world.bot.user_id not in ch.members:
        raise SlackError("not_in_channel")
    return ch


def _message(st: SlackState, ch: Channel, ts: str) -> Message:
    msg = st.message(ch.id, ts)
    if msg is None or msg.deleted:
        raise SlackError("message_not_found")
    return msg


# ---- auth / users --------------------------------------------------------------------------------
def auth_test(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    w = st.world
    return {
        "url": f"https://{w.team.domain}.slack.com/",
        "team": w.team.domain,
        "user": w.bot.name,
        "team_id": w.team.id,
        "user_id": w.bot.user_id,
        "bot_id": w.bot.bot_id,
        "is_enterprise_install": False,
    }


def users_lookup_by_email(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    email = _str(a, "email")
    if not email:
        raise SlackError("invalid_arguments")
    p = st.world.person_by_email(email)
    if p is None or p.slack is None:
        raise SlackError("users_not_found")
    user = st.user_object(p.slack.id)
    assert user is not None
    return {"user": user}


def users_info(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    user = st.user_object(_str(a, "user"))
    if user is None:
        raise SlackError("user_not_found")
    return {"user": user}


def usergroups_users_list(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    group = next((g for g in st.world.usergroups if g.id == _str(a, "usergroup")), None)
    if group is None:
        raise SlackError("no_such_subteam")
    people = [st.world.person(key) for key in group.members]
    return {"users": [p.slack.id for p in people if p.slack is not None]}


# ---- conversations -------------------------------------------------------------------------------
def conversations_create(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    name = _str(a, "name")
    if not name:
        raise SlackError("invalid_name_required")
    if len(name) > 80:
        raise SlackError("invalid_name_maxlength")
    if not _NAME_RE.match(name):
        raise SlackError("invalid_name_specials")
    if st.channel(name) is not None:
        raise SlackError("name_taken")
    bot = st.world.bot.user_id
    ch = Channel(
        id=st.new_id("C"),
        name=name,
        topic="",
        members={bot},
        created_by=bot,
        is_private=_bool(a, "is_private"),
        created=int(st.rt.now().timestamp()),
    )
    st._add_channel(ch)
    st.rt.feed.emit("slack.channel", channel=ch.id, name=ch.name, created_by=bot, members=[bot])
    return {"channel": ch.to_api(bot)}


def conversations_set_topic(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    ch = _member_channel(st, a)
    topic = _str(a, "topic")
    if len(topic) > 250:
        raise SlackError("too_long")
    ch.topic = topic
    ch.topic_set_by = st.world.bot.user_id
    ch.topic_set_at = int(st.rt.now().timestamp())
    st.rt.feed.emit("slack.topic", channel=ch.id, channel_name=ch.name, topic=topic)
    return {"channel": ch.to_api(st.world.bot.user_id)}


def conversations_invite(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    ch = _member_channel(st, a)
    users = [u.strip() for u in _str(a, "users").split(",") if u.strip()]
    if not users:
        raise SlackError("no_user")
    if st.world.bot.user_id in users:
        raise SlackError("cant_invite_self")
    for u in users:
        if not st.is_known_user(u):
            raise SlackError("user_not_found")
    new = [u for u in dict.fromkeys(users) if u not in ch.members]
    if not new:
        raise SlackError("already_in_channel")
    ch.members.update(new)
    st.rt.feed.emit(
        "slack.invite", channel=ch.id, channel_name=ch.name, users=new, user_names=[st.user_name(u) for u in new]
    )
    return {"channel": ch.to_api(st.world.bot.user_id)}


def conversations_info(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    ch = st.channel_or_error(a.get("channel"))
    if ch.is_private and st.world.bot.user_id not in ch.members:
        raise SlackError("channel_not_found")
    return {"channel": ch.to_api(st.world.bot.user_id, num_members=_bool(a, "include_num_members"))}


def conversations_list(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    """Public channels (the only `types` the bot asks for), cursor-paginated like the real method."""
    limit = max(1, min(_int(a, "limit", 100), 1000))
    start = _int(a, "cursor", 0) if _str(a, "cursor").isdigit() else 0
    channels = [c for c in st.channels.values() if not c.is_im and not c.is_private]
    page = channels[start : start + limit]
    more = start + limit < len(channels)
    return {
        "channels": [c.to_api(st.world.bot.user_id) for c in page],
        "response_metadata": {"next_cursor": str(start + limit) if more else ""},
    }


def conversations_members(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    ch = st.channel_or_error(a.get("channel"))
    if ch.is_private and st.world.bot.user_id not in ch.members:
        raise SlackError("channel_not_found")
    return {"members": sorted(ch.members), "response_metadata": {"next_cursor": ""}}


def _page(msgs: list[Message], a: dict[str, Any]) -> dict[str, Any]:
    limit = max(1, min(_int(a, "limit", 100), 999))
    start = _int(a, "cursor", 0) if _str(a, "cursor").isdigit() else 0
    page = msgs[start : start + limit]
    more = start + limit < len(msgs)
    metadata = _bool(a, "include_all_metadata")
    return {
        "messages": [m.to_api(metadata=metadata) for m in page],
        "has_more": more,
        "response_metadata": {"next_cursor": str(start + limit) if more else ""},
    }


def conversations_history(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    ch = _member_channel(st, a)
    latest, oldest = _str(a, "latest"), _str(a, "oldest")
    msgs = [
        m
        for m in reversed(ch.messages)
        if not m.deleted
        and (m.thread_ts is None or m.thread_ts == m.ts)
        and (not latest or float(m.ts) <= float(latest))
        and (not oldest or float(m.ts) >= float(oldest))
    ]
    out = _page(msgs, a)
    out["pin_count"] = sum(1 for m in ch.messages if m.pinned_by)
    return out


def conversations_replies(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    ch = _member_channel(st, a)
    ts = _str(a, "ts")
    parent = st.message(ch.id, ts)
    if parent is None:
        raise SlackError("thread_not_found")
    msgs = [parent] + [m for m in ch.messages if m.thread_ts == ts and m.ts != ts and not m.deleted]
    return _page(msgs, a)


def conversations_join(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    ch = st.channel_or_error(a.get("channel"))
    bot = st.world.bot.user_id
    if ch.is_private and bot not in ch.members:
        raise SlackError("method_not_supported_for_channel_type")
    if bot in ch.members:
        return {
            "channel": ch.to_api(bot),
            "warning": "already_in_channel",
            "response_metadata": {"warnings": ["already_in_channel"]},
        }
    ch.members.add(bot)
    st.rt.feed.emit("slack.invite", channel=ch.id, channel_name=ch.name, users=[bot], user_names=[st.world.bot.name])
    return {"channel": ch.to_api(bot)}


# ---- chat ----------------------------------------------------------------------------------------
def _post_target(st: SlackState, a: dict[str, Any]) -> Channel:
    ref = _str(a, "channel")
    ch = st.channel(ref)
    if ch is None and ref.startswith(("U", "W")) and st.is_known_user(ref) and ref != st.world.bot.user_id:
        ch = st.open_im(ref)
    if ch is None:
        raise SlackError("channel_not_found")
    if st.world.bot.user_id not in ch.members:
        raise SlackError("not_in_channel")
    return ch


def _text_and_blocks(a: dict[str, Any]) -> tuple[str, list[dict[str, Any]] | None]:
    blocks = _blocks(a)
    text = _str(a, "text")
    if not text and not blocks and not _has_attachments(a):
        raise SlackError("no_text")
    if len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")
    return text, blocks


def chat_post_message(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    ch = _post_target(st, a)
    text, blocks = _text_and_blocks(a)
    thread_ts = _str(a, "thread_ts") or None
    metadata = _json_arg(a, "metadata") if a.get("metadata") else None
    if metadata is not None and (
        not isinstance(metadata, dict)
        or not isinstance(metadata.get("event_type"), str)
        or not isinstance(metadata.get("event_payload"), dict)
    ):
        raise SlackError("invalid_metadata_format")
    msg = st.add_message(ch, st.world.bot.user_id, text, blocks, thread_ts, bot=True)
    msg.metadata = metadata
    m = msg.to_api(metadata=True)
    m["team"] = st.world.team.id
    m["app_id"] = st.world.bot.app_id
    return {"channel": ch.id, "ts": msg.ts, "message": m}


def chat_update(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    ch = st.channel_or_error(a.get("channel"))
    msg = _message(st, ch, _str(a, "ts"))
    if msg.user != st.world.bot.user_id:
        raise SlackError("cant_update_message")
    keep_blocks = "blocks" not in a
    blocks = None if keep_blocks else _blocks(a)
    text = _str(a, "text") if "text" in a else None
    if len(text or "") > MAX_TEXT:
        raise SlackError("msg_too_long")
    st.update_message(msg, text, blocks, keep_blocks=keep_blocks)
    return {"channel": ch.id, "ts": msg.ts, "text": msg.text, "message": msg.to_api()}


def chat_post_ephemeral(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    ch = _post_target(st, a)
    user = _str(a, "user")
    if not st.is_known_user(user):
        raise SlackError("user_not_found")
    if user not in ch.members:
        raise SlackError("user_not_in_channel")
    text, blocks = _text_and_blocks(a)
    e = st.add_ephemeral(ch.id, user, text, blocks, "chat.postEphemeral", _str(a, "thread_ts") or None)
    return {"message_ts": e.message_ts}


def chat_get_permalink(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    ch = st.channel_or_error(a.get("channel"))
    msg = _message(st, ch, _str(a, "message_ts"))
    return {
        "channel": ch.id,
        "permalink": f"https://{st.world.team.domain}.slack.com/archives/{ch.id}/p{msg.ts.replace('.', '')}",
    }


# ---- views ---------------------------------------------------------------------------------------
def _view_arg(a: dict[str, Any], expected: tuple[str, ...]) -> dict[str, Any]:
    view = _json_arg(a, "view")
    if not isinstance(view, dict) or view.get("type") not in expected:
        raise SlackError("invalid_arguments")
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or not all(isinstance(b, dict) and "type" in b for b in blocks):
        raise SlackError("invalid_arguments")
    if len(blocks) > MAX_VIEW_BLOCKS:
        raise SlackError("invalid_arguments")
    if view.get("type") == "modal" and not isinstance(view.get("title"), dict):
        raise SlackError("invalid_arguments")
    return view


def _use_trigger(st: SlackState, a: dict[str, Any]) -> str:
    tid = _str(a, "trigger_id")
    trig = st.triggers.get(tid)
    if trig is None:
        raise SlackError("invalid_trigger_id")
    if trig.used:
        raise SlackError("exchanged_trigger_id")
    if time.monotonic() > trig.expires_monotonic:
        raise SlackError("expired_trigger_id")
    trig.used = True
    return trig.user_id


def _new_view(
    st: SlackState, user: str, view: dict[str, Any], kind: str, trigger: str | None, previous: View | None = None
) -> View:
    mono, at = st.rt.stamp()
    v = View(
        id=st.new_id("V"),
        user_id=user,
        view=view,
        kind=kind,
        trigger_id=trigger,
        at_monotonic=mono,
        at=at,
        hash=f"{int(time.time())}.{st.new_id('h', 8)}",
        versions=[view],
        root_view_id=previous.root_view_id or previous.id if previous else None,
        previous_view_id=previous.id if previous else None,
    )
    st.views[v.id] = v
    st.rt.feed.emit(
        "slack.view",
        view_id=v.id,
        user=user,
        view_kind=kind,
        action="open",
        title=(view.get("title") or {}).get("text") if isinstance(view.get("title"), dict) else None,
        callback_id=view.get("callback_id"),
    )
    return v


def views_open(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    view = _view_arg(a, ("modal",))
    user = _use_trigger(st, a)
    v = _new_view(st, user, view, "modal", _str(a, "trigger_id"))
    return {"view": v.to_api(st.world)}


def views_push(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    view = _view_arg(a, ("modal",))
    user = _use_trigger(st, a)
    prev = next((v for v in reversed(st.views.values()) if v.user_id == user and not v.closed), None)
    v = _new_view(st, user, view, "modal", _str(a, "trigger_id"), prev)
    return {"view": v.to_api(st.world)}


def views_publish(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    view = _view_arg(a, ("home",))
    user = _str(a, "user_id")
    if not st.is_known_user(user):
        raise SlackError("user_not_found")
    existing = st.home_views.get(user)
    if existing is not None and _str(a, "hash") and _str(a, "hash") != existing.hash:
        raise SlackError("hash_conflict")
    if existing is None:
        v = _new_view(st, user, view, "home", None)
        st.home_views[user] = v
    else:
        v = existing
        v.view = view
        v.versions.append(view)
        v.hash = f"{int(time.time())}.{st.new_id('h', 8)}"
        st.rt.feed.emit("slack.view", view_id=v.id, user=user, view_kind="home", action="publish")
    return {"view": v.to_api(st.world)}


def views_update(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    view = _view_arg(a, ("modal", "home"))
    vid, ext = _str(a, "view_id"), _str(a, "external_id")
    v = (
        st.views.get(vid)
        if vid
        else next((x for x in st.views.values() if ext and x.view.get("external_id") == ext), None)
    )
    if v is None:
        raise SlackError("not_found")
    if _str(a, "hash") and _str(a, "hash") != v.hash:
        raise SlackError("hash_conflict")
    v.view = view
    v.versions.append(view)
    v.hash = f"{int(time.time())}.{st.new_id('h', 8)}"
    st.rt.feed.emit("slack.view", view_id=v.id, user=v.user_id, view_kind=v.kind, action="update")
    return {"view": v.to_api(st.world)}


# ---- pins, reactions, bookmarks ------------------------------------------------------------------
def pins_add(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    ch = _member_channel(st, a)
    msg = _message(st, ch, _str(a, "timestamp"))
    if msg.pinned_by:
        raise SlackError("already_pinned")
    msg.pinned_by.append(st.world.bot.user_id)
    st.rt.feed.emit("slack.pin", channel=ch.id, channel_name=ch.name, ts=msg.ts, user=st.world.bot.user_id)
    return {}


def reactions_add(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    ch = _member_channel(st, a)
    msg = _message(st, ch, _str(a, "timestamp"))
    name = _str(a, "name").strip(":")
    if not name or not re.match(r"^[a-z0-9_+'-]+$", name):
        raise SlackError("invalid_name")
    users = msg.reactions.setdefault(name, [])
    bot = st.world.bot.user_id
    if bot in users:
        raise SlackError("already_reacted")
    users.append(bot)
    st.rt.feed.emit("slack.reaction", channel=ch.id, channel_name=ch.name, ts=msg.ts, user=bot, name=name)
    return {}


def bookmarks_add(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    ch = st.channel_or_error(a.get("channel_id"))
    if st.world.bot.user_id not in ch.members:
        raise SlackError("not_in_channel")
    title, kind = _str(a, "title"), _str(a, "type")
    if not title or kind != "link" or not _str(a, "link"):
        raise SlackError("invalid_arguments")
    now = int(st.rt.now().timestamp())
    bm = {
        "id": st.new_id("Bk"),
        "channel_id": ch.id,
        "title": title,
        "link": _str(a, "link"),
        "emoji": _str(a, "emoji") or None,
        "icon_url": None,
        "type": "link",
        "entity_id": None,
        "date_created": now,
        "date_updated": 0,
        "rank": "U",
        "last_updated_by_user_id": st.world.bot.user_id,
        "last_updated_by_team_id": st.world.team.id,
        "shortcut_id": None,
        "app_id": st.world.bot.app_id,
    }
    ch.bookmarks.append(bm)
    st.rt.feed.emit("slack.bookmark", channel=ch.id, channel_name=ch.name, title=title, link=bm["link"])
    return {"bookmark": bm}


MAX_UPLOAD = 1024 * 1024  # the sandbox's limit for one file


def files_get_upload_url_external(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    name = _str(a, "filename")
    if not name:
        raise SlackError("invalid_arguments")
    try:
        length = int(str(a.get("length", "")))
    except ValueError:
        raise SlackError("invalid_arguments") from None
    if length <= 0 or length > MAX_UPLOAD:
        raise SlackError("invalid_arguments")
    file = UploadedFile(st.new_id("F"), name, length)
    st.files[file.id] = file
    return {"upload_url": f"{st.rt.url}/_sandbox/slack/upload/{file.id}", "file_id": file.id}


def files_complete_upload_external(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    wanted = _json_arg(a, "files")
    if not isinstance(wanted, list) or not wanted or not all(isinstance(f, dict) and f.get("id") for f in wanted):
        raise SlackError("invalid_arguments")
    files = []
    for item in wanted:
        file = st.files.get(str(item["id"]))
        if file is None or file.content is None:  # never issued, or its bytes never posted
            raise SlackError("file_not_found")
        file.title = str(item.get("title") or file.name)
        files.append(file)
    channel = _str(a, "channel_id") or None
    if channel:
        ch = st.channel_or_error(channel)
        text = _str(a, "initial_comment")
        thread_ts = _str(a, "thread_ts") or None
        msg = st.add_message(ch, st.world.bot.user_id, text, None, thread_ts, bot=True)
        for file in files:
            file.channel, file.ts = ch.id, msg.ts
        msg.files = [f.to_api() for f in files]
        st.rt.feed.emit("slack.file", channel=ch.id, channel_name=ch.name, names=[f.name for f in files])
    return {"files": [f.to_api() for f in files]}


def files_info(st: SlackState, a: dict[str, Any]) -> dict[str, Any]:
    file = st.files.get(_str(a, "file"))
    if file is None or file.content is None:  # only a file whose bytes came is a file (one still uploading is not)
        raise SlackError("file_not_found")
    return {"file": file.to_api()}


METHODS: dict[str, Method] = {
    "files.getUploadURLExternal": files_get_upload_url_external,
    "files.completeUploadExternal": files_complete_upload_external,
    "files.info": files_info,
    "auth.test": auth_test,
    "users.lookupByEmail": users_lookup_by_email,
    "users.info": users_info,
    "usergroups.users.list": usergroups_users_list,
    "conversations.create": conversations_create,
    "conversations.setTopic": conversations_set_topic,
    "conversations.invite": conversations_invite,
    "conversations.info": conversations_info,
    "conversations.members": conversations_members,
    "conversations.history": conversations_history,
    "conversations.list": conversations_list,
    "conversations.replies": conversations_replies,
    "conversations.join": conversations_join,
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.getPermalink": chat_get_permalink,
    "views.open": views_open,
    "views.push": views_push,
    "views.publish": views_publish,
    "views.update": views_update,
    "pins.add": pins_add,
    "reactions.add": reactions_add,
    "bookmarks.add": bookmarks_add,
}
