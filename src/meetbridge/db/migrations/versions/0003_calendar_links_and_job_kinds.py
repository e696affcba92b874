"""calendar links, external event sources, extension origin, jobs keyed by kind

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "calendar_links",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("calendar_id", sa.String(length=40), nullable=False),
        sa.Column("profile_id", sa.String(length=200), nullable=False),
        sa.Column("provider_calendar_id", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=40), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_detail", sa.Text(), nullable=True),
        sa.Column("record", sa.String(length=12), nullable=False),
        sa.Column("series", _JSON, nullable=False),
        sa.Column("sync_cursor", _WHEN, nullable=True),
        sa.Column("sync_from", _WHEN, nullable=True),
        sa.Column("full_sync", sa.Boolean(), nullable=False),
        sa.Column("last_synced_at", _WHEN, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["calendars.id"],
            name=op.f("fk_calendar_links_calendar_id_calendars"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_links")),
        sa.UniqueConstraint(
            "calendar_id", "profile_id", name=op.f("uq_calendar_links_calendar_id_profile_id")
        ),
    )
    op.create_index(
        op.f("ix_calendar_links_provider_calendar_id"),
        "calendar_links",
        ["provider_calendar_id"],
        unique=False,
    )

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_id", _ID, nullable=True))
        batch_op.add_column(sa.Column("source_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("ical_uid", sa.String(length=1024), nullable=True))
        batch_op.add_column(sa.Column("rule", _JSON, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_events_link_id_calendar_links"),
            "calendar_links",
            ["link_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_events_calendar_id_source_id"), ["calendar_id", "source_id"]
        )
        batch_op.create_index("ix_events_calendar_ical_uid", ["calendar_id", "ical_uid"], unique=False)

    with op.batch_alter_table("event_extensions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin", sa.String(length=8), server_default="app", nullable=False))
        batch_op.add_column(sa.Column("target_id", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_event_extensions_target_id"), ["target_id"], unique=False)

    # Jobs were one per event; now one per (kind, subject). Pending event jobs are carried over.
    op.rename_table("jobs", "jobs_0002")
    op.create_table(
        "jobs",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", _ID, autoincrement=False, nullable=False),
        sa.Column("run_at", _WHEN, nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", _WHEN, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("kind", "subject", name=op.f("pk_jobs_kind_subject")),
    )
    op.execute(
        "INSERT INTO jobs (kind, subject, run_at, generation, attempts, last_error) "
        "SELECT 'event', event_pk, run_at, generation, attempts, last_error FROM jobs_0002"
    )
    op.drop_index("ix_jobs_run_at", table_name="jobs_0002")
    op.drop_table("jobs_0002")
    op.create_index(op.f("ix_jobs_run_at"), "jobs", ["run_at"], unique=False)


def downgrade() -> None:
    raise NotImplementedError("meetbridge migrations only go forward; restore a backup to go back")
