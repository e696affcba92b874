"""Fixtures for service tests: a second application, a clock for event writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import Api


@pytest.fixture
async def other_api(api: Api) -> Api:
    """Another application on the same gateway and client, with its own token."""
    _, token = await api.gateway.applications.create_token("another-application")
    return Api(client=api.client, token=token, gateway=api.gateway)


@dataclass
class Clock:
    now: datetime

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def event_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Freeze the time the event repository stamps on writes (``created``/``updated``)."""
    frozen = Clock(datetime(2026, 5, 1, 8, 0, tzinfo=UTC))
    monkeypatch.setattr("meetbridge.db.events.utcnow", lambda: frozen.now)
    return frozen
