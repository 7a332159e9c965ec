"""Slack channel names derived safely from untrusted incident data."""

from __future__ import annotations

import re

MAX_CHANNEL_NAME = 80


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "-", text.lower())
    return re.sub(r"-{2,}", "-", slug).strip("-_")


def channel_name(number: int | str | None, service: str, *, prefix: str = "inc") -> str:
    """`inc-4211-checkout-service`: lowercase, only a-z 0-9 - _, at most 80 characters, never empty."""
    parts = [_slug(prefix) or "inc"]
    if number is not None and _slug(str(number)):
        parts.append(_slug(str(number)))
    service_slug = _slug(service)
    if service_slug:
        parts.append(service_slug)
    return "-".join(parts)[:MAX_CHANNEL_NAME].rstrip("-_")


def with_suffix(name: str, n: int) -> str:
    """The n-th alternative for a taken name (`inc-4211-checkout-service-2`), still within 80 characters."""
    suffix = f"-{n}"
    return name[: MAX_CHANNEL_NAME - len(suffix)].rstrip("-_") + suffix
