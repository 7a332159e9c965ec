"""The SLO tick: read every SLO's counts from the monitoring delegates (one batched request each), store them as
snapshots, evaluate, and say what changed.

The tick is a recurring timer (`SLO_TICK`): one process of several runs each firing, and a firing cut off by a crash
is fired again. What changed is worked out against what was last said (the SLO's stored state), and each thing is
said once even when a firing runs twice: a message carries a tag naming the SLO, what it says and the firing's time,
and is looked for before it is posted; a burn-rate incident is keyed the same way; the state is saved after.

- A tier that starts firing is announced once (a page tier opens an incident and says the burn in its channel, or
  posts to the service's channel, as configured; a ticket tier posts to the owning team's channel), that message
  updated at each evaluation while it lasts, and said to have cleared when it stops.
- A budget that crosses down into warning or exhausted is announced once per crossing; a recovery is said too; an SLO
  whose period has no data is said to be unknown.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from blocks import budgets as words
from bot.adapters.slack.gateway import SlackGateway
from bot.budgets.posting import post_once
from bot.budgets.reading import SliReader
from bot.budgets.standing import USUAL_DAYS, Standing
from bot.config.slos import SloDefinition
from bot.domain.catalog import Catalog
from bot.domain.incident import Incident
from bot.domain.maintenance import Maintenance, covering
from bot.domain.slo import BudgetState, SloStatus, evaluate_all
from bot.domain.slo_alerts import Change, Transition, transitions
from bot.errors import SreAgentError
from bot.lifecycle.declaring import BurnPage
from bot.ports.clock import Clock
from bot.store import Store, Timer
from bot.store.slos import SloState, Snapshot

__all__ = ["SLO_TICK", "BudgetConfig", "BudgetTracker", "BurnPages"]

log = logging.getLogger(__name__)

SLO_TICK = "slo_tick"
KEEP_FIRED_TIMERS = timedelta(days=7)


class BurnPages(Protocol):
    async def declare_burn(self, burn: BurnPage) -> Incident | None: ...


@dataclass(frozen=True)
class BudgetConfig:
    incidents_channel: str
    page: str = "incident"  # what a page tier does: "incident" (open one) or "channel" (post to the service's)
    tick_minutes: int = 1


class BudgetTracker:
    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        reader: SliReader,
        definitions: Sequence[SloDefinition],
        slack: SlackGateway,
        catalog: Catalog,
        pages: BurnPages,
        config: BudgetConfig,
        standing: Standing,
    ) -> None:
        self.standing = standing
        self.store = store
        self.clock = clock
        self.reader = reader
        self.definitions = list(definitions)
        self.slack = slack
        self.catalog = catalog
        self.pages = pages
        self.config = config

    @property
    def crontab(self) -> str:
        minutes = self.config.tick_minutes
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"

    async def on_timer(self, timer: Timer) -> None:
        await self.tick(timer.due_at)

    async def tick(self, at: datetime) -> list[SloStatus]:
        """One evaluation of every SLO, as of the firing time `at` (the same on a second run of the firing)."""
        if not self.definitions:
            return []
        counts = await self.reader.read(self.definitions, self.clock.now())
        await self.store.add_snapshots(
            [Snapshot(d.slo.name, d.slo.service, at, counts[d.slo.name]) for d in self.definitions]
        )
        statuses = evaluate_all((d.slo, counts[d.slo.name]) for d in self.definitions)
        if at.minute == 0:  # once an hour: forget what no period, history or ledger reads any more
            await self._prune(at)
        planned = self.standing.maintenance.at(at)  # the maintenance windows open now, laid out once a tick
        for status in statuses:
            try:
                await self._say(status, at, covering(planned, status.slo.service, at))
            except Exception:  # one SLO's trouble (Slack down, say) must not silence the others
                log.exception("SLO %s: what changed could not be said", status.slo.name)
        return statuses

    async def _prune(self, at: datetime) -> None:
        keep = max([*(d.slo.period for d in self.definitions), timedelta(days=USUAL_DAYS)]) + timedelta(days=2)
        try:
            snapshots = await self.store.prune_snapshots(before=at - keep)
            fired = await self.store.prune_timers(before=at - KEEP_FIRED_TIMERS)
        except Exception:  # a failed clean-up must not stop the tick
            log.exception("old SLO snapshots and fired timers could not be pruned")
            return
        if snapshots or fired:
            log.info("pruned %d SLO snapshots and %d fired timers", snapshots, fired)

    @property
    def fallback(self) -> str:
        """Where an SLO message goes when the team's channel refuses it."""
        return self.config.incidents_channel

    def channel_for(self, service: str) -> str:
        """The owning team's channel (the catalog's), else the incidents channel."""
        known = self.catalog.get(service)
        return known.slack_channel if known is not None and known.slack_channel else self.config.incidents_channel

    async def _say(self, status: SloStatus, at: datetime, window: Maintenance | None) -> None:
        name = status.slo.name
        if window is not None:  # planned: nothing is said; what still holds after the window is said then
            log.info("SLO %s: in maintenance window %s, no alerts", name, window.name)
            return
        state = await self.store.slo_state(name) or SloState(name, "")
        previous = BudgetState(state.budget) if state.budget else None
        changes, firing_now = transitions(previous, frozenset(state.firing), status)
        before = {t: dict(v) for t, v in state.firing.items()}
        firing = dict(before)
        for change in changes:
            await self._one(status, change, at, firing, before)
            if change.change is Change.CLEARED and change.tier is not None:
                firing.pop(change.tier, None)
            budget = str(status.budget) if change.tier is None else state.budget
            # saved after each thing said: a failure further on (Slack down, say) leaves what was said recorded,
            # so the next tick does not say it again
            saved = await self._save(state, SloState(name, budget, dict(firing), state.version))
            if saved is None:
                return
            state = saved
        final = {t: v for t, v in firing.items() if t in firing_now}
        await self._save(state, SloState(name, str(status.budget), final, state.version))

    async def _save(self, before: SloState, after: SloState) -> SloState | None:
        """Store `after` if it differs from `before`, conditionally; the state as stored now, None when another
        process changed it first (it says the rest)."""
        if (after.budget, dict(after.firing)) == (before.budget, dict(before.firing)):
            return before
        if not await self.store.save_slo_state(before, after, now=self.clock.now()):
            log.info("SLO %s: another process said it first", before.slo)
            return None
        return SloState(after.slo, after.budget, after.firing, before.version + 1)

    async def _one(
        self,
        status: SloStatus,
        change: Transition,
        at: datetime,
        firing: dict[str, dict[str, Any]],
        before: Mapping[str, Mapping[str, Any]],
    ) -> None:
        name, channel = status.slo.name, self.channel_for(status.slo.service)
        stamp = at.strftime("%Y%m%dT%H%M%SZ")
        if change.change is Change.FIRED:
            assert change.tier is not None and change.alert is not None
            entry: dict[str, Any] = {"since": at.isoformat()}
            if change.alert.severity == "page" and self.config.page == "incident":
                key = f"burn-{name}-{change.tier}-{stamp}"
                incident = await self.pages.declare_burn(
                    BurnPage(
                        key=key,
                        title=f"{status.slo.display_name or name} is burning its error budget "
                        f"({words.TIER_WORDS.get(change.tier, change.tier)})",
                        service=status.slo.service,
                        description=words.tier_fired(status, change.alert),
                        began_at=at,
                    )
                )
                entry["incident"] = incident.key if incident is not None else None
                entry["channel"] = incident.channel_id if incident is not None else None
                if incident is not None and incident.channel_id:  # the burn in the incident's channel, kept current
                    tag = {"slo": name, "purpose": f"{change.tier}:{stamp}"}
                    said = words.tier_fired(status, change.alert)
                    entry["channel"], entry["ts"] = await post_once(
                        self.slack, incident.channel_id, tag, said, fallback=self.fallback
                    )
            else:
                tag = {"slo": name, "purpose": f"{change.tier}:{stamp}"}
                said = words.tier_fired(status, change.alert)
                entry["channel"], entry["ts"] = await post_once(self.slack, channel, tag, said, fallback=self.fallback)
            firing[change.tier] = entry
        elif change.change is Change.FIRING:
            assert change.tier is not None and change.alert is not None
            entry = firing.get(change.tier, {})
            if entry.get("ts") and entry.get("channel"):
                try:
                    await self.slack.update(entry["channel"], entry["ts"], words.tier_firing(status, change.alert))
                except SreAgentError as exc:
                    log.warning("SLO %s: the %s alert could not be updated: %s", name, change.tier, exc)
        elif change.change is Change.CLEARED:
            assert change.tier is not None
            entry = dict(before.get(change.tier, {}))
            where = entry.get("channel") or channel
            tag = {"slo": name, "purpose": f"{change.tier}:cleared:{stamp}"}
            await post_once(self.slack, where, tag, words.tier_cleared(status, change.tier), fallback=self.fallback)
            if entry.get("incident"):
                log.info("SLO %s: %s cleared; incident %s stays open for people to resolve", name, change.tier, entry)
        else:
            policy = self.standing.policy
            if change.change is Change.BUDGET_LOW:
                text = words.budget_low(
                    status, cautious=policy.cautious(status.budget), approvers=policy.cautious_approvers
                )
            else:
                text = {Change.BUDGET_RECOVERED: words.budget_recovered, Change.NO_DATA: words.no_data}[change.change](
                    status
                )
            tag = {"slo": name, "purpose": f"{change.change}:{stamp}"}
            await post_once(self.slack, channel, tag, text, fallback=self.fallback)
