"""Severity P1 (worst) to P5 (each pager adapter maps its own priorities onto it)."""

from __future__ import annotations

import re
from enum import StrEnum


class Severity(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"
    P5 = "P5"

    @property
    def rank(self) -> int:
        return int(self.value[1])

    @property
    def emoji(self) -> str:
        return _EMOJI[self]

    @classmethod
    def parse(cls, text: str) -> Severity | None:
        """'P1', 'p1', 'sev1', 'SEV-1', '1' -> Severity.P1; anything else -> None."""
        match = re.fullmatch(r"\s*(?:p|sev[-_ ]?)?([1-5])\s*", text, flags=re.IGNORECASE)
        return cls(f"P{match.group(1)}") if match else None


_EMOJI = {
    Severity.P1: ":red_circle:",
    Severity.P2: ":large_orange_circle:",
    Severity.P3: ":large_yellow_circle:",
    Severity.P4: ":large_blue_circle:",
    Severity.P5: ":white_circle:",
}
