"""What the store hands out and takes in, and how it becomes rows: the inbound event and timer values, the status
words of the queue and the timers, and the converters between the tables' rows and the domain's objects (incidents,
proposals). No transaction starts here; `_insert_timer` is one statement inside a caller's."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.domain.approval import Proposal
from bot.domain.approval import Status as ProposalStatus
from bot.domain.incident import Incident, SetupStep
from bot.domain.phase import Phase
from bot.domain.runbooks import Plan, Risk
from bot.domain.severity import Severity
from bot.store.tables import timers

PENDING = "pending"
PROCESSING = "processing"
DONE = "done"
IGNORED = "ignored"
FAILED = "failed"
FIRING = "firing"  # a timer whose handler runs under a lease (claimed_by, lease_until)
FIRED = "fired"  # a timer whose handler returned or raised
BEGUN = "begun:"  # a setup step in the incident's `steps` list that was started, not known to be done
_INSERT_TIMER = timers.insert()  # built once (a statement built per call costs more than SQLite's own work)


@dataclass(frozen=True)
class InboundEvent:
    id: int
    source: str
    delivery_id: str
    event_type: str
    incident_ref: str | None
    body: str
    status: str
    attempts: int
    received_at: datetime
    last_error: str | None = None


@dataclass(frozen=True)
class Timer:
    id: int
    kind: str
    due_at: datetime
    incident_id: int | None
    payload: dict[str, Any]
    created_at: datetime | None = None


def _incident_values(incident: Incident) -> dict[str, Any]:
    return {
        "source": incident.source,
        "external_id": incident.external_id,
        "number": incident.number,
        "title": incident.title,
        "service": incident.service,
        "severity": str(incident.severity),
        "phase": str(incident.phase),
        "urgency": incident.urgency,
        "html_url": incident.html_url,
        "escalation_policy_id": incident.escalation_policy_id,
        "channel_id": incident.channel_id,
        "channel_name": incident.channel_name,
        "commander": incident.commander,
        "steps": sorted(str(s) for s in incident.steps)
        + sorted(f"{BEGUN}{s}" for s in incident.begun - incident.steps),
        "resolution": incident.resolution,
        "triggered_at": incident.triggered_at,
        "acknowledged_at": incident.acknowledged_at,
        "resolved_at": incident.resolved_at,
    }


def _incident(row: Any) -> Incident:
    return Incident(
        id=row.id,
        source=row.source,
        external_id=row.external_id,
        number=row.number,
        title=row.title,
        service=row.service,
        severity=Severity(row.severity),
        phase=Phase(row.phase),
        urgency=row.urgency,
        html_url=row.html_url,
        escalation_policy_id=row.escalation_policy_id,
        channel_id=row.channel_id,
        channel_name=row.channel_name,
        commander=row.commander,
        steps={SetupStep(s) for s in (row.steps or []) if not s.startswith(BEGUN)},
        begun={SetupStep(s.removeprefix(BEGUN)) for s in (row.steps or []) if s.startswith(BEGUN)},
        resolution=row.resolution,
        triggered_at=row.triggered_at,
        acknowledged_at=row.acknowledged_at,
        resolved_at=row.resolved_at,
    )


def _plan_json(plan: Plan) -> dict[str, Any]:
    data = dataclasses.asdict(plan)
    data["risk"] = str(plan.risk)
    data["reasons"] = list(plan.reasons)
    return data


def _plan(data: Any) -> Plan:
    p = dict(data)
    return Plan(
        p["runbook"],
        p["action"],
        p["kind"],
        dict(p["target"]),
        dict(p["parameters"]),
        Risk(p["risk"]),
        bool(p["reversible"]),
        p["expected"],
        bool(p["manual"]),
        tuple(p.get("reasons") or ()),
    )


def _proposal(row: Any) -> Proposal:
    plan = _plan(row.plan)
    return Proposal(
        row.id,
        row.incident_id,
        plan,
        row.plan_hash,
        ProposalStatus(row.status),
        row.created_at,
        row.expires_at,
        row.needed,
        tuple(row.approvers or ()),
        row.rejected_by,
        row.reason,
        row.version,
        row.agent,
        row.task_id,
        row.context_id,
        row.outcome or "",
        row.policy or "",
    )


def _timer(row: Any) -> Timer:
    return Timer(row.id, row.kind, row.due_at, row.incident_id, dict(row.payload or {}), row.created_at)


def _insert_timer(
    conn: sa.Connection,
    kind: str,
    due_at: datetime,
    *,
    now: datetime,
    incident_id: int | None = None,
    payload: dict[str, Any] | None = None,
    key: str | None = None,
) -> int:
    result = conn.execute(
        _INSERT_TIMER,
        {
            "kind": kind,
            "due_at": due_at,
            "incident_id": incident_id,
            "payload": payload or {},
            "status": PENDING,
            "created_at": now,
            "key": key,
        },
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _inbound(row: Any) -> InboundEvent:
    return InboundEvent(
        id=row.id,
        source=row.source,
        delivery_id=row.delivery_id,
        event_type=row.event_type,
        incident_ref=row.incident_ref,
        body=row.body,
        status=row.status,
        attempts=row.attempts,
        received_at=row.received_at,
        last_error=row.last_error,
    )
