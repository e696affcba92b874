"""The Cronofy-compatible event API over HTTP: real routing, real SQLite, no network.

Covers upsert/read/delete semantics, Cronofy's 422 shape for every kind of bad input, Read Events
filters and pagination, what the official SDK sends, authentication and application isolation,
calendars, profiles, external events and the health probes.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import TEST_ENV, Api
from tests.service.conftest import Clock

START, END = "2026-05-11T16:00:00Z", "2026-05-11T17:00:00Z"
PROFILE = "int_sales_0000"
RECALL = {"provider": "recall", "profile_id": PROFILE}
WIRE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
DROP: Any = object()  # a field left out of the request body


def event_body(event_id: str = "ev1", **fields: Any) -> dict[str, Any]:
    """A valid create request; ``field=DROP`` leaves a field out."""
    body = {"event_id": event_id, "summary": "Recall test", "start": START, "end": END, **fields}
    return {name: value for name, value in body.items() if value is not DROP}


def events_path(calendar_id: str) -> str:
    return f"/v1/calendars/{calendar_id}/events"


def without(event: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: value for name, value in event.items() if name not in names}


def assert_accepted(response: httpx.Response) -> None:
    assert response.status_code == 202, response.text
    assert response.content == b""


def field_errors(response: httpx.Response) -> dict[str, list[dict[str, str]]]:
    """The body of a Cronofy 422, checked for shape: ``{"errors": {field: [{key, description}]}}``."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert list(body) == ["errors"]
    for items in body["errors"].values():
        assert items
        for item in items:
            assert set(item) == {"key", "description"}
            assert item["key"].startswith("errors.")
            assert item["description"]
    errors: dict[str, list[dict[str, str]]] = body["errors"]
    return errors


def assert_field_error(response: httpx.Response, field: str, key: str) -> str:
    """Exactly one field is named, with exactly one error of ``key``; returns its description."""
    errors = field_errors(response)
    assert list(errors) == [field], errors
    assert [item["key"] for item in errors[field]] == [key], errors
    return errors[field][0]["description"]


def assert_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert isinstance(body["message"], str)
    assert body["message"]


