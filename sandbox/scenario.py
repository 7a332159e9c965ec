"""Scenario files (format version 1, documented in docs/scenarios.md): a world and a script of what happens when.

Every error names the file and the path of the value it complains about, e.g.
``checkout.yml: script[2].wait.until: expected one of card, acknowledged, resolved, channel``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from bot.budgets.reading import parse_window
from bot.config.catalog import parse_catalog
from bot.config.files import plain, read_yaml, shown
from bot.config.slos import parse_slos
from bot.domain.catalog import CatalogError
from bot.errors import ConfigError
from sandbox.a2a_agents import AgentSpec, AgentWorldError, parse_agents
from sandbox.world import World, WorldError

__all__ = [
    "FORMAT_VERSION",
    "SCENARIOS",
    "Click",
    "Command",
    "Mention",
    "Message",
    "Page",
    "PagerDutyAction",
    "Say",
    "Scenario",
    "ScenarioError",
    "Step",
    "WaitFor",
    "WaitUntil",
    "find_scenario",
    "load_scenario",
    "parse_duration",
    "shipped_scenarios",
]

FORMAT_VERSION = 1
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
WAIT_CONDITIONS = (
    "channel",
    "card",
    "diagnosed",
    "acknowledged",
    "resolved",
    "proposed",
    "executed",
    "verified",
    "checked",  # the verification of a fix ended: verified, not verified, or nobody could tell
    "task_done",  # a person marked a manual task done
    "escalated",
    "help_requested",
    "public_post",  # a post for the public status page waits for a decision
    "offered",  # not the incident's: a budget offer (Approve / Reject in an answer about an error budget) waits
    "measured",  # not the incident's: every SLO's counts read since the script began (its history does not count)
)
PAGERDUTY_ACTIONS = ("acknowledge", "resolve", "reopen", "note")
OPSGENIE_ACTIONS = ("acknowledge", "close", "note")
PAGERS = ("pagerduty", "opsgenie")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class ScenarioError(ValueError):
    """A scenario file that cannot be played; the message names the file and the path inside it."""


def parse_duration(value: Any, path: str) -> float:
    """``90``, ``"90s"``, ``"4m"``, ``"1.5h"``, ``"250ms"`` -> seconds."""
    if isinstance(value, bool):
        raise ScenarioError(f"{path}: expected a duration such as 30s, 4m or 1h, got {shown(value)}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ScenarioError(f"{path}: expected a duration such as 30s, 4m or 1h, got {shown(value)}")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 0:
        raise ScenarioError(f"{path}: a duration cannot be negative")
    return seconds


# ---- steps -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Say:
    """Narration printed between the Slack lines."""

    text: str


@dataclass(frozen=True)
class Page:
    """A page through the scenario's pager: an Events API trigger on the PagerDuty peer, or an alert from a
    monitoring integration on the OpsGenie peer."""

    service: str
    title: str
    priority: str | None = None
    urgency: str | None = None


@dataclass(frozen=True)
class WaitFor:
    """Let virtual time pass."""

    seconds: float


@dataclass(frozen=True)
class WaitUntil:
    """Wait until the scenario's incident reaches a state; fail the run after ``timeout`` virtual seconds."""

    condition: str
    timeout: float = 300.0


@dataclass(frozen=True)
class Command:
    """A slash command typed by a person, e.g. ``/incident resolve fixed by rollback``."""

    user: str
    command: str
    text: str
    channel: str = "incident"


@dataclass(frozen=True)
class Message:
    """A plain message posted by a person."""

    user: str
    text: str
    channel: str = "incident"


@dataclass(frozen=True)
class Mention:
    """A message that mentions the bot (``@sre ...``)."""

    user: str
    text: str
    channel: str = "incident"


@dataclass(frozen=True)
class Click:
    """A button click by a person (by action id), on the newest message with it in a channel."""

    user: str
    action: str
    channel: str = "incident"
    proposal: int | None = None  # a proposal's button: the incident's Nth proposal (1: the first it made)


@dataclass(frozen=True)
class Recorded:
    """A snapshot sre-agent stored before the script starts (its history: the usual burn comes from it): an SLO's
    counts by window, `ago` before the start, once or (`days`) once a day for that many days."""

    slo: str
    ago: float  # seconds before the start
    counts: Mapping[str, Mapping[str, int]]  # {"1d": {"total": N, "bad": N}} (or "good")
    days: int = 1


