"""OpenSLO files as teams write them: v1 (the format) and v1alpha (what Sloth reads); a file that breaks the spec is
refused with the file, the object, the field and the reason."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import pytest

from bot.config.slos import load_slos, parse_slos
from bot.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

SLO = """\
apiVersion: openslo/v1
kind: SLO
metadata: {name: checkout-availability}
spec:
  service: checkout-service
  indicatorRef: checkout-ok
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.999}]
"""
SLI = """\
apiVersion: openslo/v1
kind: SLI
metadata: {name: checkout-ok}
spec:
  ratioMetric:
    counter: true
    good: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(ok[5m]))'}}}
    total: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(all[5m]))'}}}
"""


def parse(*docs: str) -> list:  # type: ignore[type-arg]
    return parse_slos([("slos.yml", "---\n".join(docs))])


def test_the_shipped_examples_load() -> None:
    definitions = {d.slo.name: d for d in load_slos(EXAMPLES / "slos.yml")}
    assert sorted(definitions) == ["checkout-availability", "payments-latency", "search-availability"]
    checkout = definitions["checkout-availability"]
    assert checkout.slo.objective == Fraction(999, 1000) and checkout.slo.period == timedelta(days=30)
    assert checkout.indicator["ratioMetric"]["good"]["metricSource"]["metricSourceRef"] == "prometheus"
    assert "code!~" in checkout.indicator["ratioMetric"]["good"]["metricSource"]["spec"]["query"]  # as written
    payments = definitions["payments-latency"]
    assert payments.slo.objective == Fraction(99, 100) and payments.slo.period_name == "28d"
    assert "bad" in payments.indicator["ratioMetric"]
    search = definitions["search-availability"]  # v1alpha, the way Sloth reads it
    assert search.slo.objective == Fraction(995, 1000) and search.slo.period_name == "30d"
    assert search.indicator["ratioMetric"]["total"]["metricSource"]["spec"]["query"].startswith("sum(rate(")


def test_a_folder_is_read_file_by_file_and_references_resolve_across_files(tmp_path: Path) -> None:
    (tmp_path / "a-sli.yaml").write_text(SLI)
    (tmp_path / "b-slo.yml").write_text(SLO)
    (tmp_path / "notes.txt").write_text("not yaml: [")
    [definition] = load_slos(tmp_path)
    assert definition.slo.name == "checkout-availability" and definition.source.endswith("b-slo.yml")


def test_several_objectives_are_several_slos_and_percent_targets_are_exact() -> None:
    slo = SLO.replace(
        "objectives: [{target: 0.999}]",
        "objectives: [{displayName: Most, targetPercent: 99.9}, {displayName: Nearly all, target: 0.99}]",
    )
    names = {d.slo.name: d.slo.objective for d in parse(slo, SLI)}
    assert names == {
        "checkout-availability/most": Fraction(999, 1000),
        "checkout-availability/nearly-all": Fraction(99, 100),
    }


def test_a_calendar_window_and_timeslices() -> None:
    slo = (
        SLO.replace(
            "timeWindow: [{duration: 30d, isRolling: true}]",
            "timeWindow: [{duration: 1M, calendar: {startTime: 2026-01-01 00:00:00, timeZone: Europe/Berlin}}]",
        )
        .replace("Occurrences", "Timeslices")
        .replace(
            "objectives: [{target: 0.999}]", "objectives: [{target: 0.99, timeSliceTarget: 0.95, timeSliceWindow: 5m}]"
        )
    )
    [d] = parse(slo, SLI)
    assert d.slo.period == timedelta(days=30) and not d.slo.rolling and d.slo.budgeting == "Timeslices"
    assert d.time_slice == {"target": 0.95, "window": "5m"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("openslo/v1", "openslo/v2"),
            "slos.yml: document 1: apiVersion: expected openslo/v1 (or openslo/v1alpha), got 'openslo/v2'",
        ),
        (("kind: SLO", "kind: Slo"), "slos.yml: document 1: kind: expected one of SLO, SLI"),
        (
            ("name: checkout-availability", "name: Checkout_Availability"),
            "slos.yml: document 1 (SLO): metadata.name: expected a name of lowercase letters, digits and dashes",
        ),
        (
            ("target: 0.999", "target: 1.0"),
            "slos.yml: SLO checkout-availability: spec.objectives[0].target: Input should be less than 1, got 1.0",
        ),
        (("target: 0.999", "targetPercent: 100"), "spec.objectives[0].targetPercent: Input should be less than 100"),
        (
            ("target: 0.999", "target: 0.999, targetPercent: 99.9"),
            "spec.objectives[0]: an objective needs exactly one of target (0.999) and targetPercent (99.9)",
        ),
        (("  service: checkout-service\n", ""), "slos.yml: SLO checkout-availability: spec.service: required"),
        (
            ("duration: 30d", "duration: 30days"),
            "spec.timeWindow[0].duration: expected a duration such as 28d, 4w or 1M",
        ),
        (("duration: 30d", "duration: 1d"), "spec.timeWindow: the period must be at least 3 days"),
        (
            ("isRolling: true", "isRolling: false"),
            "spec.timeWindow[0]: a time window is rolling (isRolling: true) or has a calendar",
        ),
        (("Occurrences", "RatioTimeslices"), "spec: budgetingMethod RatioTimeslices is not supported"),
        (
            ("Occurrences", "Timeslices"),
            "spec: objectives[0]: Timeslices budgeting needs timeSliceTarget and timeSliceWindow",
        ),
        (
            ("indicatorRef: checkout-ok", "indicatorRef: nothing-here"),
            "spec.indicatorRef: no SLI named 'nothing-here' in these files",
        ),
        (("  budgetingMethod", "  colour: blue\n  budgetingMethod"), "spec.colour: unknown key"),
    ],
)
def test_a_file_that_breaks_the_spec_is_refused_with_the_place_and_the_reason(
    change: tuple[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(SLO.replace(*change), SLI)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("    good: {", "    bad: {metricSource: {type: P, spec: {query: b}}}\n    good: {"),
            "exactly one of good and bad",
        ),
        (("spec: {query: 'sum(rate(ok[5m]))'}", "spec: {}"), "metricSource.spec must say what to query"),
        (
            ("type: Prometheus, spec: {query: 'sum(rate(ok", "spec: {query: 'sum(rate(ok"),
            "needs a type (or a metricSourceRef",
        ),
    ],
)
def test_an_sli_that_breaks_the_spec_is_refused(change: tuple[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(SLO, SLI.replace(*change))
    assert str(caught.value).startswith("slos.yml: SLI checkout-ok: spec.ratioMetric") and message in str(caught.value)


def test_alert_policies_are_read_and_their_references_checked() -> None:
    policy = """\
