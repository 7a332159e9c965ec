"""Typed timeline events: every kind has its payload; a payload is written only for its kinds; a stored row reads
back into its payload, an older row with fewer fields too."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.events import (
    Checked,
    Decision,
    Declared,
    Escalated,
    Expired,
    Paged,
    PhaseChange,
    Plain,
    Triaged,
    payload_of,
    record,
)
from bot.domain.timeline import EventKind, TimelineEvent

AT = datetime(2026, 12, 2, 3, 2, tzinfo=UTC)


def _stored(kind: EventKind, data: dict[str, object]) -> TimelineEvent:
    return TimelineEvent(at=AT, kind=kind, actor="sre-agent", data=data)


def test_every_kind_reads_into_a_payload_written_for_it() -> None:
    for kind in EventKind:
        assert kind in payload_of(_stored(kind, {})).KINDS, kind


def test_a_payload_is_written_only_for_its_kinds() -> None:
    event = record(PhaseChange("triggered", "acknowledged"), kind=EventKind.ACKNOWLEDGED, at=AT, actor="sre-agent")
    assert event.data == {"from": "triggered", "to": "acknowledged"} and event.kind is EventKind.ACKNOWLEDGED
    assert record(Triaged(("web",), (), 1000, "P2"), at=AT, actor="sre-agent").kind is EventKind.TRIAGED
    with pytest.raises(ValueError, match="not written for triaged"):
        record(Plain(), kind=EventKind.TRIAGED, at=AT, actor="sre-agent")


def test_kinds_with_two_shapes_are_told_apart_by_their_data() -> None:
    assert isinstance(payload_of(_stored(EventKind.TRIGGERED, {"service": "checkout", "severity": "P1"})), Paged)
    assert isinstance(payload_of(_stored(EventKind.TRIGGERED, {"declared": True, "service": "x"})), Declared)
    assert isinstance(payload_of(_stored(EventKind.ESCALATED, {})), Plain)  # PagerDuty's own, recorded only
    assert payload_of(_stored(EventKind.ESCALATED, {"from": 1, "to": 2, "paged": ["Sam"]})) == Escalated(1, 2, ("Sam",))
    assert isinstance(payload_of(_stored(EventKind.PROPOSAL_EXPIRED, {"proposal": 3, "plan_hash": "h"})), Expired)
    late = payload_of(_stored(EventKind.PROPOSAL_EXPIRED, {"proposal": 3, "shown_hash": "h", "approve": True}))
    assert isinstance(late, Decision) and late.approve is True


def test_an_older_row_with_fewer_fields_reads_with_defaults_and_arrays_as_tuples() -> None:
    checked = payload_of(_stored(EventKind.VERIFIED, {"proposal": 7, "readings": [{"value": 0.003}]}))
    assert checked == Checked(proposal=7, plan_hash="", readings=({"value": 0.003},))
    assert payload_of(_stored(EventKind.TRIAGED, {"suggested": "P2"})) == Triaged(suggested="P2")
