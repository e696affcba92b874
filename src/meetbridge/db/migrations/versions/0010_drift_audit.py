"""drift audit: runs per profile and what each found and did

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_runs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("profile_id", sa.String(length=200), nullable=False),
        sa.Column("started_at", _WHEN, nullable=False),
        sa.Column("finished_at", _WHEN, nullable=True),
        sa.Column("provider_calls", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_runs")),
    )
    op.create_index(op.f("ix_audit_runs_profile_id"), "audit_runs", ["profile_id"], unique=False)
    op.create_table(
        "audit_findings",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("run_id", _ID, nullable=False),
        sa.Column("event_pk", _ID, nullable=True),
        sa.Column("application_id", sa.String(length=40), nullable=True),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("bot_id", sa.String(length=64), nullable=False),
        sa.Column("calendar_id", sa.String(length=40), nullable=True),
        sa.Column("event_id", sa.String(length=200), nullable=True),
        sa.Column("event_uid", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=12), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["audit_runs.id"],
            name=op.f("fk_audit_findings_run_id_audit_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_pk"], ["events.pk"], name=op.f("fk_audit_findings_event_pk_events"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_findings")),
    )
    op.create_index(op.f("ix_audit_findings_run_id"), "audit_findings", ["run_id"], unique=False)
    op.create_index(op.f("ix_audit_findings_event_pk"), "audit_findings", ["event_pk"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_findings_event_pk"), table_name="audit_findings")
    op.drop_index(op.f("ix_audit_findings_run_id"), table_name="audit_findings")
    op.drop_table("audit_findings")
    op.drop_index(op.f("ix_audit_runs_profile_id"), table_name="audit_runs")
    op.drop_table("audit_runs")