async def read_events(api: Api, query: str = "include_managed=true") -> dict[str, Any]:
    response = await api.client.get(f"/v1/events?{query}", headers=api.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def listed_ids(api: Api, query: str = "include_managed=true") -> list[str]:
    """Event ids (managed) or event_uids (external) on the first page, in order."""
    return [e.get("event_id") or e["event_uid"] for e in (await read_events(api, query))["events"]]


async def delete_event(api: Api, calendar_id: str, body: dict[str, Any]) -> httpx.Response:
    return await api.client.request("DELETE", events_path(calendar_id), json=body, headers=api.auth)


async def insert_external(api: Api, calendar_id: str, start: datetime, summary: str = "Board meeting") -> str:
    """An external (provider-synced) event, stored the way sync stores it; returns its event_uid."""
    end = start + timedelta(hours=1)
    wire = {name: at.strftime("%Y-%m-%dT%H:%M:%SZ") for name, at in (("start", start), ("end", end))}
    fields = {
        "summary": summary,
        "start": wire["start"],
        "start_tzid": "Etc/UTC",
        "end": wire["end"],
        "end_tzid": "Etc/UTC",
        "tzid": "Etc/UTC",
    }
    return await api.gateway.events.insert_external(calendar_id, fields, start_at=start, end_at=end)


def soon(days: int = 1) -> datetime:
    """A time inside Cronofy's default read window for external events."""
    return datetime.now(UTC).replace(microsecond=0, second=0) + timedelta(days=days)


# --- upsert and read back --------------------------------------------------------------------------

FULL_EVENT = event_body(
    description="Quarterly numbers, bring coffee",
    tzid="Europe/Berlin",
    location={"description": "Room 4.2", "lat": "52.52", "long": "13.40"},
    url="https://example.com/events/1",
    transparency="transparent",
    conferencing={
        "profile_id": "explicit",
        "provider_description": "Zoom",
        "join_url": "https://zoom.us/j/1234567890",
    },
    attendees={"invite": [{"email": "ada@example.com", "display_name": "Ada"}, {"email": "bob@example.com"}]},
    reminders=[{"minutes": 10}, {"minutes": 60}],
    event_private=True,
    recurrence={"rules": [{"frequency": "weekly", "interval": 2, "by_day": ["monday"]}]},
    extensions=[RECALL],
)

FULL_EVENT_READ = {
    "event_id": "ev1",
    "summary": "Recall test",
    "description": "Quarterly numbers, bring coffee",
    "start": START,
    "end": END,
    "tzid": "Europe/Berlin",
    "location": {"description": "Room 4.2", "lat": "52.52", "long": "13.40"},
    "url": "https://example.com/events/1",
    "transparency": "transparent",
    "conferencing": {
        "profile_id": "explicit",
        "provider_name": "Zoom",
        "join_url": "https://zoom.us/j/1234567890",
    },
    "meeting_url": "https://zoom.us/j/1234567890",
    "attendees": [
        {"email": "ada@example.com", "display_name": "Ada", "status": "needs_action"},
        {"email": "bob@example.com", "display_name": None, "status": "needs_action"},
    ],
    "reminders": [{"minutes": 10}, {"minutes": 60}],
    "event_private": True,
    "recurrence": {"rules": [{"frequency": "weekly", "interval": 2, "by_day": ["monday"]}]},
    "recurring": True,
    "deleted": False,
    "status": "confirmed",
    "metadata": {},
}


async def test_upsert_answers_202_with_an_empty_body_and_every_field_reads_back(api: Api) -> None:
    calendar_id = await api.calendar()

    assert_accepted(await api.upsert(calendar_id, FULL_EVENT))

    [listed] = (await read_events(api))["events"]
    detail = await api.event(calendar_id, "ev1")
    for event in (listed, detail):
        assert {name: event.get(name) for name in FULL_EVENT_READ} == FULL_EVENT_READ
        assert event["calendar_id"] == calendar_id
        assert event["event_uid"].startswith("evt_")
        assert WIRE_TIME.match(event["created"])
        assert WIRE_TIME.match(event["updated"])
    assert listed["event_uid"] == detail["event_uid"]
    assert listed["extensions"] == [RECALL]
    [extension] = detail["extensions"]
    assert without(extension, "updated") == {
        **RECALL,
        "status": "pending",
        "bot_id": None,
        "last_error": None,
        "origin": "app",
    }
    assert WIRE_TIME.match(extension["updated"])


async def test_upsert_naming_only_summary_leaves_every_other_field_unchanged(api: Api) -> None:
    calendar_id = await api.calendar()
    assert_accepted(await api.upsert(calendar_id, FULL_EVENT))
    before = await api.event(calendar_id, "ev1")

    assert_accepted(await api.upsert(calendar_id, {"event_id": "ev1", "summary": "Renamed"}))

    after = await api.event(calendar_id, "ev1")
    assert after["summary"] == "Renamed"
    assert without(after, "summary", "updated") == without(before, "summary", "updated")


async def test_explicit_null_clears_description_url_and_location(api: Api) -> None:
    calendar_id = await api.calendar()
    assert_accepted(await api.upsert(calendar_id, FULL_EVENT))

    cleared = {"event_id": "ev1", "description": None, "url": None, "location": None}
    assert_accepted(await api.upsert(calendar_id, cleared))

    event = await api.event(calendar_id, "ev1")
    assert event["description"] == ""
    assert event.get("url") is None
    assert event.get("location") is None
    assert event["conferencing"] == FULL_EVENT_READ["conferencing"]  # untouched: not named


async def test_attendees_invite_and_remove_change_the_list(api: Api) -> None:
    calendar_id = await api.calendar()
    assert_accepted(await api.upsert(calendar_id, FULL_EVENT))

    change = {"invite": [{"email": "cy@example.com"}], "remove": [{"email": "ADA@example.com"}]}
    assert_accepted(await api.upsert(calendar_id, {"event_id": "ev1", "attendees": change}))

    event = await api.event(calendar_id, "ev1")
    assert [a["email"] for a in event["attendees"]] == ["bob@example.com", "cy@example.com"]
    assert {a["status"] for a in event["attendees"]} == {"needs_action"}


@pytest.mark.parametrize(
    ("fields", "wire", "localized"),
    [
        pytest.param(
            {"start": "2026-05-11T18:00:00+02:00", "end": "2026-05-11T13:00:00-04:00"},
            (START, END),
            (
                {"time": "2026-05-11T16:00:00+00:00", "tzid": "Etc/UTC"},
                {"time": "2026-05-11T17:00:00+00:00", "tzid": "Etc/UTC"},
            ),
            id="offsets-normalise-to-Z",
        ),
        pytest.param(
            {
                "start": {"time": "2026-05-11T12:00:00", "tzid": "America/New_York"},
                "end": {"time": "2026-05-11T19:00:00Z", "tzid": "Asia/Tokyo"},
            },
            (START, "2026-05-11T19:00:00Z"),
            (
                {"time": "2026-05-11T12:00:00-04:00", "tzid": "America/New_York"},
                {"time": "2026-05-12T04:00:00+09:00", "tzid": "Asia/Tokyo"},
            ),
            id="time-tzid-objects",
        ),
        pytest.param(
            {"start": "2026-05-11T18:00:00", "end": "2026-05-11T19:00:00", "tzid": "Europe/Berlin"},
            (START, END),
            (
                {"time": "2026-05-11T18:00:00+02:00", "tzid": "Europe/Berlin"},
                {"time": "2026-05-11T19:00:00+02:00", "tzid": "Europe/Berlin"},
            ),
            id="top-level-tzid-for-local-times",
        ),
        pytest.param(
            {"tzid": "Asia/Tokyo"},
            (START, END),
            (
                {"time": "2026-05-12T01:00:00+09:00", "tzid": "Asia/Tokyo"},
                {"time": "2026-05-12T02:00:00+09:00", "tzid": "Asia/Tokyo"},
            ),
            id="utc-times-localized-to-tzid",
        ),
        pytest.param(
            {"start": "2026-05-11", "end": "2026-05-12", "tzid": "Europe/Berlin"},
            ("2026-05-11", "2026-05-12"),
            (
                {"date": "2026-05-11", "tzid": "Europe/Berlin"},
                {"date": "2026-05-12", "tzid": "Europe/Berlin"},
            ),
            id="all-day-dates",
        ),
    ],
)
async def test_event_times(
    api: Api, fields: dict[str, Any], wire: tuple[str, str], localized: tuple[dict[str, str], ...]
) -> None:
    calendar_id = await api.calendar()
    assert_accepted(await api.upsert(calendar_id, event_body(**fields)))

    event = await api.event(calendar_id, "ev1")
    assert (event["start"], event["end"]) == wire
    [plain] = (await read_events(api))["events"]
    assert (plain["start"], plain["end"]) == wire
    [local] = (await read_events(api, "include_managed=true&localized_times=true"))["events"]
    assert (local["start"], local["end"]) == localized


async def test_summary_and_description_at_their_limits_are_accepted(api: Api) -> None:
    calendar_id = await api.calendar()
    body = event_body(summary="s" * 1024, description="d" * 4096)

    assert_accepted(await api.upsert(calendar_id, body))

    event = await api.event(calendar_id, "ev1")
    assert (len(event["summary"]), len(event["description"])) == (1024, 4096)


# --- extensions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extensions", "key", "mentions"),
    [
        pytest.param(
            [{"provider": "zoom", "profile_id": PROFILE}], "errors.unknown_provider", "zoom", id="provider"
        ),
        pytest.param(
            [{"provider": "recall", "profile_id": "int_missing"}],
            "errors.unknown_profile",
            "int_missing",
            id="profile",
        ),
        pytest.param(
            [{"provider": "toy", "profile_id": PROFILE}],
            "errors.unknown_provider",
            "serve: recall",
            id="provider-no-profile-serves",
        ),
        pytest.param(
            [RECALL, {"provider": "recall", "profile_id": "none"}],
            "errors.duplicate",
            "recall",
            id="duplicate",
        ),
    ],
)
async def test_bad_extensions_are_refused_and_nothing_is_stored(
    api: Api, extensions: list[dict[str, str]], key: str, mentions: str
) -> None:
    calendar_id = await api.calendar()

    response = await api.upsert(calendar_id, event_body(extensions=extensions))

    assert mentions in assert_field_error(response, "extensions", key)
    assert (await read_events(api))["events"] == []


