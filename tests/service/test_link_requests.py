"""The links API in-process against the Calendar V2 sandbox: bad requests, secrets, unlinked calendars."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from meetbridge.db.tables import events
from meetbridge.engine.reconcile import Reconciler
from meetbridge.providers.recall.webhooks import sign_recall_webhook
from meetbridge.sandbox import FaultIn, RecallSandbox, create_recall_sandbox_app
from meetbridge.settings import Settings
from tests.conftest import PROFILES_TOML, Api, app_api
from tests.service.conftest import gateway_on

SANDBOX_KEY = "links-sandbox-key"
V2_PROFILE = """
[profiles.cal]
adapter = "recall-calendar-v2"
base_url = "http://recall.sandbox"
api_key = "env:LINKS_RECALL_KEY"
google_client_id = "env:LINKS_GOOGLE_ID"
google_client_secret = "env:LINKS_GOOGLE_SECRET"
webhook_secret = "env:LINKS_WEBHOOK_SECRET"
"""
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"links-webhook-secret").decode()
REFRESH_TOKEN = "refresh-token-that-must-never-be-shown"


@pytest.fixture
async def recall() -> AsyncIterator[RecallSandbox]:
    sandbox = RecallSandbox(api_keys={SANDBOX_KEY})
    yield sandbox
    await sandbox.aclose()


@pytest.fixture
def recall_app(recall: RecallSandbox) -> Any:
    return create_recall_sandbox_app(recall)


@pytest.fixture
async def links(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, recall_app: Any
) -> AsyncIterator[Api]:
    monkeypatch.setenv("LINKS_RECALL_KEY", SANDBOX_KEY)
    monkeypatch.setenv("LINKS_GOOGLE_ID", "google-id")
    monkeypatch.setenv("LINKS_GOOGLE_SECRET", "google-secret")
    monkeypatch.setenv("LINKS_WEBHOOK_SECRET", WEBHOOK_SECRET)
    gateway = gateway_on(settings, tmp_path / "links.toml", PROFILES_TOML + V2_PROFILE, recall_app)
    async with app_api(gateway, "links") as api:
        yield api


async def put_link(api: Api, calendar_id: str, profile_id: str, body: object) -> httpx.Response:
    return await api.client.put(
        f"/v1/calendars/{calendar_id}/links/{profile_id}", json=body, headers=api.auth
    )


def field_errors(response: httpx.Response) -> dict[str, list[str]]:
    assert response.status_code == 422, response.text
    return {field: [e["key"] for e in items] for field, items in response.json()["errors"].items()}


@pytest.mark.parametrize(
    ("profile_id", "body", "expected"),
    [
        pytest.param(
            "cal",
            {"recall_calendar_id": "x", "platform": "google_calendar", "oauth_refresh_token": "t"},
            {"recall_calendar_id": ["errors.conflict"]},
            id="both-targets",
        ),
        pytest.param("cal", {}, {"recall_calendar_id": ["errors.required"]}, id="no-target"),
        pytest.param(
            "cal",
            {"platform": "google_calendar"},
            {"oauth_refresh_token": ["errors.required"]},
            id="no-token",
        ),
        pytest.param("cal", {"record": "sometimes"}, {"record": ["errors.invalid"]}, id="bad-rule"),
        pytest.param(
            "cal", {"recall_calendar": "x"}, {"recall_calendar": ["errors.invalid"]}, id="unknown-key"
        ),
    ],
)
async def test_a_bad_link_request_names_the_field_and_calls_no_one(
    links: Api, profile_id: str, body: object, expected: dict[str, list[str]]
) -> None:
    calendar_id = await links.calendar()
    response = await put_link(links, calendar_id, profile_id, body)
    assert field_errors(response) == expected


@pytest.mark.parametrize(
    ("profile_id", "message"),
    [
        pytest.param("nope", "profile 'nope' is not configured (known: ", id="unknown"),
        pytest.param(
            "int_sales_0000",
            "profile int_sales_0000 uses adapter recall-bot, which does not link calendars",
            id="not-a-calendar-adapter",
        ),
    ],
)
async def test_a_profile_that_links_no_calendars_names_no_link(
    links: Api, profile_id: str, message: str
) -> None:
    """The profile is a segment of the link's path: one that cannot link names nothing (404)."""
    calendar_id = await links.calendar()
    response = await put_link(links, calendar_id, profile_id, {"recall_calendar_id": "x"})
    assert response.status_code == 404, response.text
    assert response.json()["error"] == "not_found"
    assert response.json()["message"].startswith(message)
    for path in ("", "/connect?platform=google_calendar"):
        read = await links.client.get(
            f"/v1/calendars/{calendar_id}/links/{profile_id}{path}", headers=links.auth
        )
        assert read.status_code == 404, read.text


