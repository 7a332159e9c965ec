"""Postmortems: the newest draft of each incident's, and which version of it was shared in its channel.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.tables import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "postmortems",
        sa.Column("incident_id", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("markdown", sa.Text, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("written_at", UTCDateTime, nullable=False),
        sa.Column("posted_digest", sa.String(64), nullable=True),
        sa.Column("file_id", sa.String(32), nullable=True),
        sa.Column("permalink", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("incident_id", name="pk_postmortems"),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_postmortems_incident_id_incidents", ondelete="CASCADE"
        ),
    )


def downgrade() -> None:
    op.drop_table("postmortems")
