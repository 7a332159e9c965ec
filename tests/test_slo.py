"""SLO math on the vectors of ../shared/reference/slo-vectors.md (99.9% over a rolling 30 days, B = 0.001), through the
domain and through `sre-agent slo status --counts`, plus the properties that must hold for any counts."""

from __future__ import annotations

import json
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cli import main
from bot.domain.slo import (
    TIERS,
    BudgetState,
    Counts,
    DataState,
    Slo,
    budget_spent,
    evaluate,
    exact,
    usual_burn,
)

DAYS_30 = timedelta(days=30)
SLO = Slo("checkout-availability", "checkout-service", exact(0.999), DAYS_30)
TOTAL = 1_000_000  # events in each window, unless a vector says otherwise

SLO_FILE = """\
apiVersion: openslo/v1
kind: SLO
metadata: {name: checkout-availability}
spec:
  service: checkout-service
  indicator:
    metadata: {name: checkout-ok}
    spec:
      ratioMetric:
        good: {metricSource: {type: Prometheus, spec: {query: good}}}
        total: {metricSource: {type: Prometheus, spec: {query: total}}}
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.999}]
"""


def ratio(error_ratio: str, total: int = TOTAL) -> Counts:
    """Counts with exactly this error ratio (as written)."""
    return Counts.of(total=total, bad=exact(error_ratio) * total)


