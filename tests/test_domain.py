"""The domain rules: phases, severity, channel names, escaping, the timeline's hash chain."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blocks.text import escape, truncate
from bot.adapters.pagerduty.events import severity_from_pagerduty
from bot.domain.errors import IllegalTransition
from bot.domain.incident import Incident, transition
from bot.domain.naming import MAX_CHANNEL_NAME, channel_name, with_suffix
from bot.domain.phase import TRANSITIONS, Phase
from bot.domain.severity import Severity
from bot.domain.timeline import GENESIS_HASH, EventKind, TimelineEvent, chain_hash, metrics

T0 = datetime(2026, 11, 20, 3, 2, 11, tzinfo=UTC)


def _incident(phase: Phase = Phase.TRIGGERED) -> Incident:
    return Incident(
        source="pagerduty",
        external_id="Q1",
        title="t",
        service="checkout-service",
        severity=Severity.P1,
        phase=phase,
        triggered_at=T0,
        number=4211,
        id=1,
    )


@pytest.mark.parametrize("current", list(Phase))
@pytest.mark.parametrize("target", list(Phase))
def test_transition_follows_the_table(current: Phase, target: Phase) -> None:
    incident = _incident(current)
    if target in TRANSITIONS[current]:
        events = transition(incident, target, at=T0, actor="test")
        assert incident.phase is target
        assert len(events) == 1 and events[0].data == {"from": str(current), "to": str(target)}
    else:
        with pytest.raises(IllegalTransition):
            transition(incident, target, at=T0, actor="test")
        assert incident.phase is current


def test_every_open_phase_can_be_resolved_and_closed_ones_reopened() -> None:
    for phase in Phase:
        assert (Phase.RESOLVED in TRANSITIONS[phase]) == phase.is_open
        assert (Phase.TRIGGERED in TRANSITIONS[phase]) == (not phase.is_open)


def test_transition_events_and_timestamps() -> None:
    incident = _incident()
    [ack] = transition(incident, Phase.ACKNOWLEDGED, at=T0 + timedelta(seconds=3), actor="sre-agent")
    assert ack.kind is EventKind.ACKNOWLEDGED and incident.acknowledged_at == T0 + timedelta(seconds=3)
    [res] = transition(incident, Phase.RESOLVED, at=T0 + timedelta(minutes=29), actor="slack:U1", reason="rollback")
    assert res.kind is EventKind.RESOLVED and incident.resolution == "rollback"
    [reopen] = transition(incident, Phase.TRIGGERED, at=T0 + timedelta(minutes=40), actor="pagerduty")
    assert reopen.kind is EventKind.REOPENED and incident.resolved_at is None


@pytest.mark.parametrize(
    ("priority", "urgency", "expected"),
    [
        ("P1", "high", Severity.P1),
        ("P3", "high", Severity.P3),
        ("SEV-2", None, Severity.P2),
        ("sev5", "low", Severity.P5),
        (None, "high", Severity.P2),
        (None, "low", Severity.P4),
        ("Critical", "low", Severity.P4),
        (None, None, Severity.P3),
    ],
)
def test_severity_from_pagerduty(priority: str | None, urgency: str | None, expected: Severity) -> None:
    assert severity_from_pagerduty(priority, urgency) is expected


def test_channel_name_examples() -> None:
    assert channel_name(4211, "checkout-service") == "inc-4211-checkout-service"
    assert channel_name(7, "Payments API (EU)!") == "inc-7-payments-api-eu"
    assert channel_name(None, "<!channel>") == "inc-channel"
    assert channel_name(12, "") == "inc-12"
    assert with_suffix("inc-4211-checkout-service", 2) == "inc-4211-checkout-service-2"


@given(number=st.one_of(st.none(), st.integers(0, 10**9)), service=st.text(max_size=300), n=st.integers(2, 99))
def test_channel_names_are_always_valid(number: int | None, service: str, n: int) -> None:
    for name in (channel_name(number, service), with_suffix(channel_name(number, service), n)):
        assert 1 <= len(name) <= MAX_CHANNEL_NAME
        assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name), name


@given(st.text())
def test_escaped_text_has_no_control_characters(text: str) -> None:
    escaped = escape(text)
    assert "<" not in escaped and ">" not in escaped
    assert escaped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == text


def test_unsafe_title_is_escaped() -> None:
    assert escape("<!channel> <https://evil.example|click>") == "&lt;!channel&gt; &lt;https://evil.example|click&gt;"


def test_truncate_marks_the_cut() -> None:
    assert truncate("x" * 10, 20) == "x" * 10
    cut = truncate("x" * 5000, 3000)
    assert len(cut) == 3000 and cut.endswith("(cut)")


def test_hash_chain_links_events_and_shows_edits() -> None:
    a = TimelineEvent(at=T0, kind=EventKind.TRIGGERED, actor="pagerduty", text="t")
    b = TimelineEvent(at=T0 + timedelta(seconds=2), kind=EventKind.ACKNOWLEDGED, actor="sre-agent")
    h1 = chain_hash(GENESIS_HASH, "pagerduty:Q1", 1, a)
    h2 = chain_hash(h1, "pagerduty:Q1", 2, b)
    assert h1 != h2 and len(h2) == 64
    edited = TimelineEvent(at=T0, kind=EventKind.TRIGGERED, actor="pagerduty", text="edited")
    assert chain_hash(GENESIS_HASH, "pagerduty:Q1", 1, edited) != h1


def test_metrics_from_timeline() -> None:
    events = [
        TimelineEvent(at=T0, kind=EventKind.TRIGGERED, actor="pagerduty"),
        TimelineEvent(at=T0 + timedelta(seconds=1.5), kind=EventKind.ACKNOWLEDGED, actor="sre-agent"),
        TimelineEvent(at=T0 + timedelta(minutes=29), kind=EventKind.RESOLVED, actor="slack:U1"),
    ]
    m = metrics(events)
    assert m.time_to_acknowledge_s == 1.5 and m.time_to_resolve_s == 29 * 60
    assert metrics(events[:1]).time_to_resolve_s is None
