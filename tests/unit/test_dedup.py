"""Deduplication keys: one bot per meeting, per company or per calendar, as the scheduling guide says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from meetbridge.domain.dedup import KEY_MAX, Strategy, deduplication_key, email_domain

START = datetime(2026, 5, 11, 16, 0, tzinfo=UTC)
ZOOM = "https://zoom.us/j/1234567890"


def key(strategy: Strategy, **overrides: Any) -> str:
    arguments: dict[str, Any] = {
        "start_at": START,
        "meeting_url": ZOOM,
        "calendar_email": "alice@Example.COM",
        "provider_event_id": "evt-1",
    }
    return deduplication_key(strategy, **{**arguments, **overrides})


def test_all_is_start_and_url() -> None:
    assert key("all") == f"2026-05-11T16:00:00Z-{ZOOM}"


def test_domain_adds_the_lowercased_calendar_domain() -> None:
    assert key("domain") == f"2026-05-11T16:00:00Z-{ZOOM}-example.com"


def test_domain_without_calendar_email_uses_a_placeholder() -> None:
    assert key("domain", calendar_email=None) == f"2026-05-11T16:00:00Z-{ZOOM}-unknown-domain"
    assert key("domain", calendar_email="not-an-email") == f"2026-05-11T16:00:00Z-{ZOOM}-unknown-domain"


def test_none_adds_the_provider_event_id() -> None:
    assert key("none") == f"2026-05-11T16:00:00Z-{ZOOM}-evt-1"


def test_copies_on_two_calendars_share_a_key_whatever_their_offset() -> None:
    berlin = START.astimezone(timezone(timedelta(hours=2)))
    assert key("all", start_at=berlin, calendar_email="bob@other.com") == key("all")
    assert key("domain", start_at=berlin, calendar_email="carol@EXAMPLE.com") == key("domain")


def test_copies_differ_where_the_strategy_says_so() -> None:
    assert key("domain", calendar_email="bob@other.com") != key("domain")
    assert key("none", provider_event_id="evt-2") != key("none")
    assert key("all", start_at=START + timedelta(minutes=30)) != key("all")


def test_fractional_seconds_do_not_split_a_meeting() -> None:
    assert key("all", start_at=START.replace(microsecond=123456)) == key("all")


def test_naive_start_is_read_as_utc() -> None:
    assert key("all", start_at=START.replace(tzinfo=None)) == key("all")


@pytest.mark.parametrize("strategy", ["all", "domain", "none"])
def test_long_keys_are_capped_and_stay_unique(strategy: Strategy) -> None:
    long_url = "https://zoom.us/j/1?pwd=" + "x" * 3000
    first = key(strategy, meeting_url=long_url + "a")
    second = key(strategy, meeting_url=long_url + "b")
    assert len(first) == KEY_MAX
    assert len(second) == KEY_MAX
    assert first != second
    assert first.startswith(f"2026-05-11T16:00:00Z-{long_url[:100]}")
    # The same input gives the same key: Recall relies on it to find the scheduled bot again.
    assert key(strategy, meeting_url=long_url + "a") == first


def test_a_key_of_exactly_the_limit_is_kept_as_is() -> None:
    prefix = f"2026-05-11T16:00:00Z-{ZOOM}?p="
    url = ZOOM + "?p=" + "y" * (KEY_MAX - len(prefix))
    assert key("all", meeting_url=url) == f"2026-05-11T16:00:00Z-{url}"
    assert len(key("all", meeting_url=url)) == KEY_MAX


@pytest.mark.parametrize(
    ("email", "domain"),
    [
        ("alice@example.com", "example.com"),
        (" Alice@Sub.Example.COM ", "sub.example.com"),
        ('"odd@local"@example.org', "example.org"),
        (None, None),
        ("", None),
        ("alice", None),
        ("alice@", None),
        ("@example.com", None),
    ],
)
def test_email_domain(email: str | None, domain: str | None) -> None:
    assert email_domain(email) == domain
