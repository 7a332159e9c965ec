"""Every file sre-agent reads at start (the service catalog, the agents, the runbooks, OpenSLO files, maintenance
windows) and every scenario the sandbox plays, fuzzed: any YAML value, the shipped files with a key dropped, a value
of another type or a random one, and bytes that are not YAML at all. Loading either succeeds, or refuses the file
with the project's own error (ConfigError; ScenarioError for scenarios) whose one line names the file and the
problem: never a KeyError, a TypeError, a RecursionError or a YAML error leaking through. Crontabs (the digest's,
a maintenance window's `every`) likewise refuse with one line of ValueError."""

from __future__ import annotations

import copy
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.config.agents import load_agents
from bot.config.catalog import load_catalog
from bot.config.crontab import cron_trigger
from bot.config.maintenance import MaintenancePlan, load_maintenance
from bot.config.runbooks import load_runbooks
from bot.config.slos import load_slos
from bot.errors import ConfigError
from sandbox.scenario import SCENARIOS, ScenarioError, load_scenario, shipped_scenarios

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = settings(
    max_examples=int(os.environ.get("SRE_FUZZ_EXAMPLES", "60")),  # more for a deeper search
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

MAINTENANCE = """\
version: 1
windows:
  - name: db-upgrade
    services: [payments-api]
    start: 2026-12-05T02:00:00Z
    end: 2026-12-05T04:00:00Z
    reason: Database upgrade
  - name: weekly-deploy
    every: "0 2 * * 6"
    timezone: Europe/Berlin
    for: 1h
"""


# The loaders --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loader:
    name: str
    load: Callable[[Path], Any]  # the file's path -> what it holds
    error: type[Exception]  # the project's own refusal
    seeds: tuple[str, ...]  # valid files' texts to mutate
    named_by: Callable[[Path], str] = str  # how its messages name the file


def _text(*paths: Path) -> tuple[str, ...]:
    return tuple(p.read_text(encoding="utf-8") for p in paths)


def _use_maintenance(path: Path) -> MaintenancePlan:
    plan = load_maintenance(path)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    plan.between(now, now + timedelta(days=8))  # a loaded plan is usable: its windows can be laid out
    return plan


LOADERS = {
    loader.name: loader
    for loader in (
        Loader("catalog", lambda p: load_catalog(p, required=True), ConfigError, _text(ROOT / "examples/catalog.yml")),
        Loader(
            "catalog-opsgenie",
            lambda p: load_catalog(p, required=True, pager="opsgenie"),
            ConfigError,
            _text(ROOT / "examples/catalog.yml"),
        ),
        Loader("agents", load_agents, ConfigError, _text(ROOT / "examples/agents.yml")),
        Loader(
            "runbooks",
            lambda p: load_runbooks(p.parent),
            ConfigError,
            _text(*sorted((ROOT / "runbooks").glob("*.yml"))),
        ),
        Loader("slos", load_slos, ConfigError, _text(ROOT / "examples/slos.yml")),
        Loader("maintenance", _use_maintenance, ConfigError, (MAINTENANCE,)),
        Loader(
            "scenario",
            lambda p: load_scenario(str(p)),
            ScenarioError,
            _text(*(SCENARIOS / f"{name}.yml" for name in shipped_scenarios())),
            named_by=lambda p: p.name,
        ),
    )
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _write(workdir: Path, loader: Loader, data: bytes) -> Path:
    """`data` as the loader's file, in a folder of its own (the runbooks' loader reads the folder)."""
    folder = workdir / uuid.uuid4().hex
    folder.mkdir()
    path = folder / f"{loader.name}.yml"
    path.write_bytes(data)
    return path


# What a refusal must look like -------------------------------------------------------------------------------------

JUNK = re.compile(
    r"Traceback|File \"|\bobject at 0x|<class |<function |errors\.pydantic\.dev|For further information"
    r"|ValidationError|validation error for|instance of _|\b(?:datetime|date|time|Decimal)\("
)
QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")  # what the file said, echoed back as written


def check(workdir: Path, loader: Loader, data: bytes) -> None:
    """Load `data` as the loader's file: it loads, or is refused with one line naming the file and the problem."""
    path = _write(workdir, loader, data)
    try:
        loader.load(path)
    except loader.error as exc:
        message = str(exc)
        named = loader.named_by(path)
        assert message.strip(), f"an empty refusal for {data!r}"
        assert "\n" not in message and "\r" not in message, message
        assert named in message, f"{message!r} does not name {named}"
        assert message.replace(named, "").strip(" :"), f"{message!r} names the file but not the problem"
        assert not JUNK.search(QUOTED.sub("", message)), message
        assert len(message) < 2000, message


# Strategies --------------------------------------------------------------------------------------------------------

TEXT = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=12),
    st.sampled_from(
        [
            "",
            " ",
            "1h",
            "5m",
            "-1s",
            "30d",
            "1e400",
            "0",
            "P1",
            "UTC",
            "Mars/Olympus",
            "openslo/v1",
            "openslo/v1alpha",
            "SLO",
            "SLI",
            "kubernetes",
            "monitoring",
            "http://x",
            "2026-12-05T02:00:00Z",
            "2024-01-01 00:00:00",
            "0 2 * * 6",
            "* * * * 7-0",
            "* * * * */0",
            "dana",
            "checkout-service",
            "card",
            "\x00",
            "\u2028",
            "<!channel>",
        ]
    ),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),
    TEXT,
)
VALUES = st.recursive(
    SCALARS,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4), st.dictionaries(st.one_of(TEXT, st.integers(), st.booleans()), kids, max_size=4)
    ),
    max_leaves=12,
)


