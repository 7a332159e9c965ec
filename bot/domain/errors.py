"""Domain errors (the root of the project's error tree; see bot/errors.py)."""

from __future__ import annotations


class SreAgentError(Exception):
    """Root of every error sre-agent raises on purpose. `user_message` is safe to show in Slack."""

    def __init__(self, message: str, *, user_message: str | None = None) -> None:
        super().__init__(message)
        self.user_message = user_message or message


class DomainError(SreAgentError):
    """A rule of the incident lifecycle was broken."""


class IllegalTransition(DomainError):
    """A phase change that the transition table does not allow."""


class InvalidEvent(DomainError):
    """An inbound payload that is not what its sender promises (missing or malformed fields)."""
