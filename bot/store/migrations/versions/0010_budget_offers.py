"""Budget offers: the plan recommended in an answer about an error budget, with its Approve / Reject, outside any
incident (bot.domain.offers).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.tables import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "budget_offers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("plan", sa.JSON, nullable=False),
        sa.Column("plan_hash", sa.String(64), nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("shown", sa.Text, nullable=False),
        sa.Column("policy", sa.Text, nullable=False),
        sa.Column("asked_by", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(32), nullable=True),
        sa.Column("incident_id", sa.Integer, nullable=True),
        sa.Column("channel_id", sa.String(32), nullable=True),
        sa.Column("message_ts", sa.String(32), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_budget_offers"),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_budget_offers_incident_id_incidents", ondelete="SET NULL"
        ),
    )


def downgrade() -> None:
    op.drop_table("budget_offers")