def _dump(value: Any) -> bytes:
    return yaml.safe_dump(value, allow_unicode=True, sort_keys=False).encode("utf-8")


def _retyped(draw: st.DrawFn, value: Any) -> Any:
    """The same value as another type: 7 -> "7", "x" -> ["x"], [a] -> {0: a}, {k: v} -> [v]..."""
    flow = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**6).removesuffix("\n...\n")
    choices: list[Any] = [flow.strip(), [value], {"value": value}, None, 0, 1.5, True]
    if isinstance(value, dict):
        choices += [list(value.values()), list(value)]
    if isinstance(value, list):
        choices += [dict(enumerate(value)), value[0] if value else ""]
    if isinstance(value, str):
        choices += [len(value), value.upper(), value + "x", " " + value]
    if isinstance(value, bool):
        choices += ["yes", int(value)]
    elif isinstance(value, int | float):
        choices += [-value, value * 1000, str(value) + "s", float("inf"), float("nan"), 10**20]
    return draw(st.sampled_from(choices))


def _mutate(draw: st.DrawFn, node: Any) -> Any:
    """One change somewhere in `node`: a key dropped, a value of another type, a random value, an unknown key."""
    children = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
    if children and draw(st.integers(0, 3)) > 0:  # further down, three times in four
        key = draw(st.sampled_from(children))
        node[key] = _mutate(draw, node[key])
        return node
    how = draw(st.sampled_from(["drop", "retype", "random", "add", "duplicate"]))
    if how == "drop" and children:
        key = draw(st.sampled_from(children))
        del node[key]
        return node
    if how == "add" and isinstance(node, dict):
        node[draw(TEXT)] = draw(VALUES)
        return node
    if how == "add" and isinstance(node, list):
        node.insert(draw(st.integers(0, len(node))), draw(VALUES))
        return node
    if how == "duplicate" and isinstance(node, list) and node:
        node.append(copy.deepcopy(draw(st.sampled_from(node))))
        return node
    if how == "retype":
        return _retyped(draw, node)
    return draw(VALUES)


