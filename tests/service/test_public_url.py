"""A link that registers a callback URL at a provider (a Cronofy push channel) needs a configured
public_url: taken from the request's Host header, a caller could point the provider's callbacks at an
address of their choosing (issue 14, item 11). Refused before any provider call; nothing stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from meetbridge.config.catalogue import load_catalogue
from meetbridge.config.profiles import GatewayConfig, ServerConfig
from meetbridge.db.tables import calendar_links
from meetbridge.runtime.sandbox_profiles import sandbox_profiles
from meetbridge.sandbox import CronofySandbox, RecallSandbox, SandboxClock, create_cronofy_sandbox_app
from meetbridge.serve import SandboxAdditions, sandbox_public_url
from meetbridge.settings import Settings, default_catalogue_dir
from tests.conftest import PROFILES_TOML, app_api
from tests.service.conftest import gateway_on
from tests.service.test_cronofy_forwarding import CLIENT_ID, CLIENT_SECRET, PROFILE, UPSTREAM, Forwarding

NO_PUBLIC_URL = PROFILE.replace('public_url = "https://meetbridge.example.test"\n', "")


@pytest.fixture
async def unreachable(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Forwarding]:
    """The forwarding gateway of test_cronofy_forwarding, with no public_url configured."""
    assert "public_url" not in NO_PUBLIC_URL
    monkeypatch.setenv("FORWARD_SECRET_KEY", "forwarding-test-secret-key-0123456789")
    monkeypatch.setenv("FORWARD_CRONOFY_ID", CLIENT_ID)
    monkeypatch.setenv("FORWARD_CRONOFY_SECRET", CLIENT_SECRET)
    monkeypatch.delenv("MEETBRIDGE_PUBLIC_URL", raising=False)
    clock = SandboxClock()
    recall = RecallSandbox(api_keys={"unused"}, clock=clock)
    cronofy = CronofySandbox(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, recall=recall, clock=clock)
    gateway = gateway_on(
        settings,
        tmp_path / "forwarding.toml",
        NO_PUBLIC_URL + PROFILES_TOML,
        create_cronofy_sandbox_app(cronofy),
    )
    access_token, refresh_token = cronofy.add_account(calendar_ids=[UPSTREAM])
    async with app_api(gateway, "forwarding") as api:
        yield Forwarding(api, cronofy, recall, access_token, refresh_token, clock.now())
    await cronofy.aclose()
    await recall.aclose()


async def test_a_link_that_registers_a_callback_needs_public_url(unreachable: Forwarding) -> None:
    calendar_id = await unreachable.api.calendar()

    response = await unreachable.link(calendar_id)  # Host: testserver.local, which it must not use

    assert response.status_code == 422, response.text
    assert response.json() == {
        "errors": {
            "cronofy_calendar_id": [
                {
                    "key": "errors.not_configured",
                    "description": "cronofy links register a callback URL at the provider: set [server] "
                    "public_url (or MEETBRIDGE_PUBLIC_URL) to the address it can reach meetbridge at",
                }
            ]
        }
    }
    assert unreachable.calls() == []  # no Cronofy call: no calendar read, no channel opened
    [account] = unreachable.cronofy.tokens.accounts.values()
    assert await unreachable.cronofy.channels(account) == []
    async with unreachable.gateway.database.read() as connection:
        assert (await connection.execute(sa.select(calendar_links))).all() == []
    missing = await unreachable.api.client.get(
        f"/v1/calendars/{calendar_id}/links/cron", headers=unreachable.api.auth
    )
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("localhost", "http://localhost:8000"),
        ("::1", "http://[::1]:8000"),
        ("0.0.0.0", None),  # noqa: S104  # what a server reachable from elsewhere listens on
        ("192.0.2.10", None),
    ],
)
def test_a_sandbox_on_loopback_is_its_own_public_url(host: str, expected: str | None) -> None:
    """serve --sandbox may default public_url to its own address on loopback only (no one else can
    reach it there anyway); a configured public_url always wins."""
    assert sandbox_public_url(host, 8000) == expected
    profiles = sandbox_profiles("http://127.0.0.1:8000", load_catalogue(default_catalogue_dir()))
    additions = SandboxAdditions(profiles, public_url=sandbox_public_url(host, 8000))
    unset = GatewayConfig(server=ServerConfig(), profiles={})
    assert additions.apply(unset).server.public_url == expected
    configured = GatewayConfig(server=ServerConfig(public_url="https://meetbridge.example.test"), profiles={})
    assert additions.apply(configured).server.public_url == "https://meetbridge.example.test"
