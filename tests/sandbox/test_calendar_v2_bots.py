"""Calendar V2 Add Bot / Remove Bot: real sandbox bots, deduplication keys, re-scheduling, 409, faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from meetbridge.sandbox import CalendarV2Sandbox, RecallSandbox, create_recall_sandbox_app
from tests.sandbox.common import AUTH, iso, later

ZOOM = "https://zoom.us/j/1234567890?pwd=secret"
CALENDAR_BODY = {
    "platform": "google_calendar",
    "oauth_client_id": "client-1",
    "oauth_client_secret": "client-secret",
    "oauth_refresh_token": "refresh-1",
}
CONFIG = {"bot_name": "Notetaker", "recording_config": {"video_mixed_layout": "speaker_view"}}


@pytest.fixture
async def client(recall: RecallSandbox, calendars: CalendarV2Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_recall_sandbox_app(recall, calendar_v2=calendars))
    async with httpx.AsyncClient(transport=transport, base_url="http://recall.test") as http:
        yield http


async def event_on_new_calendar(client: httpx.AsyncClient, start: str, link: str = ZOOM) -> dict[str, Any]:
    calendar = await client.post("/api/v2/calendars/", json=CALENDAR_BODY, headers=AUTH)
    assert calendar.status_code == 201
    end = iso(datetime.fromisoformat(start) + timedelta(hours=1))
    spec = {"start_time": start, "end_time": end, "raw": {"summary": "Call", "location": link}}
    seeded = await client.post(f"/_sandbox/calendars/{calendar.json()['id']}/events", json=spec)
    assert seeded.status_code == 201, seeded.text
    event: dict[str, Any] = seeded.json()
    return event


async def add_bot(client: httpx.AsyncClient, event_id: str, key: str, config: Any = None) -> httpx.Response:
    body = {"deduplication_key": key, "bot_config": CONFIG if config is None else config}
    return await client.post(f"/api/v2/calendar-events/{event_id}/bot/", json=body, headers=AUTH)


async def bots(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    return {bot["id"]: bot for bot in (await client.get("/_sandbox/bots")).json()}


async def test_add_bot_makes_a_real_sandbox_bot(client: httpx.AsyncClient) -> None:
    event = await event_on_new_calendar(client, later(hours=2))
    response = await add_bot(client, event["id"], "k1")
    assert response.status_code == 200, response.text
    updated = response.json()
    [entry] = updated["bots"]
    assert entry == {
        "bot_id": entry["bot_id"],
        "start_time": later(hours=2),
        "deduplication_key": "k1",
        "meeting_url": ZOOM,
    }
    assert updated == {**event, "bots": [entry]}  # updated_at tracks calendar data, not bots
    bot = (await bots(client))[entry["bot_id"]]
    assert bot["meeting_url"] == {
        "platform": "zoom",
        "meeting_id": "1234567890",
        "meeting_password": "secret",
    }
    assert (bot["join_at"], bot["bot_name"], bot["scheduled"], bot["deleted"]) == (
        later(hours=2),
        "Notetaker",
        True,
        False,
    )
    assert bot["recording_config"] == CONFIG["recording_config"]
    retrieved = await client.get(f"/api/v1/bot/{entry['bot_id']}/", headers=AUTH)
    assert retrieved.status_code == 200
    assert (await client.get(f"/api/v2/calendar-events/{event['id']}/", headers=AUTH)).json()["bots"] == [
        entry
    ]


async def test_add_bot_validates_its_body(client: httpx.AsyncClient) -> None:
    event = await event_on_new_calendar(client, later(hours=2))
    path = f"/api/v2/calendar-events/{event['id']}/bot/"
    empty = await client.post(path, json={}, headers=AUTH)
    assert (empty.status_code, empty.json()) == (
        400,
        {"deduplication_key": ["This field is required."], "bot_config": ["This field is required."]},
    )
    long_key = await add_bot(client, event["id"], "k" * 2001, config=[])
    assert (long_key.status_code, long_key.json()) == (
        400,
        {
            "deduplication_key": ["Ensure this field has no more than 2000 characters."],
            "bot_config": ["Value must be valid JSON object."],
        },
    )
    bad_config = await add_bot(client, event["id"], "k1", config={"bot_name": ""})
    assert (bad_config.status_code, bad_config.json()) == (
        400,
        {"bot_config": {"bot_name": ["This field may not be blank."]}},
    )
    no_link = await event_on_new_calendar(client, later(hours=2), link="Room 4")
    assert no_link["meeting_url"] is None
    unlinked = await add_bot(client, no_link["id"], "k2")
    assert (unlinked.status_code, unlinked.json()) == (
        400,
        {"bot_config": {"meeting_url": ["This field is required."]}},
    )
    assert (await add_bot(client, no_link["id"], "k2", config={"meeting_url": ZOOM})).status_code == 200
    missing = await add_bot(client, "3f1c1f1e-0000-4000-8000-000000000000", "k3")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not found."})
    assert (await client.post(path, json={"deduplication_key": "k", "bot_config": {}})).status_code == 401
    assert len(await bots(client)) == 1


async def test_same_key_shares_one_bot_until_the_last_reference_goes(client: httpx.AsyncClient) -> None:
    first = await event_on_new_calendar(client, later(hours=2))
    second = await event_on_new_calendar(client, later(hours=2))  # same meeting, another user's calendar
    key = f"{later(hours=2)}-{ZOOM}"
    a = (await add_bot(client, first["id"], key)).json()["bots"]
    b = (await add_bot(client, second["id"], key)).json()["bots"]
    assert a == b
    assert len(await bots(client)) == 1
    bot_id = a[0]["bot_id"]

    removed = await client.delete(f"/api/v2/calendar-events/{first['id']}/bot/", headers=AUTH)
    assert (removed.status_code, removed.json()["bots"]) == (200, [])
    assert (await bots(client))[bot_id]["deleted"] is False
    assert (await client.get(f"/api/v2/calendar-events/{second['id']}/", headers=AUTH)).json()["bots"] == b

    last = await client.delete(f"/api/v2/calendar-events/{second['id']}/bot", headers=AUTH)
    assert (last.status_code, last.json()["bots"]) == (200, [])
    assert (await bots(client))[bot_id]["deleted"] is True
    again = await client.delete(f"/api/v2/calendar-events/{second['id']}/bot/", headers=AUTH)
    assert (again.status_code, again.json()["bots"]) == (200, [])  # safe without a bot


async def test_repost_after_a_time_change_moves_the_bot(client: httpx.AsyncClient) -> None:
    event = await event_on_new_calendar(client, later(hours=2))
    [old] = (await add_bot(client, event["id"], "k1")).json()["bots"]
    moved = await client.patch(
        f"/_sandbox/calendar-events/{event['id']}", json={"start_time": later(hours=3)}
    )
    assert moved.json()["bots"] == [old]  # Recall does not move bots on its own

    [new] = (await add_bot(client, event["id"], "k1")).json()["bots"]
    assert (new["start_time"], new["deduplication_key"]) == (later(hours=3), "k1")
    assert new["bot_id"] != old["bot_id"]  # removed and re-added
    everything = await bots(client)
    assert everything[old["bot_id"]]["deleted"] is True
    assert (everything[new["bot_id"]]["join_at"], everything[new["bot_id"]]["deleted"]) == (
        later(hours=3),
        False,
    )

    # Same key, same start: the latest bot_config applies in full to the same bot.
    [same] = (await add_bot(client, event["id"], "k1", config={"bot_name": "Recorder"})).json()["bots"]
    assert same == new
    bot = (await bots(client))[new["bot_id"]]
    assert (bot["bot_name"], bot["recording_config"], bot["join_at"]) == ("Recorder", None, later(hours=3))

    # A new key replaces the event's bot.
    [other] = (await add_bot(client, event["id"], "k2")).json()["bots"]
    assert other["deduplication_key"] == "k2"
    assert (await bots(client))[new["bot_id"]]["deleted"] is True


async def test_bots_already_sent_stay_listed_and_are_not_deduplicated_onto(client: httpx.AsyncClient) -> None:
    event = await event_on_new_calendar(client, later(minutes=30))
    [sent] = (await add_bot(client, event["id"], "k1")).json()["bots"]
    await client.post("/_sandbox/clock", json={"advance_seconds": 30 * 60})  # the bot joins its call
    assert (await bots(client))[sent["bot_id"]]["dispatched"] is True
    # A perpetual event moved on to its next occurrence and scheduled again.
    moved = await client.patch(f"/_sandbox/calendar-events/{event['id']}", json={"start_time": later(days=7)})
    assert (moved.status_code, moved.json()["end_time"]) == (200, later(days=7, hours=1))
    entries = (await add_bot(client, event["id"], "k1")).json()["bots"]
    assert [entry["start_time"] for entry in entries] == [later(minutes=30), later(days=7)]
    assert entries[0] == sent
    assert entries[1]["bot_id"] != sent["bot_id"]
    removed = await client.delete(f"/api/v2/calendar-events/{event['id']}/bot/", headers=AUTH)
    assert removed.json()["bots"] == [sent]


async def test_concurrent_posts_for_one_key_conflict(
    client: httpx.AsyncClient, calendars: CalendarV2Sandbox
) -> None:
    first = await event_on_new_calendar(client, later(hours=2))
    second = await event_on_new_calendar(client, later(hours=2))
    configured = await client.post("/_sandbox/calendar-v2/config", json={"key_hold_seconds": 0.2})
    assert configured.json() == {"page_size": 50, "key_hold_seconds": 0.2}
    responses = await asyncio.gather(add_bot(client, first["id"], "k1"), add_bot(client, second["id"], "k1"))
    assert sorted(r.status_code for r in responses) == [200, 409]
    [conflict] = [r for r in responses if r.status_code == 409]
    assert conflict.json() == {"detail": "Conflict, please retry with exponential backoff."}
    assert len(await bots(client)) == 1
    other_keys = await asyncio.gather(add_bot(client, first["id"], "k1"), add_bot(client, second["id"], "k2"))
    assert [r.status_code for r in other_keys] == [200, 200]
    calendars.scheduler.hold_seconds = 0
    assert (await add_bot(client, second["id"], "k1")).status_code == 200


async def test_faults_on_calendar_endpoint_names(client: httpx.AsyncClient) -> None:
    far = await event_on_new_calendar(client, later(hours=2))
    near = await event_on_new_calendar(client, later(minutes=5))
    fault = await client.post(
        "/_sandbox/faults", json={"endpoint": "calendar_event_bot", "status": 507, "retry_after": 30}
    )
    assert fault.status_code == 201
    assert (await add_bot(client, far["id"], "far")).status_code == 200  # scheduled: never 507
    exhausted = await add_bot(client, near["id"], "near")
    assert (exhausted.status_code, exhausted.headers["retry-after"]) == (507, "30")
    assert (await add_bot(client, near["id"], "near")).status_code == 200

    for endpoint, status in (("calendars", 429), ("calendar_events_list", 500), ("calendar_event", 503)):
        await client.post("/_sandbox/faults", json={"endpoint": endpoint, "status": status})
    assert (await client.get("/api/v2/calendar-events/", headers=AUTH)).status_code == 500
    assert (await client.get(f"/api/v2/calendar-events/{far['id']}/", headers=AUTH)).status_code == 503
    throttled = await client.get(f"/api/v2/calendars/{far['calendar_id']}/", headers=AUTH)
    assert (throttled.status_code, throttled.json()) == (429, {"detail": "Request was throttled."})
    assert (await client.get(f"/api/v2/calendars/{far['calendar_id']}/", headers=AUTH)).status_code == 200
    await client.post("/_sandbox/faults", json={"endpoint": "calendar_event_bot", "status": 409})
    assert (await client.delete(f"/api/v2/calendar-events/{far['id']}/bot/", headers=AUTH)).status_code == 409
    assert len((await client.get(f"/api/v2/calendar-events/{far['id']}/", headers=AUTH)).json()["bots"]) == 1

    calls = [(c["endpoint"], c["status"], c["faulted"]) for c in (await client.get("/_sandbox/calls")).json()]
    assert ("calendar_event_bot", 507, True) in calls
    assert ("calendar_event_bot", 200, False) in calls
    assert calls[-2:] == [("calendar_event_bot", 409, True), ("calendar_event", 200, False)]


async def test_deleting_a_calendar_or_an_event_removes_its_bots(client: httpx.AsyncClient) -> None:
    own = await event_on_new_calendar(client, later(hours=2))
    shared_a = await event_on_new_calendar(client, later(hours=3))
    shared_b = await event_on_new_calendar(client, later(hours=3))
    [own_bot] = (await add_bot(client, own["id"], "own")).json()["bots"]
    [shared] = (await add_bot(client, shared_a["id"], "shared")).json()["bots"]
    await add_bot(client, shared_b["id"], "shared")
    deleted = await client.delete(f"/api/v2/calendars/{own['calendar_id']}/", headers=AUTH)
    assert deleted.status_code == 204
    assert (
        await client.delete(f"/api/v2/calendars/{shared_a['calendar_id']}/", headers=AUTH)
    ).status_code == 204
    everything = await bots(client)
    assert everything[own_bot["bot_id"]]["deleted"] is True
    assert everything[shared["bot_id"]]["deleted"] is False  # shared_b still wants it

    cancelled = await client.delete(f"/_sandbox/calendar-events/{shared_b['id']}")
    assert (cancelled.status_code, cancelled.json()["is_deleted"], cancelled.json()["bots"]) == (
        200,
        True,
        [],
    )
    assert (await bots(client))[shared["bot_id"]]["deleted"] is True
    refused = await add_bot(client, shared_b["id"], "shared")
    assert (refused.status_code, refused.json()) == (
        400,
        {"detail": "Cannot schedule a bot for a deleted calendar event."},
    )


async def test_the_admin_moves_a_scheduled_bot_keeping_its_id(client: httpx.AsyncClient) -> None:
    event = await event_on_new_calendar(client, later(hours=2))
    [entry] = (await add_bot(client, event["id"], "k-move")).json()["bots"]
    moved = await client.post(
        f"/_sandbox/calendar-v2/bots/{entry['bot_id']}/move", json={"start_time": later(hours=5)}
    )
    assert moved.status_code == 200, moved.text
    shown = await client.get(f"/api/v2/calendar-events/{event['id']}/", headers=AUTH)
    assert shown.json()["bots"] == [{**entry, "start_time": later(hours=5)}]
    assert shown.json()["updated_at"] == event["updated_at"]  # the calendar event itself is unchanged
    assert (await bots(client))[entry["bot_id"]]["join_at"] == later(hours=5)
    unknown = await client.post("/_sandbox/calendar-v2/bots/nope/move", json={"start_time": later(hours=5)})
    assert unknown.status_code == 404
