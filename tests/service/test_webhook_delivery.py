"""The outbound webhook outbox and sender in-process, on a real SQLite file: messages are written in
the transaction of the change (a rollback writes none), signed so that Svix's own verifier accepts
them, retried on the configured schedule with the same webhook-id, given up on, and an endpoint that
fails for five days is disabled. The receiving side is an httpx MockTransport (no network)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import msgspec
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from svix.webhooks import Webhook as SvixWebhook

from meetbridge.config.webhooks import WebhooksConfig
from meetbridge.db.tables import event_extensions, events, utcnow
from meetbridge.db.webhook_deliveries import DeliveryStore
from meetbridge.db.webhook_outbox import Before, Report, note_change
from meetbridge.db.webhook_tables import webhook_attempts, webhook_endpoints, webhook_messages
from meetbridge.engine.webhooks_out.sender import WebhookSender
from tests.conftest import Api

PUBLIC = "https://93.184.216.34/hooks"
DEADLINE = 10.0


async def eventually(condition: Callable[[], Any], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Receiver:
    """Answers from a script (then 200), and keeps every request."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.answers = list(answers or [])
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.answers.pop(0) if self.answers else 200)


async def endpoint(api: Api, **body: object) -> dict[str, Any]:
    response = await api.client.post("/v1/webhook_endpoints", json={"url": PUBLIC, **body}, headers=api.auth)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()["endpoint"]
    return created


async def event_with_bot(api: Api, calendar_id: str, event_id: str = "e1") -> int:
    response = await api.upsert(
        calendar_id,
        {
            "event_id": event_id,
            "summary": "Sync",
            "start": "2030-01-02T16:00:00Z",
            "end": "2030-01-02T17:00:00Z",
            "location": {"description": "https://zoom.us/j/1234567890"},
            "extensions": [{"provider": "recall", "profile_id": "int_sales_0000"}],
        },
    )
    assert response.status_code == 202, response.text
    async with api.gateway.database.read() as connection:
        return int(await connection.scalar(sa.select(events.c.pk).where(events.c.event_id == event_id)))


async def set_extension(api: Api, pk: int, **values: object) -> int:
    """Write the extension as the worker would, and note the change in the same transaction."""
    async with api.gateway.database.write() as connection:
        before = (
            await connection.execute(
                sa.select(event_extensions.c.status, event_extensions.c.bot_id).where(
                    event_extensions.c.event_pk == pk
                )
            )
        ).one()
        await connection.execute(
            event_extensions.update().where(event_extensions.c.event_pk == pk).values(**values)
        )
        return await note_change(connection, pk, "recall", before=Before(*before), adapter="recall-bot")


async def bodies(api: Api) -> list[dict[str, Any]]:
    async with api.gateway.database.read() as connection:
        rows = await connection.execute(sa.select(webhook_messages.c.body).order_by(webhook_messages.c.pk))
        return [msgspec.json.decode(row.body) for row in rows]


@pytest.fixture
async def sender_for(api: Api) -> AsyncIterator[Callable[..., asyncio.Task[None]]]:
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    def start(receiver: Receiver, **settings: Any) -> asyncio.Task[None]:
        config = api.gateway.config
        api.gateway.live.replace(msgspec.structs.replace(config, webhooks=WebhooksConfig(**settings)))
        sender = WebhookSender(
            DeliveryStore(api.gateway.database), api.gateway.live, poll_interval=0.05,
            transport=httpx.MockTransport(receiver),
        )  # fmt: skip
        tasks.append(asyncio.create_task(sender.run(stop)))
        return tasks[-1]

    yield start
    stop.set()
    await asyncio.gather(*tasks)


