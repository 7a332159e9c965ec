"""Control API under ``/_sandbox``: drive the sandbox (human actions, Slack -> bot requests, fault injection) and read
its state over HTTP. JSON in, JSON out; errors are ``{"error": "..."}`` with 400 or 404."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sandbox.pagerduty_state import Incident, PDError

if TYPE_CHECKING:
    from sandbox.server import Sandbox

__all__ = ["BadRequest", "add_control_routes", "guarded", "incident_detail", "read_body", "reply"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
P = "/_sandbox"


class BadRequest(Exception):
    """A request the control API cannot carry out: answered 400 with this text (`guarded`)."""


def reply(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, default=str))


async def read_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise BadRequest("body must be JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    return data


def _req(d: dict[str, Any], key: str) -> Any:
    if key not in d or d[key] is None or d[key] == "":
        raise BadRequest(f"{key}: missing")
    return d[key]


def guarded(fn: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(request)
        except BadRequest as e:
            return reply({"error": str(e)}, 400)
        except KeyError as e:
            return reply({"error": str(e.args[0]) if e.args else "not found"}, 404)
        except PDError as e:
            return reply({"error": e.message, "errors": e.errors}, e.status)
        except ValueError as e:
            return reply({"error": str(e)}, 400)

    return wrapped


def incident_detail(sb: Sandbox, inc: Incident) -> dict[str, Any]:
    pd = sb.pagerduty
    d = pd.incident_json(inc)
    d["escalation_level"] = inc.escalation_level
    d["alert_count"] = inc.alert_count
    d["notes"] = [pd.shapes.note(n) for n in inc.notes]
    d["status_updates"] = [pd.shapes.status_update(s) for s in inc.status_updates]
    d["history"] = inc.history
    return d


def add_control_routes(app: web.Application, sb: Sandbox) -> None:
    slack, pd = sb.slack, sb.pagerduty
    r = app.router

    def route(method: str, path: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            r.add_route(method, P + path, guarded(fn))
            return fn

        return deco

    # ---- general ---------------------------------------------------------------------------------
    @route("GET", "/health")
    async def health(request: web.Request) -> web.StreamResponse:
        return reply({"ok": True, "url": sb.rt.url})

    @route("GET", "/config")
    async def get_config(request: web.Request) -> web.StreamResponse:
        return reply(sb.config())

    @route("POST", "/config")
    async def set_config(request: web.Request) -> web.StreamResponse:
        b = await read_body(request)
        if "bot_url" in b:
            sb.bot_url = b["bot_url"] or None
        return reply(sb.config())

    @route("GET", "/feed")
    async def feed(request: web.Request) -> web.StreamResponse:
        try:
            after = int(request.query.get("after", "0"))
            wait = min(float(request.query.get("wait", "0")), 60.0)
        except ValueError:
            raise BadRequest("after must be an integer, wait a number") from None
        entries = await sb.wait_feed(after, wait)
        return reply({"entries": entries, "last_seq": len(sb.feed)})

    @route("POST", "/drain")
    async def drain(request: web.Request) -> web.StreamResponse:
        b = await read_body(request)
        await sb.drain(float(b.get("timeout", 30)))
        return reply({"ok": True})

    # ---- Slack state -----------------------------------------------------------------------------
    @route("GET", "/slack/channels")
    async def channels(request: web.Request) -> web.StreamResponse:
        return reply({"channels": [c.to_json() for c in slack.channels.values()]})

    @route("POST", "/slack/channels")
    async def human_channel(request: web.Request) -> web.StreamResponse:
        b = await read_body(request)
        try:
            ch = slack.create_channel(
                str(_req(b, "name")),
                b.get("members") or [],
                created_by=slack.resolve_user(b["user"]) if b.get("user") else None,
                is_private=bool(b.get("is_private", False)),
            )
        except ValueError as e:
            return reply({"error": str(e)}, 409)
        return reply({"channel": ch.to_json()}, 201)

    @route("GET", "/slack/channels/{id}/messages")
    async def messages(request: web.Request) -> web.StreamResponse:
        ch = slack.channel(request.match_info["id"])
        if ch is None:
            raise KeyError(f"unknown channel {request.match_info['id']!r}")
        return reply({"channel": ch.id, "messages": [m.to_json() for m in ch.messages]})

    @route("GET", "/slack/calls")
    async def slack_calls(request: web.Request) -> web.StreamResponse:
        method = request.query.get("method")
        calls = slack.calls_for(method) if method else slack.calls
        return reply({"calls": [c.to_json() for c in calls]})

    @route("GET", "/slack/ephemerals")
    async def ephemerals(request: web.Request) -> web.StreamResponse:
        user = request.query.get("user")
        eph = slack.ephemerals_for(slack.resolve_user(user) if user else None, request.query.get("channel"))
        return reply({"ephemerals": [e.to_json() for e in eph]})

    @route("GET", "/slack/views")
    async def views(request: web.Request) -> web.StreamResponse:
        return reply({"views": [v.to_json() for v in slack.views.values()]})

    @route("GET", "/slack/files/{id}")
    async def file_content(request: web.Request) -> web.StreamResponse:
        """A shared file's bytes (what a person opening it in Slack reads), as UTF-8 text."""
        file = slack.files.get(request.match_info["id"])
        if file is None or file.content is None or file.channel is None:
            raise KeyError(f"no shared file {request.match_info['id']!r}")
        return web.Response(body=file.content, content_type="text/plain", charset="utf-8")

    @route("POST", "/slack/views/{id}/close")
    async def close_view(request: web.Request) -> web.StreamResponse:
        """A person closes a modal (its close button, or Escape). Slack tells the app only when the view asked
        (`notify_on_close`), which none of the bot's views does: the sandbox only marks it closed."""
        view = slack.views.get(request.match_info["id"])
        if view is None:
            raise KeyError(f"unknown view {request.match_info['id']!r}")
        view.closed = True
        sb.rt.feed.emit("slack.view", view_id=view.id, user=view.user_id, view_kind=view.kind, action="close")
        return reply({"ok": True})

    @route("GET", "/slack/requests")
    async def bot_requests(request: web.Request) -> web.StreamResponse:
        return reply({"requests": slack.bot_requests})

    # ---- Slack -> bot ----------------------------------------------------------------------------
    @route("POST", "/slack/command")
    async def command(request: web.Request) -> web.StreamResponse:
        b = await read_body(request)
        return reply(
            await slack.send_command(_req(b, "user"), _req(b, "channel"), _req(b, "command"), str(b.get("text", "")))
        )

    @route("POST", "/slack/action")
    async def action(request: web.Request) -> web.StreamResponse:
        b = await read_body(request)
        return reply(
            await slack.send_action(
                _req(b, "user"),
                _req(b, "channel"),
                _req(b, "message_ts"),
                _req(b, "action_id"),
                b.get("value"),
                b.get("block_id"),
            )
        )

    @route("POST", "/slack/view_submission")
    async def view_submission(request: web.Request) -> web.StreamResponse:
        b = await read_body(request)
        return reply(
            await slack.send_view_submission(
                _req(b, "user"), _req(b, "view_id"), b.get("values") or {}, b.get("callback_id")
            )
        )

    @route("POST", "/slack/event")
    async def event(request: web.Request) -> web.StreamResponse:
        b = await read_body(request)
        ev = _req(b, "event")
        if not isinstance(ev, dict):
            raise BadRequest("event: must be an object")
        retry = b.get("retry_num")
        return reply(
            await slack.send_event(ev, event_id=b.get("event_id"), retry_num=int(retry) if retry is not None else None)
        )

    @route("POST", "/slack/mention")
    async def mention(request: web.Request) -> web.StreamResponse:
        b = await read_body(request)
        return reply(await slack.send_mention(_req(b, "user"), _req(b, "channel"), _req(b, "text"), b.get("thread_ts")))

    @route("POST", "/slack/message")
    async def message(request: web.Request) -> web.StreamResponse:
        b = await read_body(request)
        return reply(await slack.send_message(_req(b, "user"), _req(b, "channel"), _req(b, "text"), b.get("thread_ts")))

    @route("POST", "/slack/reaction")
    async def reaction(request: web.Request) -> web.StreamResponse:
        b = await read_body(request)
        return reply(await slack.send_reaction(_req(b, "user"), _req(b, "channel"), _req(b, "ts"), _req(b, "name")))

    @route("POST", "/slack/pin")
    async def pin(request: web.Request) -> web.StreamResponse:
        b = await read_body(request)
        return reply(await slack.send_pin(_req(b, "user"), _req(b, "channel"), _req(b, "ts")))

    @route("POST", "/slack/rate_limit")
    async def rate_limit(request: web.Request) -> web.StreamResponse:
        b = await read_body(request)
        slack.rate_limit(_req(b, "method"), int(b.get("count", 1)), int(b.get("retry_after", 0)))
        return reply({"ok": True})

    @route("POST", "/slack/rate_tiers")
    async def rate_tiers(request: web.Request) -> web.StreamResponse:
        b = await read_body(request)
        enabled, scale = b.get("enabled"), b.get("scale")
        if enabled is not None and not isinstance(enabled, bool):
            raise BadRequest("enabled: must be true or false")
        if enabled is None and scale is None:
            return reply({"ok": True, **slack.rate_tiers.describe()})
        return reply({"ok": True, **slack.set_rate_tiers(enabled, scale)})

    @route("POST", "/slack/fail")
    async def slack_fail(request: web.Request) -> web.StreamResponse:
        b = await read_body(request)
        slack.fail(_req(b, "method"), _req(b, "error"), int(b.get("count", 1)), int(b.get("status", 200)))
        return reply({"ok": True})

    r.add_post(P + "/slack/response/{id}", slack.handle_response_url)
    r.add_post(P + "/slack/upload/{id}", slack.handle_upload)

    # ---- PagerDuty -------------------------------------------------------------------------------
    @route("POST", "/pagerduty/page")
    async def page(request: web.Request) -> web.StreamResponse:
        b = await read_body(request)
        before = len(pd.incidents)
        inc = pd.page(
            _req(b, "service"),
            _req(b, "title"),
            priority=b.get("priority"),
            urgency=b.get("urgency"),
            dedup_key=b.get("dedup_key"),
        )
        return reply({"incident": incident_detail(sb, inc)}, 201 if len(pd.incidents) > before else 200)

    @route("GET", "/pagerduty/incidents")
    async def incidents(request: web.Request) -> web.StreamResponse:
        return reply({"incidents": [incident_detail(sb, i) for i in pd.incidents.values()]})

    @route("GET", "/pagerduty/incidents/{id}")
    async def incident(request: web.Request) -> web.StreamResponse:
        return reply({"incident": incident_detail(sb, pd.get_incident(request.match_info["id"]))})

    @route("POST", "/pagerduty/incidents/{id}/{action:acknowledge|resolve|reopen|notes}")
    async def human(request: web.Request) -> web.StreamResponse:
        b = await read_body(request)
        iid, act, person = request.match_info["id"], request.match_info["action"], str(_req(b, "person"))
        if act == "notes":
            note = pd.add_note(iid, person, str(_req(b, "content")))
            return reply({"note": pd.shapes.note(note)}, 201)
        inc = {"acknowledge": pd.acknowledge, "resolve": pd.resolve, "reopen": pd.reopen}[act](iid, person)
        return reply({"incident": incident_detail(sb, inc)})

    @route("GET", "/pagerduty/calls")
    async def pd_calls(request: web.Request) -> web.StreamResponse:
        return reply({"calls": [c.to_json() for c in pd.calls], "events": pd.event_calls})

    @route("GET", "/pagerduty/deliveries")
    async def deliveries(request: web.Request) -> web.StreamResponse:
        return reply(
            {
                "deliveries": [d.to_json() for d in pd.deliveries.values()],
                "paused": pd.webhooks.paused,
                "in_flight": pd.webhooks.in_flight,
            }
        )

    @route("POST", "/pagerduty/deliveries/{id}/redeliver")
    async def redeliver(request: web.Request) -> web.StreamResponse:
        b = await read_body(request)
        results = await pd.redeliver(
            request.match_info["id"], int(b.get("times", 1)), bool(b.get("concurrently", True))
        )
        return reply({"results": results})

    @route("POST", "/pagerduty/deliver_raw")
    async def deliver_raw(request: web.Request) -> web.StreamResponse:
        b = await read_body(request)
        ev = _req(b, "event")
        if not isinstance(ev, dict):
            raise BadRequest("event: must be an object")
        d = pd.deliver_raw(ev, b.get("webhook_id"))
        return reply({"delivery": d.to_json()}, 202)

    @route("POST", "/pagerduty/fail")
    async def pd_fail(request: web.Request) -> web.StreamResponse:
        b = await read_body(request)
        pd.fail(
            str(b.get("method", "*")), str(b.get("path_prefix", "/")), int(_req(b, "status")), int(b.get("count", 1))
        )
        return reply({"ok": True})

    @route("POST", "/pagerduty/pause")
    async def pause(request: web.Request) -> web.StreamResponse:
        pd.pause_deliveries()
        return reply({"paused": True})

    @route("POST", "/pagerduty/resume")
    async def resume(request: web.Request) -> web.StreamResponse:
        pd.resume_deliveries()
        return reply({"paused": False})
