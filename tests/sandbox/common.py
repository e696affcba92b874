"""What the stand-ins' own tests share: the API key they accept, and a frozen start of time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

KEY = "sandbox-test-key"
AUTH = {"Authorization": f"Token {KEY}"}
START = datetime(2026, 5, 11, 12, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def later(**delta: float) -> str:
    return iso(START + timedelta(**delta))
