"""Game days: `sre-agent record` writes a finished incident as a scenario, `sre-agent replay` plays it against this
sre-agent and its runbooks and says what differs from then.

Each shipped scenario the recorder can open again is played (the real app against the sandbox), its incident recorded
from the store, the file read back and replayed: the outcome is the same. With a runbook changed (the memory limit
raised only with two approvers) the replay shows the difference.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.store import Store
from sandbox.demo import play
from sandbox.gameday import RecordError, _stored_slack, compare, record, replay, side_by_side
from sandbox.scenario import ScenarioError, find_scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]
SPEED = 120
_played: dict[str, Path] = {}  # scenario name -> its SQLite file, played once for the whole run


async def _played_db(name: str, folder: Path) -> Path:
    """The store of the shipped scenario `name` played to its end (once per test run)."""
    if name not in _played:
        database = folder / f"{name}.db"
        summary = await play(load_scenario(name), speed=SPEED, database=database)
        assert summary["ok"], summary.get("error")
        _played[name] = database
    return _played[name]


async def _recorded(name: str, folder: Path) -> tuple[Path, dict[str, Any]]:
    """The incident of `name`'s play recorded as a scenario file (written in `folder`), and what was written."""
    database = await _played_db(name, folder)
    store = await Store.open(f"sqlite:///{database}")
    try:
        [incident] = await store.incidents()
        played = load_scenario(name)
        scenario = await record(store, incident, catalog=played.catalog, slos=played.slos)
    finally:
        await store.close()
    path = folder / f"recorded-{name}.yml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")
    return path, scenario


async def test_a_step_taken_after_a_fixs_check_waits_for_that_check_when_replayed(folder: Path) -> None:
    """payments-timeout: the database was scaled up and its fix checked, then the manual index was marked done. The
    replay waits for the scale-up's check before that click (under load the check may end later than it did), and
    the click's own wait is counted from the check."""
    _, scenario = await _recorded("payments-timeout", folder)
    steps = scenario["script"]
    approve = next(i for i, s in enumerate(steps) if s.get("click", {}).get("action") == "proposal.approve")
    done = next(i for i, s in enumerate(steps) if s.get("click", {}).get("action") == "proposal.done")
    between = [s["wait"] for s in steps[approve + 1 : done] if isinstance(s.get("wait"), dict)]
    assert [w["until"] for w in between] == ["checked", "proposed"], steps[approve + 1 : done]
    timed = steps[done - 1]["wait"]  # from the check's end to the click (from the approval it is some 350 s)
    assert timed.endswith("s") and int(timed[:-1]) < 60, timed


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gameday")


@pytest.mark.parametrize(
    "name", ["checkout-budget", "checkout-crash-storm", "payments-timeout", "payments-timeout-opsgenie"]
)
async def test_a_recorded_shipped_scenario_replays_to_the_same_outcome(name: str, folder: Path) -> None:
    path, written = await _recorded(name, folder)
    original = written["original"]
    assert original["phase"] == "resolved" and original["proposals"]
    result = await replay(load_scenario(str(path)), speed=SPEED)
    assert result["script_ok"], result["script_error"]
    assert result["same"] is True, result["differences"]
    assert result["now"]["phase"] == "resolved"
    assert [(p["runbook"], p["status"], p["verified"]) for p in result["now"]["proposals"]] == [
        (p["runbook"], p["status"], p["verified"]) for p in original["proposals"]
    ]
    assert "Same outcome as recorded." in side_by_side(result)


async def test_what_a_recording_holds(folder: Path) -> None:
    _path, scenario = await _recorded("checkout-crash-storm", folder)
    script = scenario["script"]
    assert script[1] == {
        "page": {
            "service": "checkout-service",
            "title": "checkout-service: error rate 8.5% (threshold 1%)",
            "priority": "P2",  # the severity it was paged at
            "urgency": "high",
        }
    }
    assert script[2] == {"wait": {"until": "channel", "timeout": "5m"}}
    # Dana approved the proposal a minute after she saw it, as the original script has her do
    approve = script.index({"click": {"user": "u0dana", "action": "proposal.approve", "proposal": 1}})
    assert script[approve - 2]["wait"]["until"] == "proposed"
    # 1m, give or take the moments between the proposal's posting and the play seeing it: at 120x a second is 8 ms of
    # real time, and on a busy machine those moments have made it 59 s
    took = script[approve - 1]["wait"]
    assert took.endswith("s") and 55 <= int(took[:-1]) <= 70
    assert scenario["world"]["pagerduty"]["next_incident_number"] == 4211  # replayed as INC-4211
    [policy] = scenario["world"]["escalation_policies"]
    assert policy["levels"] == [["u0dana"]]
    agents = {a["name"]: a for a in scenario["agents"]}
    assert agents["monitoring"]["answers"]["checkout-service"]["data"]["error_rate"] == 0.085
    # after the fix: the last reading the verification took; the change as the Kubernetes agent reported it
    assert agents["monitoring"]["after_change"]["checkout-service"]["data"]["error_rate"] == 0.003
    assert agents["k8s-autopilot"]["changes"]["checkout-service"]["outcome"] == "done"
    assert scenario["original"]["incident"] == "INC-4211"


