"""Signals pulled out of what other agents say, in data parts or in plain words."""

from __future__ import annotations

import json

import pytest

from bot.domain.signals import from_data, from_text, merge


def test_the_checkout_crash_storm_in_words() -> None:
    s = from_text(
        "Found 3 pods in CrashLoopBackOff in namespace shop (last state: OOMKilled, exit code 137). "
        "12 restarts in the last 10 minutes. Memory limit 512Mi. Last deploy: checkout v2.3.1 rolled out 40m ago."
    )
    assert s.pods_in("CrashLoopBackOff") == 3
    assert s.pods_in("OOMKilled") >= 1
    assert s.restarts is not None and s.restarts.value == 12
    assert [d.version for d in s.deploys] == ["v2.3.1"]
    assert s.deploys[0].ago_s == 40 * 60 and s.deploys[0].previous is None
    assert "CrashLoopBackOff" in s.pods[0].source  # the words are kept as evidence


def test_a_deploy_in_words_and_in_data_says_what_it_replaced_and_when() -> None:
    words = from_text(
        "Deployment checkout rolled out v2.3.1 20h ago (from v2.3.0); 6/6 pods Running, 0 restarts. Memory grows."
    )
    [deploy] = words.deploys
    assert (deploy.version, deploy.previous, deploy.ago_s) == ("v2.3.1", "v2.3.0", 20 * 3600)
    assert deploy.source.endswith("0 restarts")  # the whole sentence: "v2.3.0" is no full stop
    data = from_data({"deploys": [{"version": "v2.3.1", "previous": "v2.3.0", "ago_s": 3600}, {"version": "v2.3.0"}]})
    assert [(d.version, d.previous, d.ago_s) for d in data.deploys] == [
        ("v2.3.1", "v2.3.0", 3600.0),
        ("v2.3.0", None, None),
    ]
    assert from_data({"deploys": [{"version": "v9", "ago_s": -5}, {"version": "v8", "ago_s": True}]}).deploys == [
        ("v9", "data:deploys", None, None),
        ("v8", "data:deploys", None, None),
    ]
    merged = merge([from_data({"deploys": [{"version": "v2.3.1"}]}), words])  # what the data left out, the words say
    assert [(d.version, d.source, d.previous, d.ago_s) for d in merged.deploys] == [
        ("v2.3.1", "data:deploys", "v2.3.0", 72000.0)
    ]


def test_the_payments_timeout_in_words() -> None:
    latency = from_text("Datadog shows p99 latency at 3.2s for payments-api (normal: 200ms). Error rate 0.4%.")
    assert latency.latency_p99_ms is not None and latency.latency_p99_ms.value == 3200
    assert latency.latency_p99_normal_ms is not None and latency.latency_p99_normal_ms.value == 200
    assert latency.error_rate is not None and latency.error_rate.value == pytest.approx(0.004)
    db = from_text(
        "CloudWatch: RDS instance db-payments-prod is at 95% CPU. Top query: SELECT * FROM transactions "
        "WHERE user_id = ? (full table scan). Connections 180/200."
    )
    assert db.cpu is not None and db.cpu.value == pytest.approx(0.95)
    assert db.connections is not None and db.connections.value == pytest.approx(0.9)
    assert "db-payments-prod" in db.resources
    healthy = from_text("All pods are healthy: 6/6 Running, no crashes, 0 restarts.")
    assert healthy.healthy and not healthy.pods


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("error rate is 8.5%", 0.085),
        ("checkout-service error rate at 8.5% (threshold 1%)", 0.085),
        ("5xx error rate: 12%", 0.12),
        ("about 3% of requests failing", 0.03),
    ],
)
def test_error_rates(text: str, rate: float) -> None:
    s = from_text(text)
    assert s.error_rate is not None and s.error_rate.value == pytest.approx(rate)


def test_nothing_to_read_is_empty_not_invented() -> None:
    assert from_text("I looked but could not reach the cluster API.").empty
    assert from_text("").empty


def test_data_parts_percent_or_fraction_and_merge_prefers_them() -> None:
    data = from_data(
        {"error_rate": 8.5, "cpu": 0.95, "pods": {"CrashLoopBackOff": 3}, "deploys": [{"version": "2.3.1"}]}
    )
    assert data.error_rate is not None and data.error_rate.value == pytest.approx(0.085)
    assert data.cpu is not None and data.cpu.value == pytest.approx(0.95)
    assert data.pods_in("crashloopbackoff") == 3
    words = from_text("error rate 9%, 2 pods in CrashLoopBackOff, all pods healthy")
    merged = merge([data, words])
    assert merged.error_rate is not None and merged.error_rate.source == "data:error_rate"
    assert merged.pods_in("CrashLoopBackOff") == 3 and not merged.healthy


def test_stored_signals_give_the_data_part_that_reads_the_same_again() -> None:
    """What a recorded agent says (sre-agent record): signals as the store keeps them, back into a data part that
    reads as they were read then, deploys, pods and baselines included."""
    import dataclasses

    from bot.domain.signals import as_data, from_data

    original = from_data(
        {
            "error_rate": 0.085,
            "latency_p99_ms": 420,
            "latency_p99_baseline_ms": 180,
            "pods": {"CrashLoopBackOff": 3, "OOMKilled": 3},
            "deploys": [{"version": "v2.3.1", "previous": "v2.3.0", "ago_s": 86400}],
            "resources": ["db-payments-prod"],
            "healthy": True,
        }
    )
    stored = json.loads(json.dumps(dataclasses.asdict(original)))  # as the evidence row holds it
    again = from_data(as_data(stored))
    assert again == original
    assert as_data({"error_rate": None, "pods": [], "deploys": [["", "x"]]}) == {}
