"""The Cronofy sandbox's push notifications and test tooling: channels, signed pushes, suppression,
faults, call log, accounts, clock."""

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
import pycronofy
import pytest

from meetbridge.sandbox import (
    DEFAULT_RECALL_PROFILE,
    BotQuery,
    CronofySandbox,
    RecallSandbox,
    SandboxClock,
    create_cronofy_sandbox_app,
)
from tests.sandbox.common import START, iso, later

CLIENT_ID = "cronofy-client-id"
CLIENT_SECRET = "cronofy-client-secret"
CAL, CAL_2 = "cal_upstream_1", "cal_upstream_2"
HOOK = "https://app.test/v1/webhooks/cronofy/int_cronofy"
MANAGED = {"tzid": "Etc/UTC", "include_managed": "true"}


def event(event_id: str = "e1", **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "summary": "Planning",
        "start": later(hours=4),
        "end": later(hours=5),
    } | fields


def spec_signature(body: bytes) -> str:
    """Reference §5, computed independently of the sandbox."""
    return base64.b64encode(hmac.new(CLIENT_SECRET.encode(), body, hashlib.sha256).digest()).decode()


class Receiver:
    """The gateway's push endpoint: records every notification; can fail the first few."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.failures: list[int] = []
        self._arrived = asyncio.Condition()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        async with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()
        return httpx.Response(self.failures.pop(0) if self.failures else 202)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(request.content) for request in self.requests]

    def types(self) -> list[str]:
        return [body["notification"]["type"] for body in self.bodies()]

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
async def recall(clock: SandboxClock) -> AsyncIterator[RecallSandbox]:
    sandbox = RecallSandbox(api_keys=["recall-key"], clock=clock)
    yield sandbox
    await sandbox.aclose()


@pytest.fixture
async def sandbox(
    clock: SandboxClock, receiver: Receiver, recall: RecallSandbox
) -> AsyncIterator[CronofySandbox]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as push_client:
        cronofy = CronofySandbox(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            recall=recall,
            clock=clock,
            push_client=push_client,
            bot_id_delay=10,
            push_retry_delays=(0.01, 0.01),
        )
        yield cronofy
        await cronofy.aclose()


@pytest.fixture
async def client(sandbox: CronofySandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_cronofy_sandbox_app(sandbox))
    async with httpx.AsyncClient(transport=transport, base_url="http://cronofy.test") as http:
        yield http


@pytest.fixture
def tokens(sandbox: CronofySandbox) -> tuple[str, str]:
    return sandbox.add_account(calendar_ids=[CAL, CAL_2])


@pytest.fixture
def auth(tokens: tuple[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[0]}"}


async def create_channel(client: httpx.AsyncClient, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/channels", json={"callback_url": HOOK, **body}, headers=auth)
    assert response.status_code == 200, response.text
    channel: dict[str, Any] = response.json()["channel"]
    return channel


async def upsert(
    client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any], cal: str = CAL
) -> None:
    response = await client.post(f"/v1/calendars/{cal}/events", json=body, headers=auth)
    assert response.status_code == 202, response.text


async def idle(sandbox: CronofySandbox) -> None:
    async with asyncio.timeout(5):
        await sandbox.push.wait_idle()


# --- channels and pushes ---------------------------------------------------------------------------


async def test_channel_creation_answers_the_channel_and_sends_a_signed_verification(
    client: httpx.AsyncClient, auth: dict[str, str], receiver: Receiver
) -> None:
    response = await client.post("/v1/channels", json={"callback_url": HOOK}, headers=auth)
    assert response.status_code == 200
    channel = response.json()["channel"]
    assert channel["channel_id"].startswith("chn_")
    assert response.json() == {
        "channel": {"channel_id": channel["channel_id"], "callback_url": HOOK, "filters": {}}
    }

    await receiver.wait_for(lambda: len(receiver.requests) == 1)
    [request] = receiver.requests
    assert (request.method, str(request.url)) == ("POST", HOOK)
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert json.loads(request.content) == {"notification": {"type": "verification"}, "channel": channel}
    signature = request.headers["Cronofy-HMAC-SHA256"]
    assert signature == spec_signature(request.content)
    verifier = pycronofy.Client(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    assert verifier.hmac_valid(signature, request.content.decode()) is True
    assert verifier.hmac_valid(f"bogus,{signature}", request.content.decode()) is True  # one per secret
    assert verifier.hmac_valid(signature, request.content.decode() + " ") is False

    again = await client.post("/v1/channels", json={"callback_url": HOOK}, headers=auth)
    assert again.json() == {"channel": channel}  # identical request: the same channel, no new verification
    listed = await client.get("/v1/channels", headers=auth)
    assert listed.json() == {"channels": [channel]}


async def test_changes_send_signed_change_notifications_that_lead_to_the_change(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    sandbox: CronofySandbox,
    receiver: Receiver,
    clock: SandboxClock,
) -> None:
    channel = await create_channel(client, auth)
    filtered = await create_channel(client, auth, filters={"calendar_ids": [CAL_2], "only_managed": True})
    assert filtered["filters"] == {"calendar_ids": [CAL_2], "only_managed": True}
    await receiver.wait_for(lambda: len(receiver.requests) == 2)

    clock.advance(0.5)  # changes_since is floored to the second, so last_modified still finds it
    await upsert(client, auth, event())
    await receiver.wait_for(lambda: len(receiver.requests) == 3)
    change = receiver.requests[2]
    assert json.loads(change.content) == {
        "notification": {"type": "change", "changes_since": iso(START)},
        "channel": channel,
    }
    assert change.headers["Cronofy-HMAC-SHA256"] == spec_signature(change.content)
    assert pycronofy.Client(client_secret=CLIENT_SECRET).hmac_valid(
        change.headers["Cronofy-HMAC-SHA256"], change.content.decode()
    )
    since = json.loads(change.content)["notification"]["changes_since"]
    polled = await client.get("/v1/events", params=MANAGED | {"last_modified": since}, headers=auth)
    assert [e["event_id"] for e in polled.json()["events"]] == ["e1"]

    clock.advance(5)
    await upsert(client, auth, event("e2"), cal=CAL_2)  # both channels see the second calendar
    await client.request("DELETE", f"/v1/calendars/{CAL}/events", json={"event_id": "e1"}, headers=auth)
    await receiver.wait_for(lambda: len(receiver.requests) == 6)
    assert [
        (b["channel"]["channel_id"], b["notification"]["changes_since"]) for b in receiver.bodies()[3:]
    ] == [
        (channel["channel_id"], later(seconds=5)),
        (filtered["channel_id"], later(seconds=5)),
        (channel["channel_id"], later(seconds=5)),
    ]
    await idle(sandbox)
    assert len(receiver.requests) == 6


async def test_bot_id_appearing_is_a_change_too(
    client: httpx.AsyncClient, auth: dict[str, str], sandbox: CronofySandbox, receiver: Receiver
) -> None:
    await create_channel(client, auth)
    extensions = [{"provider": "recall", "profile_id": DEFAULT_RECALL_PROFILE}]
    await upsert(client, auth, event(conferencing={"profile_id": "default"}, extensions=extensions))
    await receiver.wait_for(lambda: len(receiver.requests) == 2)
    assert (await client.post("/_sandbox/clock", json={"advance_seconds": 10})).status_code == 200
    await receiver.wait_for(lambda: len(receiver.requests) == 3)
    assert receiver.bodies()[2]["notification"] == {"type": "change", "changes_since": later(seconds=10)}
    polled = await client.get(
        "/v1/events", params=MANAGED | {"last_modified": later(seconds=10)}, headers=auth
    )
    [found] = polled.json()["events"]
    assert "bot_id" in found["metadata"]["recall"]


async def test_suppressed_pushes_are_recorded_but_never_sent(
    client: httpx.AsyncClient, auth: dict[str, str], sandbox: CronofySandbox, receiver: Receiver
) -> None:
    channel = await create_channel(client, auth)
    await receiver.wait_for(lambda: len(receiver.requests) == 1)
    suppressed = await client.post("/_sandbox/push/suppress", json={"count": 2})
    assert (suppressed.status_code, suppressed.json()) == (200, {"suppress_remaining": 2})
    for n in range(3):
        await upsert(client, auth, event(f"e{n}"))
    await receiver.wait_for(lambda: len(receiver.requests) == 2)
    await idle(sandbox)
    assert receiver.types() == ["verification", "change"]
    assert (await client.get("/_sandbox/push")).json() == {"suppress_remaining": 0}
    deliveries = (await client.get("/_sandbox/push/deliveries")).json()
    assert [(d["type"], d["suppressed"], d["delivered"], d["attempts"]) for d in deliveries] == [
        ("verification", False, True, 1),
        ("change", True, False, 0),
        ("change", True, False, 0),
        ("change", False, True, 1),
    ]
    assert {(d["channel_id"], d["url"]) for d in deliveries} == {(channel["channel_id"], HOOK)}
    assert deliveries[1] == {
        "id": 2,
        "channel_id": channel["channel_id"],
        "type": "change",
        "url": HOOK,
        "changes_since": iso(START),
        "suppressed": True,
        "attempts": 0,
        "status": None,
        "error": None,
        "delivered": False,
    }
    # The gateway's fallback poll still sees all three.
    polled = await client.get("/v1/events", params=MANAGED, headers=auth)
    assert len(polled.json()["events"]) == 3
    assert (await client.post("/_sandbox/push/suppress", json={"count": -1})).status_code == 400


async def test_failed_pushes_are_retried_then_given_up(
    client: httpx.AsyncClient, auth: dict[str, str], sandbox: CronofySandbox, receiver: Receiver
) -> None:
    receiver.failures = [500, 503, 500, 500]
    await create_channel(client, auth)
    await receiver.wait_for(lambda: len(receiver.requests) == 3)
    await idle(sandbox)
    [verification] = (await client.get("/_sandbox/push/deliveries")).json()
    assert (verification["attempts"], verification["delivered"], verification["status"]) == (3, False, 500)
    assert verification["error"] == "HTTP 500"
    await upsert(client, auth, event())
    await receiver.wait_for(lambda: len(receiver.requests) == 5)
    await idle(sandbox)
    change = (await client.get("/_sandbox/push/deliveries")).json()[1]
    assert (change["attempts"], change["delivered"], change["status"]) == (2, True, 202)


async def test_closed_channels_get_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], sandbox: CronofySandbox, receiver: Receiver
) -> None:
    channel = await create_channel(client, auth)
    closed = await client.delete(f"/v1/channels/{channel['channel_id']}", headers=auth)
    assert (closed.status_code, closed.content) == (202, b"")
    assert (await client.delete(f"/v1/channels/{channel['channel_id']}", headers=auth)).status_code == 404
    assert (await client.get("/v1/channels", headers=auth)).json() == {"channels": []}
    await upsert(client, auth, event())
    await idle(sandbox)
    assert receiver.types() == ["verification"]


async def test_channels_belong_to_their_account(
    client: httpx.AsyncClient, auth: dict[str, str], sandbox: CronofySandbox, receiver: Receiver
) -> None:
    channel = await create_channel(client, auth)
    other_access, _ = sandbox.add_account(calendar_ids=["cal_other"])
    other = {"Authorization": f"Bearer {other_access}"}
    assert (await client.get("/v1/channels", headers=other)).json() == {"channels": []}
    assert (await client.delete(f"/v1/channels/{channel['channel_id']}", headers=other)).status_code == 404
    await upsert(client, other, event(), cal="cal_other")
    await idle(sandbox)
    assert receiver.types() == ["verification"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, {"callback_url": [{"key": "errors.required", "description": "required"}]}),
        (
            {"callback_url": "ftp://x"},
            {
                "callback_url": [
                    {"key": "errors.invalid", "description": "callback_url must be an http(s) URL"}
                ]
            },
        ),
        (
            {"callback_url": HOOK, "filters": {"calendar_ids": []}},
            {
                "filters": [
                    {
                        "key": "errors.invalid",
                        "description": "filters.calendar_ids must name at least one calendar",
                    }
                ]
            },
        ),
        (
            {"callback_url": HOOK, "filters": {"calendar_ids": ["cal_other"]}},
            {"filters": [{"key": "errors.invalid", "description": "unknown calendar_ids ['cal_other']"}]},
        ),
    ],
)
async def test_channel_requests_are_validated(
    client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any], expected: dict[str, Any]
) -> None:
    response = await client.post("/v1/channels", json=body, headers=auth)
    assert response.status_code == 422
    assert response.json() == {"errors": expected}


# --- faults, call log, accounts, clock -----------------------------------------------------------


async def add_fault(client: httpx.AsyncClient, **spec: Any) -> dict[str, Any]:
    response = await client.post("/_sandbox/faults", json=spec)
    assert response.status_code == 201, response.text
    fault: dict[str, Any] = response.json()
    return fault


async def test_faults_answer_without_touching_state(
    client: httpx.AsyncClient, auth: dict[str, str], tokens: tuple[str, str], sandbox: CronofySandbox
) -> None:
    await add_fault(client, endpoint="api", status=429, count=2, retry_after=7)
    for _ in range(2):
        throttled = await client.post(f"/v1/calendars/{CAL}/events", json=event(), headers=auth)
        assert (throttled.status_code, throttled.content) == (429, b"")
        assert throttled.headers["retry-after"] == "7"
    assert await sandbox.admin_events() == []
    await upsert(client, auth, event())

    # A refused token consumes no fault: authentication comes first.
    await add_fault(client, endpoint="api", status=500)
    assert (await client.get("/v1/calendars", headers={"Authorization": "Bearer nope"})).status_code == 401
    assert (await client.get("/v1/calendars", headers=auth)).status_code == 500

    await add_fault(client, endpoint="oauth", status=503, body={"error": "temporarily_unavailable"})
    body = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "refresh_token"}
    unavailable = await client.post("/oauth/token", json=body | {"refresh_token": tokens[1]})
    assert (unavailable.status_code, unavailable.json()) == (503, {"error": "temporarily_unavailable"})
    assert unavailable.headers["cache-control"] == "no-store"
    assert (await client.post("/oauth/token", json=body | {"refresh_token": tokens[1]})).status_code == 200

    await add_fault(client, endpoint="*", status=502, count=3)
    assert [fault["remaining"] for fault in (await client.get("/_sandbox/faults")).json()] == [3]
    assert (await client.delete("/_sandbox/faults")).status_code == 204
    assert (await client.get("/v1/calendars", headers=auth)).status_code == 200


async def test_latency_alone_delays_but_answers_normally(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await add_fault(client, endpoint="api", latency_ms=50)
    started = time.monotonic()
    assert (await client.get("/v1/calendars", headers=auth)).status_code == 200
    assert time.monotonic() - started >= 0.05


@pytest.mark.parametrize("spec", [{"endpoint": "create_bot", "status": 500}, {"endpoint": "api"}])
async def test_fault_requests_are_validated(client: httpx.AsyncClient, spec: dict[str, Any]) -> None:
    response = await client.post("/_sandbox/faults", json=spec)
    assert response.status_code == 400
    assert "detail" in response.json()


async def test_call_log_lists_exactly_the_api_calls(
    client: httpx.AsyncClient, auth: dict[str, str], tokens: tuple[str, str], recall: RecallSandbox
) -> None:
    extensions = [{"provider": "recall", "profile_id": DEFAULT_RECALL_PROFILE}]
    await upsert(client, auth, event(conferencing={"profile_id": "default"}, extensions=extensions))
    await client.get("/v1/events", params=MANAGED, headers=auth)
    await client.get("/v1/calendars", headers={"Authorization": "Bearer wrong"})
    refresh = {
        "client_id": CLIENT_ID,
        "client_secret": "x",
        "grant_type": "refresh_token",
        "refresh_token": "r",
    }
    await client.post("/oauth/token", json=refresh)
    await add_fault(client, endpoint="api", status=500)
    await client.request("DELETE", f"/v1/calendars/{CAL}/events", json={"event_id": "e1"}, headers=auth)
    await client.get("/_sandbox/events")  # tooling calls are not provider calls

    [bot] = await recall.admin_bots(BotQuery())
    calls = (await client.get("/_sandbox/calls")).json()
    assert [
        (c["method"], c["path"], c["query"], c["endpoint"], c["status"], c["faulted"], c["bot_id"])
        for c in calls
    ] == [
        ("POST", f"/v1/calendars/{CAL}/events", "", "api", 202, False, bot.id),
        ("GET", "/v1/events", "tzid=Etc%2FUTC&include_managed=true", "api", 200, False, None),
        ("GET", "/v1/calendars", "", "api", 401, False, None),
        ("POST", "/oauth/token", "", "oauth", 400, False, None),
        ("DELETE", f"/v1/calendars/{CAL}/events", "", "api", 500, True, None),
    ]
    assert {c["time"] for c in calls} == {iso(START)}
    assert (await client.delete("/_sandbox/calls")).status_code == 204
    assert (await client.get("/_sandbox/calls")).json() == []


async def test_accounts_admin_creates_lists_and_revokes(client: httpx.AsyncClient) -> None:
    created = await client.post("/_sandbox/accounts", json={"calendar_ids": ["cal_a", "cal_b"]})
    assert created.status_code == 201
    account = created.json()
    assert account == {
        "account_id": "acc_000000000000000000000001",
        "calendar_ids": ["cal_a", "cal_b"],
        "access_token": account["access_token"],
        "refresh_token": account["refresh_token"],
    }
    auth = {"Authorization": f"Bearer {account['access_token']}"}
    assert (await client.get("/v1/calendars", headers=auth)).status_code == 200
    taken = await client.post("/_sandbox/accounts", json={"calendar_ids": ["cal_a"]})
    assert taken.status_code == 400
    assert (await client.get("/_sandbox/accounts")).json() == [
        {
            "account_id": account["account_id"],
            "calendar_ids": ["cal_a", "cal_b"],
            "scope": "read_account list_calendars read_events create_event delete_event",
            "revoked": False,
            "live_access_tokens": 1,
        }
    ]

    # Refresh token only: access tokens keep working until they expire.
    path = f"/_sandbox/accounts/{account['account_id']}/revoke"
    assert (await client.post(path, json={"access_tokens": False})).status_code == 204
    refresh = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": account["refresh_token"],
    }
    refused = await client.post("/oauth/token", json=refresh)
    assert (refused.status_code, refused.json()) == (400, {"error": "invalid_grant"})
    assert (await client.get("/v1/calendars", headers=auth)).status_code == 200

    assert (await client.post(path)).status_code == 204  # default: access tokens too
    assert (await client.get("/v1/calendars", headers=auth)).status_code == 401
    assert (await client.get("/_sandbox/accounts")).json()[0]["revoked"] is True
    assert (await client.post("/_sandbox/accounts/acc_nope/revoke")).status_code == 404


async def test_clock_admin_and_reset(
    client: httpx.AsyncClient, auth: dict[str, str], sandbox: CronofySandbox
) -> None:
    assert (await client.get("/_sandbox/clock")).json() == {"now": iso(START), "frozen": True}
    moved = await client.post("/_sandbox/clock", json={"advance_seconds": 90})
    assert moved.json() == {"now": later(seconds=90), "frozen": True}
    await create_channel(client, auth)
    await upsert(client, auth, event())
    await add_fault(client, endpoint="api", status=500)
    await idle(sandbox)
    assert (await client.post("/_sandbox/reset")).status_code == 204
    assert (await client.get("/_sandbox/events")).json() == []
    assert (await client.get("/_sandbox/calls")).json() == []
    assert (await client.get("/_sandbox/faults")).json() == []
    assert (await client.get("/_sandbox/push/deliveries")).json() == []
    assert (await client.get("/v1/channels", headers=auth)).json() == {"channels": []}  # accounts stay
    thawed = (await client.post("/_sandbox/clock", json={"freeze": False})).json()
    assert thawed["frozen"] is False
    assert datetime.fromisoformat(thawed["now"]) >= START + timedelta(seconds=90)