async def test_profile_none_on_an_event_without_a_bot_is_cancelled(api: Api) -> None:
    calendar_id = await api.calendar()
    assert_accepted(await api.upsert(calendar_id, event_body(extensions=[RECALL])))

    none = [{"provider": "recall", "profile_id": "none"}]
    assert_accepted(await api.upsert(calendar_id, {"event_id": "ev1", "extensions": none}))

    [extension] = (await api.event(calendar_id, "ev1"))["extensions"]
    assert (extension["profile_id"], extension["status"], extension["bot_id"]) == ("none", "cancelled", None)


async def test_omitted_extensions_are_kept_and_an_empty_list_removes_them(api: Api) -> None:
    calendar_id = await api.calendar()
    assert_accepted(await api.upsert(calendar_id, event_body(extensions=[RECALL])))

    assert_accepted(await api.upsert(calendar_id, {"event_id": "ev1", "summary": "Moved on"}))
    kept = await api.event(calendar_id, "ev1")
    assert [(e["provider"], e["profile_id"], e["status"]) for e in kept["extensions"]] == [
        ("recall", PROFILE, "pending")
    ]

    assert_accepted(await api.upsert(calendar_id, {"event_id": "ev1", "extensions": []}))
    removed = await api.event(calendar_id, "ev1")
    assert removed.get("extensions", []) == []
    assert removed["summary"] == "Moved on"
    [listed] = (await read_events(api))["events"]
    assert listed.get("extensions", []) == []


# --- bad input: always a Cronofy-shaped 422, never a 500 -----------------------------------------