apiVersion: openslo/v1
kind: AlertPolicy
metadata: {name: fast-burn}
spec:
  alertWhenBreaching: true
  conditions: [{conditionRef: burning}]
  notificationTargets: [{targetRef: on-call}]
"""
    condition = """\
apiVersion: openslo/v1
kind: AlertCondition
metadata: {name: burning}
spec:
  severity: page
  condition: {kind: burnrate, op: gt, threshold: 14.4, lookbackWindow: 1h, alertAfter: 5m}
"""
    target = "apiVersion: openslo/v1\nkind: AlertNotificationTarget\nmetadata: {name: on-call}\nspec: {target: slack}\n"
    slo = SLO + "  alertPolicies: [{alertPolicyRef: fast-burn}]\n"
    assert len(parse(slo, SLI, policy, condition, target)) == 1
    with pytest.raises(
        ConfigError,
        match=r"AlertPolicy fast-burn: spec.conditions\[0\].conditionRef: no AlertCondition named 'burning'",
    ):
        parse(slo, SLI, policy, target)
    with pytest.raises(
        ConfigError, match=r"AlertCondition burning: spec.condition.lookbackWindow: expected a duration"
    ):
        parse(slo, SLI, policy, condition.replace("lookbackWindow: 1h", "lookbackWindow: soon"), target)


def test_names_must_be_unique_and_yaml_must_be_yaml() -> None:
    with pytest.raises(ConfigError, match="'checkout-availability' is also the name of another SLO"):
        parse(SLO, SLI, SLO)
    with pytest.raises(ConfigError, match=r"slos\.yml: not valid YAML"):
        parse_slos([("slos.yml", "kind: [")])


def test_a_sloth_file_with_another_unit_or_no_ratio_is_refused_plainly() -> None:
    sloth = (EXAMPLES / "slos.yml").read_text().split("# openslo/v1alpha, as Sloth reads it, is read too\n")[1]
    with pytest.raises(ConfigError, match=r"SLO search-availability: spec.timeWindows\[0\].unit: Input should be"):
        parse(sloth.replace("unit: Day", "unit: Fortnight"))
    with pytest.raises(ConfigError, match=r"spec: objectives\[0\]: give ratioMetrics"):
        parse(sloth.split("    - ratioMetrics:")[0] + "    - target: 0.99\n  timeWindows: [{count: 30, unit: Day}]\n")


def _slo_status(*args: str) -> subprocess.CompletedProcess[str]:
    """`sre-agent slo status ARGS` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "slo", "status", *args], capture_output=True, text=True, timeout=60
    )


