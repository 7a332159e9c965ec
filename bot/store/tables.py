"""The schema, as SQLAlchemy Core tables. Changes here need an Alembic revision in migrations/versions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (naive storage) and PostgreSQL alike."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


inbound_events = sa.Table(
    "inbound_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("delivery_id", sa.String(255), nullable=False),
    sa.Column("event_type", sa.String(128), nullable=False),
    sa.Column("incident_ref", sa.String(128), nullable=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("claimed_at", UTCDateTime, nullable=True),
    sa.Column("processed_at", UTCDateTime, nullable=True),
    sa.Column("claimed_by", sa.String(300), nullable=True),  # "<instance name>/<boot id>" of the lease's holder
    sa.UniqueConstraint("source", "delivery_id", name="uq_inbound_events_source_delivery"),
    sa.Index("ix_inbound_events_status", "status"),
)

incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("external_id", sa.String(128), nullable=False),
    sa.Column("number", sa.Integer, nullable=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("service", sa.String(255), nullable=False),
    sa.Column("severity", sa.String(2), nullable=False),
    sa.Column("phase", sa.String(32), nullable=False),
    sa.Column("urgency", sa.String(16), nullable=True),
    sa.Column("html_url", sa.Text, nullable=True),
    sa.Column("escalation_policy_id", sa.String(64), nullable=True),
    sa.Column("channel_id", sa.String(32), nullable=True),
    sa.Column("channel_name", sa.String(80), nullable=True),
    sa.Column("commander", sa.String(32), nullable=True),
    sa.Column("steps", sa.JSON, nullable=False),
    sa.Column("resolution", sa.Text, nullable=True),
    sa.Column("triggered_at", UTCDateTime, nullable=False),
    sa.Column("acknowledged_at", UTCDateTime, nullable=True),
    sa.Column("resolved_at", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("source", "external_id", name="uq_incidents_source_external"),
    sa.Index("ix_incidents_channel_id", "channel_id"),
    sa.Index("ix_incidents_phase", "phase"),
)

timeline_events = sa.Table(
    "timeline_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("ref", sa.String(255), nullable=True),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.UniqueConstraint("incident_id", "seq", name="uq_timeline_events_incident_seq"),
    sa.Index("ix_timeline_events_ref", "incident_id", "ref"),
)

slack_messages = sa.Table(
    "slack_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("ts", sa.String(32), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("incident_id", "purpose", name="uq_slack_messages_incident_purpose"),
)

timers = sa.Table(
    "timers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=True),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("fired_at", UTCDateTime, nullable=True),
    sa.Column("key", sa.String(200), nullable=True),  # unique where set: one row for one recurring firing
    sa.Column("claimed_by", sa.String(300), nullable=True),  # "<instance name>/<boot id>" firing it (status firing)
    sa.Column("lease_until", UTCDateTime, nullable=True),  # a firing timer whose lease lapsed is due again
    sa.UniqueConstraint("key", name="uq_timers_key"),
    sa.Index("ix_timers_status_due", "status", "due_at"),
)

evidence = sa.Table(
    "evidence",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("agent", sa.String(64), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("signals", sa.JSON, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("context_id", sa.String(128), nullable=True),
    sa.Column("task_id", sa.String(128), nullable=True),
    sa.Column("asked_at", UTCDateTime, nullable=False),
    sa.Index("ix_evidence_incident_agent", "incident_id", "agent"),
)

proposals = sa.Table(
    "proposals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("runbook", sa.String(64), nullable=False),
    sa.Column("plan", sa.JSON, nullable=False),
    sa.Column("plan_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("needed", sa.Integer, nullable=False),
    sa.Column("approvers", sa.JSON, nullable=False),
    sa.Column("rejected_by", sa.String(32), nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("agent", sa.String(64), nullable=True),
    sa.Column("task_id", sa.String(128), nullable=True),
    sa.Column("context_id", sa.String(128), nullable=True),
    sa.Column("outcome", sa.Text, nullable=False, server_default=""),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("policy", sa.Text, nullable=False, server_default=""),  # what the budget policy said, shown with it
    sa.Index("ix_proposals_incident", "incident_id"),
    sa.Index("ix_proposals_status_expires", "status", "expires_at"),
)

slo_snapshots = sa.Table(
    "slo_snapshots",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("slo", sa.String(200), nullable=False),
    sa.Column("service", sa.String(200), nullable=False),
    sa.Column("taken_at", UTCDateTime, nullable=False),
    sa.Column("counts", sa.JSON, nullable=False),  # {window: [bad, total, scale] or null (no data)}
    sa.Index("ix_slo_snapshots_slo_taken", "slo", "taken_at"),
)

slo_states = sa.Table(
    "slo_states",
    metadata,
    sa.Column("slo", sa.String(200), primary_key=True),
    sa.Column("budget", sa.String(16), nullable=False),  # the budget state last announced
    sa.Column("firing", sa.JSON, nullable=False),  # {tier: {"since": iso time, ...}} of the tiers that fire
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

budget_offers = sa.Table(
    "budget_offers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("service", sa.String(200), nullable=False),
    sa.Column("plan", sa.JSON, nullable=False),
    sa.Column("plan_hash", sa.String(64), nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),  # what the agents said, as a list of answers
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("shown", sa.Text, nullable=False),  # the reply as it was shown
    sa.Column("policy", sa.Text, nullable=False),  # what the error budget policy said, shown with it
    sa.Column("asked_by", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("decided_by", sa.String(32), nullable=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="SET NULL"), nullable=True),
    sa.Column("channel_id", sa.String(32), nullable=True),
    sa.Column("message_ts", sa.String(32), nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

postmortems = sa.Table(
    "postmortems",
    metadata,
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False),  # of the Markdown: a changed timeline gives another
    sa.Column("markdown", sa.Text, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("written_at", UTCDateTime, nullable=False),
    sa.Column("posted_digest", sa.String(64), nullable=True),  # the version shared in the incident's channel
    sa.Column("file_id", sa.String(32), nullable=True),
    sa.Column("permalink", sa.Text, nullable=True),
    # a version being shared and the file Slack issued for it (kept before it is shared: found again after a crash)
    sa.Column("sharing_digest", sa.String(64), nullable=True),
    sa.Column("sharing_file_id", sa.String(32), nullable=True),
)

public_posts = sa.Table(
    "public_posts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("phase", sa.String(16), nullable=False),  # Statuspage's incident status it posts
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("components", sa.JSON, nullable=False),  # [[component id, status], ...]
    sa.Column("updates", sa.Boolean, nullable=False),  # false: it creates the public incident
    sa.Column("text_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("decided_by", sa.String(32), nullable=True),
    sa.Column("edited_by", sa.String(32), nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("page_incident", sa.String(64), nullable=True),
    sa.Column("shortlink", sa.Text, nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("incident_id", "phase", name="uq_public_posts_incident_phase"),  # one post a phase
)

locks = sa.Table(
    "locks",
    metadata,
    # one row while some process works on the thing named (an incident: `pagerduty:Q1ABC`): several replicas on one
    # database take turns; a holder that died leaves a row whose lease lapses, or that its next life voids at start
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("holder", sa.String(300), nullable=False),  # "<instance name>/<boot id>"
    sa.Column("until", UTCDateTime, nullable=False),
)