BAD_UPSERTS = [
    pytest.param(b"{not json", "body", "errors.invalid", id="malformed-json"),
    pytest.param(b'[{"event_id": "ev1"}]', "body", "errors.invalid", id="array-body"),
    pytest.param({"summary": 1}, "summary", "errors.invalid", id="summary-int"),
    pytest.param({"start": 5}, "start", "errors.invalid", id="start-int"),
    pytest.param({"attendees": "x"}, "attendees", "errors.invalid", id="attendees-string"),
    pytest.param({"event_private": "yes"}, "event_private", "errors.invalid", id="event_private-string"),
    pytest.param({"transparency": "see-through"}, "transparency", "errors.invalid", id="transparency-enum"),
    pytest.param({"event_id": DROP}, "event_id", "errors.required", id="missing-event_id"),
    pytest.param({"summary": DROP}, "summary", "errors.required", id="missing-summary"),
    pytest.param({"start": DROP}, "start", "errors.required", id="missing-start"),
    pytest.param({"end": DROP}, "end", "errors.required", id="missing-end"),
    pytest.param({"summary": "s" * 1025}, "summary", "errors.too_long", id="summary-too-long"),
    pytest.param({"description": "d" * 4097}, "description", "errors.too_long", id="description-too-long"),
    pytest.param({"end": "2026-05-11T15:59:59Z"}, "end", "errors.invalid", id="end-before-start"),
    pytest.param({"start": "2026-05-11", "end": END}, "end", "errors.invalid", id="date-start-time-end"),
    pytest.param({"tzid": "Mars/Olympus_Mons"}, "tzid", "errors.invalid", id="unknown-tzid"),
    pytest.param(
        {"start": {"time": "2026-05-11T18:00:00", "tzid": "Mars/Olympus_Mons"}},
        "start",
        "errors.invalid",
        id="unknown-tzid-in-time-object",
    ),
    pytest.param({"start": "next tuesday"}, "start", "errors.invalid", id="unparseable-time"),
    pytest.param({"end": "2026-13-45"}, "end", "errors.invalid", id="impossible-date"),
    pytest.param(
        {"attendees": {"invite": [{"email": "not-an-email"}]}}, "attendees", "errors.invalid", id="bad-email"
    ),
    pytest.param(
        {"conferencing": {"profile_id": "explicit", "provider_description": "Zoom"}},
        "conferencing",
        "errors.required",
        id="explicit-conferencing-without-join_url",
    ),
    pytest.param({"event_id": "ev\x001"}, "event_id", "errors.invalid", id="event_id-control-character"),
    pytest.param({"event_id": "ev\n1"}, "event_id", "errors.invalid", id="event_id-newline"),
    pytest.param({"event_id": "e" * 201}, "event_id", "errors.invalid", id="event_id-too-long"),
]


@pytest.mark.parametrize(("body", "field", "key"), BAD_UPSERTS)
async def test_bad_upserts_answer_422_naming_the_field(
    api: Api, body: dict[str, Any] | bytes, field: str, key: str
) -> None:
    calendar_id = await api.calendar()
    if isinstance(body, bytes):
        headers = {**api.auth, "Content-Type": "application/json"}
        response = await api.client.post(events_path(calendar_id), content=body, headers=headers)
    else:
        response = await api.upsert(calendar_id, event_body(**body))

    assert_field_error(response, field, key)
    assert (await read_events(api))["events"] == []


async def test_a_create_without_summary_start_and_end_names_all_three(api: Api) -> None:
    calendar_id = await api.calendar()

    errors = field_errors(await api.upsert(calendar_id, {"event_id": "ev1"}))

    assert {field: [i["key"] for i in items] for field, items in errors.items()} == {
        name: ["errors.required"] for name in ("summary", "start", "end")
    }


async def test_an_event_id_of_200_characters_is_accepted(api: Api) -> None:
    calendar_id = await api.calendar()

    assert_accepted(await api.upsert(calendar_id, event_body("e" * 200)))

    assert await listed_ids(api) == ["e" * 200]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({"start": {"tzid": "Europe/Berlin"}}, "start", id="start-without-time"),
        pytest.param({"extensions": [{"provider": "recall"}]}, "extensions", id="extension-without-profile"),
        pytest.param(
            {"attendees": {"invite": [{"display_name": "Ada"}]}}, "attendees", id="invite-without-email"
        ),
        pytest.param(
            {"conferencing": {"join_url": "https://zoom.us/j/1"}}, "conferencing", id="no-profile_id"
        ),
    ],
)
async def test_a_missing_nested_field_is_reported_under_its_top_level_parameter(
    api: Api, fields: dict[str, Any], field: str
) -> None:
    calendar_id = await api.calendar()

    assert_field_error(await api.upsert(calendar_id, event_body(**fields)), field, "errors.required")


