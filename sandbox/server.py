"""`Sandbox`: one aiohttp server on 127.0.0.1 serving the Slack Web API, PagerDuty REST + Events API, and the
control API, with the peers' state readable in-process."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

from aiohttp import web

from sandbox.a2a_agents import Agents, AgentSpec
from sandbox.control import add_control_routes
from sandbox.core import Runtime
from sandbox.opsgenie_peer import OG_WEBHOOK_HEADER, OpsGeniePeer
from sandbox.opsgenie_rest import OpsGenieRest
from sandbox.pagerduty_peer import PagerDutyPeer
from sandbox.slack_peer import SlackPeer
from sandbox.slack_socket import SOCKET_PATH
from sandbox.statuspage_peer import StatuspagePeer
from sandbox.world import BOT_PERSON, World

__all__ = ["DEFAULT_RETRY_DELAYS", "Sandbox"]

DEFAULT_RETRY_DELAYS: tuple[float, ...] = (0.2, 0.5, 1, 2, 4)
DEFAULT_OPSGENIE_SECRET = "sandbox-opsgenie-webhook-secret"


class Sandbox:
    def __init__(
        self,
        world: World,
        *,
        slack_signing_secret: str,
        pagerduty_webhook_secrets: Sequence[str],
        bot_url: str | None = None,
        clock: Callable[[], datetime] | None = None,
        webhook_retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        webhook_timeout: float = 5.0,
        slack_request_timeout: float = 10.0,
        agents: Sequence[AgentSpec] = (),
        opsgenie_webhook_secret: str = DEFAULT_OPSGENIE_SECRET,
        slack_rate_tiers: bool = False,
        slack_rate_scale: float = 1.0,
    ) -> None:
        if not pagerduty_webhook_secrets:
            raise ValueError("pagerduty_webhook_secrets: at least one secret is required")
        self.world = world
        self.slack_signing_secret = slack_signing_secret
        self.pagerduty_webhook_secrets = list(pagerduty_webhook_secrets)
        self.rt = Runtime(clock)
        self.rt.bot_url = bot_url
        self.slack = SlackPeer(
            world,
            self.rt,
            signing_secret=slack_signing_secret,
            request_timeout=slack_request_timeout,
            rate_tiers=slack_rate_tiers,
            rate_scale=slack_rate_scale,
        )
        self.pagerduty = PagerDutyPeer(
            world,
            self.rt,
            webhook_secrets=self.pagerduty_webhook_secrets,
            retry_delays=list(webhook_retry_delays),
            webhook_timeout=webhook_timeout,
        )
        self.opsgenie = OpsGeniePeer(
            world,
            self.rt,
            webhook_secret=opsgenie_webhook_secret,
            retry_delays=list(webhook_retry_delays),
            webhook_timeout=webhook_timeout,
        )
        self.statuspage = StatuspagePeer(self.rt)
        self.agents = Agents(list(agents), self.rt)
        self.app = self._build_app()
        self._runner: web.AppRunner | None = None
        self.host = "127.0.0.1"
        self.port = 0

    # ---- wiring ----------------------------------------------------------------------------------
    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        r = app.router
        r.add_route("*", "/slack/api/{method}", self.slack.handle_api)
        r.add_get(SOCKET_PATH, self.slack.socket.handle)
        r.add_post("/pagerduty-events/v2/enqueue", self.pagerduty.handle_events)
        r.add_route("*", "/pagerduty/{tail:.*}", self.pagerduty.handle_rest)
        r.add_route("*", "/opsgenie/{tail:.*}", OpsGenieRest(self.opsgenie).handle)
        r.add_route("*", "/statuspage/{tail:.*}", self.statuspage.handle)
        self.agents.add_routes(app)
        add_control_routes(app, self)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> Sandbox:
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        self._runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.host = host
        self.port = sockets[0].getsockname()[1] if sockets else port
        self.rt.url = f"http://{f'[{host}]' if ':' in host else host}:{self.port}"  # an IPv6 address in brackets
        return self

    async def stop(self) -> None:
        await self.slack.socket.close()
        await self.pagerduty.webhooks.close()
        await self.opsgenie.webhooks.close()
        await self.opsgenie.close_tasks()
        await self.rt.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Sandbox:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def drain(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait until no webhook delivery or retry is in flight."""
        await self.pagerduty.webhooks.drain(timeout)
        await self.opsgenie.webhooks.drain(timeout)

    # ---- urls ------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if not self.rt.url:
            raise RuntimeError("sandbox not started")
        return self.rt.url

    @property
    def slack_api_url(self) -> str:
        return f"{self.url}/slack/api/"

    @property
    def pagerduty_api_url(self) -> str:
        return f"{self.url}/pagerduty"

    @property
    def opsgenie_api_url(self) -> str:
        """The alert API's base, version included (as OPSGENIE_API_URL takes it)."""
        return f"{self.url}/opsgenie/v2"

    @property
    def statuspage_api_url(self) -> str:
        """Statuspage's API base, version included (as STATUSPAGE_API_URL takes it)."""
        return f"{self.url}/statuspage/v1"

    @property
    def pagerduty_events_url(self) -> str:
        return f"{self.url}/pagerduty-events"

    @property
    def bot_url(self) -> str | None:
        return self.rt.bot_url

    @bot_url.setter
    def bot_url(self, value: str | None) -> None:
        self.rt.bot_url = value.rstrip("/") if value else None

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.rt.clock

    # ---- feed ------------------------------------------------------------------------------------
    @property
    def feed(self) -> list[dict[str, Any]]:
        return self.rt.feed.entries

    async def wait_feed(self, after_seq: int = 0, timeout: float = 5.0) -> list[dict[str, Any]]:  # noqa: ASYNC109
        """Entries with seq > after_seq, waiting up to ``timeout`` s for at least one."""
        return await self.rt.feed.wait(after_seq, timeout)

    # ---- what the CLI prints ---------------------------------------------------------------------
    def bot_settings(self) -> dict[str, str]:
        """Environment settings that point the bot at this sandbox."""
        bot_person = self.world.person_by_key(BOT_PERSON)
        from_email = (
            bot_person.email
            if bot_person is not None
            else next((p.email for p in self.world.people if p.pagerduty_id), "")
        )
        return {
            "SLACK_API_URL": self.slack_api_url,
            "SLACK_BOT_TOKEN": self.world.bot.token,
            "SLACK_SIGNING_SECRET": self.slack_signing_secret,
            "PAGERDUTY_API_URL": self.pagerduty_api_url,
            "PAGERDUTY_EVENTS_URL": self.pagerduty_events_url,
            "PAGERDUTY_API_TOKEN": self.world.pagerduty.api_token,
            "PAGERDUTY_WEBHOOK_SECRETS": ",".join(self.pagerduty_webhook_secrets),
            "PAGERDUTY_FROM_EMAIL": from_email,
            "SLACK_INCIDENTS_CHANNEL": self.world.incidents_channel.id,
            # OpsGenie, used where SRE_PAGER=opsgenie
            "OPSGENIE_API_URL": self.opsgenie_api_url,
            "OPSGENIE_API_KEY": self.opsgenie.api_key,
            "OPSGENIE_WEBHOOK_SECRETS": self.opsgenie.webhook_secret,
            "OPSGENIE_WEBHOOK_HEADER": OG_WEBHOOK_HEADER,
            "OPSGENIE_APP_URL": f"https://{self.world.team.domain}.app.opsgenie.com",
            # the public status page (its components are the example catalog's)
            "STATUSPAGE_API_URL": self.statuspage_api_url,
            "STATUSPAGE_API_KEY": self.statuspage.api_key,
            "STATUSPAGE_PAGE_ID": self.statuspage.page_id,
        }

    def config(self) -> dict[str, Any]:
        return {
            "url": self.rt.url,
            "slack_api_url": self.slack_api_url if self.rt.url else None,
            "pagerduty_api_url": self.pagerduty_api_url if self.rt.url else None,
            "pagerduty_events_url": self.pagerduty_events_url if self.rt.url else None,
            "opsgenie_api_url": self.opsgenie_api_url if self.rt.url else None,
            "statuspage_api_url": self.statuspage_api_url if self.rt.url else None,
            "bot_url": self.bot_url,
            "bot_endpoints": {
                "slack": self.rt.bot_endpoint("/slack/events"),
                "pagerduty": self.rt.bot_endpoint("/webhooks/pagerduty"),
                "opsgenie": self.rt.bot_endpoint("/webhooks/opsgenie"),
            },
            "settings": self.bot_settings() if self.rt.url else None,
            "world": self.world.summary(),
            "now": self.rt.now().isoformat(),
        }