async def test_an_unknown_recall_calendar_is_a_field_error(links: Api) -> None:
    calendar_id = await links.calendar()
    response = await put_link(
        links, calendar_id, "cal", {"recall_calendar_id": "8d6f8a59-4b8e-4a56-9c4b-0d2b0e3b1a11"}
    )
    assert field_errors(response) == {"recall_calendar_id": ["errors.not_found"]}
    missing = await links.client.get(f"/v1/calendars/{calendar_id}/links/cal", headers=links.auth)
    assert missing.status_code == 404


async def test_an_oauth_link_never_shows_the_refresh_token_and_another_app_cannot_see_it(
    links: Api, other_links: Api
) -> None:
    calendar_id = await links.calendar()
    response = await put_link(
        links,
        calendar_id,
        "cal",
        {
            "platform": "google_calendar",
            "oauth_refresh_token": REFRESH_TOKEN,
            "oauth_email": "me@example.com",
        },
    )
    assert response.status_code == 201, response.text
    link = response.json()["link"]
    assert (link["platform"], link["email"], link["record"], link["series"]) == (
        "google_calendar",
        "me@example.com",
        "none",
        [],
    )
    read = await links.client.get(f"/v1/calendars/{calendar_id}/links/cal", headers=links.auth)
    assert read.json()["link"]["recall_calendar_id"] == link["recall_calendar_id"]
    for shown in (response.text, read.text):
        assert REFRESH_TOKEN not in shown
        assert "google-secret" not in shown
    foreign = await other_links.client.get(f"/v1/calendars/{calendar_id}/links/cal", headers=other_links.auth)
    assert foreign.status_code == 404

    again = await put_link(links, calendar_id, "cal", {"record": "external", "series": ["uid-1"]})
    assert again.status_code == 200, again.text
    assert (again.json()["link"]["record"], again.json()["link"]["series"]) == ("external", ["uid-1"])
    assert again.json()["link"]["recall_calendar_id"] == link["recall_calendar_id"]


@pytest.fixture
async def other_links(links: Api) -> Api:
    return await links.another("someone-else")


async def test_connect_needs_a_secret_key_and_the_callback_refuses_a_forged_state(links: Api) -> None:
    calendar_id = await links.calendar()
    connect = await links.client.get(
        f"/v1/calendars/{calendar_id}/links/cal/connect",
        params={"platform": "google_calendar"},
        headers=links.auth,
    )
    assert field_errors(connect) == {"platform": ["errors.not_configured"]}
    assert "secret_key" in connect.text

    callback = await links.client.get("/v1/oauth/callback", params={"code": "c", "state": "forged"})
    # No secret key: no state can be opened, so nothing authorises the callback.
    assert callback.status_code == 401, callback.text
    assert callback.json()["error"] == "invalid_connect_state"


async def test_a_calendar_extension_on_an_unlinked_calendar_fails_saying_how_to_link(links: Api) -> None:
    calendar_id = await links.calendar()
    body = {
        "event_id": "standup",
        "summary": "Standup",
        "start": "2030-01-01T09:00:00Z",
        "end": "2030-01-01T09:15:00Z",
        "conferencing": {"profile_id": "explicit", "join_url": "https://zoom.us/j/1234567890"},
        "extensions": [{"provider": "recall", "profile_id": "cal"}],
    }
    assert (await links.upsert(calendar_id, body)).status_code == 202
    async with links.gateway.database.read() as connection:
        pk = await connection.scalar(sa.select(events.c.pk).where(events.c.event_id == "standup"))
    gateway = links.gateway
    await Reconciler(gateway.database, gateway.config, gateway.registry).run(pk)

    [extension] = (await links.event(calendar_id, "standup"))["extensions"]  # type: ignore[misc]
    assert extension["status"] == "failed"
    assert f"PUT /v1/calendars/{calendar_id}/links/cal" in extension["last_error"]


async def test_a_linked_calendar_is_not_silently_moved_to_another_recall_calendar(links: Api) -> None:
    calendar_id = await links.calendar()
    first = await put_link(
        links, calendar_id, "cal", {"platform": "google_calendar", "oauth_refresh_token": "first-token"}
    )
    assert first.status_code == 201, first.text
    elsewhere = await put_link(links, calendar_id, "cal", {"recall_calendar_id": "another-recall-calendar"})
    assert field_errors(elsewhere) == {"recall_calendar_id": ["errors.conflict"]}
    assert "DELETE the link first" in elsewhere.text
    other_platform = await put_link(
        links, calendar_id, "cal", {"platform": "microsoft_outlook", "oauth_refresh_token": "t"}
    )
    assert field_errors(other_platform) == {"platform": ["errors.conflict"]}
    kept = await links.client.get(f"/v1/calendars/{calendar_id}/links/cal", headers=links.auth)
    assert kept.json()["link"]["recall_calendar_id"] == first.json()["link"]["recall_calendar_id"]


