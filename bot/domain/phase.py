"""Incident phases and the one transition table that governs them (see DESIGN.md, 'The lifecycle')."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    TRIAGING = "triaging"
    DIAGNOSING = "diagnosing"
    AWAITING_APPROVAL = "awaiting_approval"
    REMEDIATING = "remediating"
    VERIFYING = "verifying"
    RESOLVED = "resolved"
    POSTMORTEM = "postmortem"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()

    @property
    def is_open(self) -> bool:
        return self not in CLOSED_PHASES


CLOSED_PHASES = frozenset({Phase.RESOLVED, Phase.POSTMORTEM})

# Every open phase may be resolved by a human; a closed incident may only be reopened (back to triggered).
TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.TRIGGERED: frozenset({Phase.ACKNOWLEDGED, Phase.TRIAGING, Phase.RESOLVED}),
    Phase.ACKNOWLEDGED: frozenset({Phase.TRIAGING, Phase.RESOLVED}),
    Phase.TRIAGING: frozenset({Phase.DIAGNOSING, Phase.RESOLVED}),
    Phase.DIAGNOSING: frozenset({Phase.AWAITING_APPROVAL, Phase.RESOLVED}),
    Phase.AWAITING_APPROVAL: frozenset({Phase.REMEDIATING, Phase.DIAGNOSING, Phase.RESOLVED}),
    Phase.REMEDIATING: frozenset({Phase.VERIFYING, Phase.DIAGNOSING, Phase.RESOLVED}),
    Phase.VERIFYING: frozenset({Phase.RESOLVED, Phase.DIAGNOSING}),
    Phase.RESOLVED: frozenset({Phase.POSTMORTEM, Phase.TRIGGERED}),
    Phase.POSTMORTEM: frozenset({Phase.TRIGGERED}),
}


def can_transition(current: Phase, target: Phase) -> bool:
    return target in TRANSITIONS[current]
