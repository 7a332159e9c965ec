"""sre-agent: an incident commander for Slack."""

from __future__ import annotations

__version__ = "0.1.0"
