"""Proposals: exact plans waiting for, or past, a human decision; `version` makes every change conditional.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proposals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer, nullable=False),
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
        sa.PrimaryKeyConstraint("id", name="pk_proposals"),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_proposals_incident_id_incidents", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_proposals_incident", "proposals", ["incident_id"])
    op.create_index("ix_proposals_status_expires", "proposals", ["status", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_proposals_status_expires", table_name="proposals")
    op.drop_index("ix_proposals_incident", table_name="proposals")
    op.drop_table("proposals")
