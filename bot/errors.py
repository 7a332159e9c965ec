"""The error tree of sre-agent. Every error raised on purpose is one of these:

SreAgentError                    root; `user_message` is safe to show in Slack
├── DomainError                  a lifecycle rule was broken
│   ├── IllegalTransition        a phase change the table forbids
│   └── InvalidEvent             an inbound payload missing or mangling fields (-> HTTP 400)
├── ConfigError                  a setting or config file is missing or wrong (names the variable or file)
├── NotFound                     an incident, channel or user that does not exist
├── NotAnIncidentChannel         a command that needs an incident channel, used elsewhere
└── UpstreamError                Slack, PagerDuty or another peer failed after its retries
    ├── SlackError
    ├── PagerDutyError
    ├── OpsGenieError            OpsGenie or JSM Operations (a write it did not carry out too)
    ├── StatusPageError          the public status page refused a post or could not be reached
    └── StoreUnavailable         the database could not be reached (or stayed locked) just now
"""

from __future__ import annotations

from bot.domain.errors import DomainError, IllegalTransition, InvalidEvent, SreAgentError

__all__ = [
    "CONNECTION_LOST",
    "ConfigError",
    "DomainError",
    "IllegalTransition",
    "InvalidEvent",
    "NotAnIncidentChannel",
    "NotFound",
    "OpsGenieError",
    "PagerDutyError",
    "SlackError",
    "SreAgentError",
    "StatusPageError",
    "StoreUnavailable",
    "UpstreamError",
]


class ConfigError(SreAgentError):
    """A setting or config file is missing or invalid; the message names it."""


class NotFound(SreAgentError):
    """Something looked up by id or name does not exist."""


class NotAnIncidentChannel(SreAgentError):
    """A command that needs an incident channel was used in another channel."""


class UpstreamError(SreAgentError):
    """A peer (Slack, PagerDuty, ...) failed after retries."""


# what Slack answers when it is busy or failing for a moment, rather than refusing the call for what it is
CONNECTION_LOST = "connection_lost"  # the error said for a Slack call that got no answer (its connection failed)
_PASSING_SLACK_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout", CONNECTION_LOST}
)


class SlackError(UpstreamError):
    """The Slack Web API answered an error."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"Slack {method} failed: {error}", user_message=f"Slack said `{error}` to `{method}`.")
        self.method = method
        self.error = error

    @property
    def passing(self) -> bool:
        """Whether the same call may well be taken a while later (Slack busy, or failing for a moment: its 5xx)."""
        return self.error in _PASSING_SLACK_ERRORS or self.error.startswith("http_5")


class PagerDutyError(UpstreamError):
    """PagerDuty's REST API answered an error or could not be reached."""


class OpsGenieError(UpstreamError):
    """OpsGenie's (or JSM Operations') alert API answered an error, could not be reached, or reported that it did
    not carry out a write it had accepted."""


class StatusPageError(UpstreamError):
    """The public status page (Statuspage) refused a post or could not be reached."""


class StoreUnavailable(UpstreamError):
    """The database could not be reached, or stayed locked, for one transaction: a moment's outage, not a bug.
    Whoever is waiting is told to try again (a webhook gets 503, so the pager delivers it again)."""


class DuplicateIncident(UpstreamError):
    """The pager refused to open an incident: an open one has the same dedup key (an earlier try opened it)."""
