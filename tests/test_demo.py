"""The demo: the shipped scenario plays end to end against the real app, the CLI prints the JSON summary, and a bad
scenario or a script that stalls says so plainly."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.demo import play
from sandbox.render import Printer, mrkdwn_plain
from sandbox.scenario import SCENARIOS, ScenarioError, load_scenario, parse_duration, shipped_scenarios


async def test_checkout_crash_storm_plays_to_resolution() -> None:
    summary = await play(load_scenario("checkout-crash-storm"), speed=600)

    assert summary["ok"], summary.get("error")
    incident = summary["incident"]
    assert incident["severity"] == "P2"
    assert incident["phase"] == "resolved"
    assert incident["channel"] == "#inc-4211-checkout-service"
    assert incident["pagerduty"]["status"] == "resolved"
    kinds = [e["kind"] for e in summary["timeline"]]
    for kind in (
        "triggered",
        "acknowledged",
        "channel_created",
        "card_posted",
        "triaged",
        "announced",
        "diagnosed",
        "proposed",
        "proposal_approved",
        "execution_started",
        "executed",
        "verifying",
        "verified",
        "resolved",
    ):
        assert kinds.count(kind) == 1, (kind, kinds)
    # the status page's resolved post comes after the resolution; everything else before it
    lifecycle = [k for k in kinds if not k.startswith("public_")]
    assert lifecycle[0] == "triggered" and lifecycle[-1] == "resolved"
    # customers were told, in the words Dana approved: created once, updated through the phases
    posts = incident["status_page"]["posts"]
    assert [(p["phase"], p["status"], p["by"]) for p in posts if p["status"] != "superseded"] == [
        ("identified", "published", "dana"),
        ("monitoring", "published", "dana"),
        ("resolved", "published", "dana"),
    ]
    [public] = incident["status_page"]["public"]
    assert public["status"] == "resolved" and public["updates"] == ["identified", "monitoring", "resolved"]
    assert public["name"] == "Partial outage of Checkout and Storefront"
    order = ["diagnosed", "proposed", "proposal_approved", "executed", "verified", "resolved"]
    assert [k for k in kinds if k in order] == order
    # the story of the product brief: memory pressure matched, the limit raised once, verified at 0.3%
    [proposal] = summary["proposals"]
    assert proposal["runbook"] == "memory-pressure"
    assert proposal["action"] == "Increase memory limit from 512Mi to 768Mi"
    assert len(proposal["plan_hash"]) == 64 and proposal["status"] == "executed"
    assert proposal["approvers"] == ["dana"] and proposal["agent"] == "k8s-autopilot" and proposal["verified"]
    verified = next(e for e in summary["timeline"] if e["kind"] == "verified")
    assert verified["text"] == "error_rate 0.3%"
    metrics = summary["metrics"]
    # the fix must hold for five virtual minutes before it is verified and Dana resolves
    assert metrics["time_to_acknowledge_s"] > 0
    assert metrics["time_to_resolve_s"] >= metrics["time_to_acknowledge_s"] + 300
    assert summary["slack_messages"] >= 4
    # the stakeholders on PagerDuty hear the findings and the verified fix as status updates
    findings, fix = incident["pagerduty"]["status_updates"]
    assert findings.startswith("sre-agent's findings: likely cause:") and "#inc-4211-checkout-service" in findings
    assert fix == (
        "sre-agent's remediation: Increase memory limit from 512Mi to 768Mi: carried out and verified, "
        "error_rate 0.3% (below 1.0%)."
    )


async def _cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_cli_demo_json_summary() -> None:
    code, out, err = await _cli("demo", "--json", "--speed", "600")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["scenario"] == "checkout-crash-storm"
    assert {"id", "severity", "phase", "channel"} <= set(summary["incident"])
    assert summary["incident"]["phase"] == "resolved"
    assert all({"at", "kind"} <= set(e) for e in summary["timeline"])
    assert set(summary["metrics"]) == {
        "time_to_detect_s",
        "time_to_acknowledge_s",
        "time_to_mitigate_s",
        "time_to_resolve_s",
    }
    assert summary["metrics"]["time_to_mitigate_s"] <= summary["metrics"]["time_to_resolve_s"]
    document = await asyncio.to_thread(Path(summary["postmortem"]["path"]).read_text, encoding="utf-8")
    assert document.startswith("# Postmortem: INC-4211")
    assert isinstance(summary["slack_messages"], int)


async def test_cli_demo_prints_the_conversation() -> None:
    code, out, err = await _cli("demo", "--speed", "600")
    assert code == 0, err
    assert "#inc-4211-checkout-service" in out
    assert "dana clicks [ Approve ]" in out
    assert "A2A: k8s-autopilot is asked to change checkout-service: Increase memory limit from 512Mi to 768Mi" in out
    assert "Verified: error rate is 0.3%, below 1.0% for 5 min" in out
    assert "dana clicks [ Resolve ]" in out
    assert "Findings" in out and "OOMKilled" in out
    assert "PagerDuty: #4211 resolved by sre-agent" in out
    assert "is resolved" in out.splitlines()[-1]
    assert "Its postmortem: " in out.splitlines()[-1] and ":memo: *Postmortem draft*" not in out  # rendered
    assert "📝 Postmortem draft for INC-4211" in out  # shared in the channel when it was resolved


async def test_cli_demo_unknown_scenario_is_one_clear_line() -> None:
    code, _out, err = await _cli("demo", "--scenario", "no-such-thing")
    assert code == 2
    shipped = ", ".join(shipped_scenarios())
    assert err.strip().splitlines() == [
        f"sre-agent: error: no scenario 'no-such-thing'; shipped: {shipped} (or give a .yml path)"
    ]


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "s.yml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "version: 2\nscript: [{say: hi}]\n",
            "s.yml: version: this sre-agent plays scenario format 1, the file says 2",
        ),
        ("version: 1\nscript: []\n", "s.yml: script: expected a non-empty list of steps"),
        ("version: 1\nscript: [{dance: now}]\n", "s.yml: script[0]: unknown step 'dance'"),
        ("version: 1\nscript: [{wait: {until: lunch}}]\n", "s.yml: script[0].wait.until: expected one of"),
        ("version: 1\nscript: [{wait: soon}]\n", "s.yml: script[0].wait: expected a duration"),
        ("version: 1\nscript: [{page: {service: nope, title: t}}]\n", "s.yml: script[0].page.service: no service"),
        (
            "version: 1\nscript: [{command: {user: jo, text: /incident}}]\n",
            "s.yml: script[0].command.user: 'jo' has no Slack account",
        ),
        (
            "version: 1\nscript: [{command: {user: dana, text: incident}}]\n",
            "s.yml: script[0].command.text: a slash command starts with '/'",
        ),
        ("version: 1\nworld: {people: 3}\nscript: [{say: hi}]\n", "s.yml: world:"),
        ("version: 1\npager: pagerdoody\nscript: [{say: hi}]\n", "s.yml: pager: expected one of pagerduty, opsgenie"),
        (
            "version: 1\nscript: [{opsgenie: {user: dana, action: resolve}}]\n",
            "s.yml: script[0].opsgenie.action: expected one of acknowledge, close, note, got 'resolve'",
        ),
        (
            "version: 1\ncatalog: {services: [{name: a, tier: 9}]}\nscript: [{say: hi}]\n",
            "s.yml: catalog: services[0].tier: Input should be less than or equal to 4, got 9",
        ),
    ],
)
def test_bad_scenarios_name_the_file_and_path(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(_write(tmp_path, body))
    assert str(caught.value).startswith(message), str(caught.value)


async def test_a_stalled_script_fails_with_a_reason(tmp_path: Path) -> None:
    # nobody resolves: the wait must fail, not hang, and the summary must say why
    scenario = load_scenario(
        _write(
            tmp_path,
            (
                "version: 1\nscript:\n"
                "  - page: {service: checkout-service, title: stuck}\n"
                "  - wait: {until: resolved, timeout: 1s}\n"
            ),
        )
    )
    summary = await play(scenario, speed=1, min_real_wait_s=0.5)
    assert not summary["ok"]
    assert summary["error"] == "the incident was not resolved within 1 seconds"
    assert summary["incident"]["phase"] != "resolved"


def test_durations() -> None:
    assert parse_duration("250ms", "p") == 0.25
    assert parse_duration("4m", "p") == 240
    assert parse_duration(90, "p") == 90
    assert parse_duration("1.5h", "p") == 5400


def test_terminal_rendering_shows_escaped_text_literally() -> None:
    names = {"U0DANA": "dana"}.get
    text = (
        "&lt;!channel&gt; &lt;https://evil.example|click&gt; by <@U0DANA> in <#C1|inc-1> <https://x.example|PD> :fire:"
    )
    shown = mrkdwn_plain(text, lambda u: names(u) or u, lambda c: c)
    assert shown == "<!channel> <https://evil.example|click> by @dana in #inc-1 PD (https://x.example) 🔥"


async def test_payments_timeout_names_the_database() -> None:
    printed = io.StringIO()
    summary = await play(load_scenario("payments-timeout"), speed=600, out=Printer(printed))
    assert summary["ok"], summary.get("error")
    assert summary["incident"]["service"] == "payments-api" and summary["incident"]["severity"] == "P2"
    assert summary["incident"]["phase"] == "resolved"
    assert sorted(e["agent"] for e in summary["evidence"]) == ["aws", "k8s-autopilot", "monitoring"]
    assert all(e["outcome"] == "answered" for e in summary["evidence"])
    monitoring = next(e for e in summary["evidence"] if e["agent"] == "monitoring")
    assert monitoring["signals"]["latency_p99_ms"] == 3200
    [top, *_] = summary["hypotheses"]
    assert "db-payments-prod" in top["text"] and "root cause" in top["text"] and top["confidence"] >= 0.85
    assert top["recommendations"][0] == "Add an index on transactions.user_id (manual: needs a DBA)."
    # through Slack: one findings message naming the database, and a thread with each question and answer
    findings = summary["findings"]
    assert "The database db-payments-prod is saturated (at 95% CPU)" in findings["text"]
    assert "Scale db-payments-prod up" in findings["text"] and "Unavailable" not in findings["text"]
    assert len(findings["thread"]) == 3
    assert any(t.startswith("*aws* (cloud) was asked:") and "CPU 95%" in t for t in findings["thread"])
    # the brief's two recommendations: the index by hand (a DBA's task, Done), and the scale-up to the next
    # instance class, approved, carried out once by the cloud agent, verified on the database's CPU and the p99
    index, scale = summary["proposals"]
    assert (index["runbook"], index["status"]) == ("slow-query-index", "executed")
    assert index["action"] == "Add an index on transactions.user_id (manual, requires a DBA)"
    assert (scale["runbook"], scale["status"], scale["agent"]) == ("database-scale-up", "executed", "aws")
    assert scale["action"] == "Scale db-payments-prod to db.r6g.xlarge (temporary relief)"
    assert scale["approvers"] == ["dana"] and scale["verified"] is True
    kinds = [e["kind"] for e in summary["timeline"]]
    assert kinds.count("execution_started") == 1 and kinds.count("executed") == 1
    assert kinds.count("verified") == 1 and kinds[-1] != "verification_failed"
    shown = printed.getvalue()
    assert "PagerDuty is paging the on-call. I've posted findings to the incident channel." in shown  # the thread
    assert "Verifying: CPU must stay below 70.0% and p99 latency below 500 ms" in shown
    assert shown.count("A2A: aws is asked to change payments-api") == 1
    assert not [e for e in summary["timeline"] if e["kind"] == "help_requested"]


async def test_payments_timeout_paged_through_opsgenie_runs_the_same_story_on_the_alert() -> None:
    printed = io.StringIO()
    summary = await play(load_scenario("payments-timeout-opsgenie"), speed=600, out=Printer(printed))
    assert summary["ok"], summary.get("error")
    incident = summary["incident"]
    assert incident["service"] == "payments-api" and incident["severity"] == "P2" and incident["phase"] == "resolved"
    assert "pagerduty" not in incident
    alert = incident["opsgenie"]
    assert alert["status"] == "closed" and alert["acknowledged"] is True  # acknowledged by sre-agent, closed at resolve
    assert alert["url"].startswith("https://acme.app.opsgenie.com/alert/detail/")
    kinds = [e["kind"] for e in summary["timeline"]]
    assert kinds[0] == "triggered" and "acknowledged" in kinds and "escalated" in kinds
    [top, *_] = summary["hypotheses"]
    assert "db-payments-prod" in top["text"]
    said = " ".join(printed.getvalue().split())
    assert "escalated this incident to level 2 on OpsGenie because the database needs a DBA" in said
    assert "Note from Sam Lee in OpsGenie" in said  # a username, named as people know them
    assert summary["metrics"]["time_to_acknowledge_s"] is not None
    notes = alert["notes"]  # the channel, the findings and the escalation's reason, as notes on the alert
    assert notes[0].startswith("Slack channel:") and any("likely cause" in n and "db-payments-prod" in n for n in notes)


async def test_checkout_crash_storm_finds_the_crash_loop() -> None:
    summary = await play(load_scenario("checkout-crash-storm"), speed=600)
    kubernetes = next(e for e in summary["evidence"] if e["agent"] == "k8s-autopilot")
    assert kubernetes["signals"]["pods"]["CrashLoopBackOff"] == 3 and "OOMKilled" in kubernetes["signals"]["pods"]
    monitoring = next(e for e in summary["evidence"] if e["agent"] == "monitoring")
    assert monitoring["signals"]["error_rate"] == 0.085
    assert "OOMKilled" in summary["hypotheses"][0]["text"]
    findings = summary["findings"]
    assert "3 pods in CrashLoopBackOff" in findings["text"] and "8.5%" in findings["text"]
    assert "512Mi -&gt; 768Mi" in findings["text"]  # as Slack receives it: escaped
    assert len(findings["thread"]) == 2  # an error-rate symptom asks monitoring and Kubernetes


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
async def test_cli_demo_interactive_lets_the_person_at_the_terminal_decide() -> None:
    import pty

    leader, follower = pty.openpty()
    try:
        os.write(leader, b"x\nr\nnot without a memory profile\n")  # a wrong key is asked again; then Reject, why
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "demo",
            "--interactive",
            "--speed",
            "600",
            env={**os.environ, "PYTHONIOENCODING": "utf-8"},
            stdin=follower,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out_b, err_b = await asyncio.wait_for(process.communicate(), 120)
    finally:
        os.close(follower)
        os.close(leader)
    out = out_b.decode()
    # the script goes on to wait for a verified fix, which a rejection never brings: the demo says so and stops
    assert process.returncode == 1, err_b.decode()
    assert "You decide, as dana: Proposed (Memory pressure): Increase memory limit from 512Mi to 768Mi" in out
    assert out.count("[a]pprove or [r]eject?") == 2
    assert "dana clicks [ Reject ]" in out
    assert "rejected Increase memory limit from 512Mi to 768Mi: not without a memory profile" in out
    assert "The demo stopped: the incident was not verified within 20 minutes" in out


async def test_cli_demo_interactive_needs_a_terminal() -> None:
    code, _out, err = await _cli("demo", "--interactive")
    assert code == 2 and "--interactive needs a terminal" in err


async def test_checkout_budget_answers_as_the_brief_and_the_approved_rollback_runs_in_its_incident() -> None:
    summary = await play(load_scenario("checkout-budget"), speed=300)
    assert summary["ok"], summary.get("error")
    [offer] = summary["offers"]
    said = offer["text"]
    # the brief: "⚠️ checkout-service error budget is at 15% remaining (30-day window). Current burn rate: 3.2x
    # normal. At this rate, the budget exhausts in ~4.7 days. Root cause: p99 latency increased from 180ms to 420ms
    # after yesterday's deploy (v2.3.1). Recommended action: 1. Roll back to v2.3.0 (saves ~2.1x burn rate)
    # 2. Investigate memory leak in v2.3.1. Execute rollback? [APPROVE / REJECT]"
    assert said.startswith(":warning: *Checkout availability* (checkout-service) error budget is at 15.0% remaining")
    assert "(30d rolling window)" in said and "3.2x normal" in said and "exhausts in ~4.7 days" in said
    assert "p99 latency of checkout-service increased from 180ms to 420ms after the deploy of v2.3.1 20 h ago" in said
    assert "1. Roll back checkout-service from v2.3.1 to v2.3.0 (saves ~2.1x burn rate: back to 1.1x normal" in said
    assert "2. Investigate the memory leak in v2.3.1." in said
    assert offer["status"] == "approved" and offer["decided_by"] == "dana" and offer["runbook"] == "deploy-regression"
    # the incident Dana's approval opened: the same plan, approved by her once, carried out, verified, resolved
    assert summary["incident"]["id"] == offer["incident"] and summary["incident"]["phase"] == "resolved"
    assert summary["incident"]["title"] == "checkout-service is burning its error budget 3.2x normal"
    [proposal] = summary["proposals"]
    assert proposal["plan_hash"] == offer["plan_hash"] and proposal["approvers"] == ["dana"]
    assert proposal["status"] == "executed" and proposal["verified"]
    assert "rolled back from v2.3.1 to v2.3.0" in proposal["outcome"]
    kinds = [e["kind"] for e in summary["timeline"]]
    assert kinds.count("proposal_approved") == 1 and "verified" in kinds and "resolved" in kinds


def _payments(tmp_path: Path, *, monitoring: dict[str, Any], aws_after: dict[str, Any], script: list[Any]) -> Path:
    """The payments story with other agents' answers and another script, as a scenario file."""
    data = yaml.safe_load((SCENARIOS / "payments-timeout.yml").read_text(encoding="utf-8"))
    for agent in data["agents"]:
        if agent["name"] == "monitoring":
            agent.update(monitoring)
        if agent["name"] == "aws":
            agent["after_change"] = {"payments-api": aws_after}
    data["script"] = script
    path = tmp_path / "payments.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