@st.composite
def mutated(draw: st.DrawFn, loader: Loader) -> bytes:
    """A shipped file with one to three changes."""
    text = draw(st.sampled_from(loader.seeds))
    multi = loader.name == "slos"
    doc: Any = list(yaml.safe_load_all(text)) if multi else yaml.safe_load(text)
    for _ in range(draw(st.integers(1, 3))):
        doc = _mutate(draw, doc)
    if multi and isinstance(doc, list):
        return yaml.safe_dump_all(doc, allow_unicode=True, sort_keys=False).encode("utf-8")
    return _dump(doc)


YAMLISH = st.lists(
    st.one_of(
        TEXT,
        st.sampled_from(
            [
                ":",
                ": ",
                "- ",
                "\n",
                "\n  ",
                "\t",
                "[",
                "]",
                "{",
                "}",
                ",",
                "&a ",
                "*a",
                "<<: *a",
                "!!binary aGk=",
                "!!set {a}",
                "!!omap [a: 1]",
                "!!timestamp 2024-01-01",
                "!!python/object/apply:os.system [echo]",
                "!!float",
                "!!str",
                "? ",
                "%YAML 1.1\n",
                "---\n",
                "...\n",
                "#",
                "'",
                '"',
                "|\n",
                ">-\n",
                "2024-01-01",
                "0x1F",
                "0o17",
                "1_000",
                ".inf",
                "-.inf",
                ".nan",
                "~",
                "yes",
                "version: 1\n",
                "services:\n",
                "agents:\n",
                "windows:\n",
                "script:\n",
                "apiVersion: openslo/v1\n",
            ]
        ),
    ),
    max_size=20,
).map("".join)
RAW = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    YAMLISH.map(lambda t: t.encode("utf-8")),
)

# Inputs each worth trying every time: non-UTF-8, other encodings, nesting past the parser's recursion, aliases that
# refer to themselves, YAML's own types (dates, binary, sets) where text or numbers are expected
NASTY = [
    b"",
    b"\xff\xfe\x00",
    "version: 1\n".encode("utf-16"),
    "version: 1\n".encode("utf-8-sig"),
    b"version: 1\nname: caf\xe9\n",
    b"[" * 5000 + b"]" * 5000,
    b"{a: " * 3000 + b"1" + b"}" * 3000,
    b"- " * 3000 + b"x",
    b"&a [*a]",
    b"&a {x: *a}",
    b"a: &a [*a]\nb: *a\n",
    b"version: 1\nservices: &s [*s]\nagents: &a [*a]\nwindows: &w [*w]\nscript: &c [*c]\n",
    b"version: 2024-01-01\n",
    b"version: !!binary aGk=\n",
    b"version: !!set {a}\n",
    b"? [a]\n: 1\n",
    b"\x00",
    b"\t",
    b"---\n---\n",
    b"--- 1\n--- 2\n",
    b"!!python/object/apply:os.system [echo hi]\n",
    b"%YAML 9.9\n---\n",
    b"*undefined\n",
]


# The property, for each loader -------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", NASTY, ids=range(len(NASTY)))
@pytest.mark.parametrize("name", sorted(LOADERS))
def test_nasty_files_are_loaded_or_refused_by_name(workdir: Path, name: str, data: bytes) -> None:
    check(workdir, LOADERS[name], data)


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_shipped_files_load(workdir: Path, name: str) -> None:
    loader = LOADERS[name]
    for seed in loader.seeds:
        path = _write(workdir, loader, seed.encode("utf-8"))
        loader.load(path)


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_mutated_shipped_files_are_loaded_or_refused_by_name(workdir: Path, name: str) -> None:
    loader = LOADERS[name]

    @SETTINGS
    @given(mutated(loader))
    def prop(data: bytes) -> None:
        check(workdir, loader, data)

    prop()


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_any_yaml_value_is_loaded_or_refused_by_name(workdir: Path, name: str) -> None:
    loader = LOADERS[name]

    @SETTINGS
    @given(VALUES)
    def prop(value: Any) -> None:
        check(workdir, loader, _dump(value))

    prop()


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_any_bytes_are_loaded_or_refused_by_name(workdir: Path, name: str) -> None:
    loader = LOADERS[name]

    @SETTINGS
    @given(RAW)
    def prop(data: bytes) -> None:
        check(workdir, loader, data)

    prop()


