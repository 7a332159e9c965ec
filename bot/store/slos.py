"""SLO snapshots and states. A snapshot is what one tick read of one SLO: its counts by window (no data kept as
such). A state is what was last announced of an SLO (its budget state and the tiers that fire); it changes by a
conditional update on its version, so that of two processes that evaluate the same tick, one announces."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.domain.slo import Counts, collector_paused
from bot.store.backend import Transactions
from bot.store.tables import slo_snapshots, slo_states

__all__ = ["SloRows", "SloState", "Snapshot"]


@dataclass(frozen=True)
class Snapshot:
    slo: str
    service: str
    taken_at: datetime
    counts: Mapping[str, Counts | None]  # by window; None: the delegate returned nothing for it


@dataclass(frozen=True)
class SloState:
    slo: str
    budget: str  # a BudgetState value
    firing: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # by tier: {"since": iso, ...}
    version: int = 0  # 0: never stored


def _counts_json(counts: Mapping[str, Counts | None]) -> dict[str, list[int] | None]:
    return {w: None if c is None else [c.bad, c.total, c.scale] for w, c in counts.items()}


def _counts(data: Mapping[str, Any]) -> dict[str, Counts | None]:
    return {w: None if v is None else Counts(int(v[0]), int(v[1]), int(v[2])) for w, v in data.items()}


_new, _set = object.__new__, object.__setattr__


def _stored_counts(text: str) -> dict[str, Counts | None]:
    """The counts as this store wrote them (checked then): read without checking again, the tick reads thousands."""
    out: dict[str, Counts | None] = {}
    for window, v in json.loads(text).items():
        if v is None:
            out[window] = None
            continue
        c = _new(Counts)
        _set(c, "bad", v[0])
        _set(c, "total", v[1])
        _set(c, "scale", v[2])
        out[window] = c
    return out


class SloRows(Transactions):
    async def add_snapshots(self, snapshots: list[Snapshot]) -> None:
        """Store one tick's snapshots, in one transaction."""

        def work(conn: sa.Connection) -> None:
            conn.execute(
                slo_snapshots.insert(),
                [
                    {"slo": s.slo, "service": s.service, "taken_at": s.taken_at, "counts": _counts_json(s.counts)}
                    for s in snapshots
                ],
            )

        if snapshots:
            await self.run(work)

    async def latest_snapshots(
        self, before: datetime | None = None, *, names: list[str] | None = None
    ) -> dict[str, Snapshot]:
        """Each SLO's newest snapshot (taken at or before `before`, when given; of the SLOs `names`, when given), by
        SLO name."""

        def work(conn: sa.Connection) -> dict[str, Snapshot]:
            newest = sa.select(slo_snapshots.c.slo, sa.func.max(slo_snapshots.c.taken_at).label("at"))
            if before is not None:
                newest = newest.where(slo_snapshots.c.taken_at <= before)
            if names is not None:
                newest = newest.where(slo_snapshots.c.slo.in_(names))
            latest = newest.group_by(slo_snapshots.c.slo).subquery()
            c = slo_snapshots.c
            rows = conn.execute(  # the counts as text, decoded here: a third of the time of the JSON type's
                sa.select(c.slo, c.service, c.taken_at, sa.cast(c.counts, sa.Text)).join(
                    latest, sa.and_(c.slo == latest.c.slo, c.taken_at == latest.c.at)
                )
            )
            with collector_paused():
                return {slo: Snapshot(slo, service, at, _stored_counts(text)) for slo, service, at, text in rows}

        return await self.run(work)

    async def snapshots(self, slo: str, *, since: datetime, until: datetime) -> list[Snapshot]:
        """One SLO's snapshots taken in [since, until], oldest first."""

        def work(conn: sa.Connection) -> list[Snapshot]:
            rows = conn.execute(
                slo_snapshots.select()
                .where(slo_snapshots.c.slo == slo, slo_snapshots.c.taken_at >= since, slo_snapshots.c.taken_at <= until)
                .order_by(slo_snapshots.c.taken_at)
            )
            return [Snapshot(r.slo, r.service, r.taken_at, _counts(r.counts)) for r in rows]

        return await self.run(work)

    async def prune_snapshots(self, *, before: datetime) -> int:
        """Forget the snapshots taken before `before` (older than any period or history still read); how many."""

        def work(conn: sa.Connection) -> int:
            return int(conn.execute(slo_snapshots.delete().where(slo_snapshots.c.taken_at < before)).rowcount or 0)

        return await self.run(work)

    async def slo_state(self, slo: str) -> SloState | None:
        def work(conn: sa.Connection) -> SloState | None:
            row = conn.execute(slo_states.select().where(slo_states.c.slo == slo)).first()
            return None if row is None else SloState(row.slo, row.budget, dict(row.firing), row.version)

        return await self.run(work)

    async def save_slo_state(self, before: SloState, after: SloState, *, now: datetime) -> bool:
        """Write `after` only if the stored state is still `before` (version 0: none stored yet): true for exactly
        one of the processes that saw the same change."""

        def work(conn: sa.Connection) -> bool:
            values = {"budget": after.budget, "firing": dict(after.firing), "updated_at": now}
            if before.version == 0:
                conn.execute(slo_states.insert().values(slo=after.slo, version=1, **values))
                return True
            result = conn.execute(
                slo_states.update()
                .where(slo_states.c.slo == before.slo, slo_states.c.version == before.version)
                .values(version=before.version + 1, **values)
            )
            return result.rowcount == 1

        try:
            return await self.run(work)
        except IntegrityError:  # another process stored the first state meanwhile
            return False