@dataclass(frozen=True)
class PagerDutyAction:
    """What a person does in PagerDuty's own UI: acknowledge, resolve, reopen, or add a note."""

    user: str
    action: str
    text: str = ""


@dataclass(frozen=True)
class OpsGenieAction:
    """What a person does in OpsGenie's own app to the scenario's alert: acknowledge, close, or add a note."""

    user: str
    action: str
    text: str = ""


Step = Say | Page | WaitFor | WaitUntil | Command | Message | Mention | Click | PagerDutyAction | OpsGenieAction


@dataclass
class Scenario:
    name: str
    title: str
    description: str
    world: World
    script: list[Step]
    speed: float = 30.0
    source: str = ""
    catalog: dict[str, Any] | None = None  # the service catalog the bot runs with (the catalog file's shape)
    slos: list[dict[str, Any]] = field(default_factory=list)  # OpenSLO documents the bot runs with (SRE_SLOS_PATH)
    history: list[Recorded] = field(default_factory=list)
    agents: list[AgentSpec] = field(default_factory=list)  # A2A agents the sandbox serves and the bot asks
    pager: str = "pagerduty"  # the paging service the bot runs with (SRE_PAGER) and pages come through
    original: dict[str, Any] | None = None  # a recorded incident's outcome (`sre-agent record`), for `replay`