# What the properties found, one example each, with the words of its refusal ------------------------------------------

RUNBOOK = (ROOT / "runbooks" / "memory-pressure.yml").read_text(encoding="utf-8")
SCENARIO_START = "version: 1\nscript: [{say: hi}]\n"


FOUND: list[tuple[str, bytes, str]] = [
    # a file that is not UTF-8 (UnicodeDecodeError, before), or nests past PyYAML's recursion (RecursionError)
    ("catalog", b"services:\n  - {name: caf\xe9}\n", "not UTF-8 text (byte 25: invalid continuation byte)"),
    ("slos", b"\xff\xfe\x00", "not UTF-16 text (byte 3: truncated data)"),
    ("scenario", b"\xff", "scenario.yml: not UTF-8 text (byte 1: invalid start byte)"),
    ("agents", b"[" * 5000 + b"]" * 5000, "not valid YAML: nested too deeply"),
    ("scenario", b"- " * 3000 + b"x", "scenario.yml: not valid YAML: nested too deeply"),
    # PyYAML's constructors raise IndexError, AttributeError, ValueError for a tag's bad value
    ("runbooks", b"!!float", "not valid YAML: '' is not a valid float (line 1, column 1)"),
    ("maintenance", b"windows: !!timestamp 2024-01-0130d", "'2024-01-0130d' is not a valid timestamp (line 1"),
    ("scenario", b"version: !!int x", "scenario.yml: not valid YAML: 'x' is not a valid int (line 1, column 10)"),
    # where PyYAML's problem is (its message's first line said only "while parsing a flow node"), on one line
    ("catalog", b"services: [\n", "expected the node content, but found '<stream end>' (line 2, column 1)"),
    ("scenario", b"a: 1\n b: 2\n", "scenario.yml: not valid YAML: mapping values are not allowed here (line 2"),
    # YAML's own types said as the file wrote them, not as Python's repr
    ("agents", b"version: 2024-01-01\n", "version: Input should be a valid integer, got 2024-01-01"),
    ("scenario", b"version: 2024-01-01\n", "scenario format 1, the file says 2024-01-01"),
    (
        "runbooks",
        b"'x'\n",
        "runbooks.yml: Input should be a valid dictionary, got 'x'",
    ),  # not "or instance of _Runbook"
    # a key that breaks the line, or is no text (TypeError sorting the keys, before)
    ("catalog", b'services: []\n"a\\nb": 1\n', "catalog.yml: ['a\\nb']: unknown key"),
    ("slos", b"apiVersion: openslo/v1\nkind: SLO\n1: x\nz: y\n", "slos.yml: document 1: [1]: unknown key"),
    (
        "scenario",
        SCENARIO_START.encode() + b"agents: [{'': null, 0: null}]\n",
        "agents[0]: expected keys that are text",
    ),
    ("scenario", SCENARIO_START.encode() + b"x: 1\n2: 3\n", "scenario.yml: unknown key 2 (expected"),
    ("scenario", b"version: 1\nscript: [{1: 2, say: 3}]\n", "script[0]: expected keys that are text (quote it)"),
    # the place is the file's keys, not a union member's type
    ("runbooks", RUNBOOK.replace("oom: true", "oom: true\n  p99_above: [1]").encode(), "trigger.p99_above: Input"),
    # durations a runbook or a window cannot run with (OverflowError or a busy loop after the start, before)
    ("runbooks", RUNBOOK.replace("window: 5m", "window: .inf").encode(), "from 0 s to 366 days, got inf"),
    ("runbooks", RUNBOOK.replace("interval: 30s", "interval: 0s").encode(), "verification.interval: expected"),
    ("runbooks", RUNBOOK.replace("timeout: 15m", "timeout: -5").encode(), "from 0 s to 366 days, got -5"),
    ("runbooks", RUNBOOK.replace("below: 0.01", "below: .nan").encode(), "verification.below: Input should be"),
    ("maintenance", MAINTENANCE.replace("for: 1h", "for: 0").encode(), "windows[1]: for: expected a length"),
    ("maintenance", MAINTENANCE.replace("for: 1h", "for: false").encode(), "windows[1].for: expected a length"),
    (
        "maintenance",
        MAINTENANCE.replace("2026-12-05T04:00:00Z", "9999-12-31T23:30:00-05:00").encode(),
        "windows[0].end: expected a time within the years 1 to 9999 in UTC",
    ),
    # free-form data that is hashed, stored and sent as JSON (TypeError or ValueError at the first incident)
    (
        "runbooks",
        RUNBOOK.replace("parameters: {from: 512Mi, to: 768Mi}", "parameters: {since: 2024-01-01}").encode(),
        "parameters.since: expected text, a number, true or false, a list or a mapping, got 2024-01-01",
    ),
    (
        "runbooks",
        RUNBOOK.replace("parameters: {from: 512Mi, to: 768Mi}", "parameters: &p {to: *p}").encode(),
        "parameters.to: to: contains itself (through a YAML alias)",
    ),
    (
        "slos",
        (ROOT / "examples/slos.yml")
        .read_text()
        .replace("url: http://prometheus.monitoring:9090", "url: http://x\n    x: &x [*x]")
        .encode(),
        "DataSource prometheus: spec.connectionDetails",
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "said"), [pytest.param(*case, id=f"{case[0]}-{n}") for n, case in enumerate(FOUND)]
)
def test_what_the_properties_found_is_refused_by_name(workdir: Path, name: str, text: bytes, said: str) -> None:
    loader = LOADERS[name]
    path = _write(workdir, loader, text)
    with pytest.raises(loader.error) as refused:
        loader.load(path)
    assert said in str(refused.value), str(refused.value)
    check(workdir, loader, text)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32"])
