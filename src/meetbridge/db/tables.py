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
    # External events imported from a linked provider calendar: which link, and the provider's ids.
    sa.Column("link_id", sa.ForeignKey("calendar_links.id", ondelete="SET NULL"), nullable=True),
    sa.Column("source_id", sa.String(64), nullable=True),  # e.g. the Recall calendar event id
    sa.Column("ical_uid", sa.String(1024), nullable=True),  # matching key (DESIGN §3)
    sa.Column("rule", JSONValue, nullable=True),  # the link's recording-rule decision on this event
    sa.UniqueConstraint("calendar_id", "event_id"),
    sa.UniqueConstraint("calendar_id", "source_id"),
    sa.Index("ix_events_calendar_start", "calendar_id", "start_at"),
    sa.Index("ix_events_updated_at", "updated_at"),
    sa.Index("ix_events_calendar_ical_uid", "calendar_id", "ical_uid"),
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
    # When the provider says the bot reached bot_status: an older report arriving later changes nothing.
    sa.Column("bot_status_at", UTCDateTime, nullable=True),
    # "app": the app asked for this extension; "rule": a link's recording rule attached it. The app wins.
    sa.Column("origin", sa.String(8), nullable=False, server_default="app"),
    # Calendar adapters: the provider event the extension acts on (a synced event's source_id), so a
    # sync that changes that event re-plans the managed events matched to it.
    sa.Column("target_id", sa.String(64), nullable=True, index=True),
    # The app removed the extension outright: see ExtensionState.released.
    sa.Column("released", sa.Boolean, nullable=False, server_default=sa.false()),
    # Forwarding adapters (Cronofy): the bot id the upstream service last reported for the event.
    # Written by the sync that reads it back, never by the reconciler, so neither overwrites the other.
    sa.Column("reported_bot_id", sa.String(64), nullable=True),
)

# A meetbridge calendar linked, under one profile, to a calendar at the provider (Recall Calendar V2).
calendar_links = sa.Table(
    "calendar_links",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("calendar_id", sa.ForeignKey("calendars.id", ondelete="CASCADE"), nullable=False),
    sa.Column("profile_id", sa.String(200), nullable=False),
    # The mechanism the link was made for: after the profile is switched to another, the link is
    # stale (kept while bots move; replaced by a link for the new mechanism).
    sa.Column("adapter", sa.String(40), nullable=True),
    sa.Column("provider_calendar_id", sa.String(64), nullable=False, index=True),
    sa.Column("platform", sa.String(40), nullable=True),
    sa.Column("email", sa.String(320), nullable=True),  # the calendar owner's mailbox
    sa.Column("status", sa.String(20), nullable=False),  # connecting | connected | disconnected
    sa.Column("status_detail", sa.Text, nullable=True),
    sa.Column("record", sa.String(12), nullable=False),  # recording rule: all | external | confirmed | none
    sa.Column("series", JSONValue, nullable=False),  # ical_uids always recorded
    # Sync bookkeeping: the newest provider updated_at stored; a requested incremental start (from
    # webhooks, merged with min); a full sync still owed (on link).
    sa.Column("sync_cursor", UTCDateTime, nullable=True),
    sa.Column("sync_from", UTCDateTime, nullable=True),
    sa.Column("full_sync", sa.Boolean, nullable=False),
    sa.Column("last_synced_at", UTCDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    # Forwarding adapters (Cronofy): the user's OAuth tokens, sealed (config/sealing.py), and the push
    # channel that reports changes.
    sa.Column("credentials", sa.Text, nullable=True),
    sa.Column("channel_id", sa.String(128), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("calendar_id", "profile_id"),
)

# The outbox: at most one job per subject (an event to reconcile, a link to sync), so quick
# successive changes coalesce into one run. No foreign key: a job whose subject is gone does nothing.
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("kind", sa.String(16), nullable=False),  # "event" | "sync"
    sa.Column("subject", BigId, nullable=False, autoincrement=False),  # events.pk | calendar_links.id
    sa.Column("run_at", UTCDateTime, nullable=False, index=True),
    sa.Column("generation", sa.Integer, nullable=False, default=1),  # bumped by every enqueue
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime, nullable=True),
    # New at every claim: a worker writes a job's result only while the lease is still this claim's.
    sa.Column("lease_token", sa.String(32), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    # Named apart from the old one-column key, which PostgreSQL keeps until migration 0003 drops it.
    sa.PrimaryKeyConstraint("kind", "subject", name="pk_jobs_kind_subject"),
)


# Inbound webhook deliveries by the id their signature covers, shared by every replica: a row is
# being handled (``handled`` false) or was handled; either way it stands until ``expires_at``.
inbound_webhook_ids = sa.Table(
    "inbound_webhook_ids",
    metadata,
    sa.Column("key", sa.String(400), primary_key=True),
    sa.Column("handled", sa.Boolean, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False, index=True),
)

# Provider rate limits shared by a fleet on PostgreSQL: one GCRA row per (account, endpoint[, key]);
# ``tat`` is the theoretical arrival time of the next call, in seconds since the epoch.
rate_pacers = sa.Table(
    "rate_pacers",
    metadata,
    sa.Column("key", sa.String(400), primary_key=True),
    sa.Column("tat", sa.Float(precision=53), nullable=False),
)


def utcnow() -> datetime:
    return datetime.now(UTC)


Row = dict[str, Any]


# Every configuration a profile has had, as written (secrets as env: references), by incarnation
# (config/incarnation.py): a bot made under an old one is cancelled through it after a switch.
profile_incarnations = sa.Table(
    "profile_incarnations",
    metadata,
    sa.Column("incarnation", sa.String(40), primary_key=True),
    sa.Column("profile_id", sa.String(200), nullable=False, index=True),
    sa.Column("adapter", sa.String(40), nullable=False),
    sa.Column("source", JSONValue, nullable=False),
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
)

# The audit trail of switching: one row per step taken for an event (moved, kept, waiting, failed).
migration_steps = sa.Table(
    "migration_steps",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("event_pk", sa.ForeignKey("events.pk", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("profile_id", sa.String(200), nullable=False),
    sa.Column("from_adapter", sa.String(40), nullable=False),
    sa.Column("to_adapter", sa.String(40), nullable=False),
    sa.Column("old_bot_id", sa.String(64), nullable=True),
    sa.Column("new_bot_id", sa.String(64), nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("at", UTCDateTime, nullable=False),
)

# The last inbound webhook per profile, for `meetbridge status` ("are the provider's webhooks still
# arriving, and do they verify?"); one row per profile, so a flood of deliveries cannot grow it.
webhook_receipts = sa.Table(
    "webhook_receipts",
    metadata,
    sa.Column("profile_id", sa.String(200), primary_key=True),
    sa.Column("last_verified_at", UTCDateTime, nullable=True),
    sa.Column("last_rejected_at", UTCDateTime, nullable=True),
    sa.Column("last_rejection", sa.String(40), nullable=True),  # bad_signature | stale
)
