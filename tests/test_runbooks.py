"""Runbooks: the eight shipped ones load, bad files are named precisely, triggers match the signals the agents
report, and a plan's hash covers every part of the plan."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.config.runbooks import load_runbooks
from bot.domain.runbooks import Risk, match
from bot.domain.signals import from_text
from bot.errors import ConfigError

SHIPPED = load_runbooks()
TARGET = {"service": "checkout-service", "namespace": "shop", "release": "checkout"}


def test_the_eight_shipped_runbooks() -> None:
    assert [r.name for r in SHIPPED] == [
        "database-saturation",
        "database-scale-up",
        "deploy-regression",
        "high-error-rate",
        "memory-pressure",
        "pod-crash-storm",
        "slow-query-index",
        "upstream-timeout",
    ]
    memory = next(r for r in SHIPPED if r.name == "memory-pressure")
    assert memory.action == "Increase memory limit from 512Mi to 768Mi" and memory.delegate == "kubernetes"
    assert memory.verification is not None and memory.verification.below == 0.01
    assert memory.verification.window_s == 300
    assert all(r.follow_up for r in SHIPPED)


def test_the_checkout_crash_storm_matches_memory_pressure_first() -> None:
    signals = from_text("error rate 8.5%. 3 pods in CrashLoopBackOff, last state OOMKilled.")
    plans = match(SHIPPED, signals, TARGET)
    assert [p.runbook for p in plans] == ["memory-pressure", "high-error-rate"]
    assert plans[0].reasons == ("pods were OOMKilled",)
    # a storm of more than three pods brings in the crash-storm runbook too
    storm = match(SHIPPED, from_text("5 pods in CrashLoopBackOff"), TARGET)
    assert [p.runbook for p in storm] == ["pod-crash-storm"]


@pytest.mark.parametrize(
    ("words", "runbook"),
    [
        ("DB connections 450/500", "database-saturation"),
        ("p99 latency 7.5s (normal: 200ms)", "upstream-timeout"),
        ("error rate 2%", "high-error-rate"),
    ],
)
def test_each_trigger(words: str, runbook: str) -> None:
    assert [p.runbook for p in match(SHIPPED, from_text(words), TARGET)] == [runbook]


def test_a_database_at_high_cpu_with_a_full_table_scan() -> None:
    """The brief's payments story: the index by hand (a DBA), and the next instance class up as relief."""
    signals = from_text(
        "RDS instance db-payments-prod (db.r6g.large) is at 95% CPU. Top query: SELECT * FROM transactions "
        "WHERE user_id = ? doing a full table scan."
    )
    index, scale = match(SHIPPED, signals, {"service": "payments-api", "namespace": "payments"})
    assert (index.runbook, index.manual) == ("slow-query-index", True)
    assert index.action == "Add an index on transactions.user_id (manual, requires a DBA)"
    assert (scale.runbook, scale.manual) == ("database-scale-up", False)
    assert scale.action == "Scale db-payments-prod to db.r6g.xlarge (temporary relief)"
    assert scale.parameters == {"database": "db-payments-prod", "from": "db.r6g.large", "to": "db.r6g.xlarge"}
    # without a named database and its class the plan would not be exact: no scale-up
    assert [p.runbook for p in match(SHIPPED, from_text("CPU at 95%"), {"service": "x"})] == []


@pytest.mark.parametrize(
    ("size", "after"),
    [("db.r6g.large", "db.r6g.xlarge"), ("db.r6g.xlarge", "db.r6g.2xlarge"), ("db.m5.16xlarge", None)],
)
def test_the_next_instance_class(size: str, after: str | None) -> None:
    from bot.domain.runbooks import next_size

    assert next_size(size) == after


SLOWER_SINCE_V231 = (
    "checkout-service p99 latency 420ms over the last 1d (normal: 180ms). "
    "Deployment checkout rolled out v2.3.1 20h ago (from v2.3.0)."
)


