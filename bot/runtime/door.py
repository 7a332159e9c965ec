"""The front door: the app's HTTP server on a thread and event loop of its own.

The incidents' work (Slack and pager calls, the store's answers, timers) keeps the app's event loop busy in a storm,
and a request that waits for that loop waits behind all of it: a pager's webhook was answered in 50 ms at the median
and hundreds at the 99th percentile while 50 pages a second were being set up. The door's loop does nothing but
take requests. A route whose handler is marked `at_the_door` (a webhook: check, read, store, answer) runs there,
from its first byte to its answer; every other route's handler runs on the app's loop, as it would without a door,
after the door has read the request's body (so the handler's `read()` returns it at once).

What a handler at the door may use: the settings, the clock, the metrics, and the intake's `accept`, which stores
from any loop (bot/store/backend.py) and hands the processing to the app's loop. Anything else of the services it
runs on the app's loop, through `on_the_apps_loop`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from aiohttp import web

from bot.errors import ConfigError

__all__ = ["APP_LOOP", "FrontDoor", "Served", "at_the_door", "on_the_apps_loop", "serve"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)
T = TypeVar("T")
APP_LOOP = web.AppKey("app_loop", asyncio.AbstractEventLoop)  # in the door's app: the loop the services live on
_MARK = "_sre_at_the_door"
START_TIMEOUT_S = 30.0


def at_the_door(handler: H) -> H:
    """Mark `handler` as one the front door runs on its own loop (see the module's docstring for what it may use)."""
    setattr(handler, _MARK, True)
    return handler


def runs_at_the_door(handler: Handler) -> bool:
    return bool(getattr(handler, _MARK, False))


async def on_the_apps_loop(request: web.Request, work: Coroutine[Any, Any, T]) -> T:
    """From a handler at the door: `work` run on the app's loop, where the services live; its outcome. Served
    without a door, the handler is on that loop already and `work` runs in place."""
    home = request.app.get(APP_LOOP)
    if home is None or home is asyncio.get_running_loop():
        return await work
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, home))


class FrontDoor:
    """`app`'s routes served on `host`:`port` from a thread of their own, once `app` has started (its runner set up
    on the app's loop, without a site). `port` 0 takes a free one: `port` says which once started."""

    def __init__(
        self,
        app: web.Application,
        host: str,
        port: int,
        *,
        leaving: Sequence[Callable[[], Awaitable[None]]] = (),
        access_log: bool = True,
    ) -> None:
        self.app = app
        self.access_log = access_log  # each request a line on the logger "aiohttp.access", as aiohttp serves
        self.leaving = list(leaving)  # run on the door's loop as it closes (a store's pool of this loop)
        self.host = host
        self.port = port
        self._home: asyncio.AbstractEventLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    async def start(self) -> None:
        """Open the door; returns once it listens (ConfigError, saying why, when it cannot)."""
        self._home = asyncio.get_running_loop()
        started: asyncio.Future[None] = self._home.create_future()
        self._thread = threading.Thread(target=self._run, args=(started,), name="front-door", daemon=True)
        self._thread.start()
        await asyncio.wait_for(started, START_TIMEOUT_S)

    async def stop(self) -> None:
        """Stop taking requests and finish those in hand (their handlers may still need the app's loop: this one
        waits without blocking it)."""
        if self._loop is not None and self._stopping is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    def _run(self, started: asyncio.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(started))
        except BaseException as exc:
            assert self._home is not None
            if not _tell(self._home, started, exc):
                log.exception("the front door stopped")
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self, started: asyncio.Future[None]) -> None:
        assert self._home is not None
        self._stopping = asyncio.Event()
        front = web.Application(client_max_size=self.app._client_max_size)
        for key, value in self.app.items():  # the handlers read the services from request.app, as at home
            front[key] = value
        front[APP_LOOP] = self._home
        for route in self.app.router.routes():
            info = route.resource.canonical if route.resource is not None else "/"
            handler = route.handler
            if not runs_at_the_door(handler):
                handler = _forwarded(handler)
            front.router.add_route(route.method, info, handler)
        runner = (
            web.AppRunner(front, handle_signals=False)
            if self.access_log
            else web.AppRunner(front, access_log=None, handle_signals=False)
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            try:
                await site.start()
            except OSError as exc:  # taken, or not an address of this host
                reason = exc.strerror or str(exc)
                raise ConfigError(f"cannot listen on {self.host}:{self.port}: {reason} (SRE_HOST, SRE_PORT)") from exc
            server = site._server
            if self.port == 0 and server is not None and getattr(server, "sockets", None):
                self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
            _tell(self._home, started, None)
            await self._stopping.wait()
        finally:
            await runner.cleanup()
            for leave in self.leaving:
                try:
                    await leave()
                except Exception:
                    log.exception("the front door could not let go of %r", leave)


def _forwarded(handler: Handler) -> Handler:
    async def forwarded(request: web.Request) -> web.StreamResponse:
        await request.read()  # here, on the door's loop: the handler's read() returns it
        return await on_the_apps_loop(request, _run(handler, request))

    return forwarded


async def _run(handler: Handler, request: web.Request) -> web.StreamResponse:
    return await handler(request)


def _tell(loop: asyncio.AbstractEventLoop, future: asyncio.Future[None], error: BaseException | None) -> bool:
    """Settle `future` of `loop` from another thread; False when it was settled already or the loop is closed."""

    def settle() -> None:
        if not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    if future.done() or loop.is_closed():
        return False
    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:
        return False
    return True


class Served:
    """An app started on this loop and served through its front door."""

    def __init__(self, runner: web.AppRunner, door: FrontDoor) -> None:
        self.runner = runner
        self.door = door

    @property
    def port(self) -> int:
        return self.door.port

    async def stop(self) -> None:
        await self.door.stop()
        await self.runner.cleanup()


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    leaving: Sequence[Callable[[], Awaitable[None]]] = (),
    access_log: bool = True,
) -> Served:
    """Start `app` on this loop (its startup and cleanup run here) and serve it through a front door (`leaving`:
    run on the door's loop as it closes). ConfigError when the door cannot listen (the app is stopped again)."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)  # it has no site: the door logs the requests
    await runner.setup()
    door = FrontDoor(app, host, port, leaving=leaving, access_log=access_log)
    try:
        await door.start()
    except BaseException:
        await runner.cleanup()
        raise
    return Served(runner, door)
