"""Calendar V2 test tooling: signed calendar webhooks, disconnects, and the OAuth stand-ins (PKCE)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from meetbridge.sandbox import CalendarV2Sandbox, RecallSandbox, SandboxClock, create_recall_sandbox_app
from tests.sandbox.common import AUTH, KEY, START, iso, later

ZOOM = "https://zoom.us/j/1234567890?pwd=secret"
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
HOOK_URL = "https://app.test/v1/webhooks/recall/int_v2"
CALENDAR_BODY = {
    "platform": "google_calendar",
    "oauth_client_id": "client-1",
    "oauth_client_secret": "client-secret",
    "oauth_refresh_token": "refresh-1",
}
APP_CALLBACK = "https://app.test/v1/oauth/callback?profile=int_v2"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).decode().rstrip("=")


def spec_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """Reference §5.2, computed independently of the sandbox."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class Receiver:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self._arrived = asyncio.Condition()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        async with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()
        return httpx.Response(204)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(request.content) for request in self.requests]

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(5), self._arrived:
            await self._arrived.wait_for(condition)


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
async def recall(receiver: Receiver) -> AsyncIterator[RecallSandbox]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as delivery_client:
        sandbox = RecallSandbox(
            api_keys=[KEY],
            clock=SandboxClock(start=START, frozen=True),
            webhook_url=HOOK_URL,
            webhook_secret=SECRET,
            webhook_client=delivery_client,
        )
        yield sandbox
        await sandbox.aclose()


@pytest.fixture
async def client(recall: RecallSandbox) -> AsyncIterator[httpx.AsyncClient]:
    calendars = CalendarV2Sandbox(recall)
    transport = httpx.ASGITransport(app=create_recall_sandbox_app(recall, calendar_v2=calendars))
    async with httpx.AsyncClient(transport=transport, base_url="http://recall.test") as http:
        yield http
    await calendars.aclose()