def test_the_cli_names_a_bad_file_and_a_bad_counts_file(tmp_path: Path) -> None:
    bad = tmp_path / "slos.yml"
    bad.write_text(SLO.replace("target: 0.999", "target: 1.0") + "---\n" + SLI)
    run = _slo_status("--slos", str(bad), "--counts", str(tmp_path / "c.json"))
    assert run.returncode != 0 and run.stdout == ""
    assert f"{bad}: SLO checkout-availability: spec.objectives[0].target: Input should be less than 1" in run.stderr
    counts = tmp_path / "c.json"
    counts.write_text('{"checkout-availability": {"7d": {"total": 10, "good": 9}}}')
    run = _slo_status("--slos", str(EXAMPLES / "slos.yml"), "--counts", str(counts))
    assert run.returncode != 0
    assert (
        "checkout-availability.7d: not a window of this SLO (its windows: 5m, 30m, 1h, 2h, 6h, 1d, 3d, 30d)"
        in run.stderr
    )
    counts.write_text('{"checkout-availability": {"1h": {"total": 10, "good": 11}}}')
    run = _slo_status("--slos", str(EXAMPLES / "slos.yml"), "--counts", str(counts))
    assert run.returncode != 0 and "checkout-availability.1h: more good events than events in all" in run.stderr


def test_the_cli_table_for_the_example(tmp_path: Path) -> None:
    run = _slo_status(
        "--slos",
        str(EXAMPLES / "slos.yml"),
        "--counts",
        str(EXAMPLES / "slo-counts.json"),
        "--service",
        "checkout-service",
    )
    assert run.returncode == 0, run.stderr
    head, row = run.stdout.splitlines()
    assert head.split()[:6] == ["SLO", "SERVICE", "OBJECTIVE", "PERIOD", "DATA", "BUDGET"]
    assert row.split()[:9] == [
        "checkout-availability",
        "checkout-service",
        "99.9%",
        "30d",
        "ok",
        "warning",
        "15.0%",
        "0.96x",
        "0.90x",
    ]
    assert "4.7 d" in row


def test_maintenance_windows_one_off_and_recurring() -> None:
    from datetime import UTC, datetime

    from bot.config.maintenance import parse_maintenance
    from bot.domain.maintenance import covering

    plan = parse_maintenance(
        {
            "version": 1,
            "windows": [
                {
                    "name": "db",
                    "services": ["payments-api"],
                    "start": "2026-12-05T02:00:00Z",
                    "end": "2026-12-05T04:00:00Z",
                },
                {"name": "deploys", "every": "0 2 * * 6", "timezone": "Europe/Berlin", "for": "1h"},
            ],
        },
        "maintenance.yml",
    )
    saturday = datetime(2026, 12, 5, 1, 30, tzinfo=UTC)  # 02:30 in Berlin: the weekly window, and not yet the db one
    assert [w.name for w in plan.at(saturday)] == ["deploys"]
    assert (
        covering(
            plan.at(datetime(2026, 12, 5, 2, 30, tzinfo=UTC)), "payments-api", datetime(2026, 12, 5, 2, 30, tzinfo=UTC)
        ).name
        == "db"
    )  # type: ignore[union-attr]
    assert (
        covering(
            plan.at(datetime(2026, 12, 5, 3, 0, tzinfo=UTC)),
            "checkout-service",
            datetime(2026, 12, 5, 3, 0, tzinfo=UTC),
        )
        is None
    )
    weeks = plan.between(datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 29, tzinfo=UTC))
    assert [w.start.isoformat() for w in weeks if w.name == "deploys"] == [
        "2026-12-05T01:00:00+00:00",
        "2026-12-12T01:00:00+00:00",
        "2026-12-19T01:00:00+00:00",
        "2026-12-26T01:00:00+00:00",
    ]


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ({"name": "x", "start": "2026-12-05T02:00:00Z"}, "a one-off window needs start and end"),
        (
            {"name": "x", "start": "2026-12-05T02:00:00", "end": "2026-12-05T03:00:00Z"},
            "windows[0].start: Value error, give the time zone",
        ),
        ({"name": "x", "every": "0 2 * * 6"}, "a recurring window needs for"),
        ({"name": "x", "every": "at two", "for": "1h"}, "every: expected a crontab"),
        ({"name": "x", "every": "0 2 * * 6", "for": "1h", "start": "2026-12-05T02:00:00Z"}, "not both"),
    ],
)
def test_a_bad_maintenance_window_is_refused_with_the_place(window: dict[str, object], message: str) -> None:
    from bot.config.maintenance import parse_maintenance

    with pytest.raises(ConfigError) as caught:
        parse_maintenance({"version": 1, "windows": [window]}, "maintenance.yml")
    assert str(caught.value).startswith("maintenance.yml: windows[0]") and message.split(", ")[-1] in str(caught.value)
