"""Tables of the outbound webhooks (issue 16): the apps' endpoints, the messages owed to them (an
outbox written in the transaction of the change it reports), each delivery attempt, and what was last
announced for each extension (so the next change is told as the right type, with a rising sequence).

Kept apart from ``tables`` so the webhook schema reads as one piece; same ``metadata``.
"""

from __future__ import annotations

import sqlalchemy as sa

from meetbridge.db.tables import BigId, JSONValue, UTCDateTime, metadata

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),  # whe_…
    sa.Column(
        "application_id", sa.ForeignKey("applications.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("event_types", JSONValue, nullable=True),  # NULL: every type
    sa.Column("description", sa.String(1024), nullable=True),
    sa.Column("status", sa.String(12), nullable=False),  # enabled | disabled
    # The signing secret, sealed under [server] secret_key when one is configured ("sealed:" prefix),
    # else kept as is ("plain:"): the gateway must sign with it, so a hash would not do.
    sa.Column("secret", sa.Text, nullable=False),
    # After a rotation the old secret signs too (a second signature) until it expires.
    sa.Column("previous_secret", sa.Text, nullable=True),
    sa.Column("previous_secret_expires_at", UTCDateTime, nullable=True),
    # Since when every attempt failed (NULL once one succeeds): 5 days of that disables the endpoint.
    sa.Column("failing_since", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# One row per message and endpoint; its ``message_id`` is the webhook-id, stable across retries.
webhook_messages = sa.Table(
    "webhook_messages",
    metadata,
    sa.Column("pk", BigId, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(40), nullable=False, unique=True),  # msg_…
    sa.Column(
        "endpoint_id", sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("event_uid", sa.String(64), nullable=True),
    sa.Column("body", sa.Text, nullable=False),  # the exact bytes signed and sent on every attempt
    sa.Column("state", sa.String(12), nullable=False),  # pending | delivered | failing | failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=True),  # NULL once delivered or failed
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_webhook_messages_due", "next_attempt_at"),
)

webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("pk", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "message_pk", sa.ForeignKey("webhook_messages.pk", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("duration_ms", sa.Integer, nullable=False),
)

# What the apps were last told about one extension: the next change is compared with it.
webhook_announced = sa.Table(
    "webhook_announced",
    metadata,
    sa.Column("event_pk", sa.ForeignKey("events.pk", ondelete="CASCADE"), primary_key=True),
    sa.Column("provider", sa.String(32), primary_key=True),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=True),
    sa.Column("bot_id", sa.String(64), nullable=True),
    sa.Column("adapter", sa.String(40), nullable=True),
    sa.Column("join_at", UTCDateTime, nullable=True),
    sa.Column("meeting_url", sa.String(2048), nullable=True),
)
