"""`create_app(settings)`: builds everything and returns the aiohttp application. Nothing is built at import."""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.signature import SignatureVerifier

from bot.adapters.prometheus import Prometheus
from bot.adapters.slack.bodies import LATER, MALFORMED, classify
from bot.adapters.slack.gateway import SlackGateway, build_client
from bot.adapters.slack.inbox import SOURCE as SLACK_SOURCE
from bot.adapters.slack.inbox import SlackInbox, stored_request
from bot.adapters.slack.pacing import Pacer
from bot.adapters.statuspage import Statuspage
from bot.budgets.digest import SLO_DIGEST, Digest
from bot.budgets.reading import SliReader
from bot.budgets.standing import Standing
from bot.budgets.tracking import SLO_TICK, BudgetConfig, BudgetTracker
from bot.config.agents import load_agents
from bot.config.maintenance import load_maintenance
from bot.config.runbooks import SHIPPED, load_runbooks
from bot.config.settings import Settings
from bot.lifecycle.actions import IncidentActions
from bot.lifecycle.channel import IncidentChannel
from bot.lifecycle.conversation import Conversation
from bot.lifecycle.declaring import Declarer
from bot.lifecycle.delegation import Delegator
from bot.lifecycle.opening import Opener
from bot.lifecycle.pager_sync import PagerSync
from bot.lifecycle.posting import Poster
from bot.lifecycle.postmortems import POSTMORTEM, Postmortems
from bot.lifecycle.public_status import PUBLIC_STATUS, PublicStatus
from bot.lifecycle.resolving import Resolver
from bot.lifecycle.setup import OpeningConfig, SetupSteps
from bot.lifecycle.slack_slowdown import SlowdownNotice
from bot.lifecycle.unacknowledged import UNACKNOWLEDGED, Unacknowledged
from bot.lifecycle.updates import StakeholderUpdates
from bot.pagers import build_pager, pager_reader
from bot.ports.clock import Clock, SystemClock
from bot.ports.status_page import StatusPage
from bot.remediation.approvers import Approvers
from bot.remediation.asking import AgentChange
from bot.remediation.board import ProposalBoard
from bot.remediation.config import EXPIRE, VERIFY, RemediationConfig
from bot.remediation.deciding import Decider
from bot.remediation.executing import Executor
from bot.remediation.failing import Failures
from bot.remediation.offering import OFFER_EXPIRE, BudgetOffers
from bot.remediation.proposing import Proposer
from bot.remediation.resuming import resume as resume_remediation
from bot.remediation.verifying import Verifier
from bot.runtime import door
from bot.runtime.background import Background, collecting
from bot.runtime.intake import RETRY_INBOUND, UNHANDLED_NOTICE, Arrival, Intake
from bot.runtime.locks import KeyedLocks
from bot.runtime.scheduler import Scheduler
from bot.services import SERVICES, Services
from bot.store import Store
from bot.store.backend import ServingLock
from handlers import slack as slack_handlers
from handlers.health import SLACK_SEEN, SlackSeen, healthz, metrics_text, readyz
from handlers.opsgenie import opsgenie_webhook
from handlers.pagerduty import pagerduty_webhook
from handlers.socket_mode import StoringSocketModeHandler
from handlers.webhooks import SLACK_STORE_WAIT_S, store_or_refuse

SLACK_PATH = "/slack/events"
PAGERDUTY_PATH = "/webhooks/pagerduty"
OPSGENIE_PATH = "/webhooks/opsgenie"


class _SameTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself, then warns that the client we hand it (built from
    that same token) wins. True and harmless: keep it out of the operator's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


