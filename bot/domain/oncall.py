"""Who is on call: one person at one level of an escalation policy (as PagerDuty's /oncalls says)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OnCall"]


@dataclass(frozen=True)
class OnCall:
    name: str
    email: str
    level: int
    user_id: str
