"""The `sre-agent` command: serve, demo, playground, record, replay, sandbox, db upgrade.

`demo`, `playground`, `record`, `replay` and `sandbox` load the sandbox package on demand; the serving path never
imports it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot import __version__
from bot.errors import ConfigError

if TYPE_CHECKING:
    from aiohttp import web


SWITCH_INTERVAL_S = 0.001


def _fail(message: str) -> int:
    print(f"sre-agent: error: {message}", file=sys.stderr)
    return 2


def _serve(_args: argparse.Namespace) -> int:
    from bot.app import create_app
    from bot.config.settings import Settings
    from bot.preflight import preflight
    from bot.runtime import collector, loops
    from bot.runtime.logs import configure as configure_logging

    collector.for_serving()
    try:
        settings = Settings.from_env()
        configure_logging(level=settings.log_level, form=settings.log_format, secrets=settings.secret_values())
        loop = loops.chosen(settings.event_loop)
        loops.run(preflight(settings), loop)
        loops.run(_serving(create_app(settings), settings.host, settings.port), loop)
    except ConfigError as exc:
        return _fail(str(exc))
    return 0


async def _serving(app: web.Application, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM, then stop taking requests and close down in order; a second signal stops it
    at once."""
    from bot.app import serve
    from bot.runtime import collector, loops

    stop = asyncio.Event()

    def stop_or_quit(signum: int) -> None:
        if stop.is_set():  # asked again while closing down: at once (what was stored is taken up at the next start)
            print("sre-agent: stopping at once", file=sys.stderr)
            os._exit(128 + signum)
        stop.set()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop_or_quit, signum)
    # the front door's thread takes the interpreter within 1 ms of asking, not 5 (measured: a webhook's median answer
    # under a storm of pages 10 ms rather than 19, the CPU spent the same)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    served = await serve(app, host, port)
    frozen = collector.freeze_the_start()
    logging.getLogger("bot.cli").info(
        "serving on %s's event loop; %d objects of the start are left out of the collector's scans",
        loops.kind_of(loop),
        frozen,
    )
    try:
        await stop.wait()
    finally:
        await served.stop()


def _db_upgrade(_args: argparse.Namespace) -> int:
    from bot.store import Store

    try:
        url = _store_url_from_env()
    except ConfigError as exc:
        return _fail(str(exc))

    async def run() -> None:
        store = await Store.open(url)
        await store.close()

    asyncio.run(run())
    print(f"database at {url.split('@')[-1]} is at the newest schema")
    return 0


def _store_url_from_env() -> str:
    """The store URL from SRE_DATABASE_URL / SRE_SQLITE_PATH, without requiring the Slack and PagerDuty settings."""
    from pydantic import ValidationError

    from bot.config.settings import StoreSettings, describe_validation_error

    try:
        return StoreSettings.model_validate({}).store_url
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from exc


def _intent(args: argparse.Namespace) -> int:
    import json

    from pydantic import ValidationError

    from bot.config.settings import CatalogSettings, describe_validation_error
    from bot.domain.intent import read

    try:
        catalog = CatalogSettings.model_validate({}).catalog()
    except ValidationError as exc:
        return _fail(describe_validation_error(exc))
    except ConfigError as exc:
        return _fail(str(exc))
    for text in args.text:
        reading = read(text, catalog).as_dict()
        if args.json:
            print(json.dumps(reading))
        else:
            parts = [f"{key}: {value}" for key, value in reading.items() if value is not None]
            print(f"{text!r} -> " + ", ".join(parts))
    if not len(catalog) and not args.json:
        print(
            "(no service catalog: set SRE_CATALOG_PATH or put catalog.yml here to have services recognised)",
            file=sys.stderr,
        )
    return 0


