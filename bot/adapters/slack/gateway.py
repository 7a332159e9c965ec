"""The Slack port: every Web API call the services make goes through here (AsyncWebClient)."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse as SlackResponse

from bot.adapters.recent import Recent
from bot.adapters.slack.pacing import Pacer, SlackRateLimited
from bot.adapters.slack.plain import as_json
from bot.domain.naming import with_suffix
from bot.errors import CONNECTION_LOST, SlackError
from bot.ports.metrics import NO_METRICS, Metrics

log = logging.getLogger(__name__)

MAX_NAME_ATTEMPTS = 20
MESSAGE_TAG = "sre_agent_message"  # the metadata event_type of the bot's own messages that must not be posted twice
RECENT_MESSAGES = 200  # a page of `find_tagged`'s search ...
RECENT_PAGES = 5  # ... and how many pages back it looks: a busy incidents channel in a storm holds many announcements
USER_TTL_S = 600.0  # how long a person's Slack id found by e-mail is kept
UNKNOWN_USER_TTL_S = 60.0  # ... and that Slack knows no one by that e-mail (they may join in the meantime)
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")  # what a channel's id looks like (public, private, direct)


# what must not be sent twice: a connection dropped after the request was sent may have been dropped after Slack did
# it (a second message, a second channel). Such a call fails instead, and the step that made it, tried again, looks
# for what it made (bot/lifecycle/posting.py, SlackGateway.create_channel's `adoptable`). (Not an ephemeral answer,
# which nothing can look for, nor a modal, whose trigger Slack takes once: sent again, they are lost otherwise)
_NOT_TWICE = frozenset({"chat.postMessage", "conversations.create", "files.completeUploadExternal"})


class _CountedConnectionErrors(AsyncConnectionErrorRetryHandler):
    """A dropped connection retried, counted; for a call that must not be done twice, only one never made (Slack
    never had the request)."""

    metrics: Metrics = NO_METRICS

    async def _can_retry_async(self, **kwargs: Any) -> bool:
        retry: bool = await super()._can_retry_async(**kwargs)
        if retry and not isinstance(kwargs.get("error"), aiohttp.ClientConnectorError):
            request = kwargs.get("request")
            url = str(getattr(request, "url", "") or "")
            retry = url.rpartition("/")[2] not in _NOT_TWICE
        if retry:
            self.metrics.slack_retry("connection")
        return retry


class _SdkLogger(logging.Logger):
    """The client's logger, `slack_sdk.web.async_base_client` as before. slack_sdk writes out each request and answer
    in full for a debug line whenever its logger's *own* level is DEBUG or lower, and a logger's own level is NOTSET
    (0) unless set: every call paid for that for a line that logging then dropped.
    This one's own level is the level it has from its parents, so the line is made only where debug is on."""

    def __init__(self, name: str, parent: logging.Logger) -> None:
        super().__init__(name)
        self.parent = parent

    @property
    def level(self) -> int:
        assert self.parent is not None
        return self.parent.getEffectiveLevel()

    @level.setter
    def level(self, value: int) -> None:
        """Set by Logger's constructor only: the parents' level is the one that counts."""

    def isEnabledFor(self, level: int) -> bool:
        assert self.parent is not None
        return self.parent.isEnabledFor(level)  # (its cache is kept up to date by logging; this one's would not be)


_SDK_LOGGER = _SdkLogger("slack_sdk.web.async_base_client", logging.getLogger("slack_sdk.web"))


class _Client(AsyncWebClient):
    """An answer that is not the Web API's fails as Slack's errors do, a SlackApiError with the answer's status: a
    body that is not JSON under a JSON content type (slack_sdk's error then holds the HTTP library's response, which
    the callers cannot read), or plain text with a 200 (slack_sdk's validation fails on reading it)."""

    async def _request(self, *, http_verb: str, api_url: str, req_args: dict[str, Any]) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = await super()._request(http_verb=http_verb, api_url=api_url, req_args=req_args)
        except SlackApiError as exc:
            got = exc.response
            if got is None or isinstance(got, SlackResponse):
                raise
            reason = str(exc).splitlines()[0]
            raise _refused(self, reason, http_verb, api_url, req_args, reason, got.headers, got.status) from exc
        data = answer.get("data")
        if isinstance(data, str):
            reason = f"Slack answered {api_url.rpartition('/')[2]} with plain text: {data[:100]!r}"
            raise _refused(self, reason, http_verb, api_url, req_args, data, answer["headers"], answer["status_code"])
        return answer


