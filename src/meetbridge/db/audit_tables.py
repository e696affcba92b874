"""Tables of the drift audit (issue 18): each run for a profile, and what it found and did.

Kept apart from ``tables`` so the audit's schema reads as one piece; same ``metadata``.
"""

from __future__ import annotations

import sqlalchemy as sa

from meetbridge.db.tables import BigId, UTCDateTime, metadata

# One audit of one profile. A run that repairs is claimed (inserted) before it starts, which is also
# how replicas agree that only one of them audits a profile per interval.
audit_runs = sa.Table(
    "audit_runs",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("profile_id", sa.String(200), nullable=False, index=True),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),  # NULL: under way, or its process died
    sa.Column("provider_calls", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
)

# One difference a run found, and what it did about it: repaired, reported (foreign bots), skipped
# (it changed meanwhile) or failed. ``event_pk`` is kept when the difference is about an event; the
# single-event read lists that event's repairs under ``audit``.
audit_findings = sa.Table(
    "audit_findings",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.ForeignKey("audit_runs.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("event_pk", sa.ForeignKey("events.pk", ondelete="SET NULL"), nullable=True, index=True),
    sa.Column("application_id", sa.String(40), nullable=True),  # whose event; NULL: no known event
    sa.Column("kind", sa.String(12), nullable=False),  # missing | orphan | stale | foreign
    sa.Column("bot_id", sa.String(64), nullable=False),
    sa.Column("calendar_id", sa.String(40), nullable=True),
    sa.Column("event_id", sa.String(200), nullable=True),
    sa.Column("event_uid", sa.String(64), nullable=True),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("action", sa.String(12), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)
