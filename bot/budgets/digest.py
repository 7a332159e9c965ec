"""The budget digest: a scheduled message (a crontab in a time zone) to a channel with every SLO, the least budget
left first: what remains and how that moved in the last day, the burn now, the forecast and what fires; and which
incident spent which budget in the longest SLO period (the budget ledger). Sent once per
scheduled time: the scheduler stores each firing once across processes, and the message carries the firing's time as
its tag and is looked for before it is posted (a firing cut off by a crash and fired again posts nothing twice)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from blocks import budgets as words
from bot.adapters.slack.gateway import SlackGateway
from bot.budgets.posting import post_once
from bot.budgets.standing import Standing
from bot.domain.events import BudgetSpent, payload_of
from bot.domain.slo import evaluate
from bot.domain.timeline import EventKind
from bot.store import Store, Timer

__all__ = ["SLO_DIGEST", "Digest"]

log = logging.getLogger(__name__)

SLO_DIGEST = "slo_digest"


class Digest:
    def __init__(self, *, store: Store, standing: Standing, slack: SlackGateway, channel: str) -> None:
        self.store = store
        self.standing = standing
        self.slack = slack
        self.channel = channel

    async def on_timer(self, timer: Timer) -> None:
        await self.send(timer.due_at)

    async def send(self, at: datetime) -> str | None:
        """Post the digest for the scheduled time `at` (once); its ts."""
        definitions = self.standing.definitions
        if not definitions:
            return None
        statuses = await self.standing.statuses()
        names = [d.slo.name for d in definitions]
        day_before = await self.store.latest_snapshots(before=at - timedelta(days=1), names=names)
        then = {
            d.slo.name: evaluate(d.slo, day_before[d.slo.name].counts).remaining
            for d in definitions
            if d.slo.name in day_before
        }
        longest = max(d.slo.period for d in definitions)
        ledger: list[tuple[str, BudgetSpent]] = []
        for incident_id, event in await self.store.events_of_kind(EventKind.BUDGET_SPENT, since=at - longest):
            incident = await self.store.incident(incident_id)
            if incident is not None and isinstance(spent := payload_of(event), BudgetSpent):
                ledger.append((incident.label, spent))
        text = words.digest(statuses, then, at, ledger)
        _, ts = await post_once(self.slack, self.channel, {"digest": at.strftime("%Y%m%dT%H%M%SZ")}, text)
        return ts