async def new_calendar(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/v2/calendars/", json={**CALENDAR_BODY, **body}, headers=AUTH)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_seeded_changes_fire_signed_sync_webhooks(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    calendar = await new_calendar(client)
    update = {"event": "calendar.update", "data": {"calendar_id": calendar["id"]}}
    await receiver.wait_for(lambda: receiver.bodies() == [update])  # connecting -> connected

    raw = {"summary": "Intro", "attendees": [{"email": "ann@acme.test", "responseStatus": "accepted"}]}
    spec = {"start_time": later(hours=2), "end_time": later(hours=3), "raw": {**raw, "location": ZOOM}}
    event = (await client.post(f"/_sandbox/calendars/{calendar['id']}/events", json=spec)).json()
    await client.post("/_sandbox/clock", json={"advance_seconds": 90})
    changed = await client.patch(
        f"/_sandbox/calendar-events/{event['id']}", json={"raw": {"summary": "Intro v2"}}
    )
    assert changed.json()["raw"]["summary"] == "Intro v2"
    await client.post("/_sandbox/clock", json={"advance_seconds": 30})
    await client.delete(f"/_sandbox/calendar-events/{event['id']}")

    await receiver.wait_for(lambda: len(receiver.requests) == 4)
    assert receiver.bodies()[1:] == [
        {"event": "calendar.sync_events", "data": {"calendar_id": calendar["id"], "last_updated_ts": ts}}
        for ts in (iso(START), later(seconds=90), later(seconds=120))
    ]
    for request in receiver.requests:
        assert (request.method, str(request.url)) == ("POST", HOOK_URL)
        msg_id, timestamp = request.headers["webhook-id"], request.headers["webhook-timestamp"]
        assert request.headers["webhook-signature"] == spec_signature(
            SECRET, msg_id, timestamp, request.content
        )
    # The incremental sync the webhook asks for finds exactly the changed event.
    synced = await client.get(
        "/api/v2/calendar-events/",
        params={"calendar_id": calendar["id"], "updated_at__gte": later(seconds=120)},
        headers=AUTH,
    )
    assert [(e["id"], e["is_deleted"]) for e in synced.json()["results"]] == [(event["id"], True)]
    deliveries = (await client.get("/_sandbox/webhook/deliveries")).json()
    assert [d["event"] for d in deliveries] == ["calendar.update"] + ["calendar.sync_events"] * 3


async def test_disconnect_fires_update_and_unschedules_but_delete_is_silent(
    client: httpx.AsyncClient, recall: RecallSandbox, receiver: Receiver
) -> None:
    calendar = await new_calendar(client)
    spec = {
        "start_time": later(hours=2),
        "end_time": later(hours=3),
        "raw": {"hangoutLink": "https://meet.google.com/abc-defg-hij"},
    }
    event = (await client.post(f"/_sandbox/calendars/{calendar['id']}/events", json=spec)).json()
    body = {"deduplication_key": "k1", "bot_config": {}}
    [entry] = (
        await client.post(f"/api/v2/calendar-events/{event['id']}/bot/", json=body, headers=AUTH)
    ).json()["bots"]
    await receiver.wait_for(lambda: len(receiver.requests) == 2)

    status = {
        "status": "disconnected",
        "error_code": "invalid_grant",
        "error_message": "Token has been revoked.",
    }
    disconnected = await client.post(f"/_sandbox/calendars/{calendar['id']}/status", json=status)
    assert disconnected.status_code == 200
    assert disconnected.json()["status"] == "disconnected"
    assert disconnected.json()["status_changes"][-1] == {**status, "created_at": iso(START)}
    await receiver.wait_for(lambda: len(receiver.requests) == 3)
    assert receiver.bodies()[-1] == {"event": "calendar.update", "data": {"calendar_id": calendar["id"]}}
    [bot] = (await client.get("/_sandbox/bots")).json()
    assert (bot["id"], bot["deleted"]) == (entry["bot_id"], True)
    refused = await client.post(f"/_sandbox/calendars/{calendar['id']}/events", json=spec)
    assert (refused.status_code, refused.json()) == (
        400,
        {"detail": "A disconnected calendar does not sync events."},
    )
    bad = await client.post(f"/_sandbox/calendars/{calendar['id']}/status", json={"status": "sleeping"})
    assert bad.status_code == 400

    assert (await client.delete(f"/api/v2/calendars/{calendar['id']}/", headers=AUTH)).status_code == 204
    async with asyncio.timeout(5):
        await recall.webhooks.wait_idle()
    assert len(receiver.requests) == 3
    assert (
        await client.post("/_sandbox/calendars/nope/status", json={"status": "connected"})
    ).status_code == 404


async def test_reset_forgets_calendars(client: httpx.AsyncClient) -> None:
    await new_calendar(client)
    assert (await client.post("/_sandbox/calendar-v2/reset")).status_code == 204
    listed = await client.get("/api/v2/calendars/", headers=AUTH)
    assert listed.json() == {"next": None, "previous": None, "results": []}
    bad = await client.post("/_sandbox/calendar-v2/config", json={"page_size": 0})
    assert bad.status_code == 400


async def authorize(
    client: httpx.AsyncClient, provider: str = "google", **params: str
) -> dict[str, list[str]]:
    query = {
        "client_id": "client-1",
        "redirect_uri": APP_CALLBACK,
        "response_type": "code",
        "scope": "openid email https://www.googleapis.com/auth/calendar.events.readonly",
        "state": "signed-state-123",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        **params,
    }
    response = await client.get(f"/_oauth/{provider}/authorize", params=query)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://app.test/v1/oauth/callback"
    return parse_qs(location.query)


def token_form(code: str, **fields: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": APP_CALLBACK,
        "client_id": "client-1",
        "client_secret": "client-secret",
        "code_verifier": VERIFIER,
        **fields,
    }


async def test_oauth_code_and_pkce_round_trip_feeds_a_calendar(client: httpx.AsyncClient) -> None:
    returned = await authorize(client, login_hint="ann@acme.test")
    assert (returned["profile"], returned["state"]) == (["int_v2"], ["signed-state-123"])
    response = await client.post("/_oauth/google/token", data=token_form(returned["code"][0]))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert set(tokens) == {
        "access_token",
        "refresh_token",
        "expires_in",
        "token_type",
        "scope",
        "id_token",
        "email",
    }
    assert (tokens["token_type"], tokens["expires_in"], tokens["email"]) == ("Bearer", 3599, "ann@acme.test")
    claims_part = tokens["id_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(claims_part + "=" * (-len(claims_part) % 4)))
    assert (claims["email"], claims["aud"], claims["iss"]) == (
        "ann@acme.test",
        "client-1",
        "https://accounts.google.com",
    )

    calendar = await new_calendar(client, oauth_refresh_token=tokens["refresh_token"])
    fetched = (await client.get(f"/api/v2/calendars/{calendar['id']}/", headers=AUTH)).json()
    assert fetched["platform_email"] == "ann@acme.test"

    refreshed = await client.post(
        "/_oauth/google/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=("client-1", "client-secret"),
    )
    assert refreshed.status_code == 200
    assert "refresh_token" not in refreshed.json()  # Google keeps the refresh token it gave

    outlook = await authorize(
        client, "microsoft", code_challenge="plain-verifier", code_challenge_method="plain"
    )
    ms_tokens = await client.post(
        "/_oauth/microsoft/token", data=token_form(outlook["code"][0], code_verifier="plain-verifier")
    )
    assert ms_tokens.status_code == 200
    assert ms_tokens.json()["email"] == "sandbox.user@example.com"


INVALID_GRANT = {
    "error": "invalid_grant",
    "error_description": "the code, redirect_uri or code_verifier is not valid",
}


async def test_oauth_refuses_wrong_verifier_code_and_client(client: httpx.AsyncClient) -> None:
    code = (await authorize(client))["code"][0]
    wrong = await client.post("/_oauth/google/token", data=token_form(code, code_verifier="not-the-verifier"))
    assert (wrong.status_code, wrong.json()) == (400, INVALID_GRANT)
    spent = await client.post("/_oauth/google/token", data=token_form(code))
    assert (spent.status_code, spent.json()) == (400, INVALID_GRANT)  # a code is good for one try
    unknown = await client.post("/_oauth/google/token", data=token_form("made-up"))
    assert (unknown.status_code, unknown.json()) == (400, INVALID_GRANT)

    for fields in (
        {"code_verifier": ""},
        {"redirect_uri": "https://evil.test/cb"},
        {"client_id": "client-2"},
    ):
        fresh = (await authorize(client))["code"][0]
        refused = await client.post("/_oauth/google/token", data=token_form(fresh, **fields))
        assert (refused.status_code, refused.json()) == (400, INVALID_GRANT)
    other_provider = (await authorize(client))["code"][0]
    assert (await client.post("/_oauth/microsoft/token", data=token_form(other_provider))).status_code == 400

    secretless = await client.post("/_oauth/google/token", data=token_form("x", client_secret=""))
    assert (secretless.status_code, secretless.json()["error"]) == (401, "invalid_client")
    grant = await client.post("/_oauth/google/token", data=token_form("x", grant_type="password"))
    assert (grant.status_code, grant.json()["error"]) == (400, "unsupported_grant_type")
    refresh = await client.post("/_oauth/google/token", data=token_form("x", grant_type="refresh_token"))
    assert (refresh.status_code, refresh.json()["error"]) == (400, "invalid_grant")

    no_redirect = await client.get("/_oauth/google/authorize", params={"client_id": "client-1"})
    assert (no_redirect.status_code, no_redirect.json()["error"]) == (400, "invalid_request")
    assert (await client.get("/_oauth/yahoo/authorize", params={"client_id": "c"})).status_code == 404
    token_style = await authorize(client, response_type="token")
    assert (token_style["error"], token_style["state"]) == (
        ["unsupported_response_type"],
        ["signed-state-123"],
    )
