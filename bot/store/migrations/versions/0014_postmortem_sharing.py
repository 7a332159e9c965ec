"""A postmortem being shared: the version and the file Slack issued for it, kept before the file is shared, so that a
share cut off by a crash is found (files.info) rather than made twice.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("postmortems") as batch:
        batch.add_column(sa.Column("sharing_digest", sa.String(64), nullable=True))
        batch.add_column(sa.Column("sharing_file_id", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("postmortems") as batch:
        batch.drop_column("sharing_file_id")
        batch.drop_column("sharing_digest")
