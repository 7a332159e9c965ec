"""Budget offers (bot.domain.offers): stored when shown, changed only by a conditional update on their version, so
that of two clicks at once one counts and one incident is opened."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.domain.diagnosis import Evidence, Outcome, Role
from bot.domain.offers import Offer, OfferStatus
from bot.domain.runbooks import Plan
from bot.domain.signals import from_answer
from bot.store.backend import Transactions
from bot.store.rows import _plan, _plan_json
from bot.store.tables import budget_offers

__all__ = ["OfferRows"]


def _evidence_json(item: Evidence) -> dict[str, Any]:
    return {
        "agent": item.agent,
        "role": str(item.role),
        "question": item.question,
        "outcome": str(item.outcome),
        "answer": item.answer,
        "data": list(item.data),
        "duration_ms": item.duration_ms,
        "reason": item.reason,
    }


def _evidence(data: dict[str, Any]) -> Evidence:
    """An answer as stored, with its signals read again from its words and data (as when it came)."""
    parts = [d for d in data.get("data") or [] if isinstance(d, dict)]
    answer = str(data.get("answer") or "")
    return Evidence(
        str(data["agent"]),
        Role(data["role"]),
        str(data["question"]),
        Outcome(data["outcome"]),
        answer,
        from_answer(parts, answer),
        float(data.get("duration_ms") or 0.0),
        str(data.get("reason") or ""),
        tuple(parts),
    )


def _offer(row: Any) -> Offer:
    return Offer(
        row.id,
        row.service,
        _plan(row.plan),
        row.plan_hash,
        tuple(_evidence(e) for e in row.evidence),
        row.title,
        row.shown,
        row.policy,
        row.asked_by,
        row.created_at,
        row.expires_at,
        OfferStatus(row.status),
        row.decided_by,
        row.incident_id,
        row.channel_id,
        row.message_ts,
        row.version,
    )


class OfferRows(Transactions):
    async def add_offer(
        self,
        service: str,
        plan: Plan,
        evidence: tuple[Evidence, ...],
        *,
        title: str,
        shown: str,
        policy: str,
        asked_by: str,
        now: datetime,
        expires_at: datetime,
    ) -> Offer:
        def work(conn: sa.Connection) -> int:
            result = conn.execute(
                budget_offers.insert().values(
                    service=service,
                    plan=_plan_json(plan),
                    plan_hash=plan.hash,
                    evidence=[_evidence_json(e) for e in evidence],
                    title=title,
                    shown=shown,
                    policy=policy,
                    asked_by=asked_by,
                    status=str(OfferStatus.OFFERED),
                    version=0,
                    created_at=now,
                    expires_at=expires_at,
                    updated_at=now,
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

        offer_id = await self.run(work)
        return Offer(offer_id, service, plan, plan.hash, evidence, title, shown, policy, asked_by, now, expires_at)

    async def offer(self, offer_id: int) -> Offer | None:
        def work(conn: sa.Connection) -> Offer | None:
            row = conn.execute(budget_offers.select().where(budget_offers.c.id == offer_id)).first()
            return _offer(row) if row else None

        return await self.run(work)

    async def offers(self, *, status: OfferStatus | None = None, opened: bool | None = None) -> list[Offer]:
        """Offers, oldest first: all, or those in a status, and with (`opened`) or without an incident opened."""

        def work(conn: sa.Connection) -> list[Offer]:
            query = budget_offers.select().order_by(budget_offers.c.id)
            if status is not None:
                query = query.where(budget_offers.c.status == str(status))
            if opened is not None:
                column = budget_offers.c.incident_id
                query = query.where(column.is_not(None) if opened else column.is_(None))
            return [_offer(row) for row in conn.execute(query)]

        return await self.run(work)

    async def save_offer(self, before: Offer, after: Offer, *, now: datetime) -> bool:
        """Write a change only if nobody changed the offer since `before` was read."""

        def work(conn: sa.Connection) -> bool:
            update = (
                budget_offers.update()
                .where(budget_offers.c.id == before.id, budget_offers.c.version == before.version)
                .values(
                    status=str(after.status),
                    decided_by=after.decided_by,
                    incident_id=after.incident_id,
                    channel_id=after.channel_id,
                    message_ts=after.message_ts,
                    version=before.version + 1,
                    updated_at=now,
                )
            )
            return bool(conn.execute(update).rowcount == 1)

        return await self.run(work, urgent=True)
