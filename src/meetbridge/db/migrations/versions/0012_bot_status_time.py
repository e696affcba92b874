"""extensions remember when the provider says their bot reached its last reported status

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing rows have no time: the next report is applied whatever its time, as before.
    with op.batch_alter_table("event_extensions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bot_status_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("meetbridge migrations only go forward; restore a backup to go back")
