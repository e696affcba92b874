"""The Recall sandbox's Calendar V1 API over HTTP: auth tokens, the calendar user, meeting lists,
fault injection and the call log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from meetbridge.sandbox import CalendarV1Sandbox, RecallSandbox, create_recall_sandbox_app
from tests.sandbox.common import AUTH, later

ME = "owner@acme.test"
MEET = {"meeting_id": "abc-defg-hij"}


@pytest.fixture
async def client(recall: RecallSandbox, calendar_v1: CalendarV1Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_recall_sandbox_app(recall, calendar_v1=calendar_v1))
    async with httpx.AsyncClient(transport=transport, base_url="http://recall.test") as http:
        yield http


async def token_for(client: httpx.AsyncClient, user_id: str = "user-1") -> dict[str, str]:
    """Headers carrying a fresh calendar auth token, as the demo's browser client sends them."""
    response = await client.post("/api/v1/calendar/authenticate/", json={"user_id": user_id}, headers=AUTH)
    assert response.status_code == 200, response.text
    return {"X-RecallCalendarAuthToken": response.json()["token"]}


async def connect(client: httpx.AsyncClient, user_id: str = "user-1", platform: str = "google") -> None:
    body = {"platform": platform, "email": ME}
    response = await client.post(f"/_sandbox/calendar-v1/users/{user_id}/connections", json=body)
    assert response.status_code == 200, response.text


async def seed(client: httpx.AsyncClient, user_id: str = "user-1", **body: Any) -> dict[str, Any]:
    spec = {"start_time": later(days=1), "end_time": later(days=1, hours=1), "meet_invite": MEET, **body}
    response = await client.post(f"/_sandbox/calendar-v1/users/{user_id}/meetings", json=spec)
    assert response.status_code == 201, response.text
    meeting: dict[str, Any] = response.json()
    return meeting


async def advance(client: httpx.AsyncClient, seconds: float) -> None:
    response = await client.post("/_sandbox/clock", json={"advance_seconds": seconds})
    assert response.status_code == 200, response.text


async def test_authenticate_takes_the_api_key_and_makes_the_user_once(client: httpx.AsyncClient) -> None:
    denied = await client.post("/api/v1/calendar/authenticate/", json={"user_id": "user-1"})
    assert denied.status_code == 401
    assert denied.json() == {"detail": "Invalid token."}
    for body, error in (
        ({}, "This field is required."),
        ({"user_id": ""}, "This field may not be blank."),
        ({"user_id": 7}, "Not a valid string."),
    ):
        bad = await client.post("/api/v1/calendar/authenticate/", json=body, headers=AUTH)
        assert (bad.status_code, bad.json()) == (400, {"user_id": [error]})

    first, second = await token_for(client), await token_for(client)
    assert first != second  # any number of tokens per user, all valid
    users = [(await client.get("/api/v1/calendar/user/", headers=h)).json() for h in (first, second)]
    assert users[0] == users[1]
    assert users[0]["external_id"] == "user-1"
    assert users[0]["connections"] == [
        {"platform": "google", "connected": False, "email": None, "id": None},
        {"platform": "microsoft", "connected": False, "email": None, "id": None},
    ]
    assert users[0]["preferences"] == {
        "id": users[0]["preferences"]["id"],
        "record_non_host": False,
        "record_recurring": False,
        "record_external": False,
        "record_internal": False,
        "record_confirmed": False,
        "record_only_host": False,
        "bot_name": "Meeting Notetaker",
    }
    listed = (await client.get("/_sandbox/calendar-v1/users")).json()
    assert [user["id"] for user in listed] == [users[0]["id"]]