def test_a_file_in_utf16_or_utf32_with_its_byte_order_mark_is_read(workdir: Path, encoding: str) -> None:
    """YAML allows them, and an editor on Windows may save one."""
    text = (ROOT / "examples/catalog.yml").read_text(encoding="utf-8")
    path = _write(workdir, LOADERS["catalog"], text.encode(encoding))
    assert len(load_catalog(path, required=True)) == 4


def test_a_folder_named_like_a_file_is_refused_by_name(workdir: Path) -> None:
    """`runbooks/old.yml/` (a folder) was read as a runbook: IsADirectoryError."""
    folder = workdir / uuid.uuid4().hex
    (folder / "old.yml").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"old\.yml: cannot be read: Is a directory$"):
        load_runbooks(folder)
    with pytest.raises(ConfigError, match=r"old\.yml: cannot be read: Is a directory$"):
        load_slos(folder)


# Crontabs ------------------------------------------------------------------------------------------------------------

CRON_FIELD = st.lists(
    st.sampled_from(
        ["*", "0", "1", "5", "7", "9", "59", "60", "99", "-", ",", "/", "/0", "mon", "sun", "fri", "xyz", "L", "?", "#"]
    ),
    min_size=1,
    max_size=5,
).map("".join)


@SETTINGS
@given(
    st.one_of(
        st.lists(CRON_FIELD, min_size=5, max_size=5).map(" ".join),
        st.lists(CRON_FIELD, max_size=7).map(" ".join),
        st.text(max_size=30),
    )
)
@example("0 9 * * 1/x")
@example("0 9 * * 1-")
@example("0 9 * * -5")
@example("0 9 * * ,")
@example("0 9 * * 8")
@example("0 9 * * 1/99999999999999999999999")
@example("0 9 * * 1/²")
@example("0 9 * * ٣")
def test_a_crontab_is_read_or_refused_in_one_line(expr: str) -> None:
    try:
        cron_trigger(expr)
    except ValueError as exc:
        message = str(exc)
        assert message.strip() and "\n" not in message, message
        assert not JUNK.search(QUOTED.sub("", message)), message
        assert "invalid literal for" not in message, message  # int()'s words, not the crontab's problem
