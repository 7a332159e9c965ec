"""GET /healthz: the process is up and its store answers."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot import __version__
from bot.services import SERVICES


async def healthz(request: web.Request) -> web.Response:
    try:
        await request.app[SERVICES].store.ping()
    except (SQLAlchemyError, OSError) as exc:
        return web.json_response({"ok": False, "store": type(exc).__name__}, status=503)
    return web.json_response({"ok": True, "store": "ok", "version": __version__})
