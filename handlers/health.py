"""GET /healthz: the process is up and its store answers; how many inbound events were given up on."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot import __version__
from bot.services import SERVICES
from bot.store.store import FAILED


async def healthz(request: web.Request) -> web.Response:
    try:
        counts = await request.app[SERVICES].store.inbound_counts()
    except (SQLAlchemyError, OSError) as exc:
        return web.json_response({"ok": False, "store": type(exc).__name__}, status=503)
    # a failed event is one a person was told of in the incidents channel; the process itself is fine
    return web.json_response(
        {"ok": True, "store": "ok", "version": __version__, "inbound_failed": counts.get(FAILED, 0)}
    )