async def test_an_event_id_with_a_slash_is_refused_naming_the_field(api: Api) -> None:
    # A "/" could not be read back by GET …/events/{event_id}: it is refused up front, and nothing is stored.
    calendar_id = await api.calendar()

    response = await api.upsert(calendar_id, event_body("team/42"))

    assert_field_error(response, "event_id", "errors.invalid")
    assert await listed_ids(api) == []
    assert_accepted(await api.upsert(calendar_id, event_body("team-42")))
    assert await listed_ids(api) == ["team-42"]


# --- delete ----------------------------------------------------------------------------------------


async def test_delete_marks_the_event_deleted_and_hides_it_from_read_events(api: Api) -> None:
    calendar_id = await api.calendar()
    assert_accepted(await api.upsert(calendar_id, event_body(extensions=[RECALL])))
    assert_accepted(await api.upsert(calendar_id, event_body("ev2")))

    assert_accepted(await delete_event(api, calendar_id, {"event_id": "ev1"}))

    event = await api.event(calendar_id, "ev1")
    assert (event["deleted"], event["status"]) == (True, "cancelled")
    assert all(e["status"] == "cancelled" for e in event.get("extensions", []))
    assert await listed_ids(api) == ["ev2"]
    with_deleted = (await read_events(api, "include_managed=true&include_deleted=true"))["events"]
    assert {e["event_id"]: e["deleted"] for e in with_deleted} == {"ev1": True, "ev2": False}


async def test_deleting_an_unknown_event_is_accepted_and_changes_nothing(api: Api) -> None:
    calendar_id = await api.calendar()
    assert_accepted(await api.upsert(calendar_id, event_body()))

    assert_accepted(await delete_event(api, calendar_id, {"event_id": "never-created"}))

    assert await listed_ids(api, "include_managed=true&include_deleted=true") == ["ev1"]


@pytest.mark.parametrize(
    "body", [{}, {"event_id": "ev1", "event_uid": "evt_external_x"}], ids=["neither", "both"]
)
async def test_delete_needs_exactly_one_of_event_id_and_event_uid(api: Api, body: dict[str, str]) -> None:
    calendar_id = await api.calendar()
    assert_accepted(await api.upsert(calendar_id, event_body()))

    assert_field_error(await delete_event(api, calendar_id, body), "event_id", "errors.required")
    assert (await api.event(calendar_id, "ev1"))["deleted"] is False


# --- Read Events ------------------------------------------------------------------------------------


async def test_managed_events_are_hidden_unless_asked_for(api: Api) -> None:
    calendar_id = await api.calendar()
    assert_accepted(await api.upsert(calendar_id, event_body("mine")))
    external_uid = await insert_external(api, calendar_id, soon())

    assert await listed_ids(api, "") == [external_uid]
    assert await listed_ids(api, "include_managed=false") == [external_uid]
    assert sorted(await listed_ids(api, "include_managed=true")) == sorted(["mine", external_uid])
    assert await listed_ids(api, "only_managed=true") == ["mine"]


async def test_calendar_ids_filter_takes_repeated_values(api: Api) -> None:
    work, home, club = await api.calendar("Work"), await api.calendar("Home"), await api.calendar("Club")
    for calendar_id, event_id in ((work, "w"), (home, "h"), (club, "c")):
        assert_accepted(await api.upsert(calendar_id, event_body(event_id)))

    assert await listed_ids(api, f"include_managed=true&calendar_ids[]={home}") == ["h"]
    both = await listed_ids(api, f"include_managed=true&calendar_ids[]={work}&calendar_ids[]={club}")
    assert sorted(both) == ["c", "w"]


async def test_last_modified_returns_events_changed_since(api: Api, event_clock: Clock) -> None:
    calendar_id = await api.calendar()
    assert_accepted(await api.upsert(calendar_id, event_body("early")))
    changed_at = event_clock.advance(minutes=5)
    assert_accepted(await api.upsert(calendar_id, event_body("late")))
    event_clock.advance(minutes=5)
    assert_accepted(await api.upsert(calendar_id, {"event_id": "early", "summary": "Edited"}))

    since = changed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert sorted(await listed_ids(api, f"include_managed=true&last_modified={since}")) == ["early", "late"]
    later = (changed_at + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert await listed_ids(api, f"include_managed=true&last_modified={later}") == ["early"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("from=2026-05-03&to=2026-05-05", ["d03", "d04"], id="utc-dates"),
        # In Kiritimati (UTC+14) the days start at 10:00 UTC the day before: from is 05-02T10:00Z.
        pytest.param(
            "from=2026-05-03&to=2026-05-05&tzid=Pacific/Kiritimati", ["d02", "d03"], id="tzid-shifts"
        ),
        pytest.param("from=2026-05-11", ["d11", "d12"], id="from-only"),
        pytest.param("to=2026-05-02T10:30:00Z", ["d01", "d02"], id="to-time"),
    ],
)
async def test_from_and_to_select_a_window(api: Api, query: str, expected: list[str]) -> None:
    calendar_id = await api.calendar()
    for day in range(1, 13):
        body = event_body(
            f"d{day:02}", start=f"2026-05-{day:02}T10:00:00Z", end=f"2026-05-{day:02}T11:00:00Z"
        )
        assert_accepted(await api.upsert(calendar_id, body))

    assert await listed_ids(api, f"include_managed=true&{query}") == expected


