"""The cronofy adapter in-process: links, forwarding, read-back and push notifications, against the
Cronofy stand-in (with its Recall integration). Jobs are run by hand, one at a time, so each step's
provider calls can be counted exactly; tests/e2e/test_cronofy.py runs the same over real processes."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import sqlalchemy as sa

from meetbridge.db.jobs import SYNC
from meetbridge.db.tables import calendar_links, events, jobs
from meetbridge.engine.reconcile import Reconciler
from meetbridge.engine.sync import SyncRunner
from meetbridge.sandbox import (
    DEFAULT_RECALL_PROFILE,
    BotQuery,
    CronofySandbox,
    FaultIn,
    RecallSandbox,
    SandboxClock,
    create_cronofy_sandbox_app,
)
from meetbridge.settings import Settings
from tests.conftest import PROFILES_TOML, Api, app_api
from tests.service.conftest import gateway_on

CLIENT_ID, CLIENT_SECRET = "cronofy-client-id", "cronofy-client-secret-never-shown"
PROFILE = f"""
[server]
secret_key = "env:FORWARD_SECRET_KEY"
public_url = "https://meetbridge.example.test"

[profiles.cron]
adapter = "cronofy"
base_url = "http://cronofy.sandbox"
client_id = "env:FORWARD_CRONOFY_ID"
client_secret = "env:FORWARD_CRONOFY_SECRET"
upstream_profile_id = "{DEFAULT_RECALL_PROFILE}"
"""
UPSTREAM = "cal_upstream"
ZOOM = "https://zoom.us/j/5550001111"


@dataclass
class Forwarding:
    api: Api
    cronofy: CronofySandbox
    recall: RecallSandbox
    access_token: str
    refresh_token: str
    start: datetime  # every upsert's: an "unchanged" upsert must not move by a second boundary

    @property
    def gateway(self) -> Any:
        return self.api.gateway

    async def link(self, calendar_id: str, **body: Any) -> httpx.Response:
        fields = {
            "cronofy_calendar_id": UPSTREAM,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_in": 3600,
            **body,
        }
        fields = {k: v for k, v in fields.items() if v is not None}
        return await self.api.client.put(
            f"/v1/calendars/{calendar_id}/links/cron", json=fields, headers=self.api.auth
        )

    async def linked_calendar(self) -> str:
        calendar_id = await self.api.calendar()
        response = await self.link(calendar_id)
        assert response.status_code == 201, response.text
        return calendar_id

    async def upsert(self, calendar_id: str, event_id: str, **changes: Any) -> int:
        start = self.start
        body: dict[str, Any] = {
            "event_id": event_id,
            "summary": "Forwarded",
            "start": wire(start),
            "end": wire(start + timedelta(minutes=30)),
            "conferencing": {"profile_id": "explicit", "provider_description": "Zoom", "join_url": ZOOM},
            "extensions": [{"provider": "recall", "profile_id": "cron"}],
            **changes,
        }
        response = await self.api.client.post(
            f"/v1/calendars/{calendar_id}/events", json=body, headers=self.api.auth
        )
        assert response.status_code == 202, response.text
        return await self.pk(calendar_id, event_id)

    async def pk(self, calendar_id: str, event_id: str) -> int:
        async with self.gateway.database.read() as connection:
            pk: int = await connection.scalar(
                sa.select(events.c.pk).where(
                    events.c.calendar_id == calendar_id, events.c.event_id == event_id
                )
            )
        return pk

    async def reconcile(self, pk: int) -> None:
        await Reconciler(self.gateway.database, self.gateway.config, self.gateway.registry).run(pk)

    async def read_back(self, calendar_id: str) -> None:
        link = await self.gateway.links.find(calendar_id, "cron")
        await SyncRunner(self.gateway.database, self.gateway.config, self.gateway.registry).run(link.id)

    async def event(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        response = await self.api.client.get(
            f"/v1/calendars/{calendar_id}/events/{event_id}", headers=self.api.auth
        )
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()["event"]
        return found

    def calls(self) -> list[tuple[str, str, int]]:
        return [(c.method, c.path, c.status) for c in self.cronofy.calls.entries()]

    async def live_bots(self) -> list[str]:
        return [bot.id for bot in await self.recall.admin_bots(BotQuery()) if not bot.deleted]


def wire(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
async def forwarding(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Forwarding]:
    monkeypatch.setenv("FORWARD_SECRET_KEY", "forwarding-test-secret-key-0123456789")
    monkeypatch.setenv("FORWARD_CRONOFY_ID", CLIENT_ID)
    monkeypatch.setenv("FORWARD_CRONOFY_SECRET", CLIENT_SECRET)
    clock = SandboxClock()
    recall = RecallSandbox(api_keys={"unused"}, clock=clock)
    cronofy = CronofySandbox(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, recall=recall, clock=clock)
    app = create_cronofy_sandbox_app(cronofy)
    gateway = gateway_on(settings, tmp_path / "forwarding.toml", PROFILE + PROFILES_TOML, app)
    access_token, refresh_token = cronofy.add_account(calendar_ids=[UPSTREAM])
    async with app_api(gateway, "forwarding") as api:
        start = clock.now().replace(microsecond=0) + timedelta(days=1)
        yield Forwarding(api, cronofy, recall, access_token, refresh_token, start)
    await cronofy.aclose()
    await recall.aclose()


# --- linking -----------------------------------------------------------------------------------


async def test_a_link_checks_the_calendar_opens_a_channel_and_keeps_the_tokens_sealed(
    forwarding: Forwarding,
) -> None:
    calendar_id = await forwarding.api.calendar()

    response = await forwarding.link(calendar_id)

    assert response.status_code == 201, response.text
    link = response.json()["link"]
    assert (link["adapter"], link["cronofy_calendar_id"], link["recall_calendar_id"]) == (
        "cronofy",
        UPSTREAM,
        None,
    )
    assert link["status"] == "connected"
    for secret in (forwarding.access_token, forwarding.refresh_token, CLIENT_SECRET):
        assert secret not in response.text
    [account] = forwarding.cronofy.tokens.accounts.values()
    [channel] = await forwarding.cronofy.channels(account)
    # public_url, never the request's Host (testserver.local)
    assert channel.callback_url == "https://meetbridge.example.test/v1/webhooks/cronofy/cron"
    assert (list(channel.filters.calendar_ids or ()), channel.filters.only_managed) == ([UPSTREAM], True)
    async with forwarding.gateway.database.read() as connection:
        stored = (await connection.execute(sa.select(calendar_links))).one()
    assert stored.channel_id == channel.channel_id
    assert forwarding.refresh_token not in stored.credentials
    assert forwarding.access_token not in stored.credentials
    assert [(m, p) for m, p, _ in forwarding.calls()] == [("GET", "/v1/calendars"), ("POST", "/v1/channels")]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {"cronofy_calendar_id": None, "access_token": None, "refresh_token": None},
            {
                "cronofy_calendar_id": ["errors.required"],
                "access_token": ["errors.required"],
                "refresh_token": ["errors.required"],
            },
            id="nothing",
        ),
        pytest.param(
            {"cronofy_calendar_id": "cal_elsewhere"},
            {"cronofy_calendar_id": ["errors.not_found"]},
            id="not-theirs",
        ),
        pytest.param(
            {"expires_in": 0, "refresh_token": "refresh-token-cronofy-never-issued"},
            {"refresh_token": ["errors.rejected"]},
            id="dead-refresh-token",
        ),
        pytest.param(
            {"recall_calendar_id": "x", "record": "all"},
            {"recall_calendar_id": ["errors.not_applicable"], "record": ["errors.not_applicable"]},
            id="recall-fields",
        ),
    ],
)
async def test_a_bad_link_request_names_the_field_and_stores_nothing(
    forwarding: Forwarding, body: dict[str, Any], expected: dict[str, list[str]]
) -> None:
    calendar_id = await forwarding.api.calendar()

    response = await forwarding.link(calendar_id, **body)

    assert response.status_code == 422, response.text
    assert {f: [e["key"] for e in items] for f, items in response.json()["errors"].items()} == expected
    assert "refresh-token-cronofy-never-issued" not in response.text
    assert await forwarding.gateway.links.find(calendar_id, "cron") is None


async def test_one_cronofy_calendar_links_one_meetbridge_calendar(forwarding: Forwarding) -> None:
    first = await forwarding.linked_calendar()
    second = await forwarding.api.calendar("Other")

    duplicate = await forwarding.link(second)
    elsewhere = await forwarding.link(first, cronofy_calendar_id="cal_other")

    assert duplicate.json()["errors"]["cronofy_calendar_id"][0]["key"] == "errors.duplicate"
    assert elsewhere.json()["errors"]["cronofy_calendar_id"][0]["key"] == "errors.conflict"


# --- forwarding and reading back ----------------------------------------------------------------


async def test_an_event_is_forwarded_and_its_bot_id_read_back_onto_it(forwarding: Forwarding) -> None:
    calendar_id = await forwarding.linked_calendar()
    pk = await forwarding.upsert(calendar_id, "standup")
    forwarding.cronofy.calls.clear()

    await forwarding.reconcile(pk)

    [forwarded] = await forwarding.cronofy.admin_events()
    assert (forwarded.event_id, forwarded.recall_profile_id) == ("standup", DEFAULT_RECALL_PROFILE)
    pending = await forwarding.event(calendar_id, "standup")
    assert pending["extensions"][0]["status"] == "pending"
    assert "recall" not in pending.get("metadata", {})

    await forwarding.read_back(calendar_id)
    await forwarding.reconcile(pk)

    [bot_id] = await forwarding.live_bots()
    scheduled = await forwarding.event(calendar_id, "standup")
    assert scheduled["extensions"][0]["status"] == "scheduled"
    assert scheduled["extensions"][0]["bot_id"] == bot_id
    assert scheduled["metadata"]["recall"]["bot_id"] == bot_id
    assert [(m, p) for m, p, _ in forwarding.calls()] == [
        ("POST", f"/v1/calendars/{UPSTREAM}/events"),
        ("GET", "/v1/events"),
    ]


async def test_an_unchanged_upsert_is_not_forwarded_again_and_none_and_delete_are(
    forwarding: Forwarding,
) -> None:
    calendar_id = await forwarding.linked_calendar()
    pk = await forwarding.upsert(calendar_id, "weekly")
    await forwarding.reconcile(pk)
    await forwarding.read_back(calendar_id)
    await forwarding.reconcile(pk)
    forwarding.cronofy.calls.clear()

    await forwarding.upsert(calendar_id, "weekly")
    await forwarding.reconcile(pk)
    assert forwarding.calls() == []

    await forwarding.upsert(calendar_id, "weekly", extensions=[{"provider": "recall", "profile_id": "none"}])
    await forwarding.reconcile(pk)
    [forwarded] = await forwarding.cronofy.admin_events()
    assert (forwarded.deleted, forwarded.recall_profile_id, forwarded.bot_id) == (False, None, None)
    assert await forwarding.live_bots() == []
    cancelled = await forwarding.event(calendar_id, "weekly")
    assert cancelled["extensions"][0]["status"] == "cancelled"
    assert "recall" not in cancelled.get("metadata", {})

    response = await forwarding.api.client.request(
        "DELETE",
        f"/v1/calendars/{calendar_id}/events",
        json={"event_id": "weekly"},
        headers=forwarding.api.auth,
    )
    assert response.status_code == 202
    await forwarding.reconcile(pk)
    assert [(m, p) for m, p, _ in forwarding.calls()][-1] == ("DELETE", f"/v1/calendars/{UPSTREAM}/events")
    assert [e.deleted for e in await forwarding.cronofy.admin_events()] == [True]


async def test_a_copy_that_loses_its_bot_upstream_is_forwarded_again_once(forwarding: Forwarding) -> None:
    calendar_id = await forwarding.linked_calendar()
    pk = await forwarding.upsert(calendar_id, "retro")
    await forwarding.reconcile(pk)
    await forwarding.read_back(calendar_id)
    await forwarding.reconcile(pk)
    [first_bot] = await forwarding.live_bots()
    [account] = forwarding.cronofy.tokens.accounts.values()
    # The user deletes the copy in their calendar: Cronofy's integration cancels its bot.
    await forwarding.cronofy.delete(account, UPSTREAM, "event_id", "retro")
    assert await forwarding.live_bots() == []
    forwarding.cronofy.calls.clear()

    await forwarding.read_back(calendar_id)  # what the push about the deletion asks for
    await forwarding.reconcile(pk)

    assert [(m, p) for m, p, _ in forwarding.calls()] == [
        ("GET", "/v1/events"),
        ("POST", f"/v1/calendars/{UPSTREAM}/events"),
    ]
    [copy] = await forwarding.cronofy.admin_events()
    assert (copy.deleted, copy.recall_profile_id) == (False, DEFAULT_RECALL_PROFILE)
    [second_bot] = await forwarding.live_bots()
    assert second_bot != first_bot
    waiting = await forwarding.event(calendar_id, "retro")
    assert (waiting["extensions"][0]["status"], waiting["extensions"][0]["bot_id"]) == ("pending", None)

    await forwarding.read_back(calendar_id)
    await forwarding.reconcile(pk)
    scheduled = await forwarding.event(calendar_id, "retro")
    assert scheduled["extensions"][0]["bot_id"] == scheduled["metadata"]["recall"]["bot_id"] == second_bot

    # Lost again, and this time Cronofy holds the new bot's id back: forwarded once more, then the
    # copy without a bot is left waiting however often it is read back.
    await forwarding.cronofy.delete(account, UPSTREAM, "event_id", "retro")
    forwarding.cronofy.bot_id_delay = timedelta(hours=1)
    forwarding.cronofy.calls.clear()
    for _ in range(3):
        await forwarding.read_back(calendar_id)
        await forwarding.reconcile(pk)
    posts = [(m, p) for m, p, _ in forwarding.calls() if m != "GET"]
    assert posts == [("POST", f"/v1/calendars/{UPSTREAM}/events")]
    [third_bot] = await forwarding.live_bots()
    assert third_bot not in (first_bot, second_bot)
    assert (await forwarding.event(calendar_id, "retro"))["extensions"][0]["status"] == "pending"


async def test_cronofy_refusing_the_event_fails_the_extension_with_its_field_errors_once(
    forwarding: Forwarding,
) -> None:
    calendar_id = await forwarding.linked_calendar()
    pk = await forwarding.upsert(calendar_id, "long")
    refusal = {"errors": {"start": [{"key": "errors.invalid", "description": "start is in the past"}]}}
    forwarding.cronofy.faults.add(FaultIn(endpoint="api", status=422, body=refusal))
    forwarding.cronofy.calls.clear()

    await forwarding.reconcile(pk)
    await forwarding.reconcile(pk)  # planned again (a read-back, say): the same body is not resent

    extension = (await forwarding.event(calendar_id, "long"))["extensions"][0]
    assert extension["status"] == "failed"
    assert "start: start is in the past" in extension["last_error"]
    assert [s for _, _, s in forwarding.calls()] == [422]


async def test_a_dead_refresh_token_disconnects_the_link_and_the_event_says_how_to_fix_it(
    forwarding: Forwarding,
) -> None:
    calendar_id = await forwarding.linked_calendar()
    pk = await forwarding.upsert(calendar_id, "revoked")
    [account_id] = list(forwarding.cronofy.tokens.accounts)
    await forwarding.cronofy.revoke_account(account_id, access_tokens=True)
    forwarding.cronofy.calls.clear()

    await forwarding.reconcile(pk)
    await forwarding.reconcile(pk)  # the re-plan the disconnect asked for: no call this time

    extension = (await forwarding.event(calendar_id, "revoked"))["extensions"][0]
    assert extension["status"] == "failed"
    assert "invalid_grant" in extension["last_error"]
    assert f"PUT /v1/calendars/{calendar_id}/links/cron again" in extension["last_error"]
    link = await forwarding.gateway.links.find(calendar_id, "cron")
    assert link.status == "disconnected"
    assert [(m, p, s) for m, p, s in forwarding.calls()] == [
        ("POST", f"/v1/calendars/{UPSTREAM}/events", 401),
        ("POST", "/oauth/token", 400),
    ]

    again = await forwarding.cronofy.reauthorize(account_id)
    forwarding.access_token, forwarding.refresh_token = again.access_token, again.refresh_token
    relinked = await forwarding.link(calendar_id)
    assert relinked.status_code == 200, relinked.text
    assert relinked.json()["link"]["status"] == "connected"
    await forwarding.reconcile(pk)
    assert [e.event_id for e in await forwarding.cronofy.admin_events()] == ["revoked"]


async def test_an_expired_access_token_is_refreshed_and_the_rotated_one_is_stored(
    forwarding: Forwarding,
) -> None:
    calendar_id = await forwarding.linked_calendar()
    async with forwarding.gateway.database.read() as connection:
        before = await connection.scalar(sa.select(calendar_links.c.credentials))
    await forwarding.cronofy.advance_clock(3700)  # past the access token's hour
    pk = await forwarding.upsert(calendar_id, "later")
    forwarding.cronofy.calls.clear()

    await forwarding.reconcile(pk)

    assert [(m, p, s) for m, p, s in forwarding.calls()] == [
        ("POST", f"/v1/calendars/{UPSTREAM}/events", 401),
        ("POST", "/oauth/token", 200),
        ("POST", f"/v1/calendars/{UPSTREAM}/events", 202),
    ]
    async with forwarding.gateway.database.read() as connection:
        after = await connection.scalar(sa.select(calendar_links.c.credentials))
    assert after != before
    # The old refresh token is dead now (rotated); the stored one refreshes.
    target = await forwarding.gateway.forwarding.target(
        await forwarding.gateway.links.find(calendar_id, "cron")
    )
    assert target.credentials["refresh_token"] != forwarding.refresh_token


# --- push notifications -----------------------------------------------------------------------------


def signed(body: bytes, secret: str = CLIENT_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {"Cronofy-HMAC-SHA256": base64.b64encode(digest).decode(), "Content-Type": "application/json"}


def change(channel_id: str) -> bytes:
    return msgspec.json.encode(
        {
            "notification": {"type": "change", "changes_since": "2026-11-23T09:00:00Z"},
            "channel": {"channel_id": channel_id, "callback_url": "http://x", "filters": {}},
        }
    )


async def sync_jobs(forwarding: Forwarding) -> list[Any]:
    async with forwarding.gateway.database.read() as connection:
        return list((await connection.execute(sa.select(jobs.c.run_at).where(jobs.c.kind == SYNC))).scalars())


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="unsigned"),
        pytest.param(signed(b"another body"), id="forged"),
        pytest.param(lambda body: signed(body, "a-guessed-secret"), id="wrong-secret"),
    ],
)
async def test_an_unsigned_or_forged_push_is_refused_and_reads_nothing(
    forwarding: Forwarding, headers: Any
) -> None:
    calendar_id = await forwarding.linked_calendar()
    link = await forwarding.gateway.links.find(calendar_id, "cron")
    await forwarding.read_back(calendar_id)  # the link's own first read: its job is the next poll now
    polls = await sync_jobs(forwarding)
    body = change(link.channel_id)

    response = await forwarding.api.client.post(
        "/v1/webhooks/cronofy/cron", content=body, headers=headers(body) if callable(headers) else headers
    )

    assert response.status_code == 401
    assert await sync_jobs(forwarding) == polls
    assert CLIENT_SECRET not in response.text


async def test_a_signed_change_push_makes_the_link_read_back_from_its_time(forwarding: Forwarding) -> None:
    calendar_id = await forwarding.linked_calendar()
    link = await forwarding.gateway.links.find(calendar_id, "cron")
    await forwarding.read_back(calendar_id)
    [poll] = await sync_jobs(forwarding)
    body = change(link.channel_id)

    verification = msgspec.json.encode(
        {"notification": {"type": "verification"}, "channel": {"channel_id": "x"}}
    )
    checked = await forwarding.api.client.post(
        "/v1/webhooks/cronofy/cron", content=verification, headers=signed(verification)
    )
    response = await forwarding.api.client.post(
        "/v1/webhooks/cronofy/cron", content=body, headers=signed(body)
    )

    assert (checked.status_code, response.status_code) == (200, 200)
    [due] = await sync_jobs(forwarding)
    assert due < poll
    stored = await forwarding.gateway.links.find(calendar_id, "cron")
    assert stored.sync_from == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
