"""Diagnosis: the plan per kind of symptom, and hypotheses ranked from the evidence, citing it."""

from __future__ import annotations

from bot.domain.diagnosis import Evidence, Outcome, Role, Symptom, plan, rank, symptom_of
from bot.domain.signals import from_text


def _answered(agent: str, role: Role, answer: str) -> Evidence:
    return Evidence(agent, role, "q", Outcome.ANSWERED, answer, from_text(answer), 300.0)


def test_symptoms_from_titles() -> None:
    assert symptom_of("CRITICAL — checkout-service error rate at 8.5%") is Symptom.ERROR_RATE
    assert symptom_of("The payments API is timing out") is Symptom.LATENCY
    assert symptom_of("checkout pods OOMKilled") is Symptom.MEMORY
    assert symptom_of("checkout-service CrashLoopBackOff") is Symptom.CRASHES
    assert symptom_of("db connections saturated") is Symptom.SATURATION
    assert symptom_of("something odd") is Symptom.UNKNOWN


def test_plans_ask_the_right_roles() -> None:
    roles = [q.role for q in plan(Symptom.LATENCY, "payments-api", "payments")]
    assert roles == [Role.MONITORING, Role.KUBERNETES, Role.CLOUD]
    crash = plan(Symptom.CRASHES, "checkout-service", "shop")
    assert [q.role for q in crash] == [Role.MONITORING, Role.KUBERNETES]
    assert crash[1].instruction.startswith("Find out why the checkout-service pods in namespace shop are unhealthy")


def test_checkout_crash_storm() -> None:
    evidence = [
        _answered("monitoring", Role.MONITORING, "checkout-service error rate is 8.5% over the last 30m."),
        _answered(
            "k8s-autopilot",
            Role.KUBERNETES,
            "3 pods in CrashLoopBackOff in namespace shop, last state OOMKilled. 14 restarts.",
        ),
    ]
    [top, *_] = rank(evidence, "checkout-service")
    assert "run out of memory (OOMKilled)" in top.text and top.confidence >= 0.8
    assert top.cites[0].startswith("k8s-autopilot: 3 pods in CrashLoopBackOff")
    assert "512Mi -> 768Mi" in top.recommendations[0]


def test_payments_timeout_names_the_database_and_the_index() -> None:
    evidence = [
        _answered("monitoring", Role.MONITORING, "p99 latency for payments-api is 3.2s (normal: 200ms)."),
        _answered("k8s-autopilot", Role.KUBERNETES, "All pods are healthy: 4/4 Running, no crashes."),
        _answered(
            "monitoring",
            Role.MONITORING,
            "RDS instance db-payments-prod is at 95% CPU. Top query: SELECT * FROM transactions "
            "WHERE user_id = ? doing a full table scan.",
        ),
        Evidence("aws", Role.CLOUD, "q", Outcome.UNAVAILABLE, reason="timed out after 5 s"),
    ]
    [top, *_] = rank(evidence, "payments-api")
    assert top.text.startswith("The database db-payments-prod is saturated (at 95% CPU)")
    assert "likely root cause" in top.text and top.confidence >= 0.85
    assert top.recommendations == (
        "Add an index on transactions.user_id (manual: needs a DBA).",
        "Scale db-payments-prod up (a larger instance or read replicas) as temporary relief.",
    )
    assert any(c.startswith("monitoring: RDS instance db-payments-prod is at 95% CPU") for c in top.cites)


def test_nothing_answered_claims_nothing() -> None:
    assert rank([Evidence("aws", Role.CLOUD, "q", Outcome.UNAVAILABLE, reason="breaker open")], "x") == []
    quiet = [_answered("monitoring", Role.MONITORING, "I have no data for that service.")]
    assert rank(quiet, "x") == []


def test_a_slower_p99_since_a_deploy_names_the_deploy_and_the_version_to_go_back_to() -> None:
    monitoring = "checkout-service p99 latency 420ms over the last 1d (normal: 180ms); error rate 0.3%."
    kubernetes = (
        "Deployment checkout rolled out v2.3.1 20h ago (from v2.3.0); 6/6 pods Running, 0 restarts. "
        "Memory per pod has grown by about 40MB an hour since v2.3.1: a likely leak."
    )
    [top, *_] = rank(
        [
            Evidence("monitoring", Role.MONITORING, "q", Outcome.ANSWERED, monitoring, from_text(monitoring)),
            Evidence("k8s-autopilot", Role.KUBERNETES, "q", Outcome.ANSWERED, kubernetes, from_text(kubernetes)),
        ],
        "checkout-service",
    )
    assert top.text == (
        "p99 latency of checkout-service increased from 180ms to 420ms after the deploy of v2.3.1 20 h ago."
    )
    assert top.recommendations == ("Roll back checkout-service to v2.3.0.", "Investigate the memory leak in v2.3.1.")
    assert [c.split(":")[0] for c in top.cites] == ["monitoring", "k8s-autopilot"]  # both answers it rests on
    # no more than 2x slower: not called a regression
    normal = "checkout-service p99 latency 300ms over the last 1d (normal: 180ms)."
    found = rank(
        [
            Evidence("monitoring", Role.MONITORING, "q", Outcome.ANSWERED, normal, from_text(normal)),
            Evidence("k8s-autopilot", Role.KUBERNETES, "q", Outcome.ANSWERED, kubernetes, from_text(kubernetes)),
        ],
        "checkout-service",
    )
    assert not any("after the deploy" in h.text for h in found)
