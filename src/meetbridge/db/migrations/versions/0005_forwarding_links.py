"""forwarding links (Cronofy): sealed credentials, push channel, reported bot ids

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calendar_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credentials", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("channel_id", sa.String(length=128), nullable=True))
    with op.batch_alter_table("event_extensions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reported_bot_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("meetbridge migrations only go forward; restore a backup to go back")
