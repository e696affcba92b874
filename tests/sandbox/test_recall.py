"""The Recall sandbox's bot API, driven over HTTP: auth, create, list, update, delete, leave, lifecycle."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from meetbridge.sandbox import RecallSandbox, SandboxClock, create_recall_sandbox_app
from meetbridge.sandbox.recall import parse_meeting_url
from tests.sandbox.common import AUTH, KEY, START, iso, later

ZOOM = "https://zoom.us/j/1234567890?pwd=secret"


@pytest.fixture
def clock() -> SandboxClock:
    return SandboxClock(start=START, frozen=True)


@pytest.fixture
async def sandbox(clock: SandboxClock) -> AsyncIterator[RecallSandbox]:
    recall = RecallSandbox(api_keys=[KEY], clock=clock)
    yield recall
    await recall.aclose()


@pytest.fixture
async def client(sandbox: RecallSandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_recall_sandbox_app(sandbox))
    async with httpx.AsyncClient(transport=transport, base_url="http://recall.test") as http:
        yield http


async def create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/bot/", json={"meeting_url": ZOOM, **body}, headers=AUTH)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def codes(client: httpx.AsyncClient, bot_id: str) -> list[tuple[str, str | None]]:
    response = await client.get(f"/api/v1/bot/{bot_id}/", headers=AUTH)
    assert response.status_code == 200
    return [(change["code"], change["sub_code"]) for change in response.json()["status_changes"]]


async def advance(client: httpx.AsyncClient, seconds: float) -> None:
    response = await client.post("/_sandbox/clock", json={"advance_seconds": seconds})
    assert response.status_code == 200


async def test_auth_rejects_missing_and_wrong_keys_and_accepts_both_header_forms(
    client: httpx.AsyncClient,
) -> None:
    for headers in ({}, {"Authorization": "Token nope"}, {"Authorization": "Bearer " + KEY}):
        response = await client.get("/api/v1/bot/", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"detail": "Invalid token."}
    for headers in (AUTH, {"Authorization": KEY}):
        response = await client.get("/api/v1/bot/", headers=headers)
        assert response.status_code == 200
        assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}
    unauthorised = await client.post("/api/v1/bot/", json={"meeting_url": ZOOM})
    assert unauthorised.status_code == 401
    bots = await client.get("/_sandbox/bots")
    assert bots.json() == []


async def test_create_ad_hoc_bot_echoes_config_and_is_dispatched_at_once(client: httpx.AsyncClient) -> None:
    config = {"video_mixed_layout": "gallery_view", "transcript": {"provider": {"meeting_captions": {}}}}
    response = await client.post(
        "/api/v1/bot",  # the slash-less form the quickstart uses
        json={"meeting_url": ZOOM, "metadata": {"event": "e1"}, "recording_config": config},
        headers=AUTH,
    )
    assert response.status_code == 201
    bot = response.json()
    assert uuid.UUID(bot["id"]).version == 4
    assert bot == {
        "id": bot["id"],
        "meeting_url": {"platform": "zoom", "meeting_id": "1234567890", "meeting_password": "secret"},
        "bot_name": "Meeting Notetaker",
        "join_at": None,
        "metadata": {"event": "e1"},
        "status_changes": [{"code": "ready", "message": None, "created_at": iso(START), "sub_code": None}],
        "recordings": [],
        "calendar_meetings": [],
        "slack_team": None,
        "recording_config": config,
        "output_media": None,
        "automatic_video_output": None,
        "automatic_audio_output": None,
        "chat": None,
        "automatic_leave": None,
        "variant": None,
        "zoom": None,
        "google_meet": None,
        "webex": None,
        "breakout_room": None,
    }
    [admin] = (await client.get("/_sandbox/bots")).json()
    assert (admin["scheduled"], admin["dispatched"], admin["deleted"]) == (False, True, False)


async def test_create_scheduled_bot_only_when_join_at_is_more_than_ten_minutes_ahead(
    client: httpx.AsyncClient,
) -> None:
    scheduled = await create(client, join_at=later(minutes=10, seconds=1), bot_name="Sales Notetaker")
    near = await create(client, join_at=later(minutes=9))
    assert scheduled["join_at"] == later(minutes=10, seconds=1)
    assert scheduled["bot_name"] == "Sales Notetaker"
    admin = {bot["id"]: bot for bot in (await client.get("/_sandbox/bots")).json()}
    assert (admin[scheduled["id"]]["scheduled"], admin[scheduled["id"]]["dispatched"]) == (True, False)
    assert (admin[near["id"]]["scheduled"], admin[near["id"]]["dispatched"]) == (False, True)


BAD_DATETIME = (
    "Datetime has wrong format. Use one of these formats instead: "
    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)
INVALID_BODIES: list[tuple[dict[str, Any], dict[str, list[str]]]] = [
    ({}, {"meeting_url": ["This field is required."]}),
    ({"meeting_url": ""}, {"meeting_url": ["This field may not be blank."]}),
    (
        {"meeting_url": "https://example.com/call"},
        {"meeting_url": ["Could not parse meeting URL: 'https://example.com/call'."]},
    ),
    (
        {"meeting_url": ZOOM, "bot_name": "x" * 101},
        {"bot_name": ["Ensure this field has no more than 100 characters."]},
    ),
    ({"meeting_url": ZOOM, "bot_name": ""}, {"bot_name": ["This field may not be blank."]}),
    ({"meeting_url": ZOOM, "metadata": {"n": 1}}, {"metadata": ["Expected `str`, got `int`"]}),
    ({"meeting_url": ZOOM, "join_at": "tomorrow"}, {"join_at": [BAD_DATETIME]}),
]


@pytest.mark.parametrize(("body", "expected"), INVALID_BODIES)
async def test_create_rejects_invalid_bodies_without_creating_a_bot(
    client: httpx.AsyncClient, body: dict[str, Any], expected: dict[str, list[str]]
) -> None:
    response = await client.post("/api/v1/bot/", json=body, headers=AUTH)
    assert response.status_code == 400
    assert response.json() == expected
    assert (await client.get("/_sandbox/bots")).json() == []


TEAMS_NULLS = dict.fromkeys(
    (
        "meeting_id",
        "meeting_password",
        "organizer_id",
        "tenant_id",
        "message_id",
        "thread_id",
        "business_meeting_id",
        "business_meeting_password",
    )
)
TEAMS_BUSINESS = (
    'https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0?context={"Tid":"t1","Oid":"o1"}'
)
MEETING_URLS: list[tuple[str, dict[str, Any]]] = [
    ("https://meet.google.com/abc-defg-hij", {"platform": "google_meet", "meeting_id": "abc-defg-hij"}),
    (
        "zoommtg://zoom.us/join?confno=98765432101",
        {"platform": "zoom", "meeting_id": "98765432101", "meeting_password": None},
    ),
    (
        "https://teams.live.com/meet/9876543210?p=pw",
        {
            **TEAMS_NULLS,
            "platform": "microsoft_teams_live",
            "meeting_id": "9876543210",
            "meeting_password": "pw",
        },
    ),
    (
        TEAMS_BUSINESS,
        {
            **TEAMS_NULLS,
            "platform": "microsoft_teams",
            "organizer_id": "o1",
            "tenant_id": "t1",
            "message_id": "0",
            "thread_id": "19:meeting_x@thread.v2",
        },
    ),
    (
        "https://acme.webex.com/acme/j.php?MTID=m123",
        {
            "platform": "webex",
            "meeting_subdomain": "acme",
            "meeting_mtid": "m123",
            "meeting_path": "acme/j.php",
        },
    ),
    (
        "https://acme.webex.com/meet/jdoe",
        {"platform": "webex", "meeting_subdomain": "acme", "meeting_personal_room_id": "jdoe"},
    ),
    ("https://meet.goto.com/680504437", {"platform": "goto_meeting", "meeting_id": "680504437"}),
]


@pytest.mark.parametrize(("url", "expected"), MEETING_URLS)
async def test_meeting_url_reads_back_in_the_parsed_form(
    client: httpx.AsyncClient, url: str, expected: dict[str, Any]
) -> None:
    bot = await create(client, meeting_url=url)
    assert bot["meeting_url"] == expected
    assert parse_meeting_url("https://meet.google.com/not-a-code") is None


async def test_list_filters_by_metadata_and_paginates_with_absolute_urls(client: httpx.AsyncClient) -> None:
    ids = [(await create(client, metadata={"event": "e1", "n": str(n)}))["id"] for n in range(55)]
    for _ in range(3):
        await create(client, metadata={"event": "e2"})

    first = await client.get("/api/v1/bot/", params={"metadata__event": "e1"}, headers=AUTH)
    assert first.status_code == 200
    page = first.json()
    assert (page["count"], len(page["results"]), page["previous"]) == (55, 50, None)
    assert page["next"] == "http://recall.test/api/v1/bot/?metadata__event=e1&page=2"
    second = (await client.get(page["next"], headers=AUTH)).json()
    assert (second["count"], second["next"]) == (55, None)
    assert second["previous"] == "http://recall.test/api/v1/bot/?metadata__event=e1"
    assert [bot["id"] for bot in page["results"] + second["results"]] == ids

    beyond = await client.get("/api/v1/bot/", params={"metadata__event": "e1", "page": 3}, headers=AUTH)
    assert beyond.status_code == 404
    assert beyond.json() == {"detail": "Invalid page."}
    one = await client.get("/api/v1/bot/", params={"metadata__event": "e1", "metadata__n": "7"}, headers=AUTH)
    assert [bot["id"] for bot in one.json()["results"]] == [ids[7]]


async def test_list_filters_by_join_at_status_and_meeting_url(client: httpx.AsyncClient) -> None:
    early = await create(client, join_at=later(hours=1))
    late = await create(client, join_at=later(hours=3), meeting_url="https://meet.google.com/abc-defg-hij")

    async def listed(**params: str) -> list[str]:
        response = await client.get("/api/v1/bot/", params=params, headers=AUTH)
        assert response.status_code == 200
        return [bot["id"] for bot in response.json()["results"]]

    assert await listed(join_at_after=later(hours=2)) == [late["id"]]
    assert await listed(join_at_before=later(hours=2)) == [early["id"]]
    assert await listed(meeting_url="meet.google.com/abc-defg-hij") == [late["id"]]
    assert await listed(status="ready") == [early["id"], late["id"]]
    assert await listed(status="done,fatal") == []
    bad = await client.get("/api/v1/bot/", params={"join_at_after": "soon"}, headers=AUTH)
    assert bad.status_code == 400
    assert list(bad.json()) == ["join_at_after"]


async def test_retrieve_unknown_bot_is_404(client: httpx.AsyncClient) -> None:
    for path in (f"/api/v1/bot/{uuid.uuid4()}/", "/api/v1/bot/not-a-uuid"):
        response = await client.get(path, headers=AUTH)
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}


async def test_patch_follows_the_scheduled_bot_rules(client: httpx.AsyncClient) -> None:
    bot = await create(client, join_at=later(hours=1))
    moved = await client.patch(
        f"/api/v1/bot/{bot['id']}/", json={"join_at": later(hours=2), "bot_name": "Renamed"}, headers=AUTH
    )
    assert moved.status_code == 200
    assert (moved.json()["join_at"], moved.json()["bot_name"]) == (later(hours=2), "Renamed")

    too_late = await client.patch(
        f"/api/v1/bot/{bot['id']}/", json={"join_at": later(minutes=5)}, headers=AUTH
    )
    assert too_late.status_code == 400
    assert too_late.json() == {"code": "update_bot_failed", "detail": "Not enough time to launch new bot"}

    await advance(client, timedelta(hours=2, minutes=-1).total_seconds())  # dispatched a minute ahead
    dispatched = await client.patch(f"/api/v1/bot/{bot['id']}/", json={"bot_name": "Again"}, headers=AUTH)
    assert dispatched.status_code == 400
    assert dispatched.json() == {
        "code": "update_bot_failed",
        "detail": "Only non-dispatched bots can be updated",
    }

    ad_hoc = await create(client)
    refused = await client.patch(f"/api/v1/bot/{ad_hoc['id']}/", json={"bot_name": "x"}, headers=AUTH)
    assert refused.status_code == 400
    assert refused.json()["detail"] == "Only non-dispatched bots can be updated"
    retrieved = await client.get(f"/api/v1/bot/{bot['id']}/", headers=AUTH)
    assert retrieved.json()["bot_name"] == "Renamed"


async def test_patch_within_ten_minutes_is_allowed_until_dispatch(client: httpx.AsyncClient) -> None:
    bot = await create(client, join_at=later(minutes=11))
    await advance(client, 5 * 60)  # now six minutes away: no longer "far", not yet dispatched
    moved = await client.patch(f"/api/v1/bot/{bot['id']}/", json={"join_at": later(minutes=8)}, headers=AUTH)
    assert moved.status_code == 200
    assert moved.json()["join_at"] == later(minutes=8)
    assert await codes(client, bot["id"]) == [("ready", None)]


async def test_delete_is_204_until_dispatch_then_405(client: httpx.AsyncClient) -> None:
    early = await create(client, join_at=later(hours=1))
    deleted = await client.delete(f"/api/v1/bot/{early['id']}/", headers=AUTH)
    assert deleted.status_code == 204
    assert deleted.content == b""
    gone = await client.get(f"/api/v1/bot/{early['id']}/", headers=AUTH)
    assert gone.status_code == 404
    assert (await client.delete(f"/api/v1/bot/{early['id']}/", headers=AUTH)).status_code == 404
    assert (await client.get("/api/v1/bot/", headers=AUTH)).json()["count"] == 0
    [admin] = (await client.get("/_sandbox/bots")).json()
    assert (admin["id"], admin["deleted"]) == (early["id"], True)

    bot = await create(client, join_at=later(hours=2))
    await advance(client, timedelta(hours=2, minutes=-1).total_seconds())
    refused = await client.delete(f"/api/v1/bot/{bot['id']}/", headers=AUTH)
    assert refused.status_code == 405
    assert refused.json() == {"detail": "The bot has already been dispatched"}
    ad_hoc = await create(client)
    assert (await client.delete(f"/api/v1/bot/{ad_hoc['id']}", headers=AUTH)).status_code == 405


async def test_leave_call_ends_the_call_then_done(client: httpx.AsyncClient) -> None:
    bot = await create(client)
    await advance(client, 5)
    assert (await codes(client, bot["id"]))[-1] == ("in_call_recording", None)
    left = await client.post(f"/api/v1/bot/{bot['id']}/leave_call/", headers=AUTH)
    assert left.status_code == 200
    assert left.json()["status_changes"][-1]["code"] == "call_ended"
    assert left.json()["status_changes"][-1]["sub_code"] == "bot_received_leave_call"
    await advance(client, 5)
    assert await codes(client, bot["id"]) == [
        ("ready", None),
        ("joining_call", None),
        ("in_call_recording", None),
        ("call_ended", "bot_received_leave_call"),
        ("done", None),
    ]
    again = await client.post(f"/api/v1/bot/{bot['id']}/leave_call", headers=AUTH)
    assert again.status_code == 200
    assert len(again.json()["status_changes"]) == 5


async def test_lifecycle_follows_the_frozen_clock(client: httpx.AsyncClient) -> None:
    bot = await create(client, join_at=later(minutes=30))
    await advance(client, 28 * 60)
    assert await codes(client, bot["id"]) == [("ready", None)]
    await advance(client, 60)  # join_at - 1 minute: dispatched
    assert await codes(client, bot["id"]) == [("ready", None), ("joining_call", None)]
    assert (await client.get(f"/api/v1/bot/{bot['id']}/", headers=AUTH)).json()["join_at"] == later(
        minutes=30
    )
    await advance(client, 5)
    retrieved = (await client.get(f"/api/v1/bot/{bot['id']}/", headers=AUTH)).json()
    assert retrieved["status_changes"][-1]["code"] == "in_call_recording"
    assert retrieved["join_at"] is None  # cleared once joined (reference §2.2)
    await advance(client, 3600)  # one jump replays every remaining step at its own time
    changes = (await client.get(f"/api/v1/bot/{bot['id']}/", headers=AUTH)).json()["status_changes"]
    assert [(c["code"], c["sub_code"], c["created_at"]) for c in changes[2:]] == [
        ("in_call_recording", None, later(minutes=29, seconds=5)),
        ("call_ended", "call_ended_by_host", later(minutes=29, seconds=10)),
        ("done", None, later(minutes=29, seconds=15)),
    ]


async def test_lifecycle_speed_scales_the_steps(clock: SandboxClock) -> None:
    fast = RecallSandbox(api_keys=[KEY], clock=clock, lifecycle_speed=5.0)
    transport = httpx.ASGITransport(app=create_recall_sandbox_app(fast, path_prefix="/recall"))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://recall.test") as http:
            created = await http.post("/recall/api/v1/bot/", json={"meeting_url": ZOOM}, headers=AUTH)
            assert created.status_code == 201
            await http.post("/recall/_sandbox/clock", json={"advance_seconds": 3})  # 3 steps of 1 s
            bot = (await http.get(f"/recall/api/v1/bot/{created.json()['id']}/", headers=AUTH)).json()
            assert [change["code"] for change in bot["status_changes"]] == [
                "ready",
                "joining_call",
                "in_call_recording",
                "call_ended",
                "done",
            ]
    finally:
        await fast.aclose()


async def test_concurrent_creates_each_get_their_own_bot(client: httpx.AsyncClient) -> None:
    bots = await asyncio.gather(*(create(client, metadata={"n": str(n)}) for n in range(40)))
    assert len({bot["id"] for bot in bots}) == 40
    listed = (await client.get("/api/v1/bot/", headers=AUTH)).json()
    assert listed["count"] == 40