def _not_in_use(name: str, pager: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    @door.at_the_door
    async def answer(request: web.Request) -> web.Response:
        reason = f"this sre-agent pages through {pager} (SRE_PAGER): {name} webhooks are not taken"
        return web.json_response({"ok": False, "error": reason}, status=404)

    return answer


def _status_page(settings: Settings) -> StatusPage | None:
    """The public status page, where one is configured (the settings checked that its key and page go together)."""
    if settings.statuspage_api_key is None or settings.statuspage_page_id is None:
        return None
    return Statuspage(
        api_url=settings.statuspage_api_url,
        api_key=settings.statuspage_api_key.get_secret_value(),
        page_id=settings.statuspage_page_id,
        notify=settings.statuspage_notify,
    )


def create_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    bolt_logger = logging.getLogger("slack_bolt.AsyncApp")
    if not any(isinstance(f, _SameTokenNotice) for f in bolt_logger.filters):
        bolt_logger.addFilter(_SameTokenNotice())
    clock = clock or SystemClock()
    catalog = settings.catalog()  # a bad catalog stops the start here, naming the file and the problem
    agents = load_agents(settings.agents_path)  # likewise a bad agents file
    runbooks = load_runbooks(settings.runbooks_path or SHIPPED)  # and a bad runbook
    slos = settings.slos()  # and a bad SLO file
    store = Store.from_url(settings.store_url)
    metrics = Prometheus()
    delegator = Delegator(agents, store=store, clock=clock, catalog=catalog, metrics=metrics)
    client = build_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url, metrics=metrics)
    pacer = Pacer(max_wait_s=settings.slack_rate_limit_wait_s, quiet_s=settings.slack_slowdown_quiet_s, metrics=metrics)
    slack = SlackGateway(client, metrics=metrics, pacer=pacer)
    pager = build_pager(settings)
    runbook_table = {rb.name: rb for rb in runbooks}
    remediation = RemediationConfig(
        approvers=tuple(settings.approvers),
        expiry=timedelta(minutes=settings.proposal_expiry_minutes),
        auto_resolve=settings.auto_resolve,
    )
    instance = settings.instance_name or f"{socket.gethostname()}:{settings.port}"
    scheduler = Scheduler(store, clock, instance=instance)
    # several replicas on one database take turns on an incident through it; one SQLite process needs only its own
    locks = KeyedLocks(store if store.shared else None, clock, instance=instance)
    pacer.observer = SlowdownNotice(slack, settings.slack_incidents_channel, claims=locks)  # one replica tells it
    background = Background()
    poster = Poster(store, slack, clock)
    channel = IncidentChannel(store=store, slack=slack)
    board = ProposalBoard(store=store, slack=slack, clock=clock, runbooks=runbook_table)
    approvers = Approvers(
        store=store, slack=slack, pager=pager, clock=clock, catalog=catalog, approvers=remediation.approvers
    )
    public = PublicStatus(
        store=store,
        slack=slack,
        clock=clock,
        locks=locks,
        poster=poster,
        scheduler=scheduler,
        catalog=catalog,
        approvers=approvers,
        page=_status_page(settings),
    )
    scheduler.on(PUBLIC_STATUS, public.on_timer)
    standing = Standing(
        store=store,
        definitions=slos,
        policy=settings.budget_policy(),
        maintenance=load_maintenance(settings.slo_maintenance_path),
    )
    proposer = Proposer(
        budgets=standing,
        store=store,
        slack=slack,
        clock=clock,
        poster=poster,
        scheduler=scheduler,
        catalog=catalog,
        runbooks=runbook_table,
        approvers=approvers,
        board=board,
        config=remediation,
    )
    opening = OpeningConfig(
        incidents_channel=settings.slack_incidents_channel,
        auto_acknowledge=settings.auto_acknowledge,
        channel_prefix=settings.channel_prefix,
    )
    steps = SetupSteps(
        store=store,
        slack=slack,
        pager=pager,
        clock=clock,
        poster=poster,
        channel=channel,
        config=opening,
        catalog=catalog,
        delegator=delegator,
        proposer=proposer,
        budgets=standing,
        public=public,
    )
    opener = Opener(store=store, pager=pager, clock=clock, locks=locks, channel=channel, steps=steps)
    resolver = Resolver(
        store=store,
        pager=pager,
        clock=clock,
        locks=locks,
        channel=channel,
        withdrawal=board,
        ledger=standing,
        scheduler=scheduler,
        public=public,
    )
    pager_sync = PagerSync(
        store=store,
        slack=slack,
        pager=pager,
        clock=clock,
        locks=locks,
        channel=channel,
        opener=opener,
        resolver=resolver,
        incidents_channel=settings.slack_incidents_channel,
    )
    intake = Intake(
        store,
        pager_sync,
        clock,
        scheduler,
        instance=instance,
        readers={pager.source: pager_reader(settings, catalog)},
        metrics=metrics,
    )
    actions = IncidentActions(store=store, slack=slack, pager=pager, clock=clock, locks=locks, channel=channel)
    unacknowledged = Unacknowledged(
        store=store,
        pager=pager,
        scheduler=scheduler,
        actions=actions,
        channel=channel,
        policy=settings.unacknowledged_policy,
    )
    opener.watch = unacknowledged
    failures = Failures(store=store, clock=clock, locks=locks, channel=channel, escalation=actions, proposer=proposer)
    verifier = Verifier(
        store=store,
        slack=slack,
        clock=clock,
        locks=locks,
        delegator=delegator,
        scheduler=scheduler,
        runbooks=runbook_table,
        failures=failures,
        resolver=resolver,
        config=remediation,
        budgets=standing,
        updates=StakeholderUpdates(pager),
        public=public,
    )
    executor = Executor(
        store=store,
        clock=clock,
        locks=locks,
        delegator=delegator,
        runbooks=runbook_table,
        board=board,
        channel=channel,
        verifier=verifier,
        failures=failures,
        asking=AgentChange(store=store, delegator=delegator),
    )
    decider = Decider(
        store=store,
        clock=clock,
        locks=locks,
        approvers=approvers,
        board=board,
        proposer=proposer,
        executor=executor,
        channel=channel,
        background=background,
        metrics=metrics,
    )
    # what each kind of durable timer does when it is due
    scheduler.on(RETRY_INBOUND, intake.retry)
    scheduler.on(UNHANDLED_NOTICE, intake.tell_unhandled)
    scheduler.on(EXPIRE, decider.on_timer)
    scheduler.on(UNACKNOWLEDGED, unacknowledged.on_timer)
    scheduler.on(VERIFY, verifier.on_timer)
    postmortems = Postmortems(
        store=store,
        runbooks=runbook_table,
        zone=settings.timezone,
        template=settings.postmortem_template,
        slack=slack,
        clock=clock,
    )
    scheduler.on(POSTMORTEM, postmortems.on_timer)
    # Socket Mode has no signing secret: its requests come down our own authenticated websocket
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    bolt = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        name="sre-agent",
        process_before_response=True,  # listeners return at once; their work runs in services.background
        # the route checks every request's signature before it is stored, and a stored one may be handled again
        # after a restart, minutes later: Bolt would refuse its timestamp then
        request_verification_enabled=False,
    )
    inbox = SlackInbox(bolt, collecting)
    intake.consumers[SLACK_SOURCE] = inbox.handle
    intake.hold = lambda: inbox.answering_now  # (events stored at the door wait there while Slack is being answered)
    app = web.Application(client_max_size=settings.max_body_bytes)
    declarer = Declarer(opener=opener, pager=pager, slack=slack, clock=clock, catalog=catalog)
    offers = BudgetOffers(
        store=store,
        clock=clock,
        slack=slack,
        delegator=delegator,
        standing=standing,
        catalog=catalog,
        runbooks=runbook_table,
        approvers=approvers,
        declarer=declarer,
        decider=decider,
        background=background,
        scheduler=scheduler,
        expiry=remediation.expiry,
    )
    scheduler.on(OFFER_EXPIRE, offers.on_timer)
    conversation = Conversation(
        store=store,
        clock=clock,
        pager=pager,
        resolver=resolver,
        actions=actions,
        declarer=declarer,
        catalog=catalog,
        slack=slack,
        budgets=standing,
        offers=offers,
    )
    budgets = BudgetTracker(
        store=store,
        clock=clock,
        reader=SliReader(delegator),
        definitions=slos,
        slack=slack,
        catalog=catalog,
        pages=declarer,
        standing=standing,
        config=BudgetConfig(
            incidents_channel=settings.slack_incidents_channel,
            page=settings.slo_page,
            tick_minutes=settings.slo_tick_minutes,
        ),
    )
    if slos:
        scheduler.every(SLO_TICK, budgets.crontab, budgets.on_timer)
        if settings.slo_digest != "off":
            digest = Digest(
                store=store,
                standing=standing,
                slack=slack,
                channel=settings.slo_digest_channel or settings.slack_incidents_channel,
            )
            scheduler.every(SLO_DIGEST, settings.slo_digest, digest.on_timer, timezone=settings.slo_digest_timezone)
    services = Services(
        postmortems=postmortems,
        settings=settings,
        clock=clock,
        store=store,
        slack=slack,
        pager=pager,
        channel=channel,
        pager_sync=pager_sync,
        resolver=resolver,
        actions=actions,
        catalog=catalog,
        declarer=declarer,
        conversation=conversation,
        delegator=delegator,
        approvers=approvers,
        decider=decider,
        offers=offers,
        public=public,
        budgets=budgets,
        standing=standing,
        intake=intake,
        scheduler=scheduler,
        bolt=bolt,
        background=background,
        slack_inbox=inbox,
        metrics=metrics,
    )
    app[SERVICES] = services
    slack_handlers.register(bolt, lambda: services)

    slack_verifier = SignatureVerifier(signing_secret) if signing_secret else None

    @door.at_the_door
    async def slack_events(request: web.Request) -> web.Response:
        """Slack's requests: signature, then the body read and judged (bot/adapters/slack/bodies.py) before the
        answer, so that a request answered 200 can be handled to the end and any other is a 4xx that says why. The
        work behind earlier requests waits while any is being answered (from the moment it is in: counting only
        signed ones let that work in between the requests of a burst; an unsigned one delays it YIELD_MAX_S at
        most). At the front door: a request handled after its answer is stored and answered there; Bolt answers the
        others on the app's loop."""
        with services.slack_inbox.answering():
            return await slack_answer(request)

    async def slack_answer(request: web.Request) -> web.Response:
        body = await request.read()
        # one of each, as Slack sends them (Bolt checks them again and reads the last of several); a Unix time in
        # ASCII digits (str.isdigit() also takes "²", which the verifier's int() does not) and an ASCII signature
        # (hmac.compare_digest raises on any other)
        timestamps = request.headers.getall("X-Slack-Request-Timestamp", [])
        signatures = request.headers.getall("X-Slack-Signature", [])
        timestamp = timestamps[0] if len(timestamps) == 1 else ""
        signature = signatures[0] if len(signatures) == 1 else ""
        readable = timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12 and signature.isascii()
        try:
            unsigned = slack_verifier is None or not readable or not slack_verifier.is_valid(body, timestamp, signature)
        except UnicodeDecodeError:
            # the SDK's verifier reads the body as UTF-8 before it checks the signature, so whether a body that is
            # not UTF-8 is signed cannot be told: it is refused below for what it is (Slack sends nothing else)
            unsigned = False
        if unsigned:
            return web.json_response({"ok": False, "error": "invalid signature"}, status=401)
        # as Bolt will read it: by the Content-Type header as sent (more than one is no Slack request), and for the
        # answers that go through Bolt, as aiohttp decodes it (by its charset)
        reading = classify(body, ",".join(request.headers.getall("Content-Type", [])), request.charset)
        if reading.kind == MALFORMED:
            return web.json_response({"ok": False, "error": reading.reason}, status=400)
        if reading.kind == LATER:  # stored first: Slack sends a click once, and a process may die before it is done
            delivery_id = reading.event_id or uuid.uuid4().hex  # an event delivered again is a duplicate
            stored_body = stored_request(reading.text, request.query_string, request.headers)
            arrival = Arrival(SLACK_SOURCE, delivery_id, reading.event_type, stored_body, None)
            stored = await store_or_refuse(services, arrival, wait_s=SLACK_STORE_WAIT_S)
            return stored if isinstance(stored, web.Response) else web.Response(status=200)
        bolt_request = await to_bolt_request(request)
        bolt_response = await door.on_the_apps_loop(request, services.slack_inbox.answer(bolt_request))
        return await to_aiohttp_response(bolt_response)

    if not settings.socket_mode:  # in Socket Mode there is no signing secret: no unsigned way in over HTTP either
        app.router.add_post(SLACK_PATH, slack_events)
    # the pager in use takes its webhooks; the other's route says why it takes none (rather than a bare 404)
    webhooks = {"pagerduty": (PAGERDUTY_PATH, pagerduty_webhook), "opsgenie": (OPSGENIE_PATH, opsgenie_webhook)}
    for name, (path, handler) in webhooks.items():
        app.router.add_post(path, handler if name == settings.pager else _not_in_use(name, settings.pager))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app[SLACK_SEEN] = SlackSeen()
    app.router.add_get("/metrics", metrics_text)

    serving = ServingLock(settings.store_url)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        serving.acquire()  # a second serve on one SQLite file stops here, saying why
        await store.migrate()
        client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        # each agent's own limits bound its calls (a change can take many minutes), not aiohttp's 5-minute default
        delegator.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        if delegator.configured:
            services.background.spawn(delegator.read_cards(), name="agent cards")
        await locks.start()
        await intake.start()
        await scheduler.start()
        services.background.spawn(opener.resume(), name="resume opening incidents")
        services.background.spawn(offers.resume(), name="resume approved budget offers")
        services.background.spawn(public.resume(), name="resume status page posts")
        await resume_remediation(
            store=store,
            clock=clock,
            scheduler=scheduler,
            runbooks=runbook_table,
            executor=executor,
            verifier=verifier,
            background=background,
        )
        services.slack_inbox.start()
        socket_mode = None
        if settings.slack_app_token is not None:
            socket_mode = StoringSocketModeHandler(
                bolt, settings.slack_app_token.get_secret_value(), web_client=client, services=lambda: services
            )
            await socket_mode.connect_async()  # type: ignore[no-untyped-call]
        yield
        if socket_mode is not None:
            await socket_mode.close_async()  # type: ignore[no-untyped-call]
        await services.slack_inbox.close()
        await services.background.close()
        if delegator.session is not None:
            await delegator.session.close()
        await scheduler.close()
        await intake.close()
        await pacer.close()  # (a slowdown it tells of as cut short lets go of the notice's claim)
        await locks.close()
        await client.session.close()
        await pager.close()
        if public.page is not None:
            await public.page.close()
        await store.close()
        serving.release()

    app.cleanup_ctx.append(lifecycle)
    return app


async def serve(app: web.Application, host: str, port: int, *, access_log: bool = True) -> door.Served:
    """Start `app` (built by create_app) on this event loop and serve it on `host`:`port` through its front door
    (bot/runtime/door.py): the webhooks are answered on a loop of their own, whatever this one is doing.
    ConfigError when it cannot listen there."""
    store = app[SERVICES].store  # the door stores from its own loop: connected before it listens, closed after
    front = door.FrontDoor(app, host, port, opening=[store.ping], leaving=[store.leave_loop], access_log=access_log)
    return await door.serve(front)
