"""A bot status report changes only the bots of the account it was verified for (issue 14, item 6)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from litestar import Litestar

from meetbridge.db.tables import event_extensions
from meetbridge.settings import Settings
from tests.conftest import Api, app_api
from tests.service.conftest import bot_status_delivery, event_with_bot, gateway_on

SECRETS = {
    name: "whsec_" + base64.b64encode(f"{name}-secret".encode()).decode() for name in ("ours", "other")
}
CONFIG = "".join(
    f"""
[profiles.{name}]
adapter = "recall-bot"
base_url = "http://127.0.0.1:9"
api_key = "env:SCOPE_{name.upper()}_KEY"
webhook_secret = "env:SCOPE_{name.upper()}_SECRET"
"""
    for name in SECRETS
)
BOT_ID = "bot-of-ours"


@pytest.fixture
async def api(tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    for name, secret in SECRETS.items():
        monkeypatch.setenv(f"SCOPE_{name.upper()}_KEY", f"{name}-recall-key")  # two Recall accounts
        monkeypatch.setenv(f"SCOPE_{name.upper()}_SECRET", secret)
    gateway = gateway_on(settings, tmp_path / "scope.toml", CONFIG, Litestar())
    async with app_api(gateway, "scope") as made:
        yield made


def fatal(profile: str) -> tuple[bytes, dict[str, str]]:
    return bot_status_delivery(SECRETS[profile], BOT_ID, "fatal", "2031-01-01T00:00:00Z", "bot_kicked")


async def test_a_report_verified_for_another_account_changes_nothing(api: Api) -> None:
    calendar_id = await event_with_bot(api, "ours", BOT_ID)
    before = await api.event(calendar_id, "ev1")

    content, headers = fatal("other")
    answered = await api.client.post("/v1/webhooks/recall/other", content=content, headers=headers)

    assert answered.status_code == 200, answered.text
    assert await api.event(calendar_id, "ev1") == before

    content, headers = fatal("ours")
    assert (
        await api.client.post("/v1/webhooks/recall/ours", content=content, headers=headers)
    ).status_code == 200
    [extension] = (await api.event(calendar_id, "ev1"))["extensions"]  # type: ignore[misc]
    assert extension["status"] == "failed"
    async with api.gateway.database.read() as connection:
        assert await connection.scalar(sa.select(event_extensions.c.bot_status)) == "fatal"
