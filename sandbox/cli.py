"""Entry points the `sre-agent` CLI loads on demand: ``run_sandbox`` (the peers alone), ``run_demo``,
``run_playground``, and the game days' ``run_record`` and ``run_replay``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from sandbox.a2a_agents import AgentSpec
from sandbox.render import render_entry
from sandbox.scenario import Scenario, ScenarioError, find_scenario, load_scenario
from sandbox.server import Sandbox
from sandbox.world import World, WorldError

__all__ = ["Served", "describe", "load_served", "run_demo", "run_playground", "run_record", "run_replay", "run_sandbox"]


@dataclass(frozen=True)
class Served:
    """What `sre-agent sandbox` serves: a world, and a scenario's agents and catalog when the file is a scenario."""

    world: World
    source: str
    agents: list[AgentSpec] = field(default_factory=list)
    catalog: dict[str, Any] | None = None


def load_served(name: str | None) -> Served:
    """A shipped scenario or a .yml path: a scenario file (with `version:`), or a bare world file.
    Raises ScenarioError for a name that is neither, or a file that does not hold."""
    if not name or name == "default":
        return Served(World.default(), "default")
    path = find_scenario(name)
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "version" in data:
            scenario = load_scenario(str(path))
            return Served(scenario.world, str(path), scenario.agents, scenario.catalog)
        if isinstance(data, dict) and "world" in data:
            data = data["world"]
        return Served(World.default() if data == "default" else World.from_dict(data), str(path))
    except (yaml.YAMLError, WorldError) as exc:
        raise ScenarioError(f"{path.name}: {exc}") from exc


def describe(entry: dict[str, Any]) -> str:
    """One line per feed entry, for a terminal."""
    kind = entry["kind"]
    d = {k: v for k, v in entry.items() if k not in ("seq", "at", "at_monotonic", "kind", "blocks")}
    if kind in ("slack.message", "slack.ephemeral"):
        return f"{kind:18} #{d.get('channel_name') or d.get('channel')} {d.get('user_name')}: {d.get('text')}"
    if kind == "pagerduty.webhook":
        return (
            f"{kind:18} {d.get('event_type')} -> {d.get('status') or d.get('error')} ({d.get('elapsed_ms', 0):.1f} ms)"
        )
    return f"{kind:18} " + " ".join(f"{k}={v}" for k, v in d.items() if v not in (None, "", []))


async def _serve(args: argparse.Namespace, served: Served) -> None:
    world, source, agents, catalog = served.world, served.source, served.agents, served.catalog
    signing = os.environ.get("SLACK_SIGNING_SECRET") or secrets.token_hex(16)
    webhook = [s for s in os.environ.get("PAGERDUTY_WEBHOOK_SECRETS", "").split(",") if s] or [secrets.token_hex(16)]
    sb = Sandbox(
        world,
        slack_signing_secret=signing,
        pagerduty_webhook_secrets=webhook,
        bot_url=getattr(args, "bot_url", None),
        agents=agents,
    )
    await sb.start(getattr(args, "host", "127.0.0.1"), int(getattr(args, "port", 0)))
    print(f"# sandbox at {sb.url} (world: {source}; bot at {sb.bot_url}); control API: {sb.url}/_sandbox/config")
    print("# point the bot at it with:")
    settings = dict(sb.bot_settings())
    files = Path(tempfile.mkdtemp(prefix="sre-agent-sandbox-"))
    if agents:
        (files / "agents.yml").write_text(yaml.safe_dump(sb.agents.agents_file()), encoding="utf-8")
        settings["SRE_AGENTS_PATH"] = str(files / "agents.yml")
    if catalog is not None:
        (files / "catalog.yml").write_text(yaml.safe_dump(catalog), encoding="utf-8")
        settings["SRE_CATALOG_PATH"] = str(files / "catalog.yml")
    for key, value in settings.items():
        print(f"export {key}={value}")
    sys.stdout.flush()
    seq = 0
    try:
        while True:
            for entry in await sb.wait_feed(seq, timeout=30):
                seq = entry["seq"]
                lines = render_entry(entry, sb.slack.user_name, lambda c: getattr(sb.slack.channel(c), "name", c))
                print("\n".join(lines) if lines else describe(entry), flush=True)
    finally:
        await sb.stop()
        shutil.rmtree(files, ignore_errors=True)


