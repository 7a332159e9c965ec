"""Executions: which agent carries out an approved proposal, in which A2A task, and how it ended.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        batch.add_column(sa.Column("agent", sa.String(64), nullable=True))
        batch.add_column(sa.Column("task_id", sa.String(128), nullable=True))
        batch.add_column(sa.Column("context_id", sa.String(128), nullable=True))
        batch.add_column(sa.Column("outcome", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("finished_at", UTCDateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        for column in ("finished_at", "outcome", "context_id", "task_id", "agent"):
            batch.drop_column(column)