def _slo_status(args: argparse.Namespace) -> int:
    import json
    from datetime import UTC, datetime

    from pydantic import ValidationError

    from bot.budgets.reading import read_from_agents
    from bot.budgets.report import as_json, read_counts, table
    from bot.config.agents import load_agents
    from bot.config.settings import AgentSettings, SloSettings, describe_validation_error
    from bot.domain.diagnosis import Role
    from bot.domain.slo import Counts, by_budget, evaluate

    try:
        settings = SloSettings.model_validate({})
        definitions = settings.slos(args.slos)
        if not definitions:
            return _fail("no SLOs: give --slos PATH or set SRE_SLOS_PATH (OpenSLO YAML, see examples/slos.yml)")
        counts: dict[str, dict[str, Counts]]
        if args.counts is not None:
            counts = read_counts(args.counts, definitions)
        else:  # from the monitoring agents, as the tick reads them
            agents = load_agents(AgentSettings.model_validate({}).agents_path)
            if not any(a.role is Role.MONITORING for a in agents):
                return _fail("no monitoring agent to ask: set SRE_AGENTS_PATH, or give --counts FILE")
            asked = asyncio.run(read_from_agents(definitions, agents, datetime.now(UTC)))
            counts = {name: {w: c for w, c in windows.items() if c is not None} for name, windows in asked.items()}
    except ValidationError as exc:
        return _fail(describe_validation_error(exc))
    except ConfigError as exc:
        return _fail(str(exc))
    chosen = [d for d in definitions if args.service is None or d.slo.service == args.service]
    if not chosen:
        services = ", ".join(sorted({d.slo.service for d in definitions}))
        return _fail(f"no SLO of service {args.service!r} (the services with SLOs: {services})")
    statuses = by_budget([evaluate(d.slo, counts.get(d.slo.name, {})) for d in chosen])
    if args.json:
        print(json.dumps({"slos": [as_json(s) for s in statuses]}, indent=2))
    else:
        print(table(statuses))
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    from bot.domain.timeline import first_broken
    from bot.store import Store

    try:
        url = _store_url_from_env()
    except ConfigError as exc:
        return _fail(str(exc))

    async def run() -> int:
        store = await Store.open(url)
        try:
            incidents = await store.incidents()
            if args.incident:
                named = await store.incident_named(args.incident)
                if named is None:
                    print(f"sre-agent: error: no incident {args.incident}", file=sys.stderr)
                    return 2
                incidents = [named]
            broken = 0
            for incident in incidents:
                assert incident.id is not None
                events = await store.timeline(incident.id)
                found = first_broken(incident.key, events)
                if found is None:
                    print(f"{incident.label}: {len(events)} events, the chain holds")
                    continue
                broken += 1
                event, why = found
                print(
                    f"{incident.label}: broken at event {event.seq} ({event.kind} by {event.actor} at "
                    f"{event.at.isoformat()}): {why}"
                )
            return 1 if broken else 0
        finally:
            await store.close()

    return asyncio.run(run())


def _postmortem(args: argparse.Namespace) -> int:
    import json

    from pydantic import ValidationError

    from bot.config.runbooks import SHIPPED, load_runbooks
    from bot.config.settings import PostmortemSettings, describe_validation_error
    from bot.lifecycle.postmortems import Postmortems
    from bot.store import Store

    try:
        url = _store_url_from_env()
        settings = PostmortemSettings.model_validate({})
        runbooks = {rb.name: rb for rb in load_runbooks(settings.runbooks_path or SHIPPED)}
    except ValidationError as exc:
        return _fail(describe_validation_error(exc))
    except ConfigError as exc:
        return _fail(str(exc))

    async def run() -> int:
        store = await Store.open(url)
        try:
            incident = await store.incident_named(args.incident)
            if incident is None:
                print(f"sre-agent: error: no incident {args.incident}", file=sys.stderr)
                return 2
            written = await Postmortems(
                store=store, runbooks=runbooks, zone=settings.timezone, template=settings.postmortem_template
            ).of(incident)
        finally:
            await store.close()
        if args.format == "json":
            print(json.dumps(written.json(), indent=2, sort_keys=True))
        else:
            print(written.markdown, end="")
        return 0

    return asyncio.run(run())


