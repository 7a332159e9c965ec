"""Inbound signature checks that Bolt does not do for us (Slack's own is verified by Bolt)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable


def pagerduty_signature_valid(header: str | None, body: bytes, secrets: Iterable[str]) -> bool:
    """PagerDuty webhook v3: `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]`, HMAC-SHA256 of the raw body.
    Valid when any signature matches any of our secrets (several while a secret rotates)."""
    if not header:
        return False
    given = [part.strip()[3:] for part in header.split(",") if part.strip().startswith("v1=")]
    if not given:
        return False
    valid = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
        for signature in given:
            # (as bytes: compare_digest raises on a str that is not ASCII, and a header may hold anything)
            valid |= hmac.compare_digest(expected, signature.encode("utf-8", "surrogateescape"))
    return valid
