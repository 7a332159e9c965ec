"""Public posts: what sre-agent proposes to say on the status page for an incident, one a phase, each approved (or
rejected) by a person before it is published (bot.domain.status_page).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.tables import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "public_posts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer, nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("components", sa.JSON, nullable=False),
        sa.Column("updates", sa.Boolean, nullable=False),
        sa.Column("text_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(32), nullable=True),
        sa.Column("edited_by", sa.String(32), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("page_incident", sa.String(64), nullable=True),
        sa.Column("shortlink", sa.Text, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_public_posts"),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_public_posts_incident_id_incidents", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("incident_id", "phase", name="uq_public_posts_incident_phase"),
    )


def downgrade() -> None:
    op.drop_table("public_posts")