def _refused(
    client: AsyncWebClient,
    reason: str,
    http_verb: str,
    api_url: str,
    req_args: dict[str, Any],
    data: str,
    headers: Any,
    status: int,
) -> SlackApiError:
    response = SlackResponse(
        client=client,
        http_verb=http_verb,
        api_url=api_url,
        req_args=req_args,
        data=data,  # type: ignore[arg-type]
        headers=headers,
        status_code=status,
    )
    return SlackApiError(reason, response)  # type: ignore[no-untyped-call]


def build_client(token: str, base_url: str, *, metrics: Metrics = NO_METRICS) -> AsyncWebClient:
    """An AsyncWebClient for `base_url` that retries dropped connections. Its 429s are the gateway's (its pacer)."""
    client = _Client(token=token, base_url=base_url, timeout=10, logger=_SDK_LOGGER)
    client.retry_handlers[:] = [h for h in client.retry_handlers if not isinstance(h, AsyncConnectionErrorRetryHandler)]
    handler = _CountedConnectionErrors(max_retry_count=2)
    handler.metrics = metrics
    client.retry_handlers.append(handler)
    return client


def _error(exc: SlackApiError) -> str:
    """Slack's `error`, or the HTTP status of an answer that has none (a proxy's error page, say)."""
    data = exc.response.data if exc.response is not None else None
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return f"http_{exc.response.status_code if exc.response is not None else '?'}"


def _user_kept(user_id: str | None) -> float:
    return USER_TTL_S if user_id is not None else UNKNOWN_USER_TTL_S


def _blocks(blocks: Sequence[Block] | None) -> list[dict[str, Any]] | None:
    return [as_json(b) for b in blocks] if blocks is not None else None


