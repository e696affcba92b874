"""What service tests share: a gateway whose adapters call a sandbox in-process, a second
application, a clock for event writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from litestar import Litestar

from meetbridge.app import build_gateway
from meetbridge.config.catalogue import load_catalogue
from meetbridge.config.profiles import load_config
from meetbridge.providers.registry import AdapterRegistry
from meetbridge.runtime.gateway import Gateway
from meetbridge.settings import Settings, default_catalogue_dir
from tests.conftest import Api


def gateway_on(settings: Settings, config_path: Path, config_text: str, sandbox: Litestar) -> Gateway:
    """A gateway configured by ``config_text`` (written to ``config_path``) whose adapters reach the
    ``sandbox`` app in-process, whatever base URL their profiles name."""
    config_path.write_text(config_text)
    catalogue = load_catalogue(default_catalogue_dir())
    gateway = build_gateway(settings, load_config(config_path, catalogue))
    gateway.registry = AdapterRegistry(catalogue, transport=httpx.ASGITransport(app=sandbox))
    return gateway


@pytest.fixture
async def other_api(api: Api) -> Api:
    return await api.another("another-application")


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
