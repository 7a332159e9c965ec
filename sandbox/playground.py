"""`sre-agent playground`: the sandbox's Slack workspace in a browser, with the real app behind it.

The page (`sandbox/playground/`: plain HTML, CSS and JavaScript, no build step) is served by the sandbox itself at
`/playground/`. It reads the workspace through the sandbox's control API (channels, messages, ephemerals, views, and
the feed it long-polls for live updates) and acts only the way Slack would: a message, a slash command, a button or
a modal's submit goes through the control API to the sandbox's Slack peer, which sends the bot the same signed
request Slack sends. Nothing on the page reaches into the bot. The routes here add what the page needs besides:
what the scenario is (its people, services, the pages it scripts and the signals its agents report), a page from
the scenario's pager, and a change to a signal.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sandbox.a2a_agents import Answer
from sandbox.control import BadRequest, guarded, read_body, reply
from sandbox.demo import running
from sandbox.scenario import Page, Scenario

if TYPE_CHECKING:
    from sandbox.server import Sandbox

__all__ = ["PAGE_PATH", "SPEED", "STATIC", "add_playground_routes", "serve_playground"]

STATIC = Path(__file__).resolve().parent / "playground"
PAGE_PATH = "/playground/"
WHEN = ("now", "after_change")  # a signal as an agent reports it now, or once the service's change is done
# virtual seconds per real second unless told: slower than a demo's, so that a person has time to read a proposal
# before it expires (15 minutes: 3 real minutes) while a fix's 5 minutes of verification still take only one
SPEED = 5.0


def _text(body: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise BadRequest(f"{key}: missing")
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{key}: must be text")
    return value.strip()


def describe(scenario: Scenario, sandbox: Sandbox, speed: float) -> dict[str, Any]:
    """What the page shows of the scenario: who is in the workspace, the services, the pages its script sends
    (offered as presets) and the signals its agents will report, by service."""
    world = sandbox.world
    people = [p for p in world.people if p.slack is not None]
    oncall = next((lvl[0] for ep in world.escalation_policies for lvl in ep.levels if lvl), None)
    default = next((p for p in people if p.key == oncall), people[0] if people else None)
    agents = []
    for spec in sandbox.agents.specs.values():
        signals = [
            {"service": service, "when": when, "text": answer.text, "data": answer.data}
            for when, answers in (("now", spec.answers), ("after_change", spec.after_change))
            for service, answer in answers.items()
        ]
        agents.append({"name": spec.name, "role": spec.role, "signals": signals})
    return {
        "scenario": {
            "name": scenario.name,
            "title": scenario.title,
            "description": scenario.description,
            "pager": scenario.pager,
            "speed": speed,
        },
        "team": {"domain": world.team.domain},
        "bot": {"user_id": world.bot.user_id, "name": world.bot.name},
        "users": [{"id": p.slack.id, "name": p.slack.name, "real_name": p.name} for p in people if p.slack is not None],
        "default_user": default.slack.id if default is not None and default.slack is not None else None,
        "incidents_channel": world.incidents_channel.id,
        "services": [s.name for s in world.services],
        "pages": [
            {"service": s.service, "title": s.title, "urgency": s.urgency, "priority": s.priority}
            for s in scenario.script
            if isinstance(s, Page)
        ],
        "agents": agents,
    }


def add_playground_routes(app: web.Application, sandbox: Sandbox, scenario: Scenario, speed: float) -> None:
    """The page, its files, and the three routes it needs besides the control API."""
    r = app.router

    async def index(_request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def home(_request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(PAGE_PATH)

    async def state(_request: web.Request) -> web.StreamResponse:
        return reply(describe(scenario, sandbox, speed))

    async def page(request: web.Request) -> web.StreamResponse:
        body = await read_body(request)
        service, title = _text(body, "service"), _text(body, "title")
        if service not in {s.name for s in sandbox.world.services}:
            raise BadRequest(f"service: no service {service!r} in this workspace")
        if scenario.pager == "opsgenie":
            priority = _text(body, "priority", required=False) or "P3"
            if priority not in ("P1", "P2", "P3", "P4", "P5"):
                raise BadRequest("priority: one of P1, P2, P3, P4, P5")
            alert = sandbox.opsgenie.page(service, title, priority=priority)
            return reply({"page": {"pager": "opsgenie", "id": alert.id, "service": service, "title": title}}, 201)
        urgency = _text(body, "urgency", required=False) or "high"
        if urgency not in ("high", "low"):
            raise BadRequest("urgency: high or low")
        incident = sandbox.pagerduty.page(service, title, urgency=urgency)
        return reply({"page": {"pager": "pagerduty", "id": incident.id, "service": service, "title": title}}, 201)

    async def signal(request: web.Request) -> web.StreamResponse:
        body = await read_body(request)
        name, service, text = _text(body, "agent"), _text(body, "service"), _text(body, "text")
        when = _text(body, "when", required=False) or "now"
        spec = sandbox.agents.specs.get(name)
        if spec is None:
            raise BadRequest(f"agent: no agent {name!r} in this scenario")
        if when not in WHEN:
            raise BadRequest(f"when: one of {', '.join(WHEN)}")
        answers = spec.answers if when == "now" else spec.after_change
        was = answers.get(service)
        data = was.data if was is not None else None
        if "data" in body:  # the figures the agent reports with its words (kept when not given)
            if body["data"] is not None and not isinstance(body["data"], dict):
                raise BadRequest("data: must be an object or null")
            data = body["data"]
        answers[service] = Answer(text, data, was.asks if was is not None else False)
        sandbox.rt.feed.emit("playground.signal", agent=name, service=service, when=when, text=text)
        return reply({"ok": True})

    r.add_get("/", home)
    r.add_get(PAGE_PATH, index)
    r.add_static(PAGE_PATH, STATIC, append_version=True)
    r.add_get("/_sandbox/playground", state)
    r.add_post("/_sandbox/playground/page", guarded(page))
    r.add_post("/_sandbox/playground/signal", guarded(signal))


async def serve_playground(
    scenario: Scenario,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    speed: float | None = None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Run the scenario's world and the real app until cancelled, the page at `/playground/`. `ready(url)` is
    called with the page's address once both answer."""
    speed = speed or SPEED

    def prepare(sb: Sandbox) -> None:
        add_playground_routes(sb.app, sb, scenario, speed)

    async with running(scenario, speed=speed, host=host, port=port, prepare=prepare) as (sandbox, _bot, _clock):
        if ready is not None:
            ready(f"{sandbox.url}{PAGE_PATH}")
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
