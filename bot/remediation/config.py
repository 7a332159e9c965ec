"""Remediation's settings, and the kinds of durable timer it owns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.domain.approval import DEFAULT_EXPIRY

__all__ = ["EXPIRE", "VERIFY", "RemediationConfig"]

EXPIRE = "proposal_expiry"  # a proposal nobody decided on in time stops counting
VERIFY = "verify"  # the next check of a fix


@dataclass(frozen=True)
class RemediationConfig:
    approvers: tuple[str, ...] = ()  # Slack user ids and user group ids, besides the people on call
    expiry: timedelta = DEFAULT_EXPIRY
    auto_resolve: bool = False  # resolve by itself once a fix is verified (else offer a Resolve button)