async def test_calendar_calls_take_only_the_calendar_token(client: httpx.AsyncClient) -> None:
    headers = await token_for(client)
    token = headers["X-RecallCalendarAuthToken"]

    assert (await client.get("/api/v1/calendar/user/", headers=AUTH)).json() == {
        "detail": "Authentication credentials were not provided."
    }
    bogus = await client.get("/api/v1/calendar/user/", headers={"x-recallcalendarauthtoken": "nope", **AUTH})
    assert (bogus.status_code, bogus.json()) == (401, {"detail": "Invalid token."})
    for name in ("x-recallcalendarauthtoken", "X-RECALLCALENDARAUTHTOKEN"):
        ok = await client.get("/api/v1/calendar/user", headers={name: token})  # no API key, no slash
        assert ok.status_code == 200, ok.text
    meetings = await client.get("/api/v1/calendar/meetings/", headers=headers)
    assert (meetings.status_code, meetings.json()) == (200, [])


async def test_tokens_expire_a_day_after_minting_on_the_sandbox_clock(client: httpx.AsyncClient) -> None:
    old = await token_for(client)
    await advance(client, timedelta(hours=12).total_seconds())
    newer = await token_for(client)
    await advance(client, timedelta(hours=12).total_seconds() - 1)
    assert (await client.get("/api/v1/calendar/user/", headers=old)).status_code == 200

    await advance(client, 1)
    expired = await client.get("/api/v1/calendar/user/", headers=old)
    assert (expired.status_code, expired.json()) == (401, {"detail": "Token has expired."})
    assert (await client.get("/api/v1/calendar/user/", headers=newer)).status_code == 200

    assert (await client.post("/_sandbox/calendar-v1/tokens/expire")).json() == {"expired": 1}
    assert (await client.get("/api/v1/calendar/user/", headers=newer)).status_code == 401
    assert (await client.get("/api/v1/calendar/user/", headers=await token_for(client))).status_code == 200


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_user_update_is_partial_with_put_and_patch(client: httpx.AsyncClient, method: str) -> None:
    headers = await token_for(client)
    first = await client.request(
        method, "/api/v1/calendar/user/", json={"preferences": {"record_external": True}}, headers=headers
    )
    assert first.status_code == 200, first.text
    second = await client.request(
        method,
        "/api/v1/calendar/user",
        json={"preferences": {"bot_name": "Scribe", "id": "ignored", "unknown": 1}},
        headers=headers,
    )
    preferences = second.json()["preferences"]
    assert (preferences["record_external"], preferences["bot_name"]) == (True, "Scribe")
    assert preferences["id"] == first.json()["preferences"]["id"]

    bad = await client.request(
        method,
        "/api/v1/calendar/user/",
        json={"preferences": {"record_internal": "yes", "bot_name": " "}},
        headers=headers,
    )
    assert bad.status_code == 400
    assert bad.json() == {
        "preferences": {
            "record_internal": ["Must be a valid boolean."],
            "bot_name": ["This field may not be blank."],
        }
    }
    assert (await client.get("/api/v1/calendar/user/", headers=headers)).json() == second.json()


async def test_delete_user_takes_meetings_bots_and_tokens_with_it(client: httpx.AsyncClient) -> None:
    headers = await token_for(client)
    await connect(client)
    old_user = (await client.get("/api/v1/calendar/user/", headers=headers)).json()
    meeting = await seed(client)
    recorded = await client.put(
        f"/api/v1/calendar/meetings/{meeting['id']}/", json={"override_should_record": True}, headers=headers
    )
    bot_id = recorded.json()["bot_id"]
    assert bot_id is not None

    gone = await client.delete("/api/v1/calendar/user/", headers=headers)
    assert (gone.status_code, gone.content) == (204, b"")
    assert (await client.get("/api/v1/calendar/user/", headers=headers)).status_code == 401
    bots = (await client.get("/_sandbox/bots")).json()
    assert [(bot["id"], bot["deleted"]) for bot in bots] == [(bot_id, True)]

    again = await token_for(client)  # the same external id makes a new, empty user
    user = (await client.get("/api/v1/calendar/user/", headers=again)).json()
    assert user["id"] != old_user["id"]
    assert user["connections"][0]["connected"] is False
    assert (await client.get("/api/v1/calendar/meetings/", headers=again)).json() == []