async def test_another_application_cannot_link_a_recall_calendar_already_linked(
    links: Api, other_links: Api, recall: RecallSandbox
) -> None:
    owner_calendar = await links.calendar()
    made = await put_link(
        links, owner_calendar, "cal", {"platform": "google_calendar", "oauth_refresh_token": REFRESH_TOKEN}
    )
    assert made.status_code == 201, made.text
    recall_calendar_id = made.json()["link"]["recall_calendar_id"]
    before = len(recall.calls.entries())
    intruder_calendar = await other_links.calendar()

    taken = await put_link(
        other_links, intruder_calendar, "cal", {"recall_calendar_id": recall_calendar_id, "record": "all"}
    )

    assert taken.status_code == 409, taken.text
    [error] = taken.json()["errors"]["recall_calendar_id"]
    assert error["key"] == "errors.taken"
    assert owner_calendar not in taken.text
    assert len(recall.calls.entries()) == before  # refused before asking Recall anything
    intruder_link = f"/v1/calendars/{intruder_calendar}/links/cal"
    assert (await other_links.client.get(intruder_link, headers=other_links.auth)).status_code == 404
    kept = await links.client.get(f"/v1/calendars/{owner_calendar}/links/cal", headers=links.auth)
    assert kept.json()["link"] == made.json()["link"]

    # The owner can still link a second calendar of its own to it.
    second = await put_link(
        links, await links.calendar("Second"), "cal", {"recall_calendar_id": recall_calendar_id}
    )
    assert second.status_code == 201, second.text


def recall_delivery(
    recall_calendar_id: str, msg_id: str, *, family: str = "svix"
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"event": "calendar.update", "data": {"calendar_id": recall_calendar_id}}).encode()
    stamp = int(time.time())
    signature = sign_recall_webhook(WEBHOOK_SECRET, msg_id, stamp, body)
    return body, {f"{family}-id": msg_id, f"{family}-timestamp": str(stamp), f"{family}-signature": signature}


async def test_a_webhook_answered_503_is_handled_when_recall_retries_it(
    links: Api, recall: RecallSandbox, recall_app: Any
) -> None:
    calendar_id = await links.calendar()
    made = await put_link(
        links, calendar_id, "cal", {"platform": "google_calendar", "oauth_refresh_token": "t"}
    )
    recall_calendar_id = made.json()["link"]["recall_calendar_id"]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=recall_app), base_url="http://recall"
    ) as admin:
        changed = await admin.post(
            f"/_sandbox/calendars/{recall_calendar_id}/status", json={"status": "disconnected"}
        )
        assert changed.status_code == 200, changed.text  # Recall's side changed
    body, headers = recall_delivery(recall_calendar_id, "msg_retried")
    recall.faults.add(FaultIn(status=503, count=1))  # Recall cannot answer the status read just now

    first = await links.client.post("/v1/webhooks/recall/cal", content=body, headers=headers)
    assert first.status_code == 503, first.text
    link_path = f"/v1/calendars/{calendar_id}/links/cal"
    unchanged = (await links.client.get(link_path, headers=links.auth)).json()["link"]
    assert unchanged == made.json()["link"]

    retried = await links.client.post("/v1/webhooks/recall/cal", content=body, headers=headers)
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] != "duplicate ignored"
    assert (await links.client.get(link_path, headers=links.auth)).json()["link"]["status"] == "disconnected"
    again = await links.client.post("/v1/webhooks/recall/cal", content=body, headers=headers)
    assert again.json()["status"] == "duplicate ignored"


async def test_a_replayed_delivery_with_a_made_up_webhook_id_is_still_a_duplicate(
    links: Api, recall: RecallSandbox
) -> None:
    calendar_id = await links.calendar()
    made = await put_link(
        links, calendar_id, "cal", {"platform": "google_calendar", "oauth_refresh_token": "t"}
    )
    body, headers = recall_delivery(made.json()["link"]["recall_calendar_id"], "msg_captured")
    assert (
        await links.client.post("/v1/webhooks/recall/cal", content=body, headers=headers)
    ).status_code == 200
    reads = len(recall.calls.entries())

    replayed = await links.client.post(
        "/v1/webhooks/recall/cal", content=body, headers={**headers, "webhook-id": "msg_made_up"}
    )

    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["status"] == "duplicate ignored"
    assert len(recall.calls.entries()) == reads  # nothing was read or done again