APPROVE_SCALE_UP = [
    {"mention": {"user": "sam", "in": "incidents", "text": "The payments API is timing out. Figure out what's wrong."}},
    {"wait": {"until": "proposed", "timeout": "2m"}},
    {"click": {"user": "dana", "action": "proposal.approve"}},
    {"wait": {"until": "checked", "timeout": "30m"}},
    {"command": {"user": "dana", "text": "/incident resolve db scaled up"}},
    {"wait": {"until": "resolved", "timeout": "2m"}},
]
SLOW_DB = (
    "Datadog: p99 latency for payments-api is 3.2s (normal: 200ms). Top query: SELECT * FROM transactions WHERE "
    "user_id = ? doing a full table scan on db-payments-prod."
)


async def test_a_database_fix_whose_cpu_only_the_cloud_agent_reports_is_verified_from_it(tmp_path: Path) -> None:
    # the monitoring agent says nothing of the database's CPU, before or after: only the cloud agent does
    monitoring = {
        "answers": {"payments-api": {"text": SLOW_DB, "data": {"latency_p99_ms": 3200}}},
        "after_change": {"payments-api": {"text": "p99 latency 240ms", "data": {"latency_p99_ms": 240}}},
    }
    cloud = {"text": "db-payments-prod (RDS, db.r6g.xlarge): CPU 38%.", "data": {"cpu": 0.38}}
    summary = await play(
        load_scenario(str(_payments(tmp_path, monitoring=monitoring, aws_after=cloud, script=APPROVE_SCALE_UP))),
        speed=600,
    )
    assert summary["ok"], summary.get("error")
    [verified] = [e for e in summary["timeline"] if e["kind"] == "verified"]
    assert verified["text"] == "cpu 38.0%"  # read from the cloud agent, the only one that reports it
    assert not [e for e in summary["timeline"] if e["kind"] in ("verification_failed", "escalated")]


AFTER_P99_ONLY = {"after_change": {"payments-api": {"text": "p99 latency 240ms", "data": {"latency_p99_ms": 240}}}}


async def test_a_fix_whose_signal_nobody_reports_any_more_is_unknown_not_failed(tmp_path: Path) -> None:
    printed = io.StringIO()
    blind = {"text": "db-payments-prod (RDS, db.r6g.xlarge): CloudWatch metrics are delayed.", "data": {}}
    summary = await play(
        load_scenario(str(_payments(tmp_path, monitoring=AFTER_P99_ONLY, aws_after=blind, script=APPROVE_SCALE_UP))),
        speed=600,
        out=Printer(printed),
    )
    assert summary["ok"], summary.get("error")
    kinds = [e["kind"] for e in summary["timeline"]]
    assert "verification_unknown" in kinds and "verification_failed" not in kinds and "escalated" not in kinds
    [unknown] = [e for e in summary["timeline"] if e["kind"] == "verification_unknown"]
    assert unknown["text"].startswith("no agent could report cpu (asked: ")
    said = " ".join(printed.getvalue().split())
    assert "could not be verified: no agent could report cpu" in said
    assert "Whether it helped is for the people on call to judge" in said
