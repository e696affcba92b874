"""the last inbound webhook per profile (meetbridge status)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhook_receipts",
        sa.Column("profile_id", sa.String(length=200), nullable=False),
        sa.Column("last_verified_at", _WHEN, nullable=True),
        sa.Column("last_rejected_at", _WHEN, nullable=True),
        sa.Column("last_rejection", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("profile_id", name=op.f("pk_webhook_receipts")),
    )


def downgrade() -> None:
    raise NotImplementedError("meetbridge migrations only go forward; restore a backup to go back")