async def test_types_follow_the_extension_and_sequence_rises(api: Api) -> None:
    await endpoint(api)
    pk = await event_with_bot(api, await api.calendar())
    assert await set_extension(api, pk, status="pending") == 0  # nothing to tell yet
    assert await set_extension(api, pk, status="scheduled", bot_id="bot-1") == 1
    assert await set_extension(api, pk, status="scheduled", bot_id="bot-1") == 0  # unchanged
    assert await set_extension(api, pk, status="scheduled", bot_id="bot-2") == 1
    assert await set_extension(api, pk, status="failed", last_error="no link (reason: no_meeting_url)") == 1
    assert await set_extension(api, pk, status="cancelled", bot_id=None) == 1
    told = await bodies(api)
    assert [b["type"] for b in told] == ["bot.scheduled", "bot.updated", "bot.failed", "bot.cancelled"]
    assert [b["data"]["sequence"] for b in told] == [1, 2, 3, 4]
    scheduled, updated, failed, _ = told
    assert scheduled["data"]["bot_id"] == "bot-1"
    assert scheduled["data"]["event_id"] == "e1"
    assert scheduled["data"]["profile_id"] == "int_sales_0000"
    assert scheduled["data"]["adapter"] == "recall-bot"
    assert scheduled["data"]["meeting_url"] == "https://zoom.us/j/1234567890"
    assert scheduled["data"]["join_at"].startswith("2030-01-02T16:00:00")
    assert updated["data"]["previous_bot_id"] == "bot-1"
    assert failed["data"]["reason"] == {
        "code": "no_meeting_url",
        "message": "no link (reason: no_meeting_url)",
    }


async def test_a_status_report_and_fatal_tell_status_then_failed(api: Api) -> None:
    await endpoint(api, event_types=["bot.status", "bot.failed"])
    pk = await event_with_bot(api, await api.calendar())
    await set_extension(api, pk, status="scheduled", bot_id="bot-1")  # not subscribed: no message
    async with api.gateway.database.write() as connection:
        await connection.execute(event_extensions.update().values(status="failed", bot_status="fatal"))
        await note_change(connection, pk, "recall", report=Report("fatal", "bot_kicked_from_call"))
    told = await bodies(api)
    assert [b["type"] for b in told] == ["bot.status", "bot.failed"]
    assert told[0]["data"]["provider_status"] == "fatal"
    assert told[0]["data"]["sub_code"] == "bot_kicked_from_call"
    assert told[1]["data"]["reason"]["code"] == "bot_kicked_from_call"


async def test_a_rolled_back_change_writes_no_message(api: Api) -> None:
    await endpoint(api)
    pk = await event_with_bot(api, await api.calendar())
    written: list[int] = []

    async def change_then_fail() -> None:
        async with api.gateway.database.write() as connection:
            await connection.execute(event_extensions.update().values(status="scheduled", bot_id="bot-1"))
            written.append(await note_change(connection, pk, "recall", before=Before("pending", None)))
            raise RuntimeError("the change fails after the message was written")

    with pytest.raises(RuntimeError):
        await change_then_fail()
    assert written == [1]
    assert await bodies(api) == []


async def test_other_applications_and_disabled_endpoints_get_nothing(api: Api) -> None:
    other = await api.another("other-app")
    await endpoint(other)
    disabled = await endpoint(api)
    await api.client.patch(
        f"/v1/webhook_endpoints/{disabled['endpoint_id']}", json={"status": "disabled"}, headers=api.auth
    )
    pk = await event_with_bot(api, await api.calendar())
    assert await set_extension(api, pk, status="scheduled", bot_id="bot-1") == 0
    assert await bodies(api) == []


async def test_signed_so_svix_verifies_and_the_delivery_log_shows_it(api: Api, sender_for: Any) -> None:
    created = await endpoint(api)
    pk = await event_with_bot(api, await api.calendar())
    receiver = Receiver()
    sender_for(receiver)
    await set_extension(api, pk, status="scheduled", bot_id="bot-1")
    api.gateway.message_committed()
    await eventually(lambda: _delivered(api, 1), "the delivery")
    [request] = receiver.requests
    assert request.url.host == "93.184.216.34"
    body = request.content.decode()
    SvixWebhook(created["secret"]).verify(body, dict(request.headers))
    assert msgspec.json.decode(body)["type"] == "bot.scheduled"
    log = await api.client.get(f"/v1/webhook_endpoints/{created['endpoint_id']}/deliveries", headers=api.auth)
    [delivery] = log.json()["deliveries"]
    assert delivery["message_id"] == request.headers["webhook-id"]
    assert delivery["state"] == "delivered"
    assert [a["status_code"] for a in delivery["attempts"]] == [200]