async def test_disconnect_drops_that_platforms_meetings(client: httpx.AsyncClient) -> None:
    headers = await token_for(client)
    await connect(client, platform="google")
    await connect(client, platform="microsoft")
    await seed(client, calendar_platform="google", title="From Google")
    await seed(client, calendar_platform="microsoft", title="From Outlook")

    bad = await client.post("/api/v1/calendar/user/disconnect/", json={"platform": "zoom"}, headers=headers)
    assert (bad.status_code, bad.json()) == (400, {"platform": ['"zoom" is not a valid choice.']})
    user = await client.post(
        "/api/v1/calendar/user/disconnect/", json={"platform": "google"}, headers=headers
    )
    assert user.status_code == 200
    assert [(c["platform"], c["connected"]) for c in user.json()["connections"]] == [
        ("google", False),
        ("microsoft", True),
    ]
    meetings = (await client.get("/api/v1/calendar/meetings/", headers=headers)).json()
    assert [(m["title"], m["calendar_platform"], m["platform"]) for m in meetings] == [
        ("From Outlook", "microsoft", "microsoft_outlook")
    ]
    twice = await client.post(
        "/api/v1/calendar/user/disconnect", json={"platform": "google"}, headers=headers
    )
    assert twice.status_code == 200


async def test_meeting_list_filters_by_start_window_and_ical_uid_prefix(client: httpx.AsyncClient) -> None:
    headers = await token_for(client)
    await connect(client)
    late = await seed(client, title="late", start_time=later(days=3), end_time=later(days=3, hours=1))
    early = await seed(client, title="early", ical_uid="series-1_20260512")
    middle = await seed(
        client,
        title="middle",
        ical_uid="series-1_20260513",
        start_time=later(days=2),
        end_time=later(days=2, hours=1),
    )

    async def titles(**params: str) -> list[str]:
        response = await client.get("/api/v1/calendar/meetings/", params=params, headers=headers)
        assert response.status_code == 200, response.text
        assert isinstance(response.json(), list)  # a plain array, no pagination envelope
        return [meeting["title"] for meeting in response.json()]

    assert await titles() == ["early", "middle", "late"]
    assert await titles(start_time_after=middle["start_time"]) == ["middle", "late"]  # inclusive
    assert await titles(start_time_before=middle["start_time"]) == ["early", "middle"]
    assert await titles(
        start_time_after=later(days=1, hours=1), start_time_before=later(days=2, hours=12)
    ) == ["middle"]
    assert await titles(start_time_after="2026-05-13T14:00:00+02:00") == ["middle", "late"]
    assert await titles(ical_uid="series-1") == ["early", "middle"]
    assert await titles(ical_uid=late["ical_uid"][:10]) == ["late"]

    bad = await client.get(
        "/api/v1/calendar/meetings/", params={"start_time_before": "soon"}, headers=headers
    )
    assert (bad.status_code, bad.json()) == (400, {"start_time_before": ["Enter a valid date/time."]})
    refreshed = await client.post("/api/v1/calendar/meetings/refresh/", headers=headers)
    assert [m["id"] for m in refreshed.json()] == [early["id"], middle["id"], late["id"]]

    one = await client.get(f"/api/v1/calendar/meetings/{early['id']}/", headers=headers)
    assert one.json() == early
    assert set(one.json()) >= {
        "zoom_invite", "meet_invite", "teams_invite", "attendees", "organizer_email", "ical_uid",
        "is_external", "is_hosted_by_me", "is_recurring", "will_record", "will_record_reason", "bot_id",
        "calendar_platform", "meeting_platform", "start_time", "end_time", "title",
    }  # fmt: skip


