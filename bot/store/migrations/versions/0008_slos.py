"""SLO snapshots (the counts by window a tick read, one row per SLO per tick) and SLO states (the budget state and
the firing tiers last announced, changed by conditional update so that each is announced once).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.tables import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slo_snapshots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("slo", sa.String(200), nullable=False),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("taken_at", UTCDateTime, nullable=False),
        sa.Column("counts", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_slo_snapshots"),
    )
    op.create_index("ix_slo_snapshots_slo_taken", "slo_snapshots", ["slo", "taken_at"])
    op.create_table(
        "slo_states",
        sa.Column("slo", sa.String(200), primary_key=True),
        sa.Column("budget", sa.String(16), nullable=False),
        sa.Column("firing", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("slo", name="pk_slo_states"),
    )


def downgrade() -> None:
    op.drop_table("slo_states")
    op.drop_index("ix_slo_snapshots_slo_taken", table_name="slo_snapshots")
    op.drop_table("slo_snapshots")
