"""The Recall sandbox's test tooling: fault injection, call log, forced statuses, clock, signed webhooks."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from meetbridge.sandbox import RecallSandbox, SandboxClock, create_recall_sandbox_app
from tests.sandbox.common import AUTH, KEY, START, iso, later

ZOOM = "https://zoom.us/j/1234567890?pwd=secret"
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
HOOK_URL = "https://app.test/v1/webhooks/recall/int_sales_0000"


def spec_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """Reference §5.2, computed independently of the sandbox and of the provider module."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class Receiver:
    """The app's webhook endpoint: records every delivery; can fail the first few."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.failures: list[Exception | int] = []
        self._arrived = asyncio.Condition()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        async with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return httpx.Response(failure)
        return httpx.Response(204)

    def events(self) -> list[str]:
        return [json.loads(request.content)["event"] for request in self.requests]

    async def wait_for(self, condition: Callable[[], bool], deadline_seconds: float = 5.0) -> None:
        async with asyncio.timeout(deadline_seconds), self._arrived:
            await self._arrived.wait_for(condition)


@pytest.fixture
def clock() -> SandboxClock:
    return SandboxClock(start=START, frozen=True)


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
async def sandbox(clock: SandboxClock, receiver: Receiver) -> AsyncIterator[RecallSandbox]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as delivery_client:
        recall = RecallSandbox(
            api_keys=[KEY],
            clock=clock,
            webhook_url=HOOK_URL,
            webhook_secret=SECRET,
            webhook_client=delivery_client,
        )
        yield recall
        await recall.aclose()


@pytest.fixture
async def client(sandbox: RecallSandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_recall_sandbox_app(sandbox))
    async with httpx.AsyncClient(transport=transport, base_url="http://recall.test") as http:
        yield http


async def create(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/api/v1/bot/", json={"meeting_url": ZOOM, **body}, headers=AUTH)


async def add_fault(client: httpx.AsyncClient, **spec: Any) -> dict[str, Any]:
    response = await client.post("/_sandbox/faults", json=spec)
    assert response.status_code == 201, response.text
    fault: dict[str, Any] = response.json()
    return fault


async def test_fault_answers_count_times_with_retry_after_and_leaves_state_alone(
    client: httpx.AsyncClient,
) -> None:
    fault = await add_fault(client, endpoint="create_bot", status=429, count=2, retry_after=7)
    assert (fault["remaining"], fault["retry_after"]) == (2, 7)
    for _ in range(2):
        throttled = await create(client)
        assert throttled.status_code == 429
        assert throttled.headers["retry-after"] == "7"
        assert throttled.json() == {"detail": "Request was throttled. Expected available in 7 seconds."}
    assert (await client.get("/_sandbox/bots")).json() == []
    assert (await client.get("/_sandbox/faults")).json() == []
    assert (await create(client)).status_code == 201
    assert len((await client.get("/_sandbox/bots")).json()) == 1


async def test_507_hits_ad_hoc_creates_only(client: httpx.AsyncClient) -> None:
    await add_fault(client, endpoint="create_bot", status=507, retry_after=30)
    assert (await create(client, join_at=later(hours=1))).status_code == 201  # scheduled: never 507
    exhausted = await create(client)
    assert exhausted.status_code == 507
    assert exhausted.headers["retry-after"] == "30"
    assert (await create(client)).status_code == 201


async def test_faults_match_their_endpoint_and_never_change_state(client: httpx.AsyncClient) -> None:
    bot = (await create(client, join_at=later(hours=1))).json()
    await add_fault(client, endpoint="bot", status=409)
    assert (await client.get("/api/v1/bot/", headers=AUTH)).status_code == 200
    conflict = await client.delete(f"/api/v1/bot/{bot['id']}/", headers=AUTH)
    assert conflict.status_code == 409
    assert "retry-after" not in conflict.headers
    assert (await client.get(f"/api/v1/bot/{bot['id']}/", headers=AUTH)).status_code == 200

    await add_fault(client, endpoint="*", status=503, body={"error": "down"})
    unavailable = await client.get("/api/v1/bot/", headers=AUTH)
    assert (unavailable.status_code, unavailable.json()) == (503, {"error": "down"})
    await add_fault(client, endpoint="bot", status=500, count=5)
    assert (await client.delete("/_sandbox/faults")).status_code == 204
    assert (await client.get(f"/api/v1/bot/{bot['id']}/", headers=AUTH)).status_code == 200


async def test_latency_alone_delays_but_answers_normally(client: httpx.AsyncClient) -> None:
    await add_fault(client, endpoint="list_bots", latency_ms=50)
    started = time.monotonic()
    response = await client.get("/api/v1/bot/", headers=AUTH)
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.05


@pytest.mark.parametrize(
    "spec",
    [{"endpoint": "calendar", "status": 500}, {"endpoint": "bot"}, {"status": 500, "count": 0}],
)
async def test_fault_requests_are_validated(client: httpx.AsyncClient, spec: dict[str, Any]) -> None:
    response = await client.post("/_sandbox/faults", json=spec)
    assert response.status_code == 400


async def test_call_log_lists_exactly_the_provider_calls(client: httpx.AsyncClient) -> None:
    bot = (await create(client)).json()
    await client.get("/api/v1/bot", params={"metadata__event": "e1"}, headers=AUTH)
    await client.get("/api/v1/bot/", headers={"Authorization": "Token wrong"})
    await add_fault(client, endpoint="bot", status=500)
    await client.post(f"/api/v1/bot/{bot['id']}/leave_call/", headers=AUTH)
    await client.get("/_sandbox/bots")  # tooling calls are not provider calls

    calls = (await client.get("/_sandbox/calls")).json()
    assert [
        (c["method"], c["path"], c["query"], c["endpoint"], c["status"], c["faulted"]) for c in calls
    ] == [
        ("POST", "/api/v1/bot/", "", "create_bot", 201, False),
        ("GET", "/api/v1/bot", "metadata__event=e1", "list_bots", 200, False),
        ("GET", "/api/v1/bot/", "", "list_bots", 401, False),
        ("POST", f"/api/v1/bot/{bot['id']}/leave_call/", "", "bot", 500, True),
    ]
    assert [c["bot_id"] for c in calls] == [None, None, None, bot["id"]]
    assert {c["time"] for c in calls} == {iso(START)}
    assert (await client.delete("/_sandbox/calls")).status_code == 204
    assert (await client.get("/_sandbox/calls")).json() == []


async def test_webhooks_are_signed_per_reference_in_order(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    bot = (await create(client, metadata={"event": "e1"})).json()
    await client.post("/_sandbox/clock", json={"advance_seconds": 15})
    await receiver.wait_for(lambda: len(receiver.requests) == 4)
    assert receiver.events() == ["bot.joining_call", "bot.in_call_recording", "bot.call_ended", "bot.done"]
    first = receiver.requests[0]
    assert (first.method, str(first.url)) == ("POST", HOOK_URL)
    assert json.loads(first.content) == {
        "event": "bot.joining_call",
        "data": {
            "bot": {"id": bot["id"], "metadata": {"event": "e1"}},
            "data": {"code": "joining_call", "sub_code": None, "updated_at": iso(START)},
        },
    }
    assert json.loads(receiver.requests[2].content)["data"]["data"] == {
        "code": "call_ended",
        "sub_code": "call_ended_by_host",
        "updated_at": later(seconds=10),
    }
    for request in receiver.requests:
        msg_id, timestamp = request.headers["webhook-id"], request.headers["webhook-timestamp"]
        assert msg_id.startswith("msg_")
        assert abs(int(timestamp) - time.time()) < 60
        assert request.headers["webhook-signature"] == spec_signature(
            SECRET, msg_id, timestamp, request.content
        )
        assert request.headers["content-type"] == "application/json"
        assert "svix-id" not in request.headers
    assert len({request.headers["webhook-id"] for request in receiver.requests}) == 4


async def test_webhooks_fire_without_traffic(
    client: httpx.AsyncClient, clock: SandboxClock, receiver: Receiver
) -> None:
    await create(client)
    await receiver.wait_for(lambda: receiver.events() == ["bot.joining_call"])
    clock.advance(5)  # straight on the clock: only the background ticker can notice
    await receiver.wait_for(lambda: receiver.events() == ["bot.joining_call", "bot.in_call_recording"])


async def test_svix_headers_and_forced_fatal_status(client: httpx.AsyncClient, receiver: Receiver) -> None:
    configured = await client.post(
        "/_sandbox/webhook", json={"url": HOOK_URL, "secret": SECRET, "header_family": "svix"}
    )
    assert configured.json() == {"url": HOOK_URL, "header_family": "svix", "signed": True}
    bot = (await create(client, join_at=later(hours=1))).json()
    forced = await client.post(
        f"/_sandbox/bots/{bot['id']}/status", json={"code": "fatal", "sub_code": "meeting_not_found"}
    )
    assert forced.status_code == 200
    assert forced.json()["status_changes"][-1]["code"] == "fatal"
    await receiver.wait_for(lambda: len(receiver.requests) == 1)
    [request] = receiver.requests
    assert json.loads(request.content)["data"]["data"]["sub_code"] == "meeting_not_found"
    msg_id, timestamp = request.headers["svix-id"], request.headers["svix-timestamp"]
    assert request.headers["svix-signature"] == spec_signature(SECRET, msg_id, timestamp, request.content)
    assert "webhook-id" not in request.headers
    retrieved = await client.get(f"/api/v1/bot/{bot['id']}/", headers=AUTH)
    assert retrieved.json()["status_changes"][-1]["sub_code"] == "meeting_not_found"


async def test_forced_status_can_hold_the_lifecycle(client: httpx.AsyncClient) -> None:
    bot = (await create(client)).json()
    path = f"/_sandbox/bots/{bot['id']}/status"
    held = await client.post(path, json={"code": "in_waiting_room", "hold": True})
    assert held.status_code == 200
    await client.post("/_sandbox/clock", json={"advance_seconds": 600})
    retrieved = await client.get(f"/api/v1/bot/{bot['id']}/", headers=AUTH)
    assert retrieved.json()["status_changes"][-1]["code"] == "in_waiting_room"
    assert (await client.post(path, json={"code": "dancing"})).status_code == 400
    assert (await client.post("/_sandbox/bots/nope/status", json={"code": "done"})).status_code == 404


async def test_delivery_retries_then_gives_up_without_hurting_the_sandbox(
    client: httpx.AsyncClient, sandbox: RecallSandbox, receiver: Receiver
) -> None:
    receiver.failures = [httpx.ConnectError("refused"), 500]
    await create(client)
    await receiver.wait_for(lambda: len(receiver.requests) == 3)
    receiver.failures = [500, 502, httpx.ReadTimeout("slow")]
    await client.post("/_sandbox/clock", json={"advance_seconds": 5})
    await receiver.wait_for(lambda: len(receiver.requests) == 6)
    async with asyncio.timeout(5):
        await sandbox.webhooks.wait_idle()
    deliveries = (await client.get("/_sandbox/webhook/deliveries")).json()
    joined, recording = deliveries
    assert (joined["event"], joined["attempts"], joined["delivered"], joined["status"]) == (
        "bot.joining_call",
        3,
        True,
        204,
    )
    assert (recording["event"], recording["attempts"], recording["delivered"]) == (
        "bot.in_call_recording",
        3,
        False,
    )
    assert "ReadTimeout" in recording["error"]
    assert (await client.get("/api/v1/bot/", headers=AUTH)).status_code == 200


async def test_webhook_config_admin(client: httpx.AsyncClient, receiver: Receiver) -> None:
    assert (await client.get("/_sandbox/webhook")).json() == {
        "url": HOOK_URL,
        "header_family": "webhook",
        "signed": True,
    }
    bad = await client.post("/_sandbox/webhook", json={"url": HOOK_URL, "secret": "whsec_***"})
    assert bad.status_code == 400
    assert (await client.delete("/_sandbox/webhook")).status_code == 204
    assert (await client.get("/_sandbox/webhook")).json() == {
        "url": None,
        "header_family": None,
        "signed": False,
    }
    await create(client)
    await client.post("/_sandbox/clock", json={"advance_seconds": 60})
    assert (await client.get("/_sandbox/webhook/deliveries")).json() == []
    assert receiver.requests == []


async def test_clock_admin_and_reset(client: httpx.AsyncClient) -> None:
    assert (await client.get("/_sandbox/clock")).json() == {"now": iso(START), "frozen": True}
    moved = await client.post("/_sandbox/clock", json={"advance_seconds": 90})
    assert moved.json() == {"now": later(seconds=90), "frozen": True}
    thawed = (await client.post("/_sandbox/clock", json={"freeze": False})).json()
    assert thawed["frozen"] is False
    assert datetime.fromisoformat(thawed["now"]) >= START + timedelta(seconds=90)
    await create(client)
    assert (await client.post("/_sandbox/reset")).status_code == 204
    assert (await client.get("/_sandbox/bots")).json() == []
    assert (await client.get("/_sandbox/calls")).json() == []


def test_clock_freezes_advances_and_resumes_without_jumping() -> None:
    clock = SandboxClock()
    clock.freeze()
    frozen = clock.now()
    clock.advance(3600)
    assert clock.now() == frozen + timedelta(hours=1)
    clock.unfreeze()
    assert frozen + timedelta(hours=1) <= clock.now() < frozen + timedelta(hours=1, seconds=5)
