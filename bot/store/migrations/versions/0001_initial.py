"""The first schema: inbound events, incidents, timeline, Slack message references, timers.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("delivery_id", sa.String(255), nullable=False),
        sa.Column("event_type", sa.String(128), nullable=False),
        sa.Column("incident_ref", sa.String(128), nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("claimed_at", UTCDateTime, nullable=True),
        sa.Column("processed_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_inbound_events"),
        sa.UniqueConstraint("source", "delivery_id", name="uq_inbound_events_source_delivery"),
    )
    op.create_index("ix_inbound_events_status", "inbound_events", ["status"])
    op.create_table(
        "incidents",
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
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
        sa.UniqueConstraint("source", "external_id", name="uq_incidents_source_external"),
    )
    op.create_index("ix_incidents_channel_id", "incidents", ["channel_id"])
    op.create_index("ix_incidents_phase", "incidents", ["phase"])
    op.create_table(
        "timeline_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("ref", sa.String(255), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_timeline_events"),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_timeline_events_incident_id_incidents", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("incident_id", "seq", name="uq_timeline_events_incident_seq"),
    )
    op.create_index("ix_timeline_events_ref", "timeline_events", ["incident_id", "ref"])
    op.create_table(
        "slack_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer, nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("ts", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_slack_messages"),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_slack_messages_incident_id_incidents", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("incident_id", "purpose", name="uq_slack_messages_incident_purpose"),
    )
    op.create_table(
        "timers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=False),
        sa.Column("incident_id", sa.Integer, nullable=True),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("fired_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_timers"),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_timers_incident_id_incidents", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_timers_status_due", "timers", ["status", "due_at"])


def downgrade() -> None:
    op.drop_table("timers")
    op.drop_table("slack_messages")
    op.drop_table("timeline_events")
    op.drop_table("incidents")
    op.drop_table("inbound_events")
