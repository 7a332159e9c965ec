"""Entry points the `sre-agent` CLI loads on demand: ``run_sandbox`` (the peers alone) and ``run_demo``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import yaml

from sandbox.server import Sandbox
from sandbox.world import World

__all__ = ["describe", "load_world", "run_demo", "run_sandbox"]

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def load_world(scenario: str | None) -> tuple[World, str]:
    """A world from a .yml path or a shipped scenario name; a scenario file is a world, or has a ``world:`` key.
    Unknown names fall back to the default world (the second value says which one was used)."""
    if not scenario or scenario == "default":
        return World.default(), "default"
    path = Path(scenario)
    if not path.is_file():
        path = SCENARIOS / f"{scenario}.yml"
    if not path.is_file():
        return World.default(), f"default (no scenario {scenario!r} in {SCENARIOS})"
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and isinstance(data.get("world"), dict):
        data = data["world"]
    return World.from_dict(data), str(path)


def describe(entry: dict[str, Any]) -> str:
    """One line per feed entry, for a terminal."""
    kind = entry["kind"]
    d = {k: v for k, v in entry.items() if k not in ("seq", "at", "at_monotonic", "kind", "blocks")}
    if kind in ("slack.message", "slack.ephemeral"):
        return f"{kind:18} #{d.get('channel_name') or d.get('channel')} {d.get('user_name')}: {d.get('text')}"
    if kind == "pagerduty.webhook":
        return (f"{kind:18} {d.get('event_type')} -> {d.get('status') or d.get('error')}"
                f" ({d.get('elapsed_ms', 0):.1f} ms)")
    return f"{kind:18} " + " ".join(f"{k}={v}" for k, v in d.items() if v not in (None, "", []))


async def _serve(args: argparse.Namespace) -> None:
    world, source = load_world(getattr(args, "scenario", None))
    signing = os.environ.get("SLACK_SIGNING_SECRET") or secrets.token_hex(16)
    webhook = [s for s in os.environ.get("PAGERDUTY_WEBHOOK_SECRETS", "").split(",") if s] or [secrets.token_hex(16)]
    sb = Sandbox(world, slack_signing_secret=signing, pagerduty_webhook_secrets=webhook,
                 bot_url=getattr(args, "bot_url", None))
    await sb.start(getattr(args, "host", "127.0.0.1"), int(getattr(args, "port", 0)))
    print(f"# sandbox at {sb.url} (world: {source}; bot at {sb.bot_url}); control API: {sb.url}/_sandbox/config")
    print("# point the bot at it with:")
    for key, value in sb.bot_settings().items():
        print(f"export {key}={value}")
    sys.stdout.flush()
    seq = 0
    try:
        while True:
            for entry in await sb.wait_feed(seq, timeout=30):
                seq = entry["seq"]
                print(describe(entry), flush=True)
    finally:
        await sb.stop()


def run_sandbox(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


def run_demo(args: argparse.Namespace) -> int:
    print("sre-agent demo: the scripted demo is not built yet; run `sre-agent sandbox` and `sre-agent serve`.",
          file=sys.stderr)
    return 2
