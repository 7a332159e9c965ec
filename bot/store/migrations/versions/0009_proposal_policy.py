"""A proposal keeps what the error budget policy said when it was made (shown on the proposal each time it is drawn).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        batch.add_column(sa.Column("policy", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        batch.drop_column("policy")
