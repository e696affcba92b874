"""Fixtures shared by every test folder: a migrated SQLite file, a configured gateway, a token."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from meetbridge.app import build_gateway, create_app
from meetbridge.config.catalogue import load_catalogue
from meetbridge.config.profiles import load_config
from meetbridge.db.migrate import upgrade
from meetbridge.runtime.gateway import Gateway
from meetbridge.settings import Settings, default_catalogue_dir

PROFILES_TOML = textwrap.dedent(
    """
    [profiles.int_sales_0000]
    adapter = "recall-bot"
    base_url = "http://127.0.0.1:9"
    api_key = "env:MEETBRIDGE_TEST_RECALL_KEY"
    bot_name = "Sales Notetaker"
    """
)
TEST_ENV = {"MEETBRIDGE_TEST_RECALL_KEY": "test-recall-key-not-secret-elsewhere"}


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "meetbridge.toml"
    path.write_text(PROFILES_TOML)
    return path


@pytest.fixture
def settings(tmp_path: Path, config_file: Path) -> Settings:
    url = f"sqlite+aiosqlite:///{tmp_path / 'meetbridge.db'}"
    upgrade(url)
    # No worker in-process: Litestar's test client runs the lifespan on a loop of its own, and worker
    # behaviour is proven against real server processes in tests/e2e.
    return Settings(database_url=url, config_path=config_file, events_page_size=5, run_worker=False)


@pytest.fixture
def gateway(settings: Settings) -> Gateway:
    config = load_config(settings.config_path, load_catalogue(default_catalogue_dir()))
    return build_gateway(settings, config)


@dataclass
class Api:
    """An authenticated in-process client: real routing, real database, no network."""

    client: httpx.AsyncClient
    token: str
    gateway: Gateway

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def calendar(self, name: str = "Work") -> str:
        response = await self.client.post("/v1/calendars", json={"name": name}, headers=self.auth)
        assert response.status_code == 200, response.text
        calendar_id: str = response.json()["calendar"]["calendar_id"]
        return calendar_id

    async def upsert(self, calendar_id: str, body: dict[str, object]) -> httpx.Response:
        return await self.client.post(f"/v1/calendars/{calendar_id}/events", json=body, headers=self.auth)

    async def event(self, calendar_id: str, event_id: str) -> dict[str, object]:
        response = await self.client.get(f"/v1/calendars/{calendar_id}/events/{event_id}", headers=self.auth)
        assert response.status_code == 200, response.text
        event: dict[str, object] = response.json()["event"]
        return event

    async def another(self, application: str) -> Api:
        """Another application on the same gateway and client, with its own token."""
        _, token = await self.gateway.applications.create_token(application)
        return Api(client=self.client, token=token, gateway=self.gateway)


@asynccontextmanager
async def in_process_client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the test's own event loop (Litestar's test client would run it on another one,
    which asyncpg refuses). The lifespan is not run: in-process tests have no worker."""
    app = create_app(gateway.settings, gateway=gateway)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver.local"
    ) as client:
        yield client
    await gateway.aclose()


@asynccontextmanager
async def app_api(gateway: Gateway, application: str) -> AsyncIterator[Api]:
    """A token for ``application`` and an ``in_process_client`` of the gateway."""
    _, token = await gateway.applications.create_token(application)
    async with in_process_client(gateway) as client:
        yield Api(client=client, token=token, gateway=gateway)


@pytest.fixture
async def api(gateway: Gateway) -> AsyncIterator[Api]:
    async with app_api(gateway, "notetaker") as made:
        yield made
