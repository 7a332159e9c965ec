"""Locks held in the database: with several replicas on one database, the events about one incident are handled by
one process at a time, as the in-process lock alone did for one process.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.tables import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "locks",
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("holder", sa.String(300), nullable=False),
        sa.Column("until", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_locks"),
    )


def downgrade() -> None:
    op.drop_table("locks")