async def test_retried_on_schedule_with_the_same_id_then_failed(api: Api, sender_for: Any) -> None:
    created = await endpoint(api)
    pk = await event_with_bot(api, await api.calendar())
    receiver = Receiver([500, 503, 500])
    counted_before = {outcome: _deliveries_counted(outcome) for outcome in ("delivered", "retried", "failed")}
    sender_for(receiver, retry_schedule_seconds=(0.2, 0.4))
    await set_extension(api, pk, status="scheduled", bot_id="bot-1")
    api.gateway.message_committed()
    await eventually(lambda: _state_is(api, "failed"), "the message to fail")
    assert len(receiver.requests) == 3
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    async with api.gateway.database.read() as connection:
        times = list(
            await connection.scalars(sa.select(webhook_attempts.c.at).order_by(webhook_attempts.c.pk))
        )
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert 0.2 <= gaps[0] < 1.5
    assert 0.4 <= gaps[1] < 1.5
    for request in receiver.requests:
        SvixWebhook(created["secret"]).verify(request.content, dict(request.headers))
    retried = await api.client.post(
        f"/v1/webhook_endpoints/{created['endpoint_id']}/deliveries/{receiver.requests[0].headers['webhook-id']}/retry",
        headers=api.auth,
    )
    assert retried.status_code == 202
    await eventually(lambda: _state_is(api, "delivered"), "the retried message")
    assert len(receiver.requests) == 4
    counted = {outcome: _deliveries_counted(outcome) - before for outcome, before in counted_before.items()}
    assert counted == {"delivered": 1, "retried": 2, "failed": 1}


def _deliveries_counted(outcome: str) -> float:
    return REGISTRY.get_sample_value("meetbridge_outbound_deliveries_total", {"outcome": outcome}) or 0.0


async def test_five_days_of_failures_disable_the_endpoint(api: Api, sender_for: Any) -> None:
    created = await endpoint(api)
    async with api.gateway.database.write() as connection:
        await connection.execute(
            webhook_endpoints.update().values(failing_since=utcnow() - timedelta(days=5, minutes=1))
        )
    pk = await event_with_bot(api, await api.calendar())
    sender_for(Receiver([500]), retry_schedule_seconds=(60,))
    await set_extension(api, pk, status="scheduled", bot_id="bot-1")
    api.gateway.message_committed()
    path = f"/v1/webhook_endpoints/{created['endpoint_id']}"
    await eventually(lambda: _endpoint_status(api, path, "disabled"), "the endpoint to be disabled")
    enabled = await api.client.patch(path, json={"status": "enabled"}, headers=api.auth)
    assert enabled.json()["endpoint"]["status"] == "enabled"
    async with api.gateway.database.read() as connection:
        assert await connection.scalar(sa.select(webhook_endpoints.c.failing_since)) is None


async def test_a_private_address_is_refused_at_send_time(api: Api, sender_for: Any) -> None:
    created = await endpoint(api)
    async with api.gateway.database.write() as connection:  # e.g. the name now resolves privately
        await connection.execute(webhook_endpoints.update().values(url="https://127.0.0.1/hooks"))
    pk = await event_with_bot(api, await api.calendar())
    receiver = Receiver()
    sender_for(receiver, retry_schedule_seconds=())
    await set_extension(api, pk, status="scheduled", bot_id="bot-1")
    api.gateway.message_committed()
    await eventually(lambda: _state_is(api, "failed"), "the refused message")
    assert receiver.requests == []
    log = await api.client.get(f"/v1/webhook_endpoints/{created['endpoint_id']}/deliveries", headers=api.auth)
    assert "not a public address" in log.json()["deliveries"][0]["attempts"][0]["error"]


