"""Pure signing helpers shared by the sandbox peers, the tests and the benchmarks.

Slack: ``X-Slack-Signature = "v0=" + hex(HMAC-SHA256(secret, f"v0:{ts}:{raw_body}"))``.
PagerDuty webhooks v3: ``X-PagerDuty-Signature = "v1=<hex HMAC-SHA256(secret, raw_body)>"``, one per secret,
joined by ",".
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = [
    "PAGERDUTY_USER_AGENT",
    "pagerduty_headers",
    "pagerduty_signature",
    "slack_headers",
    "slack_signature",
]

PAGERDUTY_USER_AGENT = "PagerDuty-Webhook/V3.0"
DEFAULT_SUBSCRIPTION_ID = "PSANDBOXSUB01"


def _bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


def slack_signature(secret: str, timestamp: str | int, body: bytes | str) -> str:
    base = b"v0:" + str(timestamp).encode("ascii") + b":" + _bytes(body)
    return "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


def slack_headers(secret: str, body: bytes | str, timestamp: str | int | None = None) -> dict[str, str]:
    """Signature headers exactly as Slack sends them. The timestamp is real (wall) time: Bolt checks it
    against its own ``time.time()``, within 300 s."""
    ts = str(int(time.time())) if timestamp is None else str(timestamp)
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": slack_signature(secret, ts, body),
    }


def pagerduty_signature(secrets: list[str], body: bytes | str) -> str:
    raw = _bytes(body)
    return ",".join("v1=" + hmac.new(s.encode("utf-8"), raw, hashlib.sha256).hexdigest() for s in secrets)


def pagerduty_headers(
    secrets: list[str],
    body: bytes | str,
    webhook_id: str,
    subscription_id: str = DEFAULT_SUBSCRIPTION_ID,
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": PAGERDUTY_USER_AGENT,
        "X-Webhook-Id": webhook_id,
        "X-Webhook-Subscription": subscription_id,
        "X-PagerDuty-Signature": pagerduty_signature(secrets, body),
    }