class SlackGateway:
    def __init__(self, client: AsyncWebClient, *, metrics: Metrics = NO_METRICS, pacer: Pacer | None = None) -> None:
        self.client = client
        self.metrics = metrics
        self.pacer = pacer or Pacer(metrics=metrics)
        self._users: Recent[str, str | None] = Recent(_user_kept)  # by e-mail: the Slack user id
        self._bot_user_id: str | None = None
        self._channel_ids: dict[str, str] = {}  # a public channel's name -> its id

    def _failed(self, method: str, error: str) -> SlackError:
        """The error to raise for Slack's `error` to `method`, counted."""
        self.metrics.slack_error(method, error)
        return SlackError(method, error)

    async def _paced(
        self, method: str, send: Callable[[], Awaitable[SlackResponse]], *, channel: str | None = None
    ) -> SlackResponse:
        """One Slack call at its turn under Slack's rate limit for `method` (chat.postMessage's is per channel)."""
        lane = f"{method} {channel}" if channel and method == "chat.postMessage" else method
        try:
            return await self.pacer.call(lane, method, send)
        except SlackRateLimited as exc:
            raise self._failed(method, "ratelimited") from exc
        except aiohttp.ClientError as exc:  # no answer, after the retries a dropped connection is allowed (if any)
            raise self._failed(method, CONNECTION_LOST) from exc

    async def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._paced(method, lambda: self.client.api_call(method, params=kwargs))
        except SlackApiError as exc:
            raise self._failed(method, _error(exc)) from exc
        data = response.data
        return data if isinstance(data, dict) else {}

    async def create_channel(
        self, name: str, *, adoptable: Callable[[str], Awaitable[bool]] | None = None
    ) -> tuple[str, str]:
        """Create a public channel named `name`, or `name-2`, `name-3`... when taken. Returns (id, name).

        With `adoptable`, a taken name is first looked up: a channel this bot created that `adoptable(id)` accepts
        is returned instead of making another (a create whose answer was lost, e.g. the process died)."""
        candidate = name
        for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
            try:
                response = await self._paced(
                    "conversations.create", functools.partial(self.client.conversations_create, name=candidate)
                )
            except SlackApiError as exc:
                if _error(exc) == "name_taken":
                    if adoptable is not None:
                        found = await self.channel_named(candidate)
                        if (
                            found
                            and found.get("creator") == await self.bot_user_id()
                            and await adoptable(str(found["id"]))
                        ):
                            return str(found["id"]), candidate
                    candidate = with_suffix(name, attempt + 1)
                    continue
                raise self._failed("conversations.create", _error(exc)) from exc
            channel = response["channel"]
            return str(channel["id"]), str(channel["name"])
        raise self._failed("conversations.create", f"name_taken ({MAX_NAME_ATTEMPTS} names tried)")

    async def channel_named(self, name: str) -> dict[str, Any] | None:
        """The public channel called `name` (conversations.list, page by page), None if there is none."""
        cursor = ""
        while True:
            data = await self._call(
                "conversations.list", types="public_channel", exclude_archived=True, limit=1000, cursor=cursor
            )
            for channel in data.get("channels") or []:
                if isinstance(channel, dict) and channel.get("name") == name:
                    return channel
            cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return None

    async def channel_id(self, ref: str) -> str:
        """A channel's id, given its id or its name (`#incidents`): Slack takes a name only where a message is
        posted; reading a channel or changing a message takes the id. A name is looked up once (a public channel)."""
        if _CHANNEL_ID.fullmatch(ref):
            return ref
        name = ref.removeprefix("#")
        known = self._channel_ids.get(name)
        if known is None:
            found = await self.channel_named(name)
            if found is None:
                raise self._failed("conversations.list", f"channel_not_found (no public channel named #{name})")
            known = self._channel_ids[name] = str(found["id"])
        return known

    async def bot_user_id(self) -> str:
        """Who this bot is in Slack (auth.test, asked once)."""
        if self._bot_user_id is None:
            await self.reachable()
        return self._bot_user_id or ""

    async def reachable(self) -> None:
        """Slack answers and takes the token (auth.test, asked now; it also says who this bot is); SlackError
        otherwise."""
        self._bot_user_id = str((await self._call("auth.test")).get("user_id") or "")

    async def set_topic(self, channel: str, topic: str) -> None:
        try:
            await self._paced(
                "conversations.setTopic",
                lambda: self.client.conversations_setTopic(channel=channel, topic=topic[:250]),
            )
        except SlackApiError as exc:
            raise self._failed("conversations.setTopic", _error(exc)) from exc

    async def lookup_user(self, email: str) -> str | None:
        """The Slack user id for an e-mail address, None when Slack knows no such user. Kept for a while, and asked
        once at a time (bot/adapters/recent.py): every incident invites the same few people, and a storm of pages
        must not spend Slack's Tier 3 allowance (about 50 lookups a minute) on asking again who they are."""
        return await self._users.get(email.casefold(), functools.partial(self._lookup_user, email))

    async def _lookup_user(self, email: str) -> str | None:
        try:
            response = await self._paced("users.lookupByEmail", lambda: self.client.users_lookupByEmail(email=email))
        except SlackApiError as exc:
            if _error(exc) in ("users_not_found", "user_not_found"):
                return None
            raise self._failed("users.lookupByEmail", _error(exc)) from exc
        return str(response["user"]["id"])

    async def lookup_users(self, emails: Sequence[str | None]) -> list[str | None]:
        """`lookup_user` for each e-mail at once, in order; None for a missing e-mail or an unknown person."""

        async def one(email: str | None) -> str | None:
            return await self.lookup_user(email) if email else None

        return list(await asyncio.gather(*(one(e) for e in emails)))

    async def upload(
        self,
        channel: str,
        filename: str,
        content: str,
        *,
        title: str,
        comment: str,
        thread_ts: str | None = None,
        begun: Callable[[str], Awaitable[None]] | None = None,
    ) -> tuple[str, str | None]:
        """Share a text file in a channel with a message (Slack's external upload flow: files.getUploadURLExternal,
        the bytes to the URL it gives, files.completeUploadExternal); its file id and permalink. `begun` is told
        the file's id before it is shared: a caller that keeps it can ask `file_shared` after a crash."""
        data = content.encode()
        issued = await self._call("files.getUploadURLExternal", filename=filename, length=len(data))
        file_id, url = str(issued.get("file_id") or ""), str(issued.get("upload_url") or "")
        if not file_id or not url:
            raise self._failed("files.getUploadURLExternal", "no upload URL in the answer")
        if begun is not None:
            await begun(file_id)
        session = self.client.session
        if session is None:
            raise self._failed("files.upload", "no HTTP session")
        try:
            async with session.post(url, data=data, proxy=self.client.proxy, ssl=self.client.ssl or True) as response:
                if response.status != 200:
                    raise self._failed("files.upload", f"the upload URL answered {response.status}")
        except aiohttp.ClientError as exc:
            raise self._failed("files.upload", str(exc) or type(exc).__name__) from exc
        done = await self._call(
            "files.completeUploadExternal",
            files=json.dumps([{"id": file_id, "title": title}]),
            channel_id=channel,
            initial_comment=comment,
            thread_ts=thread_ts,
        )
        file = next(iter(done.get("files") or []), None) or {}
        return file_id, file.get("permalink") if isinstance(file, dict) else None

    async def file_shared(self, file_id: str, channel: str) -> tuple[bool, str | None]:
        """Whether a file was shared in a channel (files.info), and its permalink: an upload cut off after
        files.completeUploadExternal took it must not be shared twice. Unknown to Slack: not shared."""
        try:
            response = await self._paced("files.info", lambda: self.client.files_info(file=file_id))
        except SlackApiError as exc:
            if _error(exc) == "file_not_found":
                return False, None
            raise self._failed("files.info", _error(exc)) from exc
        file = response.get("file") or {}
        shares = file.get("shares") or {}
        where = {
            *(file.get("channels") or []),
            *(file.get("groups") or []),
            *(shares.get("public") or {}),
            *(shares.get("private") or {}),
        }
        return channel in where, file.get("permalink")

    async def user_names(self, user_ids: Sequence[str]) -> dict[str, str]:
        """The names people know for these Slack users (display name, else real name, else handle); a user Slack
        cannot say is left out."""

        async def one(user_id: str) -> tuple[str, str | None]:
            try:
                response = await self._paced("users.info", lambda: self.client.users_info(user=user_id))
            except SlackApiError:
                return user_id, None
            user = response.get("user") or {}
            profile = user.get("profile") or {}
            name = profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name")
            return user_id, str(name) if name else None

        found = await asyncio.gather(*(one(u) for u in dict.fromkeys(user_ids)))
        return {user_id: name for user_id, name in found if name}

    async def invite(self, channel: str, user_ids: Sequence[str]) -> None:
        if not user_ids:
            return
        try:
            await self._paced(
                "conversations.invite",
                lambda: self.client.conversations_invite(channel=channel, users=",".join(user_ids)),
            )
        except SlackApiError as exc:
            if _error(exc) == "already_in_channel":
                return
            raise self._failed("conversations.invite", _error(exc)) from exc

    async def post(
        self,
        channel: str,
        text: str,
        blocks: Sequence[Block] | None = None,
        *,
        thread_ts: str | None = None,
        tag: dict[str, str] | None = None,
    ) -> str:
        """Post a message; its ts. `tag` goes with it as message metadata, so that `find_tagged` can find it again."""
        return (await self.post_message(channel, text, blocks, thread_ts=thread_ts, tag=tag))[1]

    async def post_message(
        self,
        channel: str,
        text: str,
        blocks: Sequence[Block] | None = None,
        *,
        thread_ts: str | None = None,
        tag: dict[str, str] | None = None,
    ) -> tuple[str, str]:
        """`post`, and the channel's id with the ts: a channel given by name (`#incidents`) must be given by id to
        update the message or read the channel."""
        try:
            payload: dict[str, Any] = {
                "channel": channel,
                "text": text,
                "blocks": _blocks(blocks),
                "thread_ts": thread_ts,
                "unfurl_links": False,
                "unfurl_media": False,
                "metadata": {"event_type": MESSAGE_TAG, "event_payload": tag} if tag else None,
            }
            response = await self._paced(
                "chat.postMessage", lambda: self.client.chat_postMessage(**payload), channel=channel
            )
        except SlackApiError as exc:
            raise self._failed("chat.postMessage", _error(exc)) from exc
        return str(response.get("channel") or channel), str(response["ts"])

    async def find_tagged(self, channel: str, tag: dict[str, str], *, thread_ts: str | None = None) -> str | None:
        """The ts of the bot's newest message carrying `tag` among a channel's recent messages (or a thread's),
        None if there is none: after a crash, whether a message was posted before its ts could be recorded."""
        method, args = ("conversations.replies", {"ts": thread_ts}) if thread_ts else ("conversations.history", {})
        channel = await self.channel_id(channel)
        cursor = ""
        for _ in range(RECENT_PAGES):
            page = {"cursor": cursor} if cursor else {}
            data = await self._call(
                method, channel=channel, include_all_metadata=True, limit=RECENT_MESSAGES, **args, **page
            )
            for message in data.get("messages") or []:
                metadata = message.get("metadata") if isinstance(message, dict) else None
                if (
                    isinstance(metadata, dict)
                    and metadata.get("event_type") == MESSAGE_TAG
                    and metadata.get("event_payload") == tag
                ):
                    return str(message["ts"])
            cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return None
        return None

    async def update(self, channel: str, ts: str, text: str, blocks: Sequence[Block] | None = None) -> None:
        try:
            await self._paced(
                "chat.update",
                lambda: self.client.chat_update(channel=channel, ts=ts, text=text, blocks=_blocks(blocks)),
            )
        except SlackApiError as exc:
            raise self._failed("chat.update", _error(exc)) from exc

    async def ephemeral(self, channel: str, user: str, text: str, blocks: Sequence[Block] | None = None) -> None:
        try:
            await self._paced(
                "chat.postEphemeral",
                lambda: self.client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=_blocks(blocks)),
            )
        except SlackApiError as exc:
            raise self._failed("chat.postEphemeral", _error(exc)) from exc

    async def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """One message of a channel by its ts (top level or in a thread); None when Slack has no such message."""
        data = await self._call("conversations.history", channel=channel, latest=ts, inclusive=True, limit=1)
        for found in data.get("messages") or []:
            if isinstance(found, dict) and found.get("ts") == ts:
                return found
        try:
            data = await self._call("conversations.replies", channel=channel, ts=ts, latest=ts, inclusive=True, limit=1)
        except SlackError as exc:
            if exc.error == "thread_not_found":
                return None
            raise
        return next((m for m in data.get("messages") or [] if isinstance(m, dict) and m.get("ts") == ts), None)

    async def react(self, channel: str, ts: str, name: str) -> None:
        """Add the bot's reaction; one that is there already is fine."""
        try:
            await self._paced(
                "reactions.add", lambda: self.client.reactions_add(channel=channel, timestamp=ts, name=name)
            )
        except SlackApiError as exc:
            if _error(exc) != "already_reacted":
                raise self._failed("reactions.add", _error(exc)) from exc

    async def respond(self, response_url: str, text: str, blocks: Sequence[Block] | None = None) -> None:
        """Answer a command or click privately through its response_url, on the shared HTTP session (Bolt's own
        `respond` opens a new session and connection for each answer)."""
        payload: dict[str, Any] = {"text": text, "response_type": "ephemeral", "replace_original": False}
        if blocks:
            payload["blocks"] = _blocks(blocks)
        session = self.client.session
        if session is None:
            raise self._failed("response_url", "no HTTP session")
        async with session.post(response_url, json=payload) as response:
            if response.status >= 300:
                raise self._failed("response_url", f"HTTP {response.status}: {(await response.text())[:200]}")

    async def group_members(self, group_id: str) -> list[str]:
        """The members of a Slack user group (`usergroups.users.list`)."""
        data = await self._call("usergroups.users.list", usergroup=group_id)
        return [str(u) for u in data.get("users") or []]

    async def open_view(self, trigger_id: str, view: View) -> None:
        """Open a modal for the person whose click gave `trigger_id` (valid for 3 seconds)."""
        await self._call("views.open", trigger_id=trigger_id, view=json.dumps(as_json(view)))

    async def publish_home(self, user_id: str, view: View) -> None:
        """Show `view` as the person's App Home tab."""
        await self._call("views.publish", user_id=user_id, view=json.dumps(as_json(view)))
