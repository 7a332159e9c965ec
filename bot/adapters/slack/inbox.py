"""Slack requests over HTTP are stored, answered at once and handled right after, by a few workers.

Slack wants an answer within 3 seconds and, for commands, clicks and events, that answer is an empty 200; it sends a
click once and never again. So the route verifies the signature (401 otherwise), stores the request with the inbound
events (bot/runtime/intake.py; 503 if the database cannot take it, and the person sees that the click failed), and
answers. The intake hands the stored request here (`handle`), at once, or after a restart when the process died
before it was done; workers hand it to Bolt, whose listeners run as usual, and the request is done when the work
they started is. Only the requests whose answer carries something (a form's validation errors, Slack's URL check) go
through Bolt before the answer, and are not stored. With a burst of hundreds of requests, every one is acknowledged
before the work of the earlier ones has taken the CPU: a few workers, not one task per request.

What is answered 200 is judged first: bot/adapters/slack/bodies.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.adapters.slack.bodies import parse_body
from bot.domain.errors import InvalidEvent

log = logging.getLogger(__name__)

__all__ = ["SOURCE", "SlackInbox", "bolt_request", "stored_envelope", "stored_request"]

SOURCE = "slack"  # the inbound events' source of a stored Slack request
KEPT_HEADERS = ("content-type", "x-slack-retry-num", "x-slack-retry-reason")  # what Bolt reads of the headers

WORKERS = 8
LULL_S = 0.002  # no new request for this long: a burst is over, the work behind its answers may run
YIELD_MAX_S = 0.5  # the longest a request's work waits for a lull (a burst of 200 is answered in less)


def _bolt_error(body: str) -> str:
    """The reason in one of Bolt's refusals (`{"error": "unhandled request"}`), or its text."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    return str(error) if error else body or "refused"


def stored_request(text: str, query: str, headers: Mapping[str, str]) -> str:
    """A request over HTTP as it is stored (its signature was checked: what Bolt needs to handle it again)."""
    kept = {name: value for name, value in headers.items() if name.lower() in KEPT_HEADERS}
    return json.dumps({"body": text, "query": query, "headers": kept}, separators=(",", ":"))


def stored_envelope(payload: dict[str, Any]) -> str:
    """A request from Socket Mode (an envelope's payload) as it is stored."""
    return json.dumps({"payload": payload}, separators=(",", ":"))


def bolt_request(stored: dict[str, Any]) -> AsyncBoltRequest:
    """A stored request as Bolt takes it. Over HTTP its body is read here as the route read it (bodies.py), and
    Bolt is given what it reads (it reads a body given as a dict as it is) with the text beside it: Bolt's own
    reading of a form, `parse_qsl`, decodes an interaction's hundreds of escapes one at a time in Python, ten times
    the route's time, and the body middleware (handlers/slack.py) reads the text again anyway."""
    if "payload" in stored:  # from Socket Mode
        return AsyncBoltRequest(mode="socket_mode", body=stored["payload"], headers={})
    text, query, headers = str(stored["body"]), str(stored["query"]), dict(stored["headers"])
    content_type = next((str(v) for k, v in headers.items() if k.lower() == "content-type"), "")
    try:
        _, body = parse_body(text, content_type.split(";")[0].strip())
    except InvalidEvent:  # (the route refuses such a body: only one stored before it did comes here)
        return AsyncBoltRequest(body=text, query=query, headers=headers)
    request = AsyncBoltRequest(mode="socket_mode", body=body, query=query, headers=headers)
    request.raw_body, request.mode = text, "http"  # (a dict body is taken as it is only in that mode)
    return request


Spawned = list["asyncio.Task[None]"]


@dataclass(frozen=True)
class _Request:
    stored: dict[str, Any]  # as `stored_request` or `stored_envelope` wrote it: given to Bolt when its turn comes
    at: float  # loop time it came in
    spawned: asyncio.Future[Spawned]  # the tasks its listeners started, once Bolt has run them


class SlackInbox:
    def __init__(
        self, bolt: AsyncApp, collecting: Callable[[], AbstractContextManager[Spawned]], workers: int = WORKERS
    ) -> None:
        self.bolt = bolt
        self.collecting = collecting  # the tasks spawned inside, listed (bot/runtime/background.py)
        self.workers = workers
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._unfinished = 0
        self._last_submit = 0.0
        # requests come in and not answered yet (over HTTP or Socket Mode: one of them, so changed by one thread alone)
        self._answering = 0

    def start(self) -> None:
        self._tasks = [
            asyncio.get_running_loop().create_task(self._work(), name=f"slack-inbox-{i}") for i in range(self.workers)
        ]

    async def answer(self, request: AsyncBoltRequest) -> BoltResponse:
        """Bolt's answer to a request whose answer carries something; a refusal of Bolt's own (`{"error": ...}`, an
        unhandled request) in the route's shape, `{"ok": false, "error": ...}`."""
        response = await self.bolt.async_dispatch(request)
        if 400 <= response.status < 500:
            return BoltResponse(status=response.status, body={"ok": False, "error": _bolt_error(response.body)})
        return response

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Around the answer to a request (over HTTP, or its acknowledgement over Socket Mode): while any is being
        answered, the work behind earlier ones waits (`_lull`). Entered by the route (on the front door's thread when
        served through one; the work reads the count from its own loop) or by Socket Mode's handler, never both."""
        self._answering += 1
        try:
            yield
        finally:
            self._answering -= 1

    @property
    def answering_now(self) -> bool:
        """Whether a request is being answered now (read on the thread that answers them)."""
        return self._answering > 0

    async def handle(self, stored: str) -> None:
        """Handle a stored request (`stored_request`): the intake's consumer for SOURCE. Returns when the work its
        listeners started is over, so that a process that dies first leaves it to be handled again."""
        data = json.loads(stored)
        if not isinstance(data, dict) or not ("payload" in data or {"body", "query", "headers"} <= data.keys()):
            raise ValueError("not a stored Slack request")
        loop = asyncio.get_running_loop()
        spawned: asyncio.Future[Spawned] = loop.create_future()
        self._unfinished += 1
        now = loop.time()
        self._last_submit = now
        self._queue.put_nowait(_Request(data, now, spawned))
        tasks = await spawned
        if tasks:
            await asyncio.wait(tasks)

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            request = await self._queue.get()
            await self._lull(loop, request.at)
            tasks: Spawned = []
            try:
                with self.collecting() as tasks:
                    await self.bolt.async_dispatch(bolt_request(request.stored))
            except Exception:
                log.exception("a Slack request failed after it was answered")
            finally:
                self._unfinished -= 1
                self._queue.task_done()
                if not request.spawned.done():
                    request.spawned.set_result(list(tasks))

    async def _lull(self, loop: asyncio.AbstractEventLoop, since: float) -> None:
        """Answers first: while requests are being answered or keep arriving (a burst), their acknowledgements go
        before the work behind earlier ones, which waits for a short lull, but never longer than YIELD_MAX_S after
        its request came in."""
        for _ in range(int(YIELD_MAX_S / LULL_S) + 1):
            now = loop.time()
            if (not self._answering and now - self._last_submit >= LULL_S) or now - since >= YIELD_MAX_S:
                return
            await asyncio.sleep(LULL_S)

    @property
    def busy(self) -> bool:
        return self._unfinished > 0

    async def drain(self, within_s: float = 30.0) -> None:
        try:
            await asyncio.wait_for(self._queue.join(), within_s)
        except TimeoutError:
            log.warning("%d Slack requests still unhandled", self._queue.qsize())

    async def close(self, within_s: float = 10.0) -> None:
        await self.drain(within_s)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