async def test_replayed_with_a_changed_runbook_the_difference_is_shown(folder: Path) -> None:
    path, _ = await _recorded("checkout-crash-storm", folder)
    runbooks = folder / "runbooks-high-risk"
    shutil.rmtree(runbooks, ignore_errors=True)
    shutil.copytree(ROOT / "runbooks", runbooks, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    memory = runbooks / "memory-pressure.yml"
    memory.write_text(memory.read_text().replace("risk: medium", "risk: high"))  # two approvers now
    result = await replay(load_scenario(str(path)), runbooks=runbooks, speed=SPEED)
    assert result["same"] is False
    [proposal] = result["now"]["proposals"]
    assert proposal["approvals_needed"] == 2 and proposal["approvals"] == 1 and proposal["status"] != "executed"
    assert result["now"]["phase"] != "resolved"
    assert any(d.startswith("proposal 1: Increase memory limit") for d in result["differences"])
    shown = side_by_side(result)
    assert "1 of 2" in shown and "Different from what was recorded:" in shown


async def test_an_incident_opened_from_a_budget_offer_is_recorded_with_its_slos_and_the_question(
    folder: Path,
) -> None:
    """checkout-budget's incident was opened by approving the plan offered in an answer about the error budget. Its
    recording holds the service's SLOs, the snapshots that answer read (each day's, for the usual burn, and the one
    before the deploy it named), the counts the monitoring agent gave then and after the rollback, the question as
    Dana asked it, and her Approve on the offer, not a click on the proposal her approval was carried over to.
    Played again, the answer offers the same plan with the same figures."""
    path, scenario = await _recorded("checkout-budget", folder)
    script = scenario["script"]
    assert script[1:4] == [
        {"wait": {"until": "measured", "timeout": "5m"}},  # today's counts read before anyone asks
        {"mention": {"user": "u0dana", "text": "How's the checkout error budget looking?", "in": "incidents"}},
        {"wait": {"until": "offered", "timeout": "120s"}},
    ]
    # the minute Dana read the answer for: from its post to her click, as stored
    store = await Store.open(f"sqlite:///{await _played_db('checkout-budget', folder)}")
    try:
        [offer] = await store.offers()
        clicks = await store.inbound_between("slack", "block_actions", since=offer.created_at, until=offer.expires_at)
        [click] = [c for c in clicks if _stored_slack(c.body)["actions"][0]["action_id"] == "offer.approve"]
    finally:
        await store.close()
    posted = datetime.fromtimestamp(float(offer.message_ts or ""), UTC)
    assert script[4] == {"wait": f"{round((click.received_at - posted).total_seconds())}s"}
    assert 60 <= int(script[4]["wait"][:-1]) <= 65
    assert script[5] == {"click": {"user": "u0dana", "action": "offer.approve", "in": "incidents"}}
    assert not [s for s in script if "click" in s and s["click"]["action"].startswith("proposal.")]
    assert [(d["kind"], d["metadata"]["name"]) for d in scenario["slos"]] == [
        ("SLI", "checkout-requests-ok"),
        ("SLO", "checkout-availability"),
    ]
    daily, before_deploy = scenario["history"]  # four ordinary weeks, and the day before v2.3.1 went out
    assert daily["days"] == 28 and daily["counts"] == {"1d": {"total": 2880000, "bad": 864}}
    assert 86400 <= int(daily["ago"][:-1]) <= 86400 + 600  # a day before the question (asked soon after the start)
    assert before_deploy["counts"] == {"1d": {"total": 1000000, "bad": 330}} and "days" not in before_deploy
    monitoring = next(a for a in scenario["agents"] if a["role"] == "monitoring")
    assert monitoring["slis"]["checkout-availability"]["30d"] == {"total": 100000000, "bad": 85000}
    after = monitoring["slis_after_change"]["checkout-service"]["checkout-availability"]
    assert after["30d"] == {"total": 100000000, "bad": 85010}

    async def offered(database: Path) -> str:
        store = await Store.open(f"sqlite:///{database}")
        try:
            [offer] = await store.offers()
            return offer.shown
        finally:
            await store.close()

    replayed = folder / "replayed-checkout-budget.db"
    summary = await play(load_scenario(str(path)), speed=SPEED, database=replayed)
    assert summary["ok"], summary.get("error")
    shown = await offered(replayed)
    assert shown == await offered(await _played_db("checkout-budget", folder))
    assert "15.0% remaining" in shown and "3.2x normal" in shown and "back to 1.1x normal, as before v2.3.1" in shown


async def test_an_offer_asked_for_by_one_and_approved_by_another_is_replayed_so(folder: Path) -> None:
    """Dana asks about the budget, Sam approves the offer: the recording has her question and his click (and no
    click of his on the proposal his approval was carried over to), and replays to the same outcome."""
    data = yaml.safe_load(find_scenario("checkout-budget").read_text())
    [approve] = [s for s in data["script"] if s.get("click", {}).get("action") == "offer.approve"]
    approve["click"]["user"] = "sam"
    variant = folder / "checkout-budget-sam.yml"
    variant.write_text(yaml.safe_dump(data, sort_keys=False))
    database = folder / "checkout-budget-sam.db"
    summary = await play(load_scenario(str(variant)), speed=SPEED, database=database)
    assert summary["ok"], summary.get("error")
    store = await Store.open(f"sqlite:///{database}")
    try:
        [incident] = await store.incidents()
        played = load_scenario(str(variant))
        scenario = await record(store, incident, catalog=played.catalog, slos=played.slos)
    finally:
        await store.close()
    acts = [s for s in scenario["script"] if {"mention", "click", "command"} & set(s)]
    assert [next(iter(a.values()))["user"] for a in acts] == ["u0dana", "u0sam", "u0dana"]  # asks, approves, resolves
    assert acts[1]["click"]["action"] == "offer.approve"
    path = folder / "recorded-checkout-budget-sam.yml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    result = await replay(load_scenario(str(path)), speed=SPEED)
    assert result["script_ok"], result["script_error"]
    assert result["same"] is True, result["differences"]


async def test_an_incident_opened_from_a_budget_offer_needs_its_slos_to_be_recorded(folder: Path) -> None:
    database = await _played_db("checkout-budget", folder)
    store = await Store.open(f"sqlite:///{database}")
    try:
        [incident] = await store.incidents()
        with pytest.raises(
            RecordError,
            match=r"INC-\d+ was opened from an error budget offer \(approved by U0DANA\): record it with the SLOs "
            r"sre-agent ran with \(SRE_SLOS_PATH\)",
        ):
            await record(store, incident)
        others = [d for d in load_scenario("checkout-budget").slos if d["kind"] == "SLI"] + [
            {**d, "spec": {**d["spec"], "service": "payments-api"}}
            for d in load_scenario("checkout-budget").slos
            if d["kind"] == "SLO"
        ]
        with pytest.raises(
            RecordError,
            match=r"none of the SLOs given \(SRE_SLOS_PATH\) is of checkout-service \(they are of: payments-api\)",
        ):
            await record(store, incident, slos=others)
    finally:
        await store.close()


def test_the_comparison_names_each_difference() -> None:
    then = {"phase": "resolved", "proposals": [{"runbook": "a", "action": "do A", "status": "executed"}]}
    assert compare(then, then)["same"] is True
    now = {"phase": "mitigated", "proposals": [{"runbook": "b", "action": "do B", "status": "proposed"}]}
    assert compare(then, now)["differences"] == [
        "it ended mitigated, not resolved",
        "proposal 1: do B from b, proposed now (then: do A from a, executed)",
    ]
    assert compare(then, {**then, "proposals": []})["differences"] == [
        "proposal 1: none now (then: do A from a, executed)"
    ]
    assert compare(None, now)["same"] is None


def test_a_click_names_a_proposal_only_as_a_number_and_only_on_a_proposal(tmp_path: Path) -> None:
    base = yaml.safe_load((ROOT / "sandbox" / "scenarios" / "checkout-crash-storm.yml").read_text())

    def load(step: dict[str, Any], **extra: Any) -> None:
        path = tmp_path / "s.yml"
        path.write_text(yaml.safe_dump({**base, **extra, "script": [step]}))
        load_scenario(str(path))

    load({"click": {"user": "dana", "action": "proposal.approve", "proposal": 2}})
    with pytest.raises(ScenarioError, match=r"script\[0\]\.click\.proposal: expected 1 or more"):
        load({"click": {"user": "dana", "action": "proposal.approve", "proposal": 0}})
    with pytest.raises(ScenarioError, match="only a proposal's buttons"):
        load({"click": {"user": "dana", "action": "incident.resolve", "proposal": 1}})
    with pytest.raises(ScenarioError, match="original: expected a mapping"):
        load({"say": "hi"}, original=[1])


async def _cli(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )
    out, err = await asyncio.wait_for(process.communicate(), 300)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_sre_agent_record_then_replay_from_the_command_line(folder: Path) -> None:
    database = await _played_db("checkout-crash-storm", folder)
    catalog = folder / "catalog.yml"
    catalog.write_text(yaml.safe_dump(load_scenario("checkout-crash-storm").catalog))
    env = {"SRE_DATABASE_URL": f"sqlite:///{database}", "SRE_CATALOG_PATH": str(catalog)}
    out_file = folder / "cli-recorded.yml"
    code, out, err = await _cli("record", "INC-4211", "-o", str(out_file), env=env)
    assert code == 0, err
    assert out.startswith(f"INC-4211 recorded in {out_file}: ") and "sre-agent replay" in out
    assert out_file.read_text().startswith("# Recorded by `sre-agent record`")
    assert "warning" not in err
    code, _out, err = await _cli("record", "INC-9", "-o", str(folder / "none.yml"), env=env)
    assert code == 2 and "no incident INC-9 in the database" in err
    code, _out, err = await _cli("record", "INC-4211", "-o", "-", env={**env, "SRE_SLOS_PATH": str(folder / "no.yml")})
    assert code == 0, err  # its SLOs are not needed: a paged incident
    code, out, err = await _cli("record", "INC-4211", "-o", "-", env={**env, "SRE_CATALOG_PATH": ""})
    assert code == 0 and out.startswith("# Recorded by") and "SRE_CATALOG_PATH is not set" in err
    code, out, err = await _cli("replay", str(out_file), "--speed", str(SPEED))
    assert code == 0, err
    assert "Same outcome as recorded." in out and "proposal 1" in out
    bad = folder / "bad.yml"
    bad.write_text("version: 2\n")
    code, _out, err = await _cli("replay", str(bad))
    assert code == 2 and "version" in err
    # an incident opened from an error budget offer: recorded with the SLOs sre-agent ran with, and not without
    budget = load_scenario("checkout-budget")
    slos = folder / "slos.yml"
    slos.write_text(yaml.safe_dump_all(budget.slos, sort_keys=False))
    catalog.write_text(yaml.safe_dump(budget.catalog))
    env = {
        "SRE_DATABASE_URL": f"sqlite:///{await _played_db('checkout-budget', folder)}",
        "SRE_CATALOG_PATH": str(catalog),
    }
    code, _out, err = await _cli("record", "INC-4630", "-o", "-", env=env)
    assert code == 2 and "record it with the SLOs sre-agent ran with (SRE_SLOS_PATH)" in err
    code, out, err = await _cli("record", "INC-4630", "-o", "-", env={**env, "SRE_SLOS_PATH": str(slos)})
    assert code == 0, err
    recorded = yaml.safe_load(out)
    assert recorded["slos"] == budget.slos and recorded["history"][0]["days"] == 28
    assert "warning" not in err
    settings = {"SRE_SLOS_PATH": str(slos), "SRE_BUDGET_FAST_APPROVERS": "2"}
    code, out, err = await _cli("record", "INC-4630", "-o", "-", env={**env, **settings})
    assert code == 0 and "warning: SRE_BUDGET_FAST_APPROVERS set here: a replay runs with the defaults" in err
    # a bad SLO file is said only where it is needed: not for a paged incident, but for this one
    broken = {"SRE_SLOS_PATH": str(folder / "none.yml")}
    code, out, err = await _cli("record", "INC-4630", "-o", "-", env={**env, **broken})
    assert code == 2 and "record it with the SLOs sre-agent ran with" in err and "none.yml" in err


async def test_a_demo_kept_with_keep_is_recorded_and_replayed_with_the_commands_it_prints(tmp_path: Path) -> None:
    """A new user's game day: `sre-agent demo --keep DIR` keeps the demo's database, catalog and SLOs and prints how
    to record its incident and replay it; those commands, run as printed from another folder, give the same
    outcome (the folder is given relative to where the demo ran, with a space in its name)."""
    kept = tmp_path / "kept here"
    code, out, err = await _cli(
        "demo", "--scenario", "checkout-budget", "--speed", str(SPEED), "--keep", "kept here", cwd=tmp_path
    )
    assert code == 0, err
    assert sorted(p.name for p in kept.glob("*.yml")) == ["catalog.yml", "slos.yml"]
    record_line, replay_line = [shlex.split(line) for line in out.splitlines()[-2:]]
    *assignments, sre_agent, command, label, flag, recorded = record_line
    assert (sre_agent, command, label, flag) == ("sre-agent", "record", "INC-4630", "-o")
    assert recorded == str(kept / "INC-4630.yml")
    env = dict(a.split("=", 1) for a in assignments)
    assert env == {
        "SRE_DATABASE_URL": f"sqlite:///{kept / 'sre-agent.db'}",
        "SRE_CATALOG_PATH": str(kept / "catalog.yml"),
        "SRE_SLOS_PATH": str(kept / "slos.yml"),
    }
    code, out, err = await _cli(command, label, flag, recorded, env=env)  # from the project's folder
    assert code == 0, err
    assert "warning" not in err  # the question and the click were found as they were stored
    assert replay_line == ["sre-agent", "replay", recorded]
    code, out, err = await _cli("replay", recorded, "--speed", str(SPEED))
    assert code == 0, err
    assert "Same outcome as recorded." in out
    code, _out, err = await _cli("demo", "--keep", str(kept))  # not over a kept database
    assert code == 2 and "sre-agent.db exists already" in err


def test_stored_slack_requests_are_read_over_http_and_socket_mode_alike() -> None:
    """The question and the click a recording looks for, as the Slack inbox stores them: an Events API body or a
    form-encoded interaction over HTTP, or an envelope's payload from Socket Mode."""
    from urllib.parse import urlencode

    from bot.adapters.slack.inbox import stored_envelope, stored_request

    event = {"type": "event_callback", "event": {"type": "app_mention", "user": "U0DANA", "text": "<@U0SRE> budget?"}}
    click = {"type": "block_actions", "user": {"id": "U0DANA"}, "actions": [{"action_id": "offer.approve"}]}
    as_json, as_form = {"Content-Type": "application/json"}, {"Content-Type": "application/x-www-form-urlencoded"}
    assert _stored_slack(stored_request(json.dumps(event), "", as_json)) == event
    assert _stored_slack(stored_request(urlencode({"payload": json.dumps(click)}), "", as_form)) == click
    assert _stored_slack(stored_envelope(event)) == event
    assert _stored_slack(stored_envelope(click)) == click
    assert _stored_slack("not json") == {} and _stored_slack('{"body": "[1]"}') == {}


def test_history_keeps_a_day_without_data_and_writes_a_run_of_days_once() -> None:
    """A snapshot with no data (the agent did not answer) is kept, so that the usual burn skips that day as it did;
    the days around it, a day apart with the same counts, are written as runs."""
    from bot.domain.slo import Counts
    from bot.store.slos import Snapshot
    from sandbox.gameday import _history

    asked = datetime(2026, 12, 6, 12, tzinfo=UTC)
    same = {"1d": Counts(864, 2880000)}
    snaps = [
        Snapshot("checkout-availability", "checkout-service", asked - timedelta(days=d, seconds=30), counts)
        for d, counts in [(5, same), (4, same), (3, {"1d": None}), (2, same), (1, same)]
    ]
    assert _history(snaps, asked) == [
        {"slo": "checkout-availability", "ago": "345630s", "counts": {"1d": {"total": 2880000, "bad": 864}}, "days": 2},
        {"slo": "checkout-availability", "ago": "259230s", "counts": {}},
        {"slo": "checkout-availability", "ago": "86430s", "counts": {"1d": {"total": 2880000, "bad": 864}}, "days": 2},
    ]


def test_what_someone_did_in_the_pager_is_recorded_but_not_the_pagers_own_events() -> None:
    from bot.domain.timeline import EventKind, TimelineEvent
    from sandbox.gameday import _pager_act

    at = datetime(2026, 12, 6, tzinfo=UTC)
    note = TimelineEvent(at, EventKind.NOTE, "pagerduty:Dana Ortiz", "Rolled back by hand", ref="pagerduty-note:N1")
    assert _pager_act(note, "pagerduty", "dana-ortiz") == {
        "pagerduty": {"user": "dana-ortiz", "action": "note", "text": "Rolled back by hand"}
    }
    reassigned = TimelineEvent(
        at, EventKind.NOTE, "pagerduty:Dana Ortiz", "incident.reassigned", ref="pagerduty-event:E1"
    )
    assert _pager_act(reassigned, "pagerduty", "dana-ortiz") is None
    closed = TimelineEvent(at, EventKind.RESOLVED, "opsgenie:Sam Lee")
    assert _pager_act(closed, "opsgenie", "sam-lee") == {"opsgenie": {"user": "sam-lee", "action": "close"}}
