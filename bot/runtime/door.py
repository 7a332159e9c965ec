"""The front door: the app's HTTP server on a thread and event loop of its own.

The incidents' work (Slack and pager calls, the store's answers, timers) keeps the app's event loop busy in a storm,
and a request that waits for that loop waits behind all of it: a pager's webhook was answered in 50 ms at the median
and hundreds at the 99th percentile while 50 pages a second were being set up. The door's loop does nothing but
take requests. A route whose handler is marked `at_the_door` (a webhook: check, read, store, answer) runs there,
from its first byte to its answer; every other route's handler runs on the app's loop, after the door has read the
request's body (so the handler's `read()`, `text()` and `json()` return it at once).

What a handler at the door may use: the settings, the clock, the metrics, and the intake's `accept`, which stores
from any loop (bot/store/backend.py) and hands the processing to the app's loop. Anything else of the services it
runs on the app's loop, through `on_the_apps_loop`. A handler run on the app's loop returns a whole `web.Response`
(it does not stream, nor read `request.content`: the door has read the body). The door serves plain routes (a fixed
path, no middlewares, no sub-apps): an app with anything else is refused at start, rather than served differently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from aiohttp import web

from bot.errors import ConfigError
from bot.runtime.loops import like

__all__ = ["APP_LOOP", "FrontDoor", "Served", "at_the_door", "on_the_apps_loop", "serve"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Hook = Callable[[], Awaitable[None]]
H = TypeVar("H", bound=Handler)
T = TypeVar("T")
APP_LOOP = web.AppKey("app_loop", asyncio.AbstractEventLoop)  # in the door's app: the loop the services live on
_MARK = "_sre_at_the_door"
START_TIMEOUT_S = 30.0
# at stop, how long the door waits for what its requests started and outlived them (an event still being stored
# after its sender was answered 503), so that it is stored and handed over rather than cut off
SETTLE_S = 10.0


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
    try:
        future = asyncio.run_coroutine_threadsafe(work, home)
    except RuntimeError:  # the app's loop has closed: nothing can answer this
        work.close()
        raise web.HTTPServiceUnavailable(reason="shutting down") from None
    return await asyncio.wrap_future(future)


def plain_routes(app: web.Application) -> list[tuple[str, str, Handler]]:
    """(method, path, handler) of each of `app`'s routes; ValueError naming what the door cannot serve as it is."""
    if app.middlewares or app.on_response_prepare:
        raise ValueError("the front door serves no middlewares or response hooks")
    routes: list[tuple[str, str, Handler]] = []
    for route in app.router.routes():
        resource = route.resource
        if not isinstance(resource, web.PlainResource) or route.name is not None:
            raise ValueError(f"the front door serves plain routes only, not {route!r}")
        routes.append((route.method, resource.canonical, route.handler))
    return routes


class FrontDoor:
    """`app`'s routes served on `host`:`port` from a thread of their own, once `app` has started (its runner set up
    on the app's loop, without a site). `port` 0 takes a free one: `port` says which once started. `opening` and
    `leaving` run on the door's loop before it listens and after it has closed (a store's pool of that loop)."""

    def __init__(
        self,
        app: web.Application,
        host: str,
        port: int,
        *,
        opening: Sequence[Hook] = (),
        leaving: Sequence[Hook] = (),
        access_log: bool = True,
    ) -> None:
        self.app = app
        self.routes = plain_routes(app)
        self.access_log = access_log  # each request a line on the logger "aiohttp.access", as aiohttp serves
        self.opening = list(opening)
        self.leaving = list(leaving)
        self.host = host
        self.port = port
        self._home: asyncio.AbstractEventLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = asyncio.Event()  # set on the door's loop (it binds to the loop that first waits on it)
        self._thread: threading.Thread | None = None

    async def start(self) -> None:
        """Open the door; returns once it listens (ConfigError, saying why, when it cannot). Cut short (a timeout,
        a cancellation), the door is closed again before this returns."""
        self._home = asyncio.get_running_loop()
        self._loop = like(self._home)  # (uvloop's where the app's is)
        started: asyncio.Future[None] = self._home.create_future()
        self._thread = threading.Thread(target=self._run, args=(self._loop, started), name="front-door", daemon=True)
        self._thread.start()
        try:
            await asyncio.wait_for(started, START_TIMEOUT_S)
        except BaseException:
            await asyncio.shield(self.stop())
            raise

    async def stop(self) -> None:
        """Stop taking requests and finish those in hand (their handlers may still need the app's loop: this one
        waits without blocking it)."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the door's loop has closed already: nothing to tell it
                self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    def _run(self, loop: asyncio.AbstractEventLoop, started: asyncio.Future[None]) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve(started))
        except BaseException as exc:
            assert self._home is not None
            if not _tell(self._home, started, exc):
                log.exception("the front door stopped")
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    async def _serve(self, started: asyncio.Future[None]) -> None:
        assert self._home is not None
        front = web.Application(client_max_size=self.app._client_max_size)
        for key, value in self.app.items():  # the handlers read the services from request.app, as at home
            front[key] = value
        front[APP_LOOP] = self._home
        for method, path, handler in self.routes:
            front.router.add_route(method, path, handler if runs_at_the_door(handler) else _forwarded(handler))
        runner = (
            web.AppRunner(front, handle_signals=False)
            if self.access_log
            else web.AppRunner(front, access_log=None, handle_signals=False)
        )
        await runner.setup()
        try:
            await _each(self.opening, "could not prepare")
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
            await runner.cleanup()  # no new requests; those in hand answered
            await _settle_the_rest(SETTLE_S)
            await _each(self.leaving, "could not let go of")


async def _each(hooks: Sequence[Hook], failed: str) -> None:
    for hook in hooks:
        try:
            await hook()
        except Exception:
            log.exception("the front door %s %r", failed, hook)


async def _settle_the_rest(within_s: float) -> None:
    """Wait for what the requests left running on this loop (an event being stored after its answer), and for what
    those start meanwhile (its hand-over to the app's loop), at most `within_s` seconds in all; then cancel what is
    left, saying so."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        rest = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        if not rest:
            return
        _, pending = await asyncio.wait(rest, timeout=max(0.0, deadline - loop.time()))
        if pending:
            break
    for task in pending:
        log.warning("the front door stopped before %r was done", task.get_coro())
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


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

    if future.done():
        return False
    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # closed
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
        """The door first (the requests in hand may still need the app), then the app."""
        try:
            await self.door.stop()
        finally:
            await self.runner.cleanup()


async def serve(door: FrontDoor) -> Served:
    """Start the door's app on this loop (its startup and cleanup run here) and serve it through `door`.
    ConfigError when the door cannot listen (the app is stopped again)."""
    runner = web.AppRunner(door.app, access_log=None, handle_signals=False)  # no site of its own: the door logs
    await runner.setup()
    try:
        await door.start()
    except BaseException:
        await runner.cleanup()
        raise
    return Served(runner, door)
