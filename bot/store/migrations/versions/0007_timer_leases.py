"""Timers are fired under a lease (who holds it, until when), so that a timer whose process died while its handler
ran is fired again: by another process when the lease lapses, by the same instance at once when it starts again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.tables import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("timers") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(300), nullable=True))
        batch.add_column(sa.Column("lease_until", UTCDateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("timers") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("claimed_by")
