"""The process's log: one JSON object a line (or plain text), each line naming the incident it is about, and no
secret in any line.

The incident is a context variable: the intake sets it while it processes a pager's event (`pager_incident`: the
pager's id of it) and the scheduler while a timer of an incident fires (`incident`: sre-agent's own id), and every
task they start inherits it.
Secrets are the configured ones (tokens, signing secrets, the database's password), replaced wherever they appear in
a line, and anything shaped like a Slack token."""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime

__all__ = ["JsonFormatter", "Redactor", "about", "about_incident", "configure"]

_ABOUT: ContextVar[dict[str, str]] = ContextVar("sre_agent_log_about", default={})  # noqa: B039 - never mutated
_SLACK_TOKEN = re.compile(r"\bx(?:ox[abposre]|app)-[A-Za-z0-9-]{8,}")
REDACTED = "[redacted]"


def about() -> dict[str, str]:
    """What the lines logged here are about (`incident`, `pager_incident`)."""
    return _ABOUT.get()


@contextlib.contextmanager
def about_incident(incident: int | None = None, *, pager_incident: str | None = None) -> Iterator[None]:
    """What is logged inside (and in the tasks started inside) is about this incident."""
    given = {"incident": incident, "pager_incident": pager_incident}
    token = _ABOUT.set({**_ABOUT.get(), **{k: str(v) for k, v in given.items() if v is not None}})
    try:
        yield
    finally:
        _ABOUT.reset(token)


class Redactor(logging.Filter):
    """Replaces the given secrets, and anything shaped like a Slack token, in the final text of each record."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # the longest first, so that a secret containing another is replaced whole; short values are no secrets
        self.secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return _SLACK_TOKEN.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = self.clean(record.getMessage())
        record.msg, record.args = message, None
        if record.exc_info:
            record.exc_text = self.clean(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.clean(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(about())
        given = getattr(record, "incident", None)  # given with the line (`extra=`)
        if given is not None:
            line["incident"] = str(given)
        if record.exc_info:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


class _TextWithIncident(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = about()
        return f"{text} [{' '.join(f'{k}={v}' for k, v in context.items())}]" if context else text


def configure(*, level: str, form: str, secrets: Iterable[str]) -> None:
    """The root logger writes to stderr in `form` (json or text), at `level`, with `secrets` never shown."""
    handler = logging.StreamHandler()
    handler.addFilter(Redactor(secrets))
    if form == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(_TextWithIncident("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
