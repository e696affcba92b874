"""The official Cronofy SDK (pycronofy 2.1.1), unchanged, against a real ``meetbridge serve`` process.

The client is pointed at the server per instance (``client.request_handler.base_url``), as in the
reference notes §7; pycronofy's module settings are never touched.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pycronofy
import pytest
from pycronofy import settings as pycronofy_settings
from pycronofy.exceptions import PyCronofyRequestError

from tests.e2e.server import ServerProcess, wait_until

pytestmark = pytest.mark.e2e

PROFILE = "int_sales_0000"
RECALL = {"provider": "recall", "profile_id": PROFILE}
WINDOW = {"from_date": date(2030, 1, 1), "to_date": date(2031, 1, 1)}


@pytest.fixture(scope="module")
def token(live_server: ServerProcess) -> str:
    return live_server.token("pycronofy-app")


@pytest.fixture
def client(live_server: ServerProcess, token: str) -> pycronofy.Client:
    cronofy = pycronofy.Client(access_token=token)
    cronofy.request_handler.base_url = live_server.url
    return cronofy


@pytest.fixture
def calendar(live_server: ServerProcess, token: str) -> str:
    return create_calendar(live_server, token, f"Work {uuid.uuid4().hex[:6]}")


def create_calendar(server: ServerProcess, token: str, name: str) -> str:
    response = httpx.post(
        f"{server.url}/v1/calendars", json={"name": name}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    body = response.json()["calendar"]
    assert body["calendar_name"] == name
    calendar_id: str = body["calendar_id"]
    return calendar_id


def by_event_id(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for event in events:
        assert event["event_id"] not in found, f"{event['event_id']} came back twice"
        found[event["event_id"]] = event
    return found


def test_settings_are_not_mutated(client: pycronofy.Client, live_server: ServerProcess) -> None:
    assert pycronofy_settings.API_BASE_URL == "https://api.cronofy.com"
    assert client.request_handler.base_url == live_server.url


def test_list_calendars_shows_the_created_calendar(client: pycronofy.Client, calendar: str) -> None:
    calendars = {c["calendar_id"]: c for c in client.list_calendars()}
    assert calendar in calendars
    assert calendars[calendar]["calendar_readonly"] is False
    assert calendars[calendar]["calendar_deleted"] is False


def test_upsert_time_kinds_and_read_back(client: pycronofy.Client, calendar: str) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    sent: dict[str, dict[str, Any]] = {
        "aware-offset": {
            "summary": "Aware start, naive end",
            "description": "naive datetimes are UTC to pycronofy",
            "start": datetime(2030, 3, 4, 10, 0, tzinfo=timezone(timedelta(hours=2))),
            "end": datetime(2030, 3, 4, 9, 30),
            "tzid": "Europe/Berlin",
            "extensions": [dict(RECALL)],
        },
        "aware-zoneinfo": {
            "summary": "Zoneinfo",
            "start": datetime(2030, 7, 1, 9, 0, tzinfo=berlin),
            "end": datetime(2030, 7, 1, 10, 15, tzinfo=berlin),
            "tzid": "Europe/Berlin",
            "extensions": [dict(RECALL)],
        },
        "all-day": {
            "summary": "Offsite",
            "start": date(2030, 5, 6),
            "end": date(2030, 5, 8),
            "extensions": [dict(RECALL)],
        },
        "strings": {
            "summary": "Plain strings",
            "start": "2030-09-09T12:00:00Z",
            "end": "2030-09-09T12:45:00Z",
        },
        "time-objects": {
            "summary": "Per-end zones",
            "start": {"time": datetime(2030, 10, 1, 15, 0, tzinfo=UTC), "tzid": "America/New_York"},
            "end": {"time": datetime(2030, 10, 1, 16, 0, tzinfo=UTC), "tzid": "Asia/Tokyo"},
            "extensions": [dict(RECALL)],
        },
    }
    expected_times = {
        "aware-offset": ("2030-03-04T08:00:00Z", "2030-03-04T09:30:00Z"),
        "aware-zoneinfo": ("2030-07-01T07:00:00Z", "2030-07-01T08:15:00Z"),
        "all-day": ("2030-05-06", "2030-05-08"),
        "strings": ("2030-09-09T12:00:00Z", "2030-09-09T12:45:00Z"),
        "time-objects": ("2030-10-01T15:00:00Z", "2030-10-01T16:00:00Z"),
    }
    for event_id, event in sent.items():
        assert client.upsert_event(calendar, {"event_id": event_id, **event}) is None

    events = by_event_id(client.read_events(calendar_ids=[calendar], include_managed=True, **WINDOW).all())

    assert set(events) == set(sent)
    for event_id, event in sent.items():
        read = events[event_id]
        assert (read["start"], read["end"]) == expected_times[event_id], event_id
        assert read["summary"] == event["summary"]
        assert read["description"] == event.get("description", "")
        assert read["calendar_id"] == calendar
        assert read["event_uid"].startswith("evt_")
        assert read["deleted"] is False
        assert read.get("extensions", []) == event.get("extensions", []), event_id
    assert events["aware-offset"]["tzid"] == "Europe/Berlin"

    localized = by_event_id(client.read_events(calendar_ids=[calendar], localized_times=True, **WINDOW).all())
    assert localized["time-objects"]["start"] == {
        "time": "2030-10-01T11:00:00-04:00",
        "tzid": "America/New_York",
    }
    assert localized["time-objects"]["end"] == {"time": "2030-10-02T01:00:00+09:00", "tzid": "Asia/Tokyo"}
    assert localized["all-day"]["start"] == {"date": "2030-05-06", "tzid": "Etc/UTC"}


def test_upsert_again_updates_the_same_event(client: pycronofy.Client, calendar: str) -> None:
    event = {"event_id": "standup", "summary": "Standup", "start": datetime(2030, 2, 1, 9, tzinfo=UTC)}
    client.upsert_event(calendar, {**event, "end": datetime(2030, 2, 1, 9, 15, tzinfo=UTC)})
    client.upsert_event(
        calendar,
        {**event, "summary": "Standup (moved)", "end": datetime(2030, 2, 1, 9, 30, tzinfo=UTC)},
    )
    events = client.read_events(calendar_ids=[calendar], **WINDOW).all()
    assert [(e["event_id"], e["summary"], e["end"]) for e in events] == [
        ("standup", "Standup (moved)", "2030-02-01T09:30:00Z")
    ]


@pytest.fixture(scope="module")
def many_events(live_server: ServerProcess, token: str) -> tuple[str, dict[str, dict[str, Any]]]:
    """27 events in one calendar (3 pages of 10), 2 outside the window, 3 in another calendar."""
    cronofy = pycronofy.Client(access_token=token)
    cronofy.request_handler.base_url = live_server.url
    calendar = create_calendar(live_server, token, "Paged")
    other = create_calendar(live_server, token, "Other")
    expected: dict[str, dict[str, Any]] = {}
    first = datetime(2030, 6, 1, 8, 0, tzinfo=UTC)
    for i in range(27):
        # Two events per start time: the page order must still be total (no repeats, no gaps).
        start = first + timedelta(hours=i // 2)
        event: dict[str, Any] = {
            "event_id": f"paged-{i:02d}",
            "summary": f"Meeting {i}",
            "description": f"agenda {i}",
            "start": start,
            "end": start + timedelta(minutes=30),
            "tzid": "Europe/Berlin",
        }
        if i % 3:
            event["extensions"] = [dict(RECALL)]
        expected[event["event_id"]] = dict(event)  # pycronofy formats start/end in place
        cronofy.upsert_event(calendar, event)
    for year in (2029, 2032):
        cronofy.upsert_event(
            calendar,
            {
                "event_id": f"outside-{year}",
                "summary": "Out",
                "start": date(year, 1, 1),
                "end": date(year, 1, 2),
            },
        )
    for i in range(3):
        cronofy.upsert_event(
            other,
            {
                "event_id": f"paged-{i:02d}",
                "summary": "Other calendar",
                "start": first,
                "end": first + timedelta(hours=1),
            },
        )
    return calendar, expected


def assert_all_events(events: list[dict[str, Any]], expected: dict[str, dict[str, Any]]) -> None:
    found = by_event_id(events)
    assert sorted(found) == sorted(expected)
    for event_id, event in expected.items():
        read = found[event_id]
        assert read["summary"] == event["summary"]
        assert read["description"] == event["description"]
        assert read["start"] == event["start"].strftime("%Y-%m-%dT%H:%M:%SZ")
        assert read["end"] == event["end"].strftime("%Y-%m-%dT%H:%M:%SZ")
        assert read["tzid"] == "Europe/Berlin"
        assert read.get("extensions", []) == event.get("extensions", [])


def test_read_events_all_follows_next_page(
    client: pycronofy.Client, live_server: ServerProcess, many_events: tuple[str, dict[str, dict[str, Any]]]
) -> None:
    calendar, expected = many_events
    pages = client.read_events(calendar_ids=[calendar], include_managed=True, **WINDOW)

    first = pages.json()["pages"]
    assert (first["current"], first["total"]) == (1, 3)
    assert first["next_page"].startswith(f"{live_server.url}/v1/events/pages/")
    assert len(pages) == 10

    events = pages.all()
    assert pages.current == pages.total == 3
    assert "next_page" not in pages.json()["pages"]
    assert len(events) == 27
    assert_all_events(events, expected)


def test_read_events_iteration_fetches_every_page(
    client: pycronofy.Client, many_events: tuple[str, dict[str, dict[str, Any]]]
) -> None:
    calendar, expected = many_events
    fetched: list[str] = []
    original_get = client.request_handler.get

    def counting_get(*args: Any, **kwargs: Any) -> Any:
        fetched.append(kwargs.get("url") or kwargs.get("endpoint") or "")
        return original_get(*args, **kwargs)

    client.request_handler.get = counting_get  # this instance only
    events = list(
        client.read_events(
            calendar_ids=[calendar],
            include_managed=True,
            from_date=datetime(2030, 6, 1, tzinfo=UTC),
            to_date=datetime(2030, 6, 2, tzinfo=UTC),
        )
    )
    assert len(fetched) == 3
    assert fetched[0] == "events"
    assert all("/v1/events/pages/" in url for url in fetched[1:])
    assert len(events) == 27
    assert_all_events(events, expected)


def test_read_events_without_automatic_pagination_stops_at_the_page(
    client: pycronofy.Client, many_events: tuple[str, dict[str, dict[str, Any]]]
) -> None:
    calendar, expected = many_events
    pages = client.read_events(calendar_ids=[calendar], automatic_pagination=False, **WINDOW)
    events = list(pages)
    assert [e["event_id"] for e in events] == sorted(expected)[:10]


def test_an_unchanged_event_is_not_skipped_when_an_earlier_one_is_deleted_between_pages(
    client: pycronofy.Client, calendar: str
) -> None:
    first = datetime(2030, 12, 1, 8, tzinfo=UTC)
    for i in range(15):
        start = first + timedelta(hours=i)
        client.upsert_event(
            calendar,
            {
                "event_id": f"sync-{i:02d}",
                "summary": "Sync",
                "start": start,
                "end": start + timedelta(minutes=30),
            },
        )
    pages = client.read_events(calendar_ids=[calendar], **WINDOW)
    seen = [e["event_id"] for e in pages.current_page()]
    assert seen == [f"sync-{i:02d}" for i in range(10)]

    client.delete_event(calendar, "sync-03")  # a change between two page fetches, as happens while syncing
    pages.fetch_next_page()
    seen += [e["event_id"] for e in pages.current_page()]

    assert "sync-10" in seen, "sync-10 never changed but no page returned it"


def test_window_excludes_events_outside_it(
    client: pycronofy.Client, many_events: tuple[str, dict[str, dict[str, Any]]]
) -> None:
    calendar, _ = many_events
    events = client.read_events(
        calendar_ids=[calendar], from_date=date(2029, 1, 1), to_date=date(2029, 1, 2)
    ).all()
    assert [e["event_id"] for e in events] == ["outside-2029"]


def test_window_dates_are_in_the_query_tzid(client: pycronofy.Client, calendar: str) -> None:
    late = datetime(2030, 6, 1, 21, 30, tzinfo=UTC)  # 23:30 in Berlin
    client.upsert_event(
        calendar, {"event_id": "late", "summary": "Late", "start": late, "end": late + timedelta(hours=1)}
    )
    after = datetime(2030, 6, 1, 22, 30, tzinfo=UTC)  # 00:30 on 2 June in Berlin
    client.upsert_event(
        calendar,
        {"event_id": "after", "summary": "After", "start": after, "end": after + timedelta(minutes=30)},
    )
    window = {"from_date": date(2030, 6, 1), "to_date": date(2030, 6, 2)}

    utc = client.read_events(calendar_ids=[calendar], **window).all()
    assert [e["event_id"] for e in utc] == ["late", "after"]
    berlin = client.read_events(calendar_ids=[calendar], tzid="Europe/Berlin", **window).all()
    assert [e["event_id"] for e in berlin] == ["late"]


def test_last_modified_returns_only_later_changes(client: pycronofy.Client, calendar: str) -> None:
    event = {"summary": "Changed", "start": "2030-11-01T10:00:00Z", "end": "2030-11-01T11:00:00Z"}
    client.upsert_event(calendar, {"event_id": "old", **event})
    [old] = client.read_events(calendar_ids=[calendar], **WINDOW).all()
    # `updated` has whole seconds: let the clock pass that second so the next change is strictly later.
    wait_until(
        lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") > old["updated"],
        timeout=3,
        what="the next second",
    )
    client.upsert_event(calendar, {"event_id": "new", **event})
    by_id = by_event_id(client.read_events(calendar_ids=[calendar], **WINDOW).all())
    assert by_id["new"]["updated"] > old["updated"]

    changed = client.read_events(
        calendar_ids=[calendar], last_modified=by_id["new"]["updated"], **WINDOW
    ).all()
    assert [e["event_id"] for e in changed] == ["new"]
    since_start = client.read_events(
        calendar_ids=[calendar], last_modified=datetime.fromisoformat(old["updated"]), **WINDOW
    ).all()
    assert sorted(e["event_id"] for e in since_start) == ["new", "old"]


def test_delete_event_hides_it_unless_deleted_are_included(client: pycronofy.Client, calendar: str) -> None:
    for event_id in ("keep", "drop"):
        client.upsert_event(
            calendar,
            {
                "event_id": event_id,
                "summary": event_id.title(),
                "start": datetime(2030, 4, 1, 10, tzinfo=UTC),
                "end": datetime(2030, 4, 1, 11, tzinfo=UTC),
                "extensions": [dict(RECALL)],
            },
        )
    assert client.delete_event(calendar, "drop") is None
    assert client.delete_event(calendar, "never-existed") is None  # unknown ids are not an error

    visible = by_event_id(client.read_events(calendar_ids=[calendar], **WINDOW).all())
    assert list(visible) == ["keep"]
    assert visible["keep"]["deleted"] is False

    with_deleted = by_event_id(
        client.read_events(calendar_ids=[calendar], include_deleted=True, **WINDOW).all()
    )
    assert sorted(with_deleted) == ["drop", "keep"]
    assert with_deleted["drop"]["deleted"] is True
    assert with_deleted["drop"]["status"] == "cancelled"
    assert with_deleted["drop"]["summary"] == "Drop"
    assert with_deleted["keep"]["deleted"] is False


GOOD = {"summary": "Fine", "start": "2030-01-05T10:00:00Z", "end": "2030-01-05T11:00:00Z"}


@pytest.mark.parametrize(
    ("change", "field", "key", "words"),
    [
        (
            {"start": datetime(2030, 1, 5, 11, tzinfo=UTC), "end": datetime(2030, 1, 5, 10, tzinfo=UTC)},
            "end",
            "errors.invalid",
            "before start",
        ),
        (
            {"extensions": [{"provider": "recall", "profile_id": "int_nope"}]},
            "extensions",
            "errors.unknown_profile",
            "int_nope",
        ),
        (
            {"extensions": [{"provider": "zoom", "profile_id": PROFILE}]},
            "extensions",
            "errors.unknown_provider",
            "zoom",
        ),
        ({"summary": None}, "summary", "errors.required", "required"),
        ({"start": date(2030, 1, 5)}, "end", "errors.invalid", "both be dates"),
        ({"tzid": "Mars/Olympus"}, "tzid", "errors.invalid", "Mars/Olympus"),
    ],
    ids=[
        "end-before-start",
        "unknown-profile",
        "unknown-provider",
        "no-summary",
        "date-and-time",
        "bad-tzid",
    ],
)
def test_bad_upsert_raises_with_cronofy_errors_body(
    client: pycronofy.Client,
    calendar: str,
    live_server: ServerProcess,
    token: str,
    change: dict[str, Any],
    field: str,
    key: str,
    words: str,
) -> None:
    event = {"event_id": "bad", **GOOD, **change}
    event = {name: value for name, value in event.items() if value is not None}
    with pytest.raises(PyCronofyRequestError) as raised:
        client.upsert_event(calendar, event)
    response = raised.value.response
    assert response.status_code == 422
    body = response.json()
    assert list(body) == ["errors"]
    assert list(body["errors"]) == [field]
    [error] = body["errors"][field]
    assert error["key"] == key
    assert words in error["description"]

    missing = httpx.get(
        f"{live_server.url}/v1/calendars/{calendar}/events/bad", headers={"Authorization": f"Bearer {token}"}
    )
    assert missing.status_code == 404, "a refused upsert must not store anything"


def test_unknown_token_raises_401(live_server: ServerProcess, calendar: str) -> None:
    stranger = pycronofy.Client(access_token="mbt_" + uuid.uuid4().hex)
    stranger.request_handler.base_url = live_server.url
    with pytest.raises(PyCronofyRequestError) as raised:
        stranger.upsert_event(calendar, {"event_id": "x", **GOOD})
    assert raised.value.response.status_code == 401
    assert raised.value.response.json()["error"] == "unauthorized"


def test_unknown_calendar_raises_404(client: pycronofy.Client) -> None:
    with pytest.raises(PyCronofyRequestError) as raised:
        client.upsert_event("cal_does_not_exist", {"event_id": "x", **GOOD})
    assert raised.value.response.status_code == 404
    assert "cal_does_not_exist" in raised.value.response.json()["message"]