async def test_external_events_outside_the_default_window_need_from_and_to(api: Api) -> None:
    calendar_id = await api.calendar()
    long_ago = datetime(2020, 1, 6, 9, 0, tzinfo=UTC)
    uid = await insert_external(api, calendar_id, long_ago)

    assert await listed_ids(api, "") == []
    assert await listed_ids(api, "from=2020-01-01&to=2020-01-31") == [uid]


async def test_pagination_follows_absolute_next_page_urls_without_parameters(api: Api) -> None:
    calendar_id = await api.calendar()
    for n in range(12):
        body = event_body(
            f"p{n:02}", start=f"2026-06-{n + 1:02}T09:00:00Z", end=f"2026-06-{n + 1:02}T10:00:00Z"
        )
        assert_accepted(await api.upsert(calendar_id, body))
    assert_accepted(
        await api.upsert(calendar_id, event_body("outside", start="2026-08-01", end="2026-08-02"))
    )
    query = (
        f"include_managed=True&tzid=Europe/Berlin&from=2026-06-01&to=2026-07-01&calendar_ids[]={calendar_id}"
    )

    page = await read_events(api, query)
    seen, currents = [], []
    while True:
        seen += [e["event_id"] for e in page["events"]]
        currents.append(page["pages"]["current"])
        assert page["pages"]["total"] == 3
        next_page = page["pages"].get("next_page")
        if not next_page:
            break
        parts = urlsplit(next_page)
        assert (parts.scheme, parts.netloc) == ("http", "testserver.local")
        assert re.fullmatch(r"/v1/events/pages/[\w-]+", parts.path)
        assert parts.query == ""
        response = await api.client.get(next_page, headers=api.auth)
        assert response.status_code == 200, response.text
        page = response.json()

    assert currents == [1, 2, 3]
    assert [len(chunk) for chunk in (seen[:5], seen[5:10], seen[10:])] == [5, 5, 2]
    assert seen == [f"p{n:02}" for n in range(12)]


async def test_a_single_page_has_no_next_page(api: Api) -> None:
    calendar_id = await api.calendar()
    assert_accepted(await api.upsert(calendar_id, event_body()))

    pages = (await read_events(api))["pages"]

    assert (pages["current"], pages["total"]) == (1, 1)
    assert "next_page" not in pages


async def test_a_garbage_page_token_is_not_found(api: Api) -> None:
    response = await api.client.get("/v1/events/pages/not-a-real-token!!", headers=api.auth)

    assert_error(response, 404, "not_found")


def forged_token(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("page", [0, -2, 10**20], ids=["zero", "negative", "huge"])
async def test_a_page_token_with_an_impossible_page_is_not_found(api: Api, page: int) -> None:
    token = forged_token(b'{"page": %d}' % page)

    assert_error(await api.client.get(f"/v1/events/pages/{token}", headers=api.auth), 404, "not_found")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        pytest.param("tzid=Mars/Olympus_Mons", "tzid", id="unknown-tzid"),
        pytest.param("from=yesterday", "from", id="bad-from"),
        pytest.param("to=2026-02-30", "to", id="bad-to"),
        pytest.param("last_modified=recently", "last_modified", id="bad-last_modified"),
        pytest.param("include_managed=maybe", "include_managed", id="bad-boolean"),
    ],
)
async def test_bad_read_events_queries_answer_422_naming_the_parameter(
    api: Api, query: str, field: str
) -> None:
    response = await api.client.get(f"/v1/events?{query}", headers=api.auth)

    assert_field_error(response, field, "errors.invalid")


# --- what the official SDK sends -------------------------------------------------------------------


async def test_a_get_with_an_empty_json_body_is_served(api: Api) -> None:
    calendar_id = await api.calendar()
    assert_accepted(await api.upsert(calendar_id, event_body()))

    response = await api.client.request(
        "GET",
        "/v1/events?include_managed=true",
        content=b"{}",
        headers={**api.auth, "Content-Type": "application/json"},
    )

    assert response.status_code == 200, response.text
    assert [e["event_id"] for e in response.json()["events"]] == ["ev1"]