# ---- reading -----------------------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, origin: str, world: World) -> None:
        self.origin = origin
        self.world = world

    def fail(self, path: str, problem: str) -> ScenarioError:
        return ScenarioError(f"{self.origin}: {path}: {problem}")

    def duration(self, value: Any, path: str) -> float:
        try:
            return parse_duration(value, path)
        except ScenarioError as exc:
            raise ScenarioError(f"{self.origin}: {exc}") from None

    def mapping(self, value: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(path, f"expected a mapping, got {type(value).__name__}")
        return value

    def text(self, m: Mapping[str, Any], key: str, path: str, *, default: str | None = None) -> str:
        value = m.get(key, default)
        if value is None:
            raise self.fail(f"{path}.{key}", "required")
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise self.fail(f"{path}.{key}", f"expected text, got {type(value).__name__}")
        return str(value)

    def only(self, m: Mapping[str, Any], allowed: set[str], path: str) -> None:
        unknown = sorted(set(m) - allowed, key=str)
        if unknown:
            raise self.fail(path, f"unknown key {shown(unknown[0])} (expected {', '.join(sorted(allowed))})")

    def person(self, m: Mapping[str, Any], path: str, *, slack: bool) -> str:
        key = self.text(m, "user", path)
        person = self.world.person_by_key(key)
        if person is None:
            known = ", ".join(p.key for p in self.world.people)
            raise self.fail(f"{path}.user", f"no person {key!r} in the world (people: {known})")
        if slack and person.slack is None:
            raise self.fail(f"{path}.user", f"{key!r} has no Slack account in the world")
        if not slack and person.pagerduty_id is None:
            raise self.fail(f"{path}.user", f"{key!r} has no PagerDuty user in the world")
        return key

    def step(self, raw: Any, path: str) -> Step:
        m = self.mapping(raw, path)
        if len(m) != 1:
            keys = ", ".join(sorted(map(str, m))) or "none"
            raise self.fail(path, f"a step has exactly one key, one of {', '.join(_STEP_KINDS)}; got {keys}")
        kind, value = next(iter(m.items()))
        if kind not in _STEP_KINDS:
            raise self.fail(path, f"unknown step {shown(kind)} (expected one of {', '.join(_STEP_KINDS)})")
        path = f"{path}.{kind}"
        if kind == "say":
            if not isinstance(value, str):
                raise self.fail(path, "expected text")
            return Say(value)
        if kind == "wait":
            if not isinstance(value, Mapping):
                return WaitFor(self.duration(value, path))
            self.only(value, {"until", "timeout"}, path)
            condition = self.text(value, "until", path)
            if condition not in WAIT_CONDITIONS:
                raise self.fail(f"{path}.until", f"expected one of {', '.join(WAIT_CONDITIONS)}, got {condition!r}")
            timeout = self.duration(value.get("timeout", "5m"), f"{path}.timeout")
            return WaitUntil(condition, timeout)
        v = self.mapping(value, path)
        if kind == "page":
            self.only(v, {"service", "title", "priority", "urgency"}, path)
            service = self.text(v, "service", path)
            try:
                self.world.service(service)
            except KeyError:
                known = ", ".join(s.name for s in self.world.services)
                raise self.fail(f"{path}.service", f"no service {service!r} in the world (services: {known})") from None
            priority = v.get("priority")
            if priority is not None and str(priority) not in ("P1", "P2", "P3", "P4", "P5"):
                raise self.fail(f"{path}.priority", f"expected P1..P5, got {shown(priority)}")
            urgency = v.get("urgency")
            if urgency is not None and urgency not in ("high", "low"):
                raise self.fail(f"{path}.urgency", f"expected high or low, got {shown(urgency)}")
            return Page(service, self.text(v, "title", path), str(priority) if priority else None, urgency)
        if kind == "command":
            self.only(v, {"user", "text", "in"}, path)
            typed = self.text(v, "text", path).strip()
            if not typed.startswith("/"):
                raise self.fail(f"{path}.text", f"a slash command starts with '/', got {typed!r}")
            command, _, rest = typed.partition(" ")
            return Command(
                self.person(v, path, slack=True), command, rest.strip(), self.text(v, "in", path, default="incident")
            )
        if kind in ("message", "mention"):
            self.only(v, {"user", "text", "in"}, path)
            cls = Message if kind == "message" else Mention
            return cls(
                self.person(v, path, slack=True),
                self.text(v, "text", path),
                self.text(v, "in", path, default="incident"),
            )
        if kind == "click":
            self.only(v, {"user", "action", "in", "proposal"}, path)
            action = self.text(v, "action", path)
            proposal = v.get("proposal")
            if proposal is not None and (isinstance(proposal, bool) or not isinstance(proposal, int) or proposal < 1):
                raise self.fail(f"{path}.proposal", f"expected 1 or more (the incident's Nth one), got {proposal!r}")
            if proposal is not None and not action.startswith("proposal."):
                raise self.fail(f"{path}.proposal", "only a proposal's buttons (proposal.*) name a proposal")
            return Click(
                self.person(v, path, slack=True),
                action,
                self.text(v, "in", path, default="incident"),
                proposal,
            )
        if kind == "opsgenie":
            self.only(v, {"user", "action", "text"}, path)
            action = self.text(v, "action", path)
            if action not in OPSGENIE_ACTIONS:
                raise self.fail(f"{path}.action", f"expected one of {', '.join(OPSGENIE_ACTIONS)}, got {action!r}")
            text = self.text(v, "text", path, default="")
            if action == "note" and not text:
                raise self.fail(f"{path}.text", "a note needs text")
            key = self.text(v, "user", path)
            if self.world.person_by_key(key) is None:
                raise self.fail(f"{path}.user", f"no person {key!r} in the world")
            return OpsGenieAction(key, action, text)
        if kind == "pagerduty":
            self.only(v, {"user", "action", "text"}, path)
            action = self.text(v, "action", path)
            if action not in PAGERDUTY_ACTIONS:
                raise self.fail(f"{path}.action", f"expected one of {', '.join(PAGERDUTY_ACTIONS)}, got {action!r}")
            text = self.text(v, "text", path, default="")
            if action == "note" and not text:
                raise self.fail(f"{path}.text", "a note needs text")
            return PagerDutyAction(self.person(v, path, slack=False), action, text)
        raise AssertionError(kind)  # every kind in _STEP_KINDS is handled above


_STEP_KINDS = ("say", "page", "wait", "command", "message", "mention", "click", "pagerduty", "opsgenie")


def _slos(raw: Any, origin: str) -> tuple[list[Mapping[str, Any]], list[str]]:
    """OpenSLO documents, checked as sre-agent reads them (the same errors, with the scenario's name), and the names
    of the SLOs sre-agent makes of them (`<slo>/<objective>` where an SLO has several objectives)."""
    if raw is None:
        return [], []
    if not isinstance(raw, list) or not all(isinstance(d, Mapping) for d in raw):
        raise ScenarioError(f"{origin}: slos: expected a list of OpenSLO documents")
    try:
        read = parse_slos([(f"{origin}: slos", yaml.safe_dump_all([dict(d) for d in raw], sort_keys=False))])
    except ConfigError as exc:
        raise ScenarioError(str(exc)) from None
    return raw, [d.slo.name for d in read]


def _recorded(reader: _Reader, raw: Any, path: str, names: list[str]) -> Recorded:
    m = reader.mapping(raw, path)
    reader.only(m, {"slo", "ago", "days", "counts"}, path)
    slo = reader.text(m, "slo", path)
    if slo not in names:
        raise reader.fail(f"{path}.slo", f"no SLO {slo!r} in slos (SLOs: {', '.join(names) or 'none'})")
    days = m.get("days", 1)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 400:
        raise reader.fail(f"{path}.days", "expected a whole number of days from 1 to 400")
    counts = reader.mapping(m.get("counts"), f"{path}.counts")
    for window, c in counts.items():
        try:
            parse_window(c)
        except ValueError as exc:
            raise reader.fail(f"{path}.counts.{window}", str(exc)) from None
    return Recorded(slo, reader.duration(m.get("ago", "0s"), f"{path}.ago"), counts, days)


def shipped_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIOS.glob("*.yml") if p.stem != "default")


