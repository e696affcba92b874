"""outbox jobs and adapter state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("event_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_pk"], ["events.pk"], name=op.f("fk_jobs_event_pk_events"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("event_pk", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_run_at"), ["run_at"], unique=False)

    with op.batch_alter_table("event_extensions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "provider_state",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("bot_status", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("event_extensions", schema=None) as batch_op:
        batch_op.drop_column("bot_status")
        batch_op.drop_column("provider_state")

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_run_at"))

    op.drop_table("jobs")
