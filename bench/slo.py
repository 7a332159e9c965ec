"""SLO benchmark: how long one tick's evaluation of N SLOs takes, from their stored snapshots: the newest snapshot of
each read from the store (SQLite, a fresh file), then every window's data state and burn, every tier and the budget
and forecast of each SLO evaluated.

    python bench/slo.py [--slos 10000]

seconds          reading the newest snapshots and evaluating every SLO, all together
read_seconds     of which reading the snapshots
evaluate_seconds of which the evaluation (the domain's math)
firing           how many tiers fire across the SLOs (a check that the numbers were evaluated, not skipped)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

from bot.domain.slo import Counts, Slo, evaluate_all
from bot.store import Store
from bot.store.slos import Snapshot

OBJECTIVES = (Fraction(99, 100), Fraction(995, 1000), Fraction(999, 1000), Fraction(9995, 10000))
PERIODS = (timedelta(days=28), timedelta(days=30))
SPANS = {"5m": 300, "30m": 1800, "1h": 3600, "2h": 7200, "6h": 21600, "1d": 86400, "3d": 259200}


def _slos(n: int) -> list[Slo]:
    rng = random.Random(7)
    return [Slo(f"slo-{i}", f"service-{i % 500}", rng.choice(OBJECTIVES), rng.choice(PERIODS)) for i in range(n)]


def _snapshot(slo: Slo, at: datetime, rng: random.Random) -> Snapshot:
    rate = rng.choice((0.5, 5, 50, 500))  # requests a second
    counts: dict[str, Counts | None] = {}
    for window, seconds in {**SPANS, slo.period_name: int(slo.period.total_seconds())}.items():
        total = int(rate * seconds)
        ratio = float(slo.budget) * rng.choice((0.1, 0.5, 1, 3, 8, 20))
        counts[window] = Counts(min(total, int(total * ratio)), total)
    if rng.random() < 0.02:
        counts["5m"] = None  # a delegate that returned nothing for a window
    return Snapshot(slo.name, slo.service, at, counts)


async def main(n: int) -> dict[str, object]:
    slos = _slos(n)
    rng = random.Random(11)
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as folder:
        store = await Store.open(f"sqlite:///{Path(folder) / 'bench.db'}")
        try:
            for tick in (2, 1, 0):  # three ticks stored: the newest must be picked out
                await store.add_snapshots([_snapshot(s, now - timedelta(minutes=tick), rng) for s in slos])
            started = time.perf_counter()
            latest = await store.latest_snapshots()
            read = time.perf_counter()
            statuses = evaluate_all((s, latest[s.name].counts) for s in slos)  # as the tick does
            done = time.perf_counter()
        finally:
            await store.close()
    return {
        "slos": len(statuses),
        "seconds": round(done - started, 3),
        "read_seconds": round(read - started, 3),
        "evaluate_seconds": round(done - read, 3),
        "firing": sum(len(s.firing) for s in statuses),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slos", type=int, default=10_000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.slos))))
