"""Tables. Schema changes go through Alembic migrations in ``db/migrations``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every engine; SQLite would otherwise hand back naive ones."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime reached the database")
        value = value.astimezone(UTC)
        # SQLite compares text: store one fixed, sortable format without the offset.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONValue = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite rowid aliasing needs INTEGER

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

applications = sa.Table(
    "applications",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("application_id", sa.ForeignKey("applications.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

calendars = sa.Table(
    "calendars",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "application_id", sa.ForeignKey("applications.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("pk", BigId, primary_key=True, autoincrement=True),
    sa.Column("calendar_id", sa.ForeignKey("calendars.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event_id", sa.String(200), nullable=True),  # the app's id; NULL for external events
    sa.Column("event_uid", sa.String(64), nullable=False, unique=True),
    sa.Column("fields", JSONValue, nullable=False),  # the stored Cronofy fields, see domain/events.py
    sa.Column("start_at", UTCDateTime, nullable=False),
    sa.Column("end_at", UTCDateTime, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
    sa.Column("version", sa.Integer, nullable=False, default=1),
    sa.Column("metadata", JSONValue, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("calendar_id", "event_id"),
    sa.Index("ix_events_calendar_start", "calendar_id", "start_at"),
    sa.Index("ix_events_updated_at", "updated_at"),
)

event_extensions = sa.Table(
    "event_extensions",
    metadata,
    sa.Column("event_pk", sa.ForeignKey("events.pk", ondelete="CASCADE"), primary_key=True),
    sa.Column("provider", sa.String(32), primary_key=True),
    sa.Column("profile_id", sa.String(200), nullable=False),  # desired: a profile or "none"
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("bot_id", sa.String(64), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # What the adapter knows it has done at the provider (bot id, join_at, a create under way...).
    # Owned by the adapter; written even when the event changed meanwhile, so no bot is ever forgotten.
    sa.Column("provider_state", JSONValue, nullable=True),
    sa.Column("bot_status", sa.String(40), nullable=True),  # last status Recall reported (webhooks)
)

# The outbox: at most one job per event, so quick successive upserts coalesce into one plan.
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("event_pk", sa.ForeignKey("events.pk", ondelete="CASCADE"), primary_key=True),
    sa.Column("run_at", UTCDateTime, nullable=False, index=True),
    sa.Column("generation", sa.Integer, nullable=False, default=1),  # bumped by every enqueue
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
)


def utcnow() -> datetime:
    return datetime.now(UTC)


Row = dict[str, Any]