async def test_other_users_meetings_are_not_found(client: httpx.AsyncClient) -> None:
    await connect(client, "user-1")
    meeting = await seed(client, "user-1")
    stranger = await token_for(client, "user-2")
    for method in ("GET", "PUT", "PATCH"):
        response = await client.request(
            method, f"/api/v1/calendar/meetings/{meeting['id']}/", json={}, headers=stranger
        )
        assert (response.status_code, response.json()) == (404, {"detail": "Not found."})
    bad = await client.put(
        f"/api/v1/calendar/meetings/{meeting['id']}/",
        json={"override_should_record": "yes"},
        headers=await token_for(client, "user-1"),
    )
    assert (bad.status_code, bad.json()) == (400, {"override_should_record": ["Must be a valid boolean."]})


async def test_faults_are_injected_by_calendar_v1_endpoint_name(client: httpx.AsyncClient) -> None:
    headers = await token_for(client)
    for fault in (
        {"endpoint": "calendar_v1_meetings", "status": 429, "retry_after": 7},
        {"endpoint": "calendar_v1_auth", "status": 401},
    ):
        assert (await client.post("/_sandbox/faults", json=fault)).status_code == 201

    assert (await client.get("/api/v1/calendar/user/", headers=headers)).status_code == 200  # other name
    throttled = await client.get("/api/v1/calendar/meetings/", headers=headers)
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "7"
    assert throttled.json() == {"detail": "Request was throttled. Expected available in 7 seconds."}
    assert (await client.get("/api/v1/calendar/meetings/", headers=headers)).status_code == 200

    refused = await client.post("/api/v1/calendar/authenticate/", json={"user_id": "user-1"}, headers=AUTH)
    assert (refused.status_code, refused.json()) == (401, {"detail": "Invalid token."})
    await token_for(client)  # the fault was used up

    user_fault = {"endpoint": "calendar_v1_user", "status": 503, "count": 2}
    assert (await client.post("/_sandbox/faults", json=user_fault)).status_code == 201
    # A bad token is refused before a fault is taken: auth comes first, as on the bot API.
    assert (await client.get("/api/v1/calendar/user/")).status_code == 401
    statuses = [(await client.get("/api/v1/calendar/user/", headers=headers)).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]


async def test_calls_are_logged_under_the_catalogue_names(client: httpx.AsyncClient) -> None:
    headers = await token_for(client)
    await connect(client)
    meeting = await seed(client)
    fault = {"endpoint": "calendar_v1_meetings", "status": 429}
    assert (await client.post("/_sandbox/faults", json=fault)).status_code == 201
    await client.get("/api/v1/calendar/meetings/", params={"ical_uid": "x"}, headers=headers)
    await client.patch(f"/api/v1/calendar/meetings/{meeting['id']}/", json={}, headers=headers)
    await client.put("/api/v1/calendar/user/", json={}, headers=headers)
    await client.post("/api/v1/calendar/user/disconnect/", json={"platform": "google"}, headers=headers)
    await client.get("/api/v1/calendar/user/")

    calls = (await client.get("/_sandbox/calls")).json()
    assert [
        (c["method"], c["path"], c["query"], c["endpoint"], c["status"], c["faulted"]) for c in calls
    ] == [
        ("POST", "/api/v1/calendar/authenticate/", "", "calendar_v1_auth", 200, False),
        ("GET", "/api/v1/calendar/meetings/", "ical_uid=x", "calendar_v1_meetings", 429, True),
        ("PATCH", f"/api/v1/calendar/meetings/{meeting['id']}/", "", "calendar_v1_meetings", 200, False),
        ("PUT", "/api/v1/calendar/user/", "", "calendar_v1_user", 200, False),
        ("POST", "/api/v1/calendar/user/disconnect/", "", "calendar_v1_user", 200, False),
        ("GET", "/api/v1/calendar/user/", "", "calendar_v1_user", 401, False),
    ]
    assert {c["time"] for c in calls} == {"2026-05-11T12:00:00Z"}  # the sandbox clock
