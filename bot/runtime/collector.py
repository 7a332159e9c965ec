"""The interpreter's collector of reference cycles, set for a server that runs for months (`sre-agent serve` only:
tests and the playground run many apps in one process and keep the defaults).

Two settings, measured on a storm of 500 pages (bench/run.py, SQLite, 2 cores), which spent about 550 ms of CPU in
the collector and paused every thread for up to 90 ms at a time (a full collection scans every object the process
holds, and 140,000 of its 150,000 are the imports' and the start's own, which never become garbage): that pause was
the webhook's 99th percentile.
- Once the app is serving, what the start made is collected once and then frozen: full collections scan only what
  came after (the longest pause 6 to 13 ms).
- A young collection every 10,000 new objects rather than 700: an incident's objects mostly go when their last
  reference does, and at 700 the collector ran about 350 times a storm to find little (the collector's CPU for the
  storm about 50 ms with both).
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "for_serving", "freeze_the_start"]

YOUNG_THRESHOLD = 10_000


def for_serving() -> None:
    """Before the app is built: young collections every YOUNG_THRESHOLD new objects; the older generations as set."""
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def freeze_the_start() -> int:
    """Once serving: what exists now is collected once, then left out of every later collection. How many objects
    that is."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
