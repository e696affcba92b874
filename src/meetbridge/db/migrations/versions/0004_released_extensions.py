"""extensions the app removed outright (released) rather than set to none

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("event_extensions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("released", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    raise NotImplementedError("meetbridge migrations only go forward; restore a backup to go back")