async def test_capitalised_query_booleans_are_understood(api: Api) -> None:
    calendar_id = await api.calendar()
    assert_accepted(await api.upsert(calendar_id, event_body("mine")))
    assert_accepted(await api.upsert(calendar_id, event_body("gone")))
    assert_accepted(await delete_event(api, calendar_id, {"event_id": "gone"}))
    external_uid = await insert_external(api, calendar_id, soon())
    sdk = "tzid=Etc%2FUTC&include_moved=False&include_geo=False&localized_times=False"

    shown = await listed_ids(api, f"{sdk}&only_managed=False&include_managed=True&include_deleted=False")
    assert sorted(shown) == sorted(["mine", external_uid])
    assert await listed_ids(api, f"{sdk}&only_managed=False&include_managed=False&include_deleted=False") == [
        external_uid
    ]
    assert sorted(
        await listed_ids(api, f"{sdk}&only_managed=True&include_managed=True&include_deleted=True")
    ) == [
        "gone",
        "mine",
    ]


# --- authentication and isolation ------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic bWU6cGFzcw=="},
        {"Authorization": "Bearer mbt_not-a-real-token"},
        {"Authorization": "Bearer "},
    ],
    ids=["no-header", "wrong-scheme", "unknown-token", "empty-token"],
)
@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/v1/events"), ("GET", "/v1/calendars"), ("POST", "/v1/calendars")]
)
async def test_requests_without_a_valid_token_are_unauthorized(
    api: Api, headers: dict[str, str], method: str, path: str
) -> None:
    response = await api.client.request(method, path, json={"name": "Sneaky"}, headers=headers)

    assert_error(response, 401, "unauthorized")
    assert (await api.client.get("/v1/calendars", headers=api.auth)).json()["calendars"] == []


CALENDAR_ROUTES = {
    "upsert": ("POST", "/events", {"event_id": "ev1", "summary": "Hijacked"}),
    "delete": ("DELETE", "/events", {"event_id": "ev1"}),
    "single-read": ("GET", "/events/ev1", None),
    "read-by-uid": ("GET", "/events/by-uid/{uid}", None),
}


@pytest.mark.parametrize("route", list(CALENDAR_ROUTES))
async def test_another_application_cannot_reach_a_calendar(api: Api, other_api: Api, route: str) -> None:
    calendar_id = await api.calendar()
    assert_accepted(await api.upsert(calendar_id, event_body()))
    before = await api.event(calendar_id, "ev1")
    method, suffix, body = CALENDAR_ROUTES[route]
    path = f"/v1/calendars/{calendar_id}" + suffix.format(uid=before["event_uid"])

    response = await other_api.client.request(method, path, json=body, headers=other_api.auth)

    assert_error(response, 404, "not_found")
    assert await api.event(calendar_id, "ev1") == before


async def test_another_application_sees_none_of_the_first_ones_events_or_calendars(
    api: Api, other_api: Api
) -> None:
    calendar_id = await api.calendar()
    assert_accepted(await api.upsert(calendar_id, event_body()))
    await insert_external(api, calendar_id, soon())
    own_calendar = await other_api.calendar("Theirs")

    assert (await read_events(other_api, "include_managed=true"))["events"] == []
    assert (await read_events(other_api, ""))["events"] == []
    calendars = (await other_api.client.get("/v1/calendars", headers=other_api.auth)).json()["calendars"]
    assert [c["calendar_id"] for c in calendars] == [own_calendar]
    filtered = await other_api.client.get(f"/v1/events?calendar_ids[]={calendar_id}", headers=other_api.auth)
    assert_error(filtered, 404, "not_found")


# --- calendars and profiles ------------------------------------------------------------------------


async def test_create_calendar_answers_200_with_the_calendar(api: Api) -> None:
    response = await api.client.post("/v1/calendars", json={"name": "Sales"}, headers=api.auth)

    assert response.status_code == 200, response.text
    calendar = response.json()["calendar"]
    assert re.fullmatch(r"cal_\w+", calendar["calendar_id"])
    assert calendar["calendar_name"] == "Sales"
    assert (calendar["calendar_readonly"], calendar["calendar_deleted"]) == (False, False)


async def test_list_calendars_shows_only_the_applications_own(api: Api, other_api: Api) -> None:
    mine = [await api.calendar("Work"), await api.calendar("Home")]
    await other_api.calendar("Elsewhere")

    response = await api.client.get("/v1/calendars", headers=api.auth)

    assert response.status_code == 200, response.text
    calendars = response.json()["calendars"]
    assert [(c["calendar_id"], c["calendar_name"]) for c in calendars] == list(
        zip(mine, ["Work", "Home"], strict=True)
    )