async def test_claims_are_fair_between_endpoints(api: Api) -> None:
    busy, quiet = await endpoint(api), await endpoint(api, description="quiet")
    now = utcnow()
    rows = [
        {"message_id": f"msg_{e['endpoint_id']}_{n}", "endpoint_id": e["endpoint_id"], "type": "bot.status",
         "body": "{}", "state": "pending", "attempts": 0, "next_attempt_at": now - timedelta(seconds=60 - n),
         "created_at": now}
        for e, count in ((busy, 50), (quiet, 1)) for n in range(count)
    ]  # fmt: skip
    async with api.gateway.database.write() as connection:
        await connection.execute(webhook_messages.insert(), rows)
    store = DeliveryStore(api.gateway.database)
    claimed = await store.claim("me", 4, per_endpoint=2, busy=[busy["endpoint_id"]])
    assert sorted(m.endpoint_id for m in claimed) == sorted([busy["endpoint_id"], quiet["endpoint_id"]])
    assert await store.claim("another replica", 10, per_endpoint=2) != []  # leases: none of mine
    again = await store.claim("another replica", 10, per_endpoint=60)
    assert {m.pk for m in again}.isdisjoint({m.pk for m in claimed})


async def _delivered(api: Api, count: int) -> bool:
    return await _count(api, "delivered") >= count


async def _state_is(api: Api, state: str) -> bool:
    return await _count(api, state) >= 1


async def _count(api: Api, state: str) -> int:
    async with api.gateway.database.read() as connection:
        return int(
            await connection.scalar(
                sa.select(sa.func.count())
                .select_from(webhook_messages)
                .where(webhook_messages.c.state == state)
            )
            or 0
        )


async def _endpoint_status(api: Api, path: str, status: str) -> bool:
    response = await api.client.get(path, headers=api.auth)
    return bool(response.json()["endpoint"]["status"] == status)


async def test_after_a_rotation_both_secrets_verify_for_a_day(api: Api, sender_for: Any) -> None:
    created = await endpoint(api)
    rotated = await api.client.post(
        f"/v1/webhook_endpoints/{created['endpoint_id']}/rotate_secret", headers=api.auth
    )
    new_secret = rotated.json()["endpoint"]["secret"]
    pk = await event_with_bot(api, await api.calendar())
    receiver = Receiver()
    sender_for(receiver)
    await set_extension(api, pk, status="scheduled", bot_id="bot-1")
    api.gateway.message_committed()
    await eventually(lambda: _delivered(api, 1), "the delivery")
    [request] = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (created["secret"], new_secret):
        SvixWebhook(secret).verify(request.content, dict(request.headers))
    async with api.gateway.database.write() as connection:  # a day later the old one no longer signs
        await connection.execute(
            webhook_endpoints.update().values(previous_secret_expires_at=utcnow() - timedelta(seconds=1))
        )
    await set_extension(api, pk, status="cancelled", bot_id=None)
    api.gateway.message_committed()
    await eventually(lambda: _delivered(api, 2), "the second delivery")
    assert len(receiver.requests[1].headers["webhook-signature"].split(" ")) == 1
    SvixWebhook(new_secret).verify(receiver.requests[1].content, dict(receiver.requests[1].headers))


async def test_finished_messages_are_forgotten_after_thirty_days(api: Api) -> None:
    created = await endpoint(api)
    old, now = utcnow() - timedelta(days=31), utcnow()
    rows = [
        {"message_id": f"msg_{name}", "endpoint_id": created["endpoint_id"], "type": "bot.status",
         "body": "{}", "state": state, "attempts": 1, "next_attempt_at": due, "created_at": at}
        for name, state, due, at in (
            ("old_done", "delivered", None, old), ("old_failed", "failed", None, old),
            ("old_waiting", "failing", now, old), ("new_done", "delivered", None, now),
        )
    ]  # fmt: skip
    async with api.gateway.database.write() as connection:
        await connection.execute(webhook_messages.insert(), rows)
    assert await DeliveryStore(api.gateway.database).prune() == 2
    async with api.gateway.database.read() as connection:
        kept = set(await connection.scalars(sa.select(webhook_messages.c.message_id)))
    assert kept == {"msg_old_waiting", "msg_new_done"}