def run_sandbox(args: argparse.Namespace) -> int:
    try:
        served = load_served(getattr(args, "scenario", None))
    except ScenarioError as exc:
        return _error(str(exc))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args, served))
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from sandbox.demo import play, quiet_logs
    from sandbox.render import Printer

    scenario = _scenario(args.scenario, args.speed)
    if isinstance(scenario, int):
        return scenario
    if args.interactive and (args.json or not sys.stdin.isatty()):
        return _error("--interactive needs a terminal to ask at (and no --json)")
    kept = _kept(scenario, Path(args.keep)) if args.keep else None
    if isinstance(kept, int):
        return kept
    quiet_logs()
    out = Printer(quiet=args.json)
    out.line(f"sre-agent demo: {scenario.title}")
    if scenario.description:
        out.line(scenario.description)
    out.line(f"(local Slack and PagerDuty peers; virtual time runs {args.speed or scenario.speed:g}x)")
    database = Path(kept["database"]) if kept else None
    try:
        summary = asyncio.run(
            play(scenario, speed=args.speed, out=out, interactive=args.interactive, database=database)
        )
    except KeyboardInterrupt:
        return 130
    if kept:
        summary["kept"] = kept
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        out.line()
        out.line(_closing_line(summary))
        if kept and summary.get("incident"):
            out.line(_record_it(kept, summary["incident"]))
    return 0 if summary["ok"] else 1


