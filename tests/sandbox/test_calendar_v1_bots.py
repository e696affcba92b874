"""Calendar V1 auto-record: the preferences table, override_should_record, and the bots it makes,
moves and drops in the bot sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from meetbridge.sandbox import CalendarV1Sandbox, RecallSandbox, SandboxClock, create_recall_sandbox_app
from meetbridge.sandbox.recall.calendar_v1 import Attendee, MeetInvite
from meetbridge.sandbox.recall.calendar_v1.records import (
    PREFERENCE_FLAGS,
    Connection,
    MeetingRecord,
    UserRecord,
)
from meetbridge.sandbox.recall.calendar_v1.rules import decide
from tests.sandbox.common import AUTH, KEY, START, later

ME = "owner@acme.test"
MEET = {"meeting_id": "abc-defg-hij"}


# --- the preferences table, on the rule itself ---------------------------------------------------------

EXTERNAL = [Attendee("guest@other.test")]
INTERNAL = [Attendee("colleague@acme.test")]


def meeting(**fields: Any) -> MeetingRecord:
    base: dict[str, Any] = {
        "id": "m",
        "user_id": "u",
        "calendar_platform": "google",
        "platform_id": "p",
        "ical_uid": "uid",
        "title": "t",
        "start_time": START + timedelta(days=1),
        "end_time": START + timedelta(days=1, hours=1),
        "invite": MeetInvite("abc-defg-hij"),
        "attendees": list(INTERNAL),
        "seq": 1,
    }
    return MeetingRecord(**{**base, **fields})


def user(*preferences: str) -> UserRecord:
    record = UserRecord(id="u", external_id="user-1", connections={"google": Connection(ME)})
    record.preferences.update(dict.fromkeys(preferences, True))
    return record


HOSTED_EXTERNAL = {"attendees": EXTERNAL}
# Someone else's meeting: external because the account's own domain differs from the organizer's.
GUEST_EXTERNAL = {
    "attendees": [Attendee(ME, status="not_available"), Attendee("boss@other.test", is_organizer=True)],
    "organizer_email": "boss@other.test",
}
GUEST_INTERNAL = {"attendees": [Attendee(ME)], "organizer_email": "colleague@acme.test"}


@pytest.mark.parametrize(
    ("preferences", "fields", "expected"),
    [
        ((), {}, False),  # nothing is recorded by default
        ((), HOSTED_EXTERNAL, False),
        (("record_external",), HOSTED_EXTERNAL, True),
        (("record_external",), {}, False),
        (("record_internal",), {}, True),
        (("record_internal",), HOSTED_EXTERNAL, False),
        (("record_external", "record_internal"), {}, True),  # the docs' "record all meetings"
        (("record_external", "record_internal"), HOSTED_EXTERNAL, True),
        (("record_only_host",), {}, True),
        (("record_only_host",), GUEST_EXTERNAL, False),
        (("record_non_host",), GUEST_EXTERNAL, True),
        (("record_non_host",), {}, False),
        (("record_external", "record_only_host"), HOSTED_EXTERNAL, True),  # AND across preferences
        (("record_external", "record_only_host"), GUEST_EXTERNAL, False),
        (("record_external", "record_non_host"), GUEST_EXTERNAL, True),
        (("record_internal", "record_non_host"), GUEST_EXTERNAL, False),
        (("record_internal", "record_non_host"), GUEST_INTERNAL, True),
        (("record_internal", "record_only_host"), GUEST_INTERNAL, False),
        (("record_recurring",), {"is_recurring": True}, True),
        (("record_recurring",), {}, False),
        (("record_recurring", "record_external"), {**HOSTED_EXTERNAL, "is_recurring": True}, True),
        (("record_recurring", "record_external"), {"is_recurring": True}, False),
        (("record_confirmed",), {"attendees": [Attendee(ME, status="accepted")]}, True),
        (("record_confirmed",), {"attendees": [Attendee(ME, status="tentative")]}, False),
        (("record_confirmed",), {}, True),  # no entry of its own: the organizer has accepted
        (("record_confirmed",), GUEST_EXTERNAL, False),
        (("record_confirmed",), GUEST_INTERNAL, True),
        (tuple(PREFERENCE_FLAGS), {"is_recurring": True}, True),  # every pair holds either way
        (tuple(PREFERENCE_FLAGS), {}, False),
        (("record_external",), {"is_external": True}, True),  # an explicit flag beats the domains
        (("record_only_host",), {"is_hosted_by_me": False}, False),
    ],
)
def test_preferences_are_anded(preferences: tuple[str, ...], fields: dict[str, Any], expected: bool) -> None:
    decision = decide(meeting(**fields), user(*preferences), START)
    assert decision.will_record is expected, decision.reason


OFF = "Recording turned off by override_should_record."


@pytest.mark.parametrize(
    ("fields", "expected", "reason"),
    [
        ({"override_should_record": True}, True, "Recording turned on by override_should_record."),
        ({"override_should_record": False, **HOSTED_EXTERNAL}, False, OFF),
        ({"override_should_record": True, "invite": None}, False, "Meeting has no meeting link."),
        ({"override_should_record": True, "end_time": START}, False, "Meeting has already ended."),
        ({"attendees": INTERNAL}, False, "Does not match recording preference record_external."),
        (HOSTED_EXTERNAL, True, "Matches recording preferences: record_external."),
    ],
)
def test_override_and_prerequisites_settle_it_first(
    fields: dict[str, Any], expected: bool, reason: str
) -> None:
    decision = decide(meeting(**fields), user("record_external"), START)
    assert (decision.will_record, decision.reason) == (expected, reason)


def test_no_preference_says_so() -> None:
    assert decide(meeting(), user(), START).reason == "No recording preference is turned on."


# --- bots in the bot sandbox, over HTTP ---------------------------------------------------------------


@pytest.fixture
async def client(recall: RecallSandbox, calendar_v1: CalendarV1Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_recall_sandbox_app(recall, calendar_v1=calendar_v1))
    async with httpx.AsyncClient(transport=transport, base_url="http://recall.test") as http:
        yield http


@pytest.fixture
async def headers(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.post("/api/v1/calendar/authenticate/", json={"user_id": "user-1"}, headers=AUTH)
    connected = await client.post(
        "/_sandbox/calendar-v1/users/user-1/connections", json={"platform": "google", "email": ME}
    )
    assert connected.status_code == 200, connected.text
    return {"x-recallcalendarauthtoken": response.json()["token"]}


async def seed(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    spec = {"start_time": later(days=1), "end_time": later(days=1, hours=1), "meet_invite": MEET, **body}
    response = await client.post("/_sandbox/calendar-v1/users/user-1/meetings", json=spec)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def override(
    client: httpx.AsyncClient, headers: dict[str, str], meeting_id: str, value: bool | None
) -> dict[str, Any]:
    response = await client.put(
        f"/api/v1/calendar/meetings/{meeting_id}/", json={"override_should_record": value}, headers=headers
    )
    assert response.status_code == 200, response.text
    updated: dict[str, Any] = response.json()
    return updated


async def bots(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    return {bot["id"]: bot for bot in (await client.get("/_sandbox/bots")).json()}


async def live_bots(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    return {bot_id: bot for bot_id, bot in (await bots(client)).items() if not bot["deleted"]}


async def advance(client: httpx.AsyncClient, seconds: float) -> None:
    assert (await client.post("/_sandbox/clock", json={"advance_seconds": seconds})).status_code == 200


async def test_override_true_false_null_schedules_and_removes_the_bot(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    created = await seed(
        client, zoom_invite={"meeting_id": "1234567890", "meeting_password": "pw"}, meet_invite=None
    )
    assert (created["will_record"], created["bot_id"]) == (False, None)
    assert await bots(client) == {}

    on = await override(client, headers, created["id"], True)
    assert on["will_record"] is True
    bot = (await live_bots(client))[on["bot_id"]]
    assert bot["join_at"] == created["start_time"]
    assert bot["meeting_url"] == {"platform": "zoom", "meeting_id": "1234567890", "meeting_password": "pw"}
    assert (bot["bot_name"], bot["scheduled"], bot["metadata"]) == ("Meeting Notetaker", True, {})

    again = await override(client, headers, created["id"], True)
    assert again["bot_id"] == on["bot_id"]  # one bot per meeting

    off = await override(client, headers, created["id"], False)
    assert (off["will_record"], off["bot_id"]) == (False, None)
    assert (await bots(client))[on["bot_id"]]["deleted"] is True

    back = await override(client, headers, created["id"], None)
    assert (back["override_should_record"], back["bot_id"]) == (None, None)  # no preference set

    prefs = await client.patch(
        "/api/v1/calendar/user/", json={"preferences": {"record_internal": True}}, headers=headers
    )
    assert prefs.status_code == 200
    now_on = (await client.get(f"/api/v1/calendar/meetings/{created['id']}/", headers=headers)).json()
    assert now_on["will_record"] is True
    assert now_on["bot_id"] not in (None, on["bot_id"])
    assert list(await live_bots(client)) == [now_on["bot_id"]]

    await client.patch(
        "/api/v1/calendar/user/", json={"preferences": {"record_internal": False}}, headers=headers
    )
    assert await live_bots(client) == {}  # fewer meetings qualify: their bots go (V1 FAQ)


TEAMS = {"thread_id": "19:meeting_x@thread.v2", "message_id": "0", "tenant_id": "t-1", "organizer_id": "o-1"}
TEAMS_URL = {
    "platform": "microsoft_teams",
    "meeting_id": None,
    "meeting_password": None,
    **{name: TEAMS[name] for name in ("organizer_id", "tenant_id", "message_id", "thread_id")},
    "business_meeting_id": None,
    "business_meeting_password": None,
}


@pytest.mark.parametrize(
    ("invite", "expected"),
    [
        ({"meet_invite": MEET}, {"platform": "google_meet", "meeting_id": "abc-defg-hij"}),
        ({"teams_invite": TEAMS}, TEAMS_URL),
        (
            {"webex_invite": {"meeting_subdomain": "acme", "meeting_personal_room_id": "owner"}},
            {"platform": "webex", "meeting_subdomain": "acme", "meeting_personal_room_id": "owner"},
        ),
    ],
)
async def test_bots_join_the_link_the_invite_stands_for(
    client: httpx.AsyncClient, headers: dict[str, str], invite: dict[str, Any], expected: dict[str, Any]
) -> None:
    created = await seed(client, **{"meet_invite": None, **invite})
    on = await override(client, headers, created["id"], True)
    assert (await bots(client))[on["bot_id"]]["meeting_url"] == expected


async def test_delayed_assignment_makes_clients_poll_for_the_bot_id(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    config = await client.post("/_sandbox/calendar-v1/config", json={"bot_assign_delay_seconds": 60})
    assert config.json()["bot_assign_delay_seconds"] == 60
    first, second = await seed(client), await seed(client)

    on = await override(client, headers, first["id"], True)
    assert (on["will_record"], on["bot_id"]) == (True, None)
    await override(client, headers, second["id"], True)
    await advance(client, 30)
    await override(client, headers, second["id"], False)  # changed its mind before the bot came
    await advance(client, 29)
    assert (await client.get(f"/api/v1/calendar/meetings/{first['id']}/", headers=headers)).json()[
        "bot_id"
    ] is None
    assert await bots(client) == {}

    await advance(client, 1)
    polled = (await client.get("/api/v1/calendar/meetings/", headers=headers)).json()
    assert [m["bot_id"] is not None for m in polled] == [True, False]
    assert list(await bots(client)) == [polled[0]["bot_id"]]


async def test_moving_a_meeting_moves_or_replaces_its_bot(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    created = await seed(client)
    bot_id = (await override(client, headers, created["id"], True))["bot_id"]

    moved = await client.patch(
        f"/_sandbox/calendar-v1/meetings/{created['id']}", json={"start_time": later(days=2)}
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["bot_id"], moved.json()["end_time"]) == (bot_id, later(days=2, hours=1))
    assert (await bots(client))[bot_id]["join_at"] == later(days=2)  # Update Scheduled Bot, same bot

    relinked = await client.patch(
        f"/_sandbox/calendar-v1/meetings/{created['id']}", json={"zoom_invite": {"meeting_id": "9876543210"}}
    )
    assert relinked.json()["meeting_platform"] == "zoom"
    assert relinked.json()["meet_invite"] is None
    new_id = relinked.json()["bot_id"]
    assert new_id != bot_id
    assert list(await live_bots(client)) == [new_id]

    # Too close to the call for Update Scheduled Bot: an ad-hoc bot replaces the scheduled one.
    soon = await client.patch(
        f"/_sandbox/calendar-v1/meetings/{created['id']}",
        json={"start_time": later(minutes=5), "end_time": later(minutes=35)},
    )
    latest = soon.json()["bot_id"]
    assert latest not in (bot_id, new_id)
    assert [(bot["join_at"], bot["scheduled"]) for bot in (await live_bots(client)).values()] == [
        (later(minutes=5), False)
    ]

    unlinked = await client.patch(
        f"/_sandbox/calendar-v1/meetings/{created['id']}", json={"zoom_invite": None}
    )
    assert (unlinked.json()["will_record"], unlinked.json()["bot_id"]) == (False, None)
    assert (await bots(client))[latest]["status_changes"][-1]["code"] == "call_ended"  # it left


async def test_bot_name_preference_renames_a_waiting_bot(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    created = await seed(client)
    bot_id = (await override(client, headers, created["id"], True))["bot_id"]
    await client.put("/api/v1/calendar/user/", json={"preferences": {"bot_name": "Scribe"}}, headers=headers)
    assert (await bots(client))[bot_id]["bot_name"] == "Scribe"


async def test_ended_meetings_get_no_bot_and_keep_the_one_that_recorded_them(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    past = await seed(client, start_time=later(hours=-2), end_time=later(hours=-1))
    after = await override(client, headers, past["id"], True)
    assert (after["will_record"], after["will_record_reason"], after["bot_id"]) == (
        False,
        "Meeting has already ended.",
        None,
    )

    running = await seed(client, start_time=later(minutes=-10), end_time=later(minutes=20))
    joined = await override(client, headers, running["id"], True)
    assert (await bots(client))[joined["bot_id"]]["scheduled"] is False  # in progress: sent at once
    await advance(client, timedelta(minutes=30).total_seconds())
    done = (await client.get(f"/api/v1/calendar/meetings/{running['id']}/", headers=headers)).json()
    assert (done["will_record"], done["bot_id"]) == (False, joined["bot_id"])
    assert len(await bots(client)) == 1


async def test_a_meeting_without_a_link_is_never_recorded(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    created = await seed(client, meet_invite=None)
    on = await override(client, headers, created["id"], True)
    assert (on["will_record"], on["will_record_reason"], on["meeting_platform"]) == (
        False,
        "Meeting has no meeting link.",
        None,
    )
    assert await bots(client) == {}


async def test_cancelled_meetings_take_their_bot_with_them(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    created = await seed(client)
    bot_id = (await override(client, headers, created["id"], True))["bot_id"]
    gone = await client.delete(f"/_sandbox/calendar-v1/meetings/{created['id']}")
    assert gone.status_code == 204
    assert (await bots(client))[bot_id]["deleted"] is True
    missing = await client.get(f"/api/v1/calendar/meetings/{created['id']}/", headers=headers)
    assert missing.status_code == 404
    assert (await client.delete(f"/_sandbox/calendar-v1/meetings/{created['id']}")).status_code == 404


async def test_a_delayed_bot_comes_unprompted_on_the_real_clock() -> None:
    """Demos run on the real clock and may never poll: a timer assigns the bot when its delay is up."""
    recall = RecallSandbox(api_keys=[KEY], clock=SandboxClock(start=START))
    calendar_v1 = CalendarV1Sandbox(recall, bot_assign_delay_seconds=0.05)
    transport = httpx.ASGITransport(app=create_recall_sandbox_app(recall, calendar_v1=calendar_v1))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://recall.test") as client:
            token = await client.post(
                "/api/v1/calendar/authenticate/", json={"user_id": "user-1"}, headers=AUTH
            )
            headers = {"x-recallcalendarauthtoken": token.json()["token"]}
            await client.post("/_sandbox/calendar-v1/users/user-1/connections", json={"platform": "google"})
            created = await seed(client)
            assert (await override(client, headers, created["id"], True))["bot_id"] is None
            for _ in range(250):  # up to 5 s; the bot sandbox's list makes no Calendar V1 call
                if await bots(client):
                    break
                await asyncio.sleep(0.02)
            assert len(await bots(client)) == 1
    finally:
        await calendar_v1.aclose()
        await recall.aclose()
