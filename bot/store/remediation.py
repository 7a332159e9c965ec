"""What remediation keeps: the evidence agents gave (with the A2A context used, one per incident per agent), the
proposals people approve (an exact plan and its hash, written only if unchanged since read, so of two clicks one
counts) and their executions (started exactly once, ended once). A decision's timeline events are written in the
same transaction as the decision."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.domain.approval import Proposal
from bot.domain.approval import Status as ProposalStatus
from bot.domain.diagnosis import Evidence
from bot.domain.incident import Incident
from bot.domain.runbooks import Plan
from bot.domain.timeline import TimelineEvent
from bot.store.backend import Transactions
from bot.store.incidents import _write_incident
from bot.store.rows import _plan_json, _proposal
from bot.store.tables import evidence as evidence_table
from bot.store.tables import proposals as proposals_table


def _transition(
    conn: sa.Connection,
    update: sa.Update,
    incident: Incident | None,
    events: list[TimelineEvent] | None,
    now: datetime,
) -> bool:
    """A conditional change of a proposal: true when it applied (one row), and then the incident's phase and its
    events are written with it, in the same transaction."""
    if conn.execute(update).rowcount != 1:
        return False
    if incident is not None:
        _write_incident(conn, incident, events or [], now)
    return True


class RemediationRows(Transactions):
    async def add_evidence(
        self,
        incident_id: int,
        item: Evidence,
        *,
        asked_at: datetime,
        context_id: str | None,
        task_id: str | None,
    ) -> None:
        def work(conn: sa.Connection) -> None:
            conn.execute(
                evidence_table.insert().values(
                    incident_id=incident_id,
                    agent=item.agent,
                    role=str(item.role),
                    question=item.question,
                    outcome=str(item.outcome),
                    answer=item.answer,
                    signals=dataclasses.asdict(item.signals),
                    data=list(item.data),
                    reason=item.reason,
                    duration_ms=item.duration_ms,
                    context_id=context_id,
                    task_id=task_id,
                    asked_at=asked_at,
                )
            )

        await self.run(work)

    async def evidence(self, incident_id: int) -> list[dict[str, Any]]:
        """Every answer (or its absence) recorded for an incident, oldest first, as stored."""

        def work(conn: sa.Connection) -> list[dict[str, Any]]:
            rows = conn.execute(
                evidence_table.select().where(evidence_table.c.incident_id == incident_id).order_by(evidence_table.c.id)
            )
            return [dict(r._mapping) for r in rows]

        return await self.run(work)

    async def agent_context(self, incident_id: int, agent: str) -> str | None:
        """The A2A context id already used with `agent` for this incident: one context per incident per agent."""

        def work(conn: sa.Connection) -> str | None:
            row = conn.execute(
                sa.select(evidence_table.c.context_id)
                .where(
                    evidence_table.c.incident_id == incident_id,
                    evidence_table.c.agent == agent,
                    evidence_table.c.context_id.is_not(None),
                )
                .order_by(evidence_table.c.id)
                .limit(1)
            ).first()
            return str(row[0]) if row else None

        return await self.run(work)

    # proposals -----------------------------------------------------------------------------------

    async def add_proposal(
        self, incident_id: int, plan: Plan, *, needed: int, now: datetime, expires_at: datetime, policy: str = ""
    ) -> Proposal:
        def work(conn: sa.Connection) -> int:
            result = conn.execute(
                proposals_table.insert().values(
                    incident_id=incident_id,
                    runbook=plan.runbook,
                    plan=_plan_json(plan),
                    plan_hash=plan.hash,
                    status=str(ProposalStatus.PROPOSED),
                    needed=needed,
                    approvers=[],
                    rejected_by=None,
                    reason="",
                    version=0,
                    created_at=now,
                    expires_at=expires_at,
                    updated_at=now,
                    policy=policy,
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

        proposal_id = await self.run(work)
        return Proposal(
            proposal_id, incident_id, plan, plan.hash, ProposalStatus.PROPOSED, now, expires_at, needed, policy=policy
        )

    async def discard_proposal(self, proposal_id: int) -> None:
        """Remove a proposal that was never shown (its message could not be posted) and never decided on."""

        def work(conn: sa.Connection) -> None:
            conn.execute(
                proposals_table.delete().where(
                    proposals_table.c.id == proposal_id,
                    proposals_table.c.version == 0,
                    proposals_table.c.status == str(ProposalStatus.PROPOSED),
                )
            )

        await self.run(work)

    async def proposal(self, proposal_id: int) -> Proposal | None:
        def work(conn: sa.Connection) -> Proposal | None:
            row = conn.execute(proposals_table.select().where(proposals_table.c.id == proposal_id)).first()
            return _proposal(row) if row else None

        return await self.run(work)

    async def save_proposal(
        self,
        before: Proposal,
        after: Proposal,
        *,
        now: datetime,
        incident: Incident | None = None,
        events: list[TimelineEvent] | None = None,
    ) -> bool:
        """Write a decision only if nobody changed the proposal since `before` was read: of two clicks at once, one
        counts and the other is told so. `events` go on `incident`'s timeline in the same transaction."""

        def work(conn: sa.Connection) -> bool:
            update = (
                proposals_table.update()
                .where(proposals_table.c.id == before.id, proposals_table.c.version == before.version)
                .values(
                    status=str(after.status),
                    approvers=list(after.approvers),
                    rejected_by=after.rejected_by,
                    reason=after.reason,
                    outcome=after.outcome,
                    version=before.version + 1,
                    updated_at=now,
                )
            )
            return _transition(conn, update, incident, events, now)

        return await self.run(work, urgent=True)

    async def claim_execution(
        self,
        proposal_id: int,
        *,
        now: datetime,
        incident: Incident | None = None,
        events: list[TimelineEvent] | None = None,
    ) -> bool:
        """Start carrying out an approved proposal: true for exactly one caller, ever. `events` are written with it."""

        def work(conn: sa.Connection) -> bool:
            update = (
                proposals_table.update()
                .where(proposals_table.c.id == proposal_id, proposals_table.c.status == str(ProposalStatus.APPROVED))
                .values(status=str(ProposalStatus.EXECUTING), version=proposals_table.c.version + 1, updated_at=now)
            )
            return _transition(conn, update, incident, events, now)

        return await self.run(work)

    async def proposals(
        self, incident_id: int | None = None, *, statuses: tuple[ProposalStatus, ...] = ()
    ) -> list[Proposal]:
        """Proposals of one incident (or of all), oldest first, optionally only those in some statuses."""

        def work(conn: sa.Connection) -> list[Proposal]:
            query = proposals_table.select().order_by(proposals_table.c.id)
            if incident_id is not None:
                query = query.where(proposals_table.c.incident_id == incident_id)
            if statuses:
                query = query.where(proposals_table.c.status.in_([str(s) for s in statuses]))
            return [_proposal(row) for row in conn.execute(query)]

        return await self.run(work)

    async def set_execution_task(
        self, proposal_id: int, *, agent: str, task_id: str | None, context_id: str | None
    ) -> None:
        """Remember which agent's task carries out the proposal, so a restart can look at that task again."""

        def work(conn: sa.Connection) -> None:
            conn.execute(
                proposals_table.update()
                .where(proposals_table.c.id == proposal_id)
                .values(agent=agent, task_id=task_id, context_id=context_id)
            )

        await self.run(work)

    async def finish_execution(
        self,
        proposal_id: int,
        *,
        ok: bool,
        outcome: str,
        now: datetime,
        incident: Incident | None = None,
        events: list[TimelineEvent] | None = None,
    ) -> bool:
        """An execution ends once: executing -> executed or failed. False when it had ended already."""

        def work(conn: sa.Connection) -> bool:
            update = (
                proposals_table.update()
                .where(proposals_table.c.id == proposal_id, proposals_table.c.status == str(ProposalStatus.EXECUTING))
                .values(
                    status=str(ProposalStatus.EXECUTED if ok else ProposalStatus.FAILED),
                    outcome=outcome,
                    finished_at=now,
                    version=proposals_table.c.version + 1,
                    updated_at=now,
                )
            )
            return _transition(conn, update, incident, events, now)

        return await self.run(work, urgent=True)