def _kept(scenario: Scenario, folder: Path) -> dict[str, str] | int:
    """Where `--keep` puts the demo's database, with the catalog and SLOs it runs with (written now) by the setting
    that names them; else the exit status, having said what is wrong."""
    from sandbox.demo import scenario_files

    folder = folder.resolve()
    database = folder / "sre-agent.db"
    if database.exists():
        return _error(f"{database} exists already: --keep an empty folder (or remove it)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return {"database": str(database), **scenario_files(scenario, folder)}
    except OSError as exc:
        return _error(f"--keep {folder}: {exc.strerror or exc}")


def _record_it(kept: dict[str, str], incident: dict[str, Any]) -> str:
    """How to record the kept incident and replay it (the commands, with the kept files: runnable from anywhere)."""
    label = f"INC-{incident['number']}" if incident.get("number") else str(incident.get("id"))
    env = [f"SRE_DATABASE_URL=sqlite:///{kept['database']}"]
    env += [f"{name}={path}" for name, path in kept.items() if name != "database"]
    folder = Path(kept["database"]).parent
    recorded = str(folder / f"{label}.yml")
    record = " ".join(shlex.quote(word) for word in [*env, "sre-agent", "record", label, "-o", recorded])
    return (
        f"Kept in {folder}. Record {label} for a game day, then replay it:\n"
        f"  {record}\n"
        f"  sre-agent replay {shlex.quote(recorded)}"
    )


def run_playground(args: argparse.Namespace) -> int:
    from sandbox.demo import quiet_logs
    from sandbox.playground import SPEED, serve_playground

    scenario = _scenario(args.scenario, args.speed)
    if isinstance(scenario, int):
        return scenario
    if args.pager:  # one pager to a sre-agent (SRE_PAGER): any world pages through either
        scenario = replace(scenario, pager=args.pager)
    quiet_logs()
    pager, other = ("OpsGenie", "pagerduty") if scenario.pager == "opsgenie" else ("PagerDuty", "opsgenie")

    def ready(url: str) -> None:
        print(f"sre-agent playground: {scenario.title}", flush=True)
        print(f"Open {url} in a browser. Ctrl-C stops it.", flush=True)
        print(
            f"(a sandbox Slack workspace, PagerDuty, OpsGenie and agents with the real app; pages come through "
            f"{pager}: --pager {other} for the other; virtual time runs {args.speed or SPEED:g}x: --speed to change "
            "it)",
            flush=True,
        )

    try:
        asyncio.run(serve_playground(scenario, host=args.host, port=args.port, speed=args.speed, ready=ready))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:  # the port is taken, or the host is not this machine's
        return _error(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    return 0


# the settings an answer about an error budget depends on beside the SLOs (with every SRE_BUDGET_...), which a
# recording does not carry
BUDGET_SETTINGS = ("SRE_SLO_BUDGET_WARNING", "SRE_SLO_MAINTENANCE_PATH")


def run_record(args: argparse.Namespace) -> int:
    """`sre-agent record INCIDENT -o FILE`: a finished incident from the store as a scenario file."""
    from pydantic import ValidationError

    from bot.config.files import read_yaml
    from bot.config.settings import StoreSettings, describe_validation_error
    from bot.config.slos import slo_documents
    from bot.errors import ConfigError
    from bot.store import Store
    from sandbox.gameday import RecordError, record

    try:
        url = StoreSettings.model_validate({}).store_url
        catalog_path = os.environ.get("SRE_CATALOG_PATH")
        catalog = read_yaml(Path(catalog_path)) if catalog_path else None
    except ValidationError as exc:
        return _error(describe_validation_error(exc))
    except ConfigError as exc:
        return _error(str(exc))
    slos_path = os.environ.get("SRE_SLOS_PATH")
    slos, slos_error = None, None
    try:  # needed only for an incident opened from an error budget offer: a bad file is said then
        slos = slo_documents(Path(slos_path)) if slos_path else None
    except ConfigError as exc:
        slos_error = str(exc)
    if catalog is not None and not isinstance(catalog, dict):
        return _error(f"{catalog_path}: expected a mapping with `services`")
    if catalog is None:
        print(
            "sre-agent: warning: SRE_CATALOG_PATH is not set, so the recording has no service catalog: a replay "
            "triages without it (no dependents, status page components or Kubernetes namespace) and may differ",
            file=sys.stderr,
        )

    notes: list[str] = []

    async def recorded() -> tuple[str, dict[str, Any]] | int:
        store = await Store.open(url)
        try:
            incident = await store.incident_named(args.incident)
            if incident is None:
                return _error(f"no incident {args.incident} in the database (SRE_DATABASE_URL)")
            return incident.label, await record(store, incident, catalog=catalog, slos=slos, notes=notes)
        except RecordError as exc:
            return _error(f"{exc} ({slos_error})" if slos_error else str(exc))
        finally:
            await store.close()

    found = asyncio.run(recorded())
    if isinstance(found, int):
        return found
    label, scenario = found
    if "slos" in scenario:  # opened from an error budget offer: what decided it, not recorded
        unrecorded = sorted(name for name in os.environ if name in BUDGET_SETTINGS or name.startswith("SRE_BUDGET_"))
        if unrecorded:
            notes.append(
                f"{', '.join(unrecorded)} set here: a replay runs with the defaults, and what the answer offers "
                "(and the approvals it needs) may differ for that reason alone"
            )
    for note in notes:
        print(f"sre-agent: warning: {note}", file=sys.stderr)
    text = "# Recorded by `sre-agent record`: replay it with `sre-agent replay FILE` (docs/scenarios.md)\n"
    text += yaml.safe_dump(scenario, sort_keys=False, allow_unicode=True, width=118)
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    Path(args.output).write_text(text, encoding="utf-8")
    steps = len(scenario["script"])
    print(f"{label} recorded in {args.output}: {steps} steps. Replay it: sre-agent replay {args.output}")
    return 0


def run_replay(args: argparse.Namespace) -> int:
    """`sre-agent replay FILE`: 0 when the outcome is the same as recorded (or nothing was recorded), 1 when it
    differs, 2 when the file or the runbooks cannot be read."""
    from bot.config.runbooks import load_runbooks
    from bot.errors import ConfigError
    from sandbox.demo import quiet_logs
    from sandbox.gameday import replay, side_by_side

    scenario = _scenario(args.file, args.speed)
    if isinstance(scenario, int):
        return scenario
    try:
        if args.runbooks is not None:
            load_runbooks(args.runbooks)  # a bad runbook is said here, naming the file, before anything runs
    except ConfigError as exc:
        return _error(str(exc))
    quiet_logs()
    if not args.json:
        print(f"sre-agent replay: {scenario.title}", flush=True)
        print(f"(against this sre-agent and {args.runbooks or 'its shipped runbooks'}; virtual time runs fast)")
    try:
        result = asyncio.run(replay(scenario, runbooks=args.runbooks, speed=args.speed))
    except KeyboardInterrupt:
        return 130
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(side_by_side(result))
    return 1 if result["same"] is False else 0


def _scenario(name: str, speed: float | None) -> Scenario | int:
    """The scenario to play at `speed`; else the exit status, having said what is wrong."""
    try:
        scenario = load_scenario(name)
    except ScenarioError as exc:
        return _error(str(exc))
    if speed is not None and speed <= 0:
        return _error("--speed must be positive")
    return scenario


def _error(message: str) -> int:
    print(f"sre-agent: error: {message}", file=sys.stderr)
    return 2


def _closing_line(summary: dict[str, Any]) -> str:
    if not summary["ok"]:
        return f"The demo stopped: {summary['error']}"
    incident = summary.get("incident") or {}
    m = summary.get("metrics") or {}
    parts = [f"Incident {incident.get('channel') or '(none)'} is {incident.get('phase', 'unknown')}"]
    if m.get("time_to_acknowledge_s") is not None:
        parts.append(f"acknowledged after {m['time_to_acknowledge_s']:.1f} s")
    if m.get("time_to_resolve_s") is not None:
        parts.append(f"resolved after {m['time_to_resolve_s'] / 60:.1f} min")
    parts.append(f"{summary['slack_messages']} Slack messages")
    said = "; ".join(parts) + "."
    if summary.get("postmortem"):
        said += f" Its postmortem: {summary['postmortem']['path']}."
    return said + " Run with --json for the summary."
