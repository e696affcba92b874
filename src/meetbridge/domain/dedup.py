"""Recall Calendar V2 deduplication keys: which calendar events share one bot.

Recall schedules one bot per distinct ``deduplication_key`` (scheduling guide, "Deduplicating Bots"), so
the key decides whether a meeting that sits on several connected calendars gets one bot, one per company,
or one per calendar. The guide's patterns are followed literally; what we add is a canonical start time
(every calendar's copy of a meeting must produce the same text whatever offset its provider used) and a
length cap, because Recall refuses keys over 2000 characters.

The meeting URL is used as given: callers that want copies with cosmetically different links (tracking
parameters, redirect wrappers) to share a bot pass the normalised ``MeetingUrl.url``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from meetbridge.domain.times import utc_seconds

__all__ = ["KEY_MAX", "UNKNOWN_DOMAIN", "Strategy", "deduplication_key", "email_domain"]

Strategy = Literal["all", "domain", "none"]

KEY_MAX = 2000
UNKNOWN_DOMAIN = "unknown-domain"
_DIGEST_LEN = 64  # sha256 hex


def email_domain(email: str | None) -> str | None:
    """The part after the last '@', lowercased; None when there is no usable domain."""
    if not email:
        return None
    local, at, domain = email.strip().rpartition("@")
    domain = domain.strip().lower()
    if not at or not local or not domain:
        return None
    return domain


def _capped(key: str) -> str:
    if len(key) <= KEY_MAX:
        return key
    # The digest covers the whole key, so two long keys sharing a prefix still differ.
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return f"{key[: KEY_MAX - _DIGEST_LEN - 1]}-{digest}"


def deduplication_key(
    strategy: Strategy,
    *,
    start_at: datetime,
    meeting_url: str,
    calendar_email: str | None,
    provider_event_id: str,
) -> str:
    """``all``: one bot per meeting; ``domain``: one per calendar email domain; ``none``: one per event."""
    base = f"{utc_seconds(start_at)}-{meeting_url}"
    if strategy == "all":
        key = base
    elif strategy == "domain":
        key = f"{base}-{email_domain(calendar_email) or UNKNOWN_DOMAIN}"
    else:
        key = f"{base}-{provider_event_id}"
    return _capped(key)
