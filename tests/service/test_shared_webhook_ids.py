"""Webhook de-duplication lives in the database: two gateways on one database (two replicas) see the
same delivery ids. A delivery handled by one is a duplicate at the other; one being handled by one
is a duplicate at the other; one that failed is handled when retried anywhere; old ids expire.
``tests/postgres/test_fleet_state.py`` runs the same on PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa
from litestar import Litestar

from meetbridge.db.inbound_webhooks import HANDLED_FOR, stored_key
from meetbridge.db.migrate import upgrade
from meetbridge.db.tables import event_extensions, inbound_webhook_ids, utcnow
from meetbridge.providers.recall.webhooks import sign_recall_webhook
from meetbridge.settings import Settings
from tests.conftest import Api, app_api
from tests.service.conftest import gateway_on

SECRET = "whsec_" + base64.b64encode(b"fleet-webhook-secret").decode()
CONFIG = """
[profiles.ours]
adapter = "recall-bot"
base_url = "http://127.0.0.1:9"
api_key = "env:FLEET_RECALL_KEY"
webhook_secret = "env:FLEET_RECALL_SECRET"
"""
BOT_ID = "bot-fleet-1"
EVENT = {
    "event_id": "ev1",
    "summary": "Shared",
    "start": "2031-05-06T15:00:00Z",
    "end": "2031-05-06T15:30:00Z",
    "location": {"description": "https://zoom.us/j/1234567890"},
    "extensions": [{"provider": "recall", "profile_id": "ours"}],
}


@asynccontextmanager
async def two_replicas(database_url: str, workdir: Path) -> AsyncIterator[tuple[Api, Api]]:
    """Two gateways, each with its own engine and app, on one database; an event with a bot."""
    settings = Settings(database_url=database_url, config_path=workdir / "fleet.toml", run_worker=False)
    async with AsyncExitStack() as stack:
        replicas = [
            await stack.enter_async_context(
                app_api(gateway_on(settings, workdir / "fleet.toml", CONFIG, Litestar()), "fleet")
            )
            for _ in range(2)
        ]
        calendar_id = await replicas[0].calendar()
        assert (await replicas[0].upsert(calendar_id, EVENT)).status_code == 202
        async with replicas[0].gateway.database.write() as connection:  # as the worker leaves it
            await connection.execute(
                event_extensions.update().values(
                    bot_id=BOT_ID, status="scheduled", provider_state={"bot_id": BOT_ID}
                )
            )
        yield replicas[0], replicas[1]


def delivery(msg_id: str, code: str) -> tuple[bytes, dict[str, str]]:
    data = {"code": code, "sub_code": None, "updated_at": "2031-01-01T00:00:00Z"}
    body = msgspec.json.encode(
        {"event": f"bot.{code}", "data": {"bot": {"id": BOT_ID, "metadata": {}}, "data": data}}
    )
    stamp = int(time.time())
    signature = sign_recall_webhook(SECRET, msg_id, stamp, body)
    return body, {"webhook-id": msg_id, "webhook-timestamp": str(stamp), "webhook-signature": signature}


async def post(replica: Api, msg_id: str, code: str) -> str:
    content, headers = delivery(msg_id, code)
    answered = await replica.client.post("/v1/webhooks/recall/ours", content=content, headers=headers)
    assert answered.status_code == 200, answered.text
    status: str = answered.json()["status"]
    return status


async def bot_status(replica: Api) -> str | None:
    async with replica.gateway.database.read() as connection:
        found: str | None = await connection.scalar(sa.select(event_extensions.c.bot_status))
    return found


async def deliveries(replica: Api) -> dict[str, bool]:
    async with replica.gateway.database.read() as connection:
        rows = await connection.execute(sa.select(inbound_webhook_ids.c.key, inbound_webhook_ids.c.handled))
        return {row.key: row.handled for row in rows}


async def check_replicas_share_delivery_ids(database_url: str, workdir: Path) -> None:
    async with two_replicas(database_url, workdir) as (first, second):
        # Handled by one replica: a duplicate at the other, which changes nothing.
        assert await post(first, "msg_done", "in_call_recording") == "ok"
        assert await bot_status(first) == "in_call_recording"
        assert await post(second, "msg_done", "done") == "duplicate ignored"
        assert await bot_status(second) == "in_call_recording"

        # Being handled by one replica: a duplicate at the other; once given up, handled anywhere.
        assert await first.gateway.inbound_webhook_ids.start("ours:msg_busy")
        assert await post(second, "msg_busy", "call_ended") == "duplicate ignored"
        assert await bot_status(second) == "in_call_recording"
        await first.gateway.inbound_webhook_ids.finish("ours:msg_busy", handled=False)
        assert await post(second, "msg_busy", "call_ended") == "ok"
        assert await bot_status(first) == "call_ended"
        assert await deliveries(first) == {"ours:msg_done": True, "ours:msg_busy": True}

        # Expired rows are taken over, and swept when a later delivery is handled.
        async with first.gateway.database.write() as connection:
            await connection.execute(
                inbound_webhook_ids.update().values(expires_at=utcnow() - timedelta(seconds=1))
            )
        assert await post(second, "msg_done", "done") == "ok"
        assert await bot_status(first) == "done"
        assert await deliveries(first) == {"ours:msg_done": True}
        async with first.gateway.database.read() as connection:
            expires = await connection.scalar(sa.select(inbound_webhook_ids.c.expires_at))
        assert expires is not None
        assert expires > utcnow() + HANDLED_FOR - timedelta(minutes=1)

        # An id longer than the column is kept by its digest, and still recognised.
        long_id = "msg_" + "x" * 600
        assert await first.gateway.inbound_webhook_ids.start(f"ours:{long_id}")
        assert not await second.gateway.inbound_webhook_ids.start(f"ours:{long_id}")
        assert stored_key(f"ours:{long_id}") in await deliveries(first)


async def test_two_replicas_on_one_sqlite_file_share_delivery_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLEET_RECALL_KEY", "fleet-recall-key")
    monkeypatch.setenv("FLEET_RECALL_SECRET", SECRET)
    url = f"sqlite+aiosqlite:///{tmp_path / 'fleet.db'}"
    await asyncio.to_thread(upgrade, url)
    await check_replicas_share_delivery_ids(url, tmp_path)
