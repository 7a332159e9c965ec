"""``python -m sandbox [--scenario NAME|FILE] [--port N] [--bot-url URL]``: the peers alone, printing the settings."""

from __future__ import annotations

import argparse
import sys

from sandbox.cli import run_sandbox


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m sandbox")
    p.add_argument("--scenario", "--world", dest="scenario", default="default", help="scenario name or world .yml")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8900)
    p.add_argument("--bot-url", default=None)
    return run_sandbox(p.parse_args())


if __name__ == "__main__":
    sys.exit(main())
