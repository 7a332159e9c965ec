"""Triage: the blast radius from the catalog (transitive dependents, what users see, how many), the severity it
suggests, and the message every new incident gets under its card."""

from __future__ import annotations

import pytest

from bot.config.catalog import parse_catalog
from bot.domain.severity import Severity
from bot.domain.triage import NO_SLOS, Signals, blast_radius, dependents
from tests.harness import Harness, incident_channels

CATALOG = parse_catalog(
    {
        "services": [
            {"name": "db-proxy", "tier": 2},
            {"name": "auth-service", "tier": 1, "depends_on": ["db-proxy"], "user_facing": True, "users": 400000},
            {"name": "payments-api", "tier": 1, "depends_on": ["auth-service"], "user_facing": True, "users": 120000},
            {
                "name": "checkout-service",
                "tier": 1,
                "depends_on": ["payments-api", "auth-service"],
                "user_facing": True,
                "users": 2000000,
            },
            {"name": "reports", "tier": 4, "depends_on": ["payments-api"]},
            {"name": "batch", "tier": 4},
        ]
    },
    "test",
)


def test_dependents_are_transitive_nearest_first() -> None:
    assert dependents("db-proxy", CATALOG) == ("auth-service", "checkout-service", "payments-api", "reports")
    assert dependents("payments-api", CATALOG) == ("checkout-service", "reports")
    assert dependents("batch", CATALOG) == ()


def test_a_cycle_in_the_catalog_does_not_loop() -> None:
    cyclic = parse_catalog({"services": [{"name": "a", "depends_on": ["b"]}, {"name": "b", "depends_on": ["a"]}]}, "t")
    assert dependents("a", cyclic) == ("b",)


def test_blast_radius_of_a_shared_dependency() -> None:
    radius = blast_radius("db-proxy", CATALOG)
    assert radius.known and radius.affected[0] == "db-proxy"
    assert radius.user_facing == ("auth-service", "checkout-service", "payments-api")
    assert radius.users == 2000000  # the most any one of them has: the same people use several
    assert radius.slo == NO_SLOS
    assert radius.suggested is Severity.P1  # tier 1 behind it, users see it, two million of them


@pytest.mark.parametrize(
    ("service", "signals", "expected"),
    [
        ("batch", None, Severity.P4),
        ("reports", None, Severity.P4),
        ("payments-api", None, Severity.P1),  # checkout (2M users) depends on it
        ("auth-service", None, Severity.P1),
        ("reports", Signals(error_rate=0.5), Severity.P4),
        ("batch", Signals(total_outage=True), Severity.P4),
    ],
)
def test_suggested_severity(service: str, signals: Signals | None, expected: Severity) -> None:
    assert blast_radius(service, CATALOG, signals).suggested is expected


def test_a_service_outside_the_catalog_says_so() -> None:
    radius = blast_radius("mystery", CATALOG)
    assert not radius.known and radius.suggested is Severity.P3
    assert radius.reasons == ("mystery is not in the service catalog",)


async def test_every_new_incident_gets_its_blast_radius_under_the_card(h: Harness) -> None:
    h.sandbox.pagerduty.page("checkout-service", "checkout-service: error rate 8.5%", priority="P3")
    await h.settle()
    [channel] = incident_channels(h.sandbox)
    texts = [m.text for m in h.sandbox.slack.messages_in(channel.id)]
    [triage] = [t for t in texts if "Blast radius" in t]
    assert "Users see: `checkout-service`, about 120,000 users" in triage
    assert "Error budgets: no SLOs configured." in triage
    assert "Suggested severity *P2*" in triage and "`/incident sev P2` changes it" in triage
    [incident] = await h.services.store.incidents()
    assert str(incident.severity) == "P3"  # a suggestion: PagerDuty's priority stands
    assert incident.id is not None
    [event] = [e for e in await h.services.store.timeline(incident.id) if e.kind == "triaged"]
    assert event.data["suggested"] == "P2" and event.data["in_catalog"] is True
    await h.restart()  # a restart does not triage again
    await h.settle()
    assert len([m for m in h.sandbox.slack.messages_in(channel.id) if "Blast radius" in m.text]) == 1


def test_the_title_feeds_the_suggestion() -> None:
    from bot.domain.triage import signals_from_title

    assert signals_from_title("checkout-service error rate at 8.5% (threshold 1%)").error_rate == 0.085
    assert signals_from_title("payments-api is down").total_outage
    assert not signals_from_title("checkout is slow").total_outage
    # a tier-2 service: P3 from the catalog alone, P2 when the page says it is down
    assert blast_radius("db-proxy", CATALOG).suggested is Severity.P1  # tier 1 depends on it
    assert blast_radius("batch", CATALOG, signals_from_title("batch is down")).suggested is Severity.P4
    search = parse_catalog({"services": [{"name": "search", "tier": 2, "user_facing": True}]}, "t")
    assert blast_radius("search", search).suggested is Severity.P3
    assert blast_radius("search", search, signals_from_title("search is down")).suggested is Severity.P2
    assert blast_radius("search", search, signals_from_title("search error rate 30%")).suggested is Severity.P2