def status_cli(tmp_path: Path, counts: dict[str, Counts], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    slos = tmp_path / "slos.yml"
    slos.write_text(SLO_FILE)
    file = tmp_path / "counts.json"
    file.write_text(
        json.dumps({"checkout-availability": {w: {"total": c.total, "bad": c.bad} for w, c in counts.items()}})
    )
    capsys.readouterr()
    assert main(["slo", "status", "--slos", str(slos), "--counts", str(file), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)["slos"]
    return row  # type: ignore[no-any-return]


# Vector 1: burn from the error ratio, and how long the whole budget lasts at it


@pytest.mark.parametrize(
    ("error_ratio", "burn", "lasts"),
    [
        ("0.001", 1, timedelta(days=30)),
        ("0.002", 2, timedelta(days=15)),
        ("0.01", 10, timedelta(days=3)),
        ("1", 1000, timedelta(minutes=43.2)),
    ],
)
def test_vector_1_burn_and_how_long_the_budget_lasts(
    error_ratio: str, burn: float, lasts: timedelta, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = evaluate(SLO, {"1h": ratio(error_ratio), "30d": Counts(0, TOTAL)})
    assert status.windows["1h"].burn == burn
    assert status.exhausts_in_hours == pytest.approx(lasts.total_seconds() / 3600, rel=1e-12)
    row = status_cli(tmp_path, {"1h": ratio(error_ratio), "30d": Counts(0, TOTAL)}, capsys)
    assert row["burn_rates"]["1h"] == burn
    assert row["exhausts_in_hours"] == pytest.approx(lasts.total_seconds() / 3600, rel=1e-12)


# Vector 2: what each tier's factor spends in its long window


@pytest.mark.parametrize(
    ("burn", "span", "share"),
    [
        ("14.4", timedelta(hours=1), Fraction(2, 100)),
        ("6", timedelta(hours=6), Fraction(5, 100)),
        ("3", timedelta(days=1), Fraction(10, 100)),
        ("1", timedelta(days=3), Fraction(10, 100)),
    ],
)
def test_vector_2_each_tier_spends_its_share(
    burn: str, span: timedelta, share: Fraction, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert budget_spent(exact(burn), span, DAYS_30) == share
    # through the CLI: 30 days of 1,000,000 requests an hour, all good but for `span` burning at `burn`
    hourly = 1_000_000
    hours = int(span.total_seconds() // 3600)
    bad = exact(burn) * SLO.budget * hourly * hours
    row = status_cli(tmp_path, {"30d": Counts.of(total=720 * hourly, bad=bad)}, capsys)
    assert row["remaining"] == pytest.approx(float(1 - share), abs=1e-12)


def test_the_factors_scale_with_the_period() -> None:
    assert [t.factor(DAYS_30) for t in TIERS] == [exact("14.4"), 6, 3, 1]
    assert [t.factor(timedelta(days=28)) for t in TIERS] == [
        exact("13.44"),
        exact("5.6"),
        exact("2.8"),
        Fraction(14, 15),
    ]
    assert f"{float(TIERS[3].factor(timedelta(days=28))):.3f}" == "0.933"


# Vectors 3, 5, 7: which tiers fire

VECTOR_3 = {"5m": "0.02", "1h": "0.015", "30m": "0.005", "6h": "0.004", "2h": "0.003", "1d": "0.002", "3d": "0.0005"}
VECTOR_5 = {"6h": "0.007", "30m": "0.0065", "1h": "0.007", "5m": "0.007"}
VECTOR_7 = {"1h": "0.0144", "5m": "0.0144"}


@pytest.mark.parametrize(
    ("ratios", "fired"),
    [(VECTOR_3, ["page-fast"]), (VECTOR_5, ["page-slow"]), (VECTOR_7, [])],
    ids=["vector-3-fast-page", "vector-5-slow-page", "vector-7-exactly-14.4-is-not-above"],
)
def test_vectors_3_5_7_tiers(
    ratios: dict[str, str], fired: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    counts = {w: ratio(r) for w, r in ratios.items()}
    assert [a.tier for a in evaluate(SLO, counts).alerts] == fired
    assert [a["tier"] for a in status_cli(tmp_path, counts, capsys)["alerts"]] == fired


def test_vector_3_burns() -> None:
    status = evaluate(SLO, {w: ratio(r) for w, r in VECTOR_3.items()})
    assert (status.windows["5m"].burn, status.windows["1h"].burn) == (20, 15)


def test_the_boundary_is_the_same_every_time_whatever_the_counts() -> None:
    # exactly 1.44% (burn 14.4) in many shapes of counts: never above; one more bad event: above
    for total in (10_000, 250_000, 1_000_000, 7_000_000_000):
        at = ratio("0.0144", total)
        assert evaluate(SLO, {"1h": at, "5m": at}).alerts == ()
        over = Counts(at.bad + 1, total)
        assert [a.tier for a in evaluate(SLO, {"1h": over, "5m": over}).alerts] == ["page-fast"]
    fractional = Counts.of(total=2.5, bad=0.036)  # 1.44% of 2.5 events, exactly
    assert evaluate(SLO, {"1h": fractional, "5m": fractional}).windows["1h"].burn == pytest.approx(14.4)


# Vectors 12 and 14: the remaining budget and its forecast


def test_vector_12_remaining_and_forecast(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    counts = {"30d": Counts(4_000, 10_000_000), "1h": ratio("0.003")}  # current burn 3
    status = evaluate(SLO, counts)
    assert status.remaining == 0.6 and status.budget is BudgetState.HEALTHY
    assert status.burn_now == 3
    assert status.exhausts_in_hours == 6.0 * 24
    row = status_cli(tmp_path, counts, capsys)
    assert (row["remaining"], row["exhausts_in_hours"], row["budget"]) == (0.6, 144.0, "healthy")


def test_vector_14_overspent_is_negative_not_clamped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    counts = {"30d": Counts(12_000, 10_000_000)}
    status = evaluate(SLO, counts)
    assert status.remaining == -0.2 and status.budget is BudgetState.EXHAUSTED
    assert status.exhausts_in_hours == 0
    row = status_cli(tmp_path, counts, capsys)
    assert (row["remaining"], row["budget"], row["budget_warning"]) == (-0.2, "exhausted", True)


def test_the_brief_checkout_example() -> None:
    """15% remaining over 30 days, burn 0.96 of the budget's rate (3.2x a usual 0.3): exhausted in about 4.7 days."""
    counts = {"30d": Counts(85_000, 100_000_000), "1h": ratio("0.00096")}
    status = evaluate(SLO, counts, usual=0.3)
    assert status.remaining == pytest.approx(0.15)
    assert status.budget is BudgetState.WARNING
    assert status.against_usual == pytest.approx(3.2)
    assert round(status.exhausts_in_hours / 24, 1) == 4.7  # type: ignore[operator]
    assert usual_burn([0.2, 0.3, 0.35, 0.3, 0.28]) == 0.3


# Data states, never hidden


def test_no_traffic_no_data_and_low_traffic_are_said_apart() -> None:
    status = evaluate(SLO, {"1h": Counts(0, 0), "5m": Counts(1, 200), "30d": Counts(0, 0)})
    assert status.windows["1h"].data is DataState.NO_TRAFFIC and status.windows["1h"].burn is None
    assert status.windows["30m"].data is DataState.NO_DATA and status.windows["30m"].burn is None
    assert status.windows["5m"].data is DataState.LOW_TRAFFIC  # 200 x 0.001 < 1
    assert status.remaining == 1 and status.budget is BudgetState.HEALTHY  # nothing served, nothing spent
    assert any("no traffic" in n for n in status.notes) and any("30m" in n for n in status.notes)
    unknown = evaluate(SLO, {})
    assert unknown.remaining is None and unknown.budget is BudgetState.UNKNOWN and unknown.exhausts_in_hours is None


def test_a_page_from_a_low_traffic_window_is_suppressed_with_the_reason() -> None:
    status = evaluate(SLO, {"1h": Counts(50, 5_000), "5m": Counts(2, 400)})  # burns 10 and 5... not enough
    assert status.alerts == ()
    status = evaluate(SLO, {"1h": Counts(100, 5_000), "5m": Counts(20, 400)})  # burns 20 and 50; 400 x B < 1
    [alert] = status.alerts
    assert alert.tier == "page-fast" and alert.suppressed is not None and "5m" in alert.suppressed
    assert status.firing == ()


def test_an_objective_of_100_percent_is_refused_plainly() -> None:
    with pytest.raises(ValueError, match="no error budget at all"):
        Slo("perfect", "s", Fraction(1), DAYS_30)


# Properties, for any counts

counts_strategy = st.integers(min_value=0, max_value=10**12).flatmap(
    lambda total: st.tuples(st.integers(min_value=0, max_value=total), st.just(total))
)
objectives = st.sampled_from(["0.9", "0.99", "0.995", "0.999", "0.9995", "0.99999", "0"])


@settings(max_examples=300, deadline=None)
@given(objectives, counts_strategy, st.integers(min_value=1, max_value=10**6))
def test_remaining_never_exceeds_one_and_more_bad_never_raises_it(
    objective: str, bad_total: tuple[int, int], more: int
) -> None:
    bad, total = bad_total
    slo = Slo("s", "svc", exact(objective), DAYS_30)
    before = evaluate(slo, {"30d": Counts(bad, total)})
    assert before.remaining is not None and before.remaining <= 1
    after = evaluate(slo, {"30d": Counts(bad, total) + Counts(more, more)})  # `more` events, all bad
    assert after.remaining is not None and after.remaining <= before.remaining


@settings(max_examples=300, deadline=None)
@given(objectives, st.lists(counts_strategy, min_size=7, max_size=7))
def test_burn_is_never_negative_and_a_tier_never_fires_under_its_factor(
    objective: str, windows: list[tuple[int, int]]
) -> None:
    slo = Slo("s", "svc", exact(objective), DAYS_30)
    names = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
    counts = {n: Counts(bad, total) for n, (bad, total) in zip(names, windows, strict=True)}
    status = evaluate(slo, counts)
    for w in status.windows.values():
        assert w.burn is None or w.burn >= 0
    fired = {a.tier for a in status.alerts}
    for tier in TIERS:
        factor = tier.factor(DAYS_30)
        burns = [
            Fraction(counts[w].bad, counts[w].total) / slo.budget if counts[w].total else None
            for w in (tier.long, tier.short)
        ]
        under = any(b is None or b <= factor for b in burns)
        assert not (under and tier.name in fired)
        assert under or tier.name in fired


def test_the_forecast_guards() -> None:
    idle = evaluate(SLO, {"30d": Counts(500, 1_000_000), "1h": Counts(0, 120_000)})
    assert idle.exhausts_in_hours is None  # nothing is being spent
    spent = evaluate(SLO, {"30d": Counts(1_100, 1_000_000), "1h": ratio("0.005")})
    assert spent.exhausts_in_hours == 0


def test_transitions_say_each_change_once_and_keep_a_tier_without_data() -> None:
    from bot.domain.slo_alerts import Change, transitions

    burning = {"1h": ratio("0.02"), "5m": ratio("0.02"), "30d": Counts(500, 1_000_000)}
    fired, firing = transitions(None, frozenset(), evaluate(SLO, burning))
    assert [(t.change, t.tier) for t in fired] == [(Change.FIRED, "page-fast")] and firing == {"page-fast"}
    again, firing = transitions(BudgetState.HEALTHY, firing, evaluate(SLO, burning))
    assert [(t.change, t.tier) for t in again] == [(Change.FIRING, "page-fast")]
    unknown, kept = transitions(BudgetState.HEALTHY, firing, evaluate(SLO, {"30d": Counts(500, 1_000_000)}))
    assert unknown == [] and kept == {"page-fast"}  # no data for its windows: neither said again nor cleared
    calm = {"1h": ratio("0.0001"), "5m": ratio("0.0001"), "30d": Counts(500, 1_000_000)}
    cleared, firing = transitions(BudgetState.HEALTHY, kept, evaluate(SLO, calm))
    assert [(t.change, t.tier) for t in cleared] == [(Change.CLEARED, "page-fast")] and firing == set()
    low, _ = transitions(BudgetState.HEALTHY, frozenset(), evaluate(SLO, {"30d": Counts(850, 1_000_000)}))
    assert [t.change for t in low] == [Change.BUDGET_LOW]  # 15% left: warning
    same, _ = transitions(BudgetState.WARNING, frozenset(), evaluate(SLO, {"30d": Counts(850, 1_000_000)}))
    assert same == []  # once per crossing
    spent, _ = transitions(BudgetState.WARNING, frozenset(), evaluate(SLO, {"30d": Counts(1_200, 1_000_000)}))
    assert [t.change for t in spent] == [Change.BUDGET_LOW]  # and again on into exhausted
    back, _ = transitions(BudgetState.EXHAUSTED, frozenset(), evaluate(SLO, {"30d": Counts(100, 1_000_000)}))
    assert [t.change for t in back] == [Change.BUDGET_RECOVERED]
    gone, _ = transitions(BudgetState.HEALTHY, frozenset(), evaluate(SLO, {}))
    assert [t.change for t in gone] == [Change.NO_DATA]


def test_the_policy_is_cautious_once_the_budget_is_spent_or_as_configured_once_it_runs_low() -> None:
    from bot.domain.budget_policy import Policy, stance
    from bot.domain.slo import SloStatus

    def status(bad: int) -> SloStatus:  # 99.9% over 30 days, 100M requests: 100,000 bad events are the budget
        return evaluate(SLO, {"30d": Counts(bad, 100_000_000)})

    healthy, warning, spent = status(50_000), status(90_000), status(120_000)
    assert (healthy.budget, warning.budget, spent.budget) == (
        BudgetState.HEALTHY,
        BudgetState.WARNING,
        BudgetState.EXHAUSTED,
    )
    by_default = [stance([s]) for s in (healthy, warning, spent)]
    assert [(s.cautious, s.approvers, s.reversible_first, s.auto_resolve) for s in by_default] == [
        (False, 1, False, True),
        (False, 1, False, True),
        (True, 2, True, False),
    ]
    assert stance([healthy, spent]).deciding is spent  # the worst budget of the service decides
    strict = Policy(1, 3, BudgetState.WARNING)
    assert [(stance([s], strict).cautious, stance([s], strict).approvers) for s in (healthy, warning, spent)] == [
        (False, 1),
        (True, 3),
        (True, 3),
    ]
    with pytest.raises(ValueError, match="cautious when"):
        Policy(1, 2, BudgetState.HEALTHY)
    with pytest.raises(ValueError, match="no fewer when cautious"):
        Policy(2, 1)