def _sandbox_command(name: str) -> object:
    return getattr(importlib.import_module("sandbox.cli"), name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sre-agent", description="An incident commander for Slack.")
    parser.add_argument("--version", action="version", version=f"sre-agent {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run against real Slack and PagerDuty (settings from the environment)")
    serve.set_defaults(run=_serve)

    demo = commands.add_parser("demo", help="play a scenario against local peers and print the Slack conversation")
    demo.add_argument("--scenario", default="checkout-crash-storm", help="scenario name or path to a .yml file")
    demo.add_argument("--json", action="store_true", help="print one JSON summary at the end instead of the story")
    demo.add_argument("--speed", type=float, default=None, help="virtual seconds per real second (default: scenario)")
    demo.add_argument(
        "--interactive",
        action="store_true",
        help="you decide on each proposal at the terminal (Approve or Reject) as the on-call user",
    )
    demo.add_argument(
        "--keep",
        metavar="DIR",
        default=None,
        help="keep the demo's database (and its catalog and SLOs) in DIR, to record its incident for a game day",
    )
    demo.set_defaults(run=lambda a: _sandbox_command("run_demo")(a))  # type: ignore[operator]

    playground = commands.add_parser(
        "playground", help="try it in a browser: a local Slack workspace with the real app, no Slack account needed"
    )
    playground.add_argument("--scenario", default="checkout-crash-storm", help="scenario name or path to a .yml file")
    playground.add_argument("--host", default="127.0.0.1", help="where the page is served (default: this machine)")
    playground.add_argument("--port", type=int, default=8765, help="the page's port (0: any free one)")
    playground.add_argument(
        "--speed", type=float, default=None, help="virtual seconds per real second (default 5: time to decide)"
    )
    playground.add_argument(
        "--pager",
        choices=["pagerduty", "opsgenie"],
        default=None,
        help="the pager pages come through and sre-agent runs with (default: the scenario's)",
    )
    playground.set_defaults(run=lambda a: _sandbox_command("run_playground")(a))  # type: ignore[operator]

    record = commands.add_parser("record", help="write a finished incident as a scenario file, to replay it")
    record.add_argument("incident", metavar="INCIDENT", help="INC-4211 (its number) or the incident's id")
    record.add_argument("-o", "--output", required=True, metavar="FILE", help="the file to write (-: print it)")
    record.set_defaults(run=lambda a: _sandbox_command("run_record")(a))  # type: ignore[operator]

    replay = commands.add_parser(
        "replay", help="play a recorded incident against this sre-agent and its runbooks; what differs from then"
    )
    replay.add_argument("file", metavar="FILE", help="a scenario file (sre-agent record wrote it, or your own)")
    replay.add_argument("--runbooks", type=Path, help="play it with these runbooks (a folder or file) instead")
    replay.add_argument("--json", action="store_true", help="print the comparison as JSON")
    replay.add_argument("--speed", type=float, default=None, help="virtual seconds per real second (default: file)")
    replay.set_defaults(run=lambda a: _sandbox_command("run_replay")(a))  # type: ignore[operator]

    sandbox = commands.add_parser("sandbox", help="start the local Slack and PagerDuty peers alone")
    sandbox.add_argument("--scenario", default="checkout-crash-storm", help="the world to serve")
    sandbox.add_argument("--port", type=int, default=8900)
    sandbox.add_argument("--bot-url", default="http://127.0.0.1:3000", help="where `sre-agent serve` listens")
    sandbox.set_defaults(run=lambda a: _sandbox_command("run_sandbox")(a))  # type: ignore[operator]

    intent = commands.add_parser("intent", help="show how the bot reads a message to @sre (with your catalog)")
    intent.add_argument("text", nargs="+", metavar="TEXT", help="a message, as someone would type it")
    intent.add_argument("--json", action="store_true", help="one JSON object per message")
    intent.set_defaults(run=_intent)

    postmortem = commands.add_parser("postmortem", help="write an incident's postmortem from its timeline")
    postmortem.add_argument("incident", metavar="INCIDENT", help="INC-4211 (its number) or the incident's id")
    postmortem.add_argument("--format", choices=("md", "json"), default="md", help="Markdown (default) or JSON")
    postmortem.set_defaults(run=_postmortem)
    audit = commands.add_parser("audit", help="check the audit trail")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_commands.add_parser("verify", help="recompute every incident's timeline hash chain")
    verify.add_argument("incident", nargs="?", help="INC-4211, a number or an id (default: every incident)")
    verify.set_defaults(run=_audit_verify)

    slo = commands.add_parser("slo", help="SLOs and error budgets")
    slo_commands = slo.add_subparsers(dest="slo_command", required=True, metavar="ACTION")
    status = slo_commands.add_parser("status", help="every SLO's budget, burn rates, alerts and forecast")
    status.add_argument("--service", help="only this service's SLOs")
    status.add_argument("--slos", type=Path, help="OpenSLO file or folder (default: SRE_SLOS_PATH)")
    status.add_argument(
        "--counts", type=Path, help="take the counts from this JSON file instead of the monitoring agents"
    )
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(run=_slo_status)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_commands.add_parser("upgrade", help="upgrade the schema in place to the newest revision")
    upgrade.set_defaults(run=_db_upgrade)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result = args.run(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
