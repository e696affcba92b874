"""The outbound webhook outbox on PostgreSQL: messages written with the change, claims exclusive
between replicas racing for them (FOR UPDATE SKIP LOCKED), and a signed delivery."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import msgspec
from svix.webhooks import Webhook as SvixWebhook

from meetbridge.config.webhooks import WebhooksConfig
from meetbridge.db.tables import utcnow
from meetbridge.db.webhook_deliveries import DeliveryStore
from meetbridge.db.webhook_tables import webhook_messages
from meetbridge.engine.webhooks_out.sender import WebhookSender
from tests.conftest import Api
from tests.service.test_webhook_delivery import (
    Receiver,
    _delivered,
    bodies,
    endpoint,
    event_with_bot,
    eventually,
    set_extension,
)


async def test_types_and_sequence_on_postgres(pg_api: Api) -> None:
    await endpoint(pg_api, event_types=["bot.scheduled", "bot.cancelled"])
    pk = await event_with_bot(pg_api, await pg_api.calendar())
    assert await set_extension(pg_api, pk, status="scheduled", bot_id="bot-1") == 1
    assert await set_extension(pg_api, pk, status="failed", last_error="x") == 0  # not subscribed
    assert await set_extension(pg_api, pk, status="cancelled", bot_id=None) == 1
    told = await bodies(pg_api)
    assert [(b["type"], b["data"]["sequence"]) for b in told] == [("bot.scheduled", 1), ("bot.cancelled", 3)]


async def test_replicas_racing_claim_each_message_once(pg_api: Api) -> None:
    created = await endpoint(pg_api)
    now = utcnow()
    rows = [
        {"message_id": f"msg_race_{n}", "endpoint_id": created["endpoint_id"], "type": "bot.status",
         "body": "{}", "state": "pending", "attempts": 0, "next_attempt_at": now - timedelta(seconds=1),
         "created_at": now}
        for n in range(40)
    ]  # fmt: skip
    async with pg_api.gateway.database.write() as connection:
        await connection.execute(webhook_messages.insert(), rows)
    stores = [DeliveryStore(pg_api.gateway.database) for _ in range(4)]
    claims = await asyncio.gather(
        *(store.claim(f"replica-{n}", 40, per_endpoint=40) for n, store in enumerate(stores))
    )
    claimed = [m.pk for claim in claims for m in claim]
    assert len(claimed) == len(set(claimed))
    again = await stores[0].claim("late", 40, per_endpoint=40)
    assert len(claimed) + len(again) <= 40
    assert {m.pk for m in again}.isdisjoint(claimed)


async def test_a_signed_delivery_on_postgres(pg_api: Api) -> None:
    created = await endpoint(pg_api)
    pk = await event_with_bot(pg_api, await pg_api.calendar())
    receiver = Receiver()
    live = pg_api.gateway.live
    live.replace(msgspec.structs.replace(live.current, webhooks=WebhooksConfig()))
    sender = WebhookSender(
        DeliveryStore(pg_api.gateway.database),
        live,
        poll_interval=0.05,
        transport=httpx.MockTransport(receiver),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    try:
        await set_extension(pg_api, pk, status="scheduled", bot_id="bot-1")
        await eventually(lambda: _delivered(pg_api, 1), "the delivery")
    finally:
        stop.set()
        await task
    [request] = receiver.requests
    SvixWebhook(created["secret"]).verify(request.content, dict(request.headers))
