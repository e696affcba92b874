"""state a fleet of replicas shares: webhook deliveries, rate pacers, lease tokens, job wake-ups

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# PostgreSQL: every statement that makes a job due (enqueue, retry) tells the listening replicas at
# its commit, whichever code path wrote it; one notification per statement, none for claims.
JOBS_CHANNEL = "meetbridge_jobs"
NOTIFY_FUNCTION = f"""
CREATE OR REPLACE FUNCTION meetbridge_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{JOBS_CHANNEL}', '');
    RETURN NULL;
END
$$
"""
NOTIFY_TRIGGER = """
CREATE TRIGGER jobs_notify AFTER INSERT OR UPDATE OF run_at ON jobs
FOR EACH STATEMENT EXECUTE FUNCTION meetbridge_jobs_notify()
"""


def upgrade() -> None:
    op.create_table(
        "inbound_webhook_ids",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("handled", sa.Boolean(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_inbound_webhook_ids")),
    )
    op.create_index(
        op.f("ix_inbound_webhook_ids_expires_at"), "inbound_webhook_ids", ["expires_at"], unique=False
    )
    op.create_table(
        "rate_pacers",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("tat", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_pacers")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_token", sa.String(length=32), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(NOTIFY_FUNCTION)
        op.execute(NOTIFY_TRIGGER)


def downgrade() -> None:
    raise NotImplementedError("meetbridge migrations only go forward; restore a backup to go back")
