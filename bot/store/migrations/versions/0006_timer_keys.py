"""Timers may carry a key, unique among timers: a recurring firing that several replicas compute is stored once.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("timers") as batch:
        batch.add_column(sa.Column("key", sa.String(200), nullable=True))
        batch.create_unique_constraint("uq_timers_key", ["key"])


def downgrade() -> None:
    with op.batch_alter_table("timers") as batch:
        batch.drop_constraint("uq_timers_key", type_="unique")
        batch.drop_column("key")