def find_scenario(name: str) -> Path:
    """A path to a .yml file, or the name of a shipped scenario."""
    path = Path(name)
    if path.suffix in (".yml", ".yaml") or path.is_file():
        if not path.is_file():
            raise ScenarioError(f"{name}: no such file")
        return path
    shipped = SCENARIOS / f"{name}.yml"
    if not shipped.is_file():
        raise ScenarioError(f"no scenario {name!r}; shipped: {', '.join(shipped_scenarios())} (or give a .yml path)")
    return shipped


def load_scenario(name: str) -> Scenario:
    path = find_scenario(name)
    origin = path.name
    try:
        data = read_yaml(path, origin)
    except ConfigError as exc:
        raise ScenarioError(str(exc)) from None
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{origin}: expected a mapping at the top")
    version = data.get("version")
    if version != FORMAT_VERSION:
        raise ScenarioError(
            f"{origin}: version: this sre-agent plays scenario format {FORMAT_VERSION}, the file says {shown(version)}"
        )
    allowed = {
        "version",
        "name",
        "title",
        "description",
        "speed",
        "world",
        "script",
        "catalog",
        "agents",
        "slos",
        "history",
        "pager",
        "original",
    }
    unknown = sorted(set(data) - allowed, key=str)
    if unknown:
        raise ScenarioError(f"{origin}: unknown key {shown(unknown[0])} (expected {', '.join(sorted(allowed))})")
    try:  # keys are text, and nothing contains itself through an alias: what the readers below take for granted
        plain(data, also=(date,))
    except ValueError as exc:
        raise ScenarioError(f"{origin}: {exc}") from None
    raw_world = data.get("world", "default")
    try:
        if raw_world == "default":
            world = World.default()
        elif isinstance(raw_world, Mapping):
            world = World.from_dict(raw_world)
        else:
            raise ScenarioError(f"{origin}: world: expected a mapping or 'default'")
    except WorldError as exc:
        raise ScenarioError(f"{origin}: world: {exc}") from exc
    pager = data.get("pager", "pagerduty")
    if pager not in PAGERS:
        raise ScenarioError(f"{origin}: pager: expected one of {', '.join(PAGERS)}, got {shown(pager)}")
    reader = _Reader(origin, world)
    script_raw = data.get("script")
    if not isinstance(script_raw, list) or not script_raw:
        raise ScenarioError(f"{origin}: script: expected a non-empty list of steps")
    script = [reader.step(raw, f"script[{i}]") for i, raw in enumerate(script_raw)]
    speed = data.get("speed", 30)
    if isinstance(speed, bool) or not isinstance(speed, int | float) or speed <= 0:
        raise ScenarioError(f"{origin}: speed: expected a positive number (virtual seconds per real second)")
    catalog = data.get("catalog")
    if catalog is not None:
        try:
            parse_catalog(catalog, f"{origin}: catalog", pager=pager)
        except CatalogError as exc:
            raise ScenarioError(str(exc)) from None
    try:
        agents = parse_agents(data.get("agents"), "agents")
    except AgentWorldError as exc:
        raise ScenarioError(f"{origin}: {exc}") from None
    original = data.get("original")
    if original is not None and not isinstance(original, Mapping):
        raise ScenarioError(f"{origin}: original: expected a mapping (what `sre-agent record` wrote)")
    slos, slo_names = _slos(data.get("slos"), origin)
    history = [_recorded(reader, raw, f"history[{i}]", slo_names) for i, raw in enumerate(data.get("history") or [])]
    return Scenario(
        slos=[dict(d) for d in slos],
        history=history,
        agents=agents,
        catalog=catalog,
        name=str(data.get("name") or path.stem),
        title=str(data.get("title") or data.get("name") or path.stem),
        description=str(data.get("description") or "").strip(),
        world=world,
        script=script,
        speed=float(speed),
        source=str(path),
        pager=pager,
        original=dict(original) if original is not None else None,
    )
