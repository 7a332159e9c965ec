"""Where the budgets stand now: every SLO evaluated from its newest stored snapshot, a service's SLOs, the usual
burn from the snapshots of the days before, and the stance the error budget policy takes for a service."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from bot.config.maintenance import MaintenancePlan
from bot.config.slos import SloDefinition
from bot.domain.budget_policy import Policy, Stance, stance
from bot.domain.events import BudgetSpent
from bot.domain.incident import Incident
from bot.domain.slo import BudgetAnswer, SloStatus, evaluate, evaluate_all, spent_between, usual_burn
from bot.store import Store

__all__ = ["Standing"]

USUAL_DAYS = 28  # the usual burn: the median of the daily burns of these many days before today


class Standing:
    def __init__(
        self,
        *,
        store: Store,
        definitions: Sequence[SloDefinition],
        policy: Policy | None = None,
        maintenance: MaintenancePlan | None = None,
    ) -> None:
        self.store = store
        self.definitions = list(definitions)
        self.policy = policy or Policy()
        self.maintenance = maintenance or MaintenancePlan()

    async def spent_in_maintenance(self, definition: SloDefinition, now: datetime) -> float | None:
        """The share of the period's budget spent inside maintenance windows of the SLO's service over its period
        (None when there was no window)."""
        windows = [
            w
            for w in self.maintenance.between(now - definition.slo.period, now)
            if not w.services or definition.slo.service in w.services
        ]
        if not windows:
            return None
        total = 0.0
        name, period = definition.slo.name, definition.slo.period_name
        for w in windows:
            start = (await self.store.latest_snapshots(before=w.start, names=[name])).get(name)
            end = (await self.store.latest_snapshots(before=min(w.end, now), names=[name])).get(name)
            first = start.counts.get(period) if start else None
            last = end.counts.get(period) if end else None
            if first is not None and last is not None:
                share, _ = spent_between(first, last, definition.slo.budget)
                total += share.numerator / share.denominator
        return total

    def of_service(self, service: str) -> list[SloDefinition]:
        return [d for d in self.definitions if d.slo.service == service]

    async def of_services(self, services: Collection[str]) -> list[SloStatus]:
        """The SLOs of these services as they stand."""
        return await self.statuses([d for d in self.definitions if d.slo.service in services])

    async def statuses(self, definitions: Sequence[SloDefinition] | None = None) -> list[SloStatus]:
        """The SLOs (all, or these) as of their newest snapshots (no data where there is none yet)."""
        chosen = self.definitions if definitions is None else list(definitions)
        if not chosen:
            return []
        latest = await self.store.latest_snapshots(names=[d.slo.name for d in chosen])
        return evaluate_all((d.slo, latest[d.slo.name].counts if d.slo.name in latest else {}) for d in chosen)

    async def usual(self, definition: SloDefinition, now: datetime) -> float | None:
        """The SLO's usual burn: the median of its 1-day burns over the days before today (at least three)."""
        burns: list[float] = []
        for day in range(1, USUAL_DAYS + 1):
            snapshot = await self.store.latest_snapshots(before=now - timedelta(days=day), names=[definition.slo.name])
            found = snapshot.get(definition.slo.name)
            if found is None:
                break  # no older history either
            burn = evaluate(definition.slo, found.counts).windows["1d"].burn
            if burn is not None:
                burns.append(burn)
        return usual_burn(burns)

    async def burn_before(self, definition: SloDefinition, at: datetime) -> float | None:
        """The SLO's 1-day burn as it stood at `at` (from the newest snapshot before it; None without one)."""
        found = (await self.store.latest_snapshots(before=at, names=[definition.slo.name])).get(definition.slo.name)
        return evaluate(definition.slo, found.counts).windows["1d"].burn if found is not None else None

    async def with_usual(self, definitions: Sequence[SloDefinition], now: datetime) -> list[SloStatus]:
        """As `statuses`, with each SLO's burn also against its usual burn."""
        latest = await self.store.latest_snapshots(names=[d.slo.name for d in definitions])
        out = []
        for d in definitions:
            counts = latest[d.slo.name].counts if d.slo.name in latest else {}
            out.append(evaluate(d.slo, counts, usual=await self.usual(d, now)))
        return out

    async def stance(self, service: str) -> Stance:
        """How to act on `service` now, by its budgets."""
        return stance(await self.statuses(self.of_service(service)), self.policy)

    async def answer(self, service: str | None, now: datetime) -> BudgetAnswer:
        """For "how's the budget looking?": the service's SLOs (or, with no service, every SLO, burning fastest
        first), with their usual burns and what was spent in maintenance windows."""
        chosen = self.of_service(service) if service is not None else self.definitions
        statuses = await self.with_usual(chosen, now)
        if service is None:
            statuses.sort(key=lambda s: -(s.burn_now or 0.0))
        maintenance = {}
        for d in chosen:
            spent = await self.spent_in_maintenance(d, now)
            if spent is not None:
                maintenance[d.slo.name] = spent
        return BudgetAnswer(statuses, bool(self.definitions), maintenance)

    async def spent(self, incident: Incident, now: datetime) -> list[BudgetSpent]:
        """The budget ledger of an incident that ended: each of its service's SLOs, the share of the period's budget
        spent from when it began to `now`, from the snapshots then and now (none where there are no counts)."""
        out: list[BudgetSpent] = []
        for d in self.of_service(incident.service):
            name = d.slo.name
            start = (await self.store.latest_snapshots(before=incident.triggered_at, names=[name])).get(name)
            if start is None:  # no snapshot before it began: the first one after
                later = await self.store.snapshots(name, since=incident.triggered_at, until=now)
                start = later[0] if later else None
            end = (await self.store.latest_snapshots(before=now, names=[name])).get(name)
            if start is None or end is None:
                continue
            first, last = start.counts.get(d.slo.period_name), end.counts.get(d.slo.period_name)
            if first is None or last is None:
                continue
            share, bad = spent_between(first, last, d.slo.budget)
            out.append(
                BudgetSpent(
                    name,
                    d.slo.period_name,
                    share.numerator / share.denominator,
                    int(bad),
                    start.taken_at.isoformat(),
                    end.taken_at.isoformat(),
                )
            )
        return out