def test_a_deploy_that_made_p99_more_than_twice_as_slow_is_rolled_back_to_the_version_it_replaced() -> None:
    [plan] = match(SHIPPED, from_text(SLOWER_SINCE_V231), TARGET)
    assert plan.runbook == "deploy-regression" and plan.kind == "rollback"
    assert plan.action == "Roll back checkout-service from v2.3.1 to v2.3.0"  # exact: the versions are filled in
    assert plan.parameters == {"from_version": "v2.3.1", "to_version": "v2.3.0"}
    assert plan.reasons == ("p99 latency 420ms is 2.3x its normal 180ms", "v2.3.1 was deployed")
    assert plan.reversible and plan.risk is Risk.MEDIUM


@pytest.mark.parametrize(
    "words",
    [
        "checkout-service p99 latency 420ms (normal: 180ms). Deployment checkout rolled out v2.3.1 20h ago.",
        "checkout-service p99 latency 300ms (normal: 180ms). Deployment rolled out v2.3.1 (from v2.3.0).",
        "checkout-service p99 latency 420ms (normal: 180ms). No deploys in the last day.",
    ],
    ids=["what-it-replaced-is-unknown", "not-twice-as-slow", "no-deploy"],
)
def test_no_rollback_is_proposed_without_an_exact_version_or_a_regression(words: str) -> None:
    assert [p.runbook for p in match(SHIPPED, from_text(words), TARGET)] == []


def test_nothing_matches_healthy_signals() -> None:
    assert match(SHIPPED, from_text("All pods are healthy, error rate 0.2%, p99 300ms"), TARGET) == []


def test_the_plan_hash_covers_every_part() -> None:
    [plan, *_] = match(SHIPPED, from_text("3 pods OOMKilled"), TARGET)
    assert len(plan.hash) == 64 and plan.hash == dataclasses.replace(plan).hash
    for change in (
        {"parameters": {"from": "512Mi", "to": "1Gi"}},
        {"target": {**TARGET, "namespace": "prod"}},
        {"risk": Risk.HIGH},
        {"reversible": False},
        {"action": "something else"},
    ):
        assert dataclasses.replace(plan, **change).hash != plan.hash, change


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: x\ntitle: t\ntrigger: {}\naction: a\nkind: k\ndelegate: kubernetes\nrisk: low\nreversible: true\n"
            "expected: e\n",
            "x.yml: trigger: a trigger needs at least one condition",
        ),
        (
            "name: x\ntitle: t\ntrigger: {oom: true}\naction: a\nkind: k\nrisk: extreme\nreversible: true\n"
            "expected: e\ndelegate: cloud\n",
            "x.yml: risk: Input should be",
        ),
        (
            "name: x\ntitle: t\ntrigger: {oom: true}\naction: a\nkind: k\nrisk: low\nreversible: true\nexpected: e\n",
            "x.yml: a runbook that is not manual needs a delegate",
        ),
        (
            "name: x\ntitle: t\ntrigger: {p99_above: soon}\naction: a\nkind: k\nrisk: low\nreversible: true\n"
            "expected: e\ndelegate: monitoring\n",
            "x.yml: expected a duration such as 30s, 5m or 1h, got 'soon'",
        ),
        (
            "name: x\ntitle: t\ntrigger: {oom: true}\naction: a\nkind: k\nrisk: low\nreversible: true\nexpected: e\n"
            "delegate: cloud\ncolour: red\n",
            "x.yml: colour: unknown key",
        ),
    ],
)
def test_bad_runbooks_name_file_place_and_problem(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "x.yml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_runbooks(tmp_path)
    assert str(caught.value).replace(str(tmp_path) + "/", "").startswith(message), str(caught.value)


def test_a_manual_runbook_needs_no_delegate(tmp_path: Path) -> None:
    (tmp_path / "index.yml").write_text(
        "name: add-index\ntitle: Add an index\ntrigger: {cpu_above: 0.9}\naction: Add the missing index\n"
        "kind: manual\nrisk: medium\nreversible: true\nexpected: Queries stop scanning the table\nmanual: true\n"
    )
    [runbook] = load_runbooks(tmp_path)
    assert runbook.manual and runbook.delegate is None
