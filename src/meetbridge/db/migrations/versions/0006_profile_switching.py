"""profile switching: profile incarnations and the migration audit trail

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "profile_incarnations",
        sa.Column("incarnation", sa.String(length=40), nullable=False),
        sa.Column("profile_id", sa.String(length=200), nullable=False),
        sa.Column("adapter", sa.String(length=40), nullable=False),
        sa.Column("source", _JSON, nullable=False),
        sa.Column("first_seen_at", _WHEN, nullable=False),
        sa.Column("last_seen_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("incarnation", name=op.f("pk_profile_incarnations")),
    )
    op.create_index(
        op.f("ix_profile_incarnations_profile_id"), "profile_incarnations", ["profile_id"], unique=False
    )
    op.create_table(
        "migration_steps",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("event_pk", _ID, nullable=False),
        sa.Column("profile_id", sa.String(length=200), nullable=False),
        sa.Column("from_adapter", sa.String(length=40), nullable=False),
        sa.Column("to_adapter", sa.String(length=40), nullable=False),
        sa.Column("old_bot_id", sa.String(length=64), nullable=True),
        sa.Column("new_bot_id", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["event_pk"], ["events.pk"], name=op.f("fk_migration_steps_event_pk_events"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migration_steps")),
    )
    op.create_index(op.f("ix_migration_steps_event_pk"), "migration_steps", ["event_pk"], unique=False)


def downgrade() -> None:
    raise NotImplementedError("meetbridge migrations only go forward; restore a backup to go back")
