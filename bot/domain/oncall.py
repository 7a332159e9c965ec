"""Who is on call: one person at one level of an escalation policy (as PagerDuty's /oncalls says)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ONCALL_KEPT_S", "OnCall"]

# who is on call, as read from the pager, is used for this long before it is read again: a storm of pages for one
# service asks once, not once a page (and a person who took over is invited within half a minute of the handoff)
ONCALL_KEPT_S = 30.0


@dataclass(frozen=True)
class OnCall:
    name: str
    email: str
    level: int
    user_id: str
