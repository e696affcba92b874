"""The Recall sandbox's Calendar V2 calendars and event listing, driven over HTTP."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from meetbridge.sandbox import CalendarV2Sandbox, RecallSandbox, create_recall_sandbox_app
from tests.sandbox.common import AUTH, START, iso, later

MEET = "https://meet.google.com/abc-defg-hij"
TEAMS = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0?context=%7b%7d"
CALENDAR_BODY = {
    "platform": "google_calendar",
    "oauth_client_id": "client-1.apps.googleusercontent.com",
    "oauth_client_secret": "client-secret",
    "oauth_refresh_token": "refresh-1",
}


@pytest.fixture
async def calendars(recall: RecallSandbox) -> AsyncIterator[CalendarV2Sandbox]:
    stand_in = CalendarV2Sandbox(recall, page_size=2)
    yield stand_in
    await stand_in.aclose()


@pytest.fixture
async def client(recall: RecallSandbox, calendars: CalendarV2Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_recall_sandbox_app(recall, calendar_v2=calendars))
    async with httpx.AsyncClient(transport=transport, base_url="http://recall.test") as http:
        yield http


async def new_calendar(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/v2/calendars/", json={**CALENDAR_BODY, **body}, headers=AUTH)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def seed(client: httpx.AsyncClient, calendar_id: str, start: str, **body: Any) -> dict[str, Any]:
    end = iso(datetime.fromisoformat(start) + timedelta(hours=1))
    spec = {"start_time": start, "end_time": end, "raw": {"summary": "Sync", "hangoutLink": MEET}, **body}
    response = await client.post(f"/_sandbox/calendars/{calendar_id}/events", json=spec)
    assert response.status_code == 201, response.text
    event: dict[str, Any] = response.json()
    return event


async def test_calendar_create_validates_and_never_echoes_secrets(client: httpx.AsyncClient) -> None:
    empty = await client.post("/api/v2/calendars/", json={}, headers=AUTH)
    assert (empty.status_code, empty.json()) == (
        400,
        {
            name: ["This field is required."]
            for name in ("platform", "oauth_client_id", "oauth_client_secret", "oauth_refresh_token")
        },
    )
    bad = await client.post(
        "/api/v2/calendars/",
        json={**CALENDAR_BODY, "platform": "icloud", "oauth_email": "nope", "oauth_client_id": "x" * 2001},
        headers=AUTH,
    )
    assert (bad.status_code, bad.json()) == (
        400,
        {
            "platform": ['"icloud" is not a valid choice.'],
            "oauth_client_id": ["Ensure this field has no more than 2000 characters."],
            "oauth_email": ["Enter a valid email address."],
        },
    )
    assert (await client.post("/api/v2/calendars/", json=CALENDAR_BODY)).status_code == 401

    created = await new_calendar(client, oauth_email="ann@acme.test")
    assert uuid.UUID(created["id"]).version == 4
    connecting = {"status": "connecting", "created_at": iso(START), "error_code": None, "error_message": None}
    assert created == {
        "id": created["id"],
        "platform": "google_calendar",
        "platform_email": None,
        "oauth_client_id": CALENDAR_BODY["oauth_client_id"],
        "oauth_email": "ann@acme.test",
        "status": "connecting",
        "status_changes": [connecting],
        "created_at": iso(START),
        "updated_at": iso(START),
    }
    fetched = await client.get(f"/api/v2/calendars/{created['id']}", headers=AUTH)  # slash-less form
    assert fetched.status_code == 200
    assert fetched.json() == {
        **created,
        "platform_email": "ann@acme.test",
        "status": "connected",
        "status_changes": [connecting, {**connecting, "status": "connected"}],
    }


async def test_calendar_list_filters_patch_reconnects_and_delete(client: httpx.AsyncClient) -> None:
    google = await new_calendar(client, oauth_email="ann@acme.test")
    outlook = await new_calendar(client, platform="microsoft_outlook", oauth_email="bob@corp.test")
    third = await new_calendar(client)

    first = await client.get("/api/v2/calendars/", headers=AUTH)
    assert first.status_code == 200
    page = first.json()
    assert [c["id"] for c in page["results"]] == [google["id"], outlook["id"]]
    assert page["previous"] is None
    assert page["next"].startswith("http://recall.test/api/v2/calendars/?cursor=")
    second = (await client.get(page["next"], headers=AUTH)).json()
    assert ([c["id"] for c in second["results"]], second["next"]) == ([third["id"]], None)

    async def ids(**params: str) -> list[str]:
        response = await client.get("/api/v2/calendars/", params=params, headers=AUTH)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["results"]]

    assert await ids(platform="microsoft_outlook") == [outlook["id"]]
    assert await ids(email="ann@acme.test") == [google["id"]]
    assert await ids(status="connecting") == []
    assert await ids(created_at__gte=later(seconds=1)) == []
    invalid = await client.get("/api/v2/calendars/", params={"status": "sleeping"}, headers=AUTH)
    assert (invalid.status_code, invalid.json()) == (
        400,
        {"status": ["Select a valid choice. sleeping is not one of the available choices."]},
    )

    await client.post("/_sandbox/clock", json={"advance_seconds": 60})
    renamed = await client.patch(
        f"/api/v2/calendars/{google['id']}/", json={"oauth_email": None}, headers=AUTH
    )
    assert renamed.status_code == 200
    assert (renamed.json()["oauth_email"], renamed.json()["status"]) == (None, "connected")
    assert renamed.json()["updated_at"] == later(seconds=60)
    reconnect = await client.patch(
        f"/api/v2/calendars/{google['id']}/", json={"oauth_refresh_token": "refresh-2"}, headers=AUTH
    )
    assert reconnect.status_code == 200
    assert [c["status"] for c in reconnect.json()["status_changes"]] == [
        "connecting",
        "connected",
        "connecting",
    ]
    fetched = (await client.get(f"/api/v2/calendars/{google['id']}/", headers=AUTH)).json()
    assert fetched["status"] == "connected"
    assert "oauth_refresh_token" not in fetched
    blank = await client.patch(
        f"/api/v2/calendars/{google['id']}/", json={"oauth_refresh_token": ""}, headers=AUTH
    )
    assert (blank.status_code, blank.json()) == (
        400,
        {"oauth_refresh_token": ["This field may not be blank."]},
    )

    deleted = await client.delete(f"/api/v2/calendars/{google['id']}/", headers=AUTH)
    assert (deleted.status_code, deleted.content) == (204, b"")
    gone = await client.get(f"/api/v2/calendars/{google['id']}/", headers=AUTH)
    assert (gone.status_code, gone.json()) == (404, {"detail": "Not found."})
    assert (await client.delete(f"/api/v2/calendars/{google['id']}/", headers=AUTH)).status_code == 404
    assert await ids() == [outlook["id"], third["id"]]


async def test_event_fields_follow_the_reference_for_both_providers(client: httpx.AsyncClient) -> None:
    google = await new_calendar(client)
    attendees = [
        {"email": "ann@acme.test", "responseStatus": "accepted", "self": True, "organizer": True},
        {"email": "zed@client.test", "responseStatus": "needsAction"},
    ]
    raw = {"summary": "Quarterly", "attendees": attendees, "organizer": {"email": "ann@acme.test"}}
    event = await seed(
        client, google["id"], later(hours=2), raw={**raw, "hangoutLink": MEET}, ical_uid="q1@google.com"
    )
    assert event == {
        "id": event["id"],
        "start_time": later(hours=2),
        "end_time": later(hours=3),
        "calendar_id": google["id"],
        "raw": {
            "kind": "calendar#event",
            **raw,
            "hangoutLink": MEET,
            "id": event["platform_id"],
            "iCalUID": "q1@google.com",
            "status": "confirmed",
            "start": {"dateTime": later(hours=2), "timeZone": "UTC"},
            "end": {"dateTime": later(hours=3), "timeZone": "UTC"},
            "created": "2026-05-11T12:00:00.000Z",
            "updated": "2026-05-11T12:00:00.000Z",
        },
        "platform": "google_calendar",
        "platform_id": event["platform_id"],
        "ical_uid": "q1@google.com",
        "meeting_platform": "google_meet",
        "meeting_url": MEET,
        "created_at": iso(START),
        "updated_at": iso(START),
        "is_deleted": False,
        "bots": [],
    }
    assert (await client.get(f"/api/v2/calendar-events/{event['id']}/", headers=AUTH)).json() == event

    outlook = await new_calendar(client, platform="microsoft_outlook")
    ms_raw = {
        "subject": "Vendor call",
        "attendees": [{"emailAddress": {"address": "bob@corp.test"}, "status": {"response": "accepted"}}],
        "organizer": {"emailAddress": {"address": "bob@corp.test", "name": "Bob"}},
        "onlineMeeting": {"joinUrl": TEAMS},
    }
    ms_event = await seed(client, outlook["id"], later(hours=4), raw=ms_raw)
    assert (ms_event["meeting_platform"], ms_event["meeting_url"]) == ("microsoft_teams", TEAMS)
    assert ms_event["raw"]["start"] == {"dateTime": "2026-05-11T16:00:00.0000000", "timeZone": "UTC"}
    assert (ms_event["raw"]["subject"], ms_event["raw"]["isCancelled"]) == ("Vendor call", False)
    wrong = await client.post(
        f"/_sandbox/calendars/{outlook['id']}/events",
        json={
            "start_time": later(hours=1),
            "end_time": later(hours=2),
            "raw": {"attendees": [{"email": "x@y.z"}]},
        },
    )
    assert wrong.status_code == 400
    assert wrong.json()["raw"][0].startswith("Not a microsoft_outlook event")
    missing = await client.get(f"/api/v2/calendar-events/{uuid.uuid4()}/", headers=AUTH)
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not found."})


async def test_event_list_pages_with_cursors_and_filters(client: httpx.AsyncClient) -> None:
    calendar = await new_calendar(client)
    other = await new_calendar(client)
    # The ical_uid filter is a case-sensitive prefix match: uids with letters in their prefix prove it.
    seeded = [
        (await seed(client, calendar["id"], later(hours=1 + n), ical_uid=f"Weekly-{n}@Example.test"))["id"]
        for n in range(7)
    ]
    await seed(client, other["id"], later(hours=1))

    url: str | None = f"/api/v2/calendar-events/?calendar_id={calendar['id']}"
    pages: list[dict[str, Any]] = []
    while url is not None:
        response = await client.get(url, headers=AUTH)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        url = pages[-1]["next"]
        assert url is None or url.startswith(
            f"http://recall.test/api/v2/calendar-events/?calendar_id={calendar['id']}&cursor="
        )
    assert [len(page["results"]) for page in pages] == [2, 2, 2, 1]
    assert [event["id"] for page in pages for event in page["results"]] == seeded
    assert set(pages[0]) == {"next", "previous", "results"}
    assert pages[0]["previous"] is None
    back = (await client.get(pages[2]["previous"], headers=AUTH)).json()
    assert [event["id"] for event in back["results"]] == seeded[2:4]

    await client.post("/_sandbox/clock", json={"advance_seconds": 300})
    changed = await client.patch(f"/_sandbox/calendar-events/{seeded[3]}", json={"raw": {"summary": "Moved"}})
    assert changed.status_code == 200
    assert changed.json()["updated_at"] == later(seconds=300)
    removed = await client.delete(f"/_sandbox/calendar-events/{seeded[5]}")
    assert (removed.json()["is_deleted"], removed.json()["raw"]["status"]) == (True, "cancelled")

    async def ids(**params: str) -> list[str]:
        response = await client.get(
            "/api/v2/calendar-events/", params={"calendar_id": calendar["id"], **params}, headers=AUTH
        )
        assert response.status_code == 200, response.text
        return [event["id"] for event in response.json()["results"]]

    assert await ids(updated_at__gte=later(seconds=300)) == [seeded[3], seeded[5]]
    assert await ids(updated_at__gte=later(seconds=300), is_deleted="false") == [seeded[3]]
    assert await ids(is_deleted="true") == [seeded[5]]
    assert await ids(start_time__gte=later(hours=2), start_time__lte=later(hours=3)) == seeded[1:3]
    assert await ids(start_time=later(hours=7)) == [seeded[6]]
    event = (await client.get(f"/api/v2/calendar-events/{seeded[0]}/", headers=AUTH)).json()
    assert event["ical_uid"] == "Weekly-0@Example.test"
    assert await ids(ical_uid="Weekly-0@") == [seeded[0]]
    assert await ids(ical_uid="WEEKLY-0@") == []

    naive = base64.urlsafe_b64encode(b'{"p": ["2026-05-11T12:00:00", 1], "r": false}').decode()
    for cursor in ("bm9wZQ", naive):
        bad_cursor = await client.get("/api/v2/calendar-events/", params={"cursor": cursor}, headers=AUTH)
        assert (bad_cursor.status_code, bad_cursor.json()) == (404, {"detail": "Invalid cursor"})
    zoneless = await client.post(
        f"/_sandbox/calendars/{calendar['id']}/events",
        json={"start_time": "2026-05-11T14:00:00", "end_time": "2026-05-11T15:00:00"},
    )
    assert zoneless.status_code == 400
    berlin = await seed(
        client, calendar["id"], "2026-05-11T16:00:00+02:00", end_time="2026-05-11T17:00:00+02:00"
    )
    assert (berlin["start_time"], berlin["end_time"]) == (later(hours=2), later(hours=3))
    bad_filters = await client.get(
        "/api/v2/calendar-events/", params={"updated_at__gte": "yesterday", "calendar_id": "42"}, headers=AUTH
    )
    assert (bad_filters.status_code, bad_filters.json()) == (
        400,
        {"updated_at__gte": ["Enter a valid date/time."], "calendar_id": ["Enter a valid UUID."]},
    )
    await client.delete(f"/api/v2/calendars/{calendar['id']}/", headers=AUTH)
    assert await ids() == []
    gone = await client.get(f"/api/v2/calendar-events/{seeded[0]}/", headers=AUTH)
    assert gone.status_code == 404
