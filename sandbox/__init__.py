"""Local peers that speak the real wire formats (Slack Web API, PagerDuty REST v2 + Events API v2 + signed v3
webhooks) on one aiohttp server, so the bot runs unchanged against them in the demo, the tests and the benchmarks.

The serving path never imports this package; see docs/sandbox.md.
"""

from __future__ import annotations

from sandbox.server import Sandbox
from sandbox.world import World, WorldError

__all__ = ["Sandbox", "World", "WorldError"]
