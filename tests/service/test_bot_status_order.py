"""A bot's status never moves backwards: Recall's status webhooks arrive late and out of order, and a
report older than the one applied changes nothing (issue 14, item 8)."""

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

SECRET = "whsec_" + base64.b64encode(b"order-secret").decode()
CONFIG = """
[profiles.ours]
adapter = "recall-bot"
base_url = "http://127.0.0.1:9"
api_key = "env:ORDER_KEY"
webhook_secret = "env:ORDER_SECRET"
"""
BOT_ID = "bot-in-order"


@pytest.fixture
async def api(tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    monkeypatch.setenv("ORDER_KEY", "order-recall-key")
    monkeypatch.setenv("ORDER_SECRET", SECRET)
    gateway = gateway_on(settings, tmp_path / "order.toml", CONFIG, Litestar())
    async with app_api(gateway, "order") as made:
        yield made


async def report(api: Api, code: str, updated_at: str, sub_code: str | None = None) -> None:
    body, headers = bot_status_delivery(SECRET, BOT_ID, code, updated_at, sub_code)
    answered = await api.client.post("/v1/webhooks/recall/ours", content=body, headers=headers)
    assert answered.status_code == 200, answered.text


@pytest.fixture
async def calendar_id(api: Api) -> str:
    return await event_with_bot(api, "ours", BOT_ID)


async def stored_status(api: Api) -> str | None:
    async with api.gateway.database.read() as connection:
        status: str | None = await connection.scalar(sa.select(event_extensions.c.bot_status))
        return status


async def test_an_older_report_after_a_newer_one_changes_nothing(api: Api, calendar_id: str) -> None:
    await report(api, "in_call_recording", "2031-05-06T15:01:30Z")
    after_newer = await api.event(calendar_id, "ev1")
    assert after_newer["metadata"]["recall"] == {"bot_id": BOT_ID, "status": "in_call_recording"}
    assert await stored_status(api) == "in_call_recording"

    await report(api, "joining_call", "2031-05-06T15:00:10Z")  # sent first, delivered late

    assert await api.event(calendar_id, "ev1") == after_newer
    assert await stored_status(api) == "in_call_recording"

    await report(api, "done", "2031-05-06T15:31:00.250000+00:00")  # a later one still applies
    assert (await api.event(calendar_id, "ev1"))["metadata"]["recall"]["status"] == "done"


async def test_a_late_fatal_from_before_the_bot_recovered_fails_nothing(api: Api, calendar_id: str) -> None:
    await report(api, "done", "2031-05-06T15:31:00Z")
    after_done = await api.event(calendar_id, "ev1")
    [extension] = after_done["extensions"]  # type: ignore[misc]
    assert (extension["status"], extension["last_error"]) == ("scheduled", None)

    await report(api, "fatal", "2031-05-06T15:00:05Z", sub_code="bot_errored")

    assert await api.event(calendar_id, "ev1") == after_done
