"""How long an adapter waits before it asks a peer again: the peer's `Retry-After` (in seconds, at most 30), else
a doubling delay from a quarter of a second, at most 5 seconds."""

from __future__ import annotations


def backoff(attempt: int, retry_after: str = "") -> float:
    if retry_after.isdigit():
        return min(float(retry_after), 30.0)
    return min(0.25 * 2.0**attempt, 5.0)