@pytest.mark.parametrize(("body", "key"), [({}, "errors.required"), ({"name": ""}, "errors.invalid")])
async def test_create_calendar_needs_a_name(api: Api, body: dict[str, str], key: str) -> None:
    response = await api.client.post("/v1/calendars", json=body, headers=api.auth)

    assert_field_error(response, "name", key)
    assert (await api.client.get("/v1/calendars", headers=api.auth)).json()["calendars"] == []


async def test_profiles_list_adapters_and_urls_but_never_secrets(api: Api) -> None:
    response = await api.client.get("/v1/profiles", headers=api.auth)

    assert response.status_code == 200, response.text
    [profile] = response.json()["profiles"]
    assert (profile["profile_id"], profile["adapter"], profile["base_url"]) == (
        PROFILE,
        "recall-bot",
        "http://127.0.0.1:9",
    )
    for secret in TEST_ENV.values():
        assert secret not in response.text
    assert "api_key" not in response.text


# --- external events ----------------------------------------------------------------------------------


async def test_an_extension_can_be_attached_to_an_external_event_by_uid(api: Api) -> None:
    calendar_id = await api.calendar()
    uid = await insert_external(api, calendar_id, soon(), summary="Customer call")

    assert_accepted(await api.upsert(calendar_id, {"event_uid": uid, "extensions": [RECALL]}))

    response = await api.client.get(f"{events_path(calendar_id)}/by-uid/{uid}", headers=api.auth)
    assert response.status_code == 200, response.text
    event = response.json()["event"]
    assert (event["event_uid"], event.get("event_id"), event["summary"]) == (uid, None, "Customer call")
    assert [(e["provider"], e["profile_id"], e["status"], e["bot_id"]) for e in event["extensions"]] == [
        ("recall", PROFILE, "pending", None)
    ]
    [listed] = (await read_events(api, ""))["events"]
    assert listed["extensions"] == [RECALL]


@pytest.mark.parametrize(
    ("body", "field", "key"),
    [
        pytest.param({"summary": "Renamed"}, "summary", "errors.read_only", id="read-only-field"),
        pytest.param({"event_id": "ev1"}, "event_id", "errors.required", id="both-ids"),
    ],
)
async def test_upserts_by_event_uid_refuse_what_they_cannot_do(
    api: Api, body: dict[str, str], field: str, key: str
) -> None:
    calendar_id = await api.calendar()
    uid = await insert_external(api, calendar_id, soon(), summary="Customer call")

    response = await api.upsert(calendar_id, {"event_uid": uid, "extensions": [RECALL], **body})

    assert_field_error(response, field, key)
    event = (await api.client.get(f"{events_path(calendar_id)}/by-uid/{uid}", headers=api.auth)).json()[
        "event"
    ]
    assert event["summary"] == "Customer call"
    assert event.get("extensions", []) == []


async def test_an_upsert_by_an_event_uid_the_calendar_does_not_hold_is_a_conflict(api: Api) -> None:
    """409, naming the field: the calendar may hold that event once it has synced it."""
    calendar_id = await api.calendar()
    uid = await insert_external(api, calendar_id, soon(), summary="Customer call")

    response = await api.upsert(calendar_id, {"event_uid": "evt_external_unknown", "extensions": [RECALL]})

    assert response.status_code == 409, response.text
    assert response.json() == {
        "errors": {
            "event_uid": [
                {
                    "key": "errors.not_found",
                    "description": "no event with event_uid evt_external_unknown in this calendar",
                }
            ]
        }
    }
    event = (await api.client.get(f"{events_path(calendar_id)}/by-uid/{uid}", headers=api.auth)).json()
    assert event["event"].get("extensions", []) == []
    missing = await api.client.get(
        f"{events_path(calendar_id)}/by-uid/evt_external_unknown", headers=api.auth
    )
    assert missing.status_code == 404


async def test_an_extension_upsert_does_not_undelete_an_external_event(api: Api) -> None:
    calendar_id = await api.calendar()
    uid = await insert_external(api, calendar_id, soon())
    assert_accepted(await delete_event(api, calendar_id, {"event_uid": uid}))

    await api.upsert(calendar_id, {"event_uid": uid, "extensions": [RECALL]})

    event = (await api.client.get(f"{events_path(calendar_id)}/by-uid/{uid}", headers=api.auth)).json()[
        "event"
    ]
    assert event["deleted"] is True
    assert all(e["status"] == "cancelled" for e in event.get("extensions", []))


# --- health ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "status"), [("/healthz", "ok"), ("/readyz", "ready")])
async def test_health_probes_need_no_token(api: Api, path: str, status: str) -> None:
    response = await api.client.get(path)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == status  # /readyz says more: tests/service/test_operations_status.py
