"""CalendarV2Api on the wire (respx), and against the in-process Recall sandbox: paths, bodies, filters,
pagination, and which answers become which meetbridge errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import respx

from meetbridge.config.catalogue import load_catalogue
from meetbridge.config.profiles import parse_config
from meetbridge.errors import ProviderNotFound, ProviderRejected, ProviderUnavailable
from meetbridge.providers.http import ProviderHttp
from meetbridge.providers.recall.calendar_v2_api import (
    CalendarV2Api,
    EventBot,
    RecallCalendar,
    RecallCalendarEvent,
)
from meetbridge.providers.registry import DEFAULT_TIMEOUT, auth_headers
from meetbridge.sandbox import CalendarV2Sandbox, RecallSandbox, SandboxClock, create_recall_sandbox_app
from meetbridge.settings import default_catalogue_dir
from tests.providers.conftest import RecordedWire, Wires, mock_router

BASE_URL = "https://us-east-1.recall.ai"
KEY = "recall-calendar-test-key"
PROFILE_ID = "int_cal_0000"
NOW = datetime(2026, 5, 11, 12, 0, tzinfo=UTC)
CAL_ID = "0b7f5a52-6a49-4d5e-9d1c-2f3c1c0e8a11"
EVENT_ID = "5f0d7c1e-3b2a-4c4d-8e9f-0a1b2c3d4e5f"
BOT_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
ZOOM = "https://zoom.us/j/1234567890?pwd=abc"
CALENDARS = "/api/v2/calendars/"
EVENTS = "/api/v2/calendar-events/"
BOT_CONFIG = {"bot_name": "Notetaker", "recording_config": {"video_mixed_layout": "speaker_view"}}


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def calendar_json(**fields: Any) -> dict[str, Any]:
    return {
        "id": CAL_ID,
        "platform": "google_calendar",
        "platform_email": None,
        "oauth_client_id": "client-1",
        "oauth_email": "ann@acme.test",
        "status": "connecting",
        "status_changes": [{"status": "connecting", "created_at": iso(NOW)}],
        "created_at": iso(NOW),
        "updated_at": iso(NOW),
        **fields,
    }


def event_json(event_id: str = EVENT_ID, **fields: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "start_time": iso(NOW + timedelta(hours=2)),
        "end_time": iso(NOW + timedelta(hours=3)),
        "calendar_id": CAL_ID,
        "raw": {"summary": "Pipeline review", "attendees": [{"email": "ann@acme.test"}]},
        "platform": "google_calendar",
        "platform_id": "g-1",
        "ical_uid": "g-1@google.com",
        "meeting_platform": "zoom",
        "meeting_url": ZOOM,
        "created_at": iso(NOW),
        "updated_at": iso(NOW),
        "is_deleted": False,
        "bots": [],
        **fields,
    }


def bot_entry(**fields: Any) -> dict[str, Any]:
    return {
        "bot_id": BOT_ID,
        "start_time": iso(NOW + timedelta(hours=2)),
        "deduplication_key": "k1",
        "meeting_url": ZOOM,
        **fields,
    }


class RecordingHttp(ProviderHttp):
    """ProviderHttp that remembers the rate-limit endpoint name of every call."""

    endpoints: list[str]

    async def request(self, endpoint: str, *args: Any, **kwargs: Any) -> httpx.Response:
        self.endpoints.append(endpoint)
        return await super().request(endpoint, *args, **kwargs)


def provider_http(transport: httpx.AsyncBaseTransport, *, base_url: str | None = None) -> RecordingHttp:
    """Built the way AdapterRegistry builds its clients, from a recall-calendar-v2 profile."""
    catalogue = load_catalogue(default_catalogue_dir())
    table = {"adapter": "recall-calendar-v2", "region": "us-east-1", "api_key": "env:RECALL_KEY"}
    config = parse_config({"profiles": {PROFILE_ID: table}}, catalogue, environ={"RECALL_KEY": KEY})
    profile = config.profiles[PROFILE_ID]
    _, headers = auth_headers(profile)
    base = base_url or profile.base_url
    client = httpx.AsyncClient(base_url=base, headers=headers, timeout=DEFAULT_TIMEOUT, transport=transport)
    http = RecordingHttp(f"{profile.adapter} at {base}", client, profile.rate_limits)
    http.endpoints = []
    return http


@dataclass
class Wire(RecordedWire):
    http: RecordingHttp
    api: CalendarV2Api


MakeWire = Callable[..., Wire]


@pytest.fixture
def make_wire(wires: Wires) -> MakeWire:
    def build(base_url: str = BASE_URL) -> Wire:
        router = mock_router(base_url)
        http = provider_http(httpx.MockTransport(router.async_handler), base_url=base_url)
        return wires.keep(Wire(router, http, CalendarV2Api(http)))

    return build


@pytest.fixture
def wire(make_wire: MakeWire) -> Wire:
    return make_wire()


async def all_pages(api: CalendarV2Api, **kwargs: Any) -> list[list[RecallCalendarEvent]]:
    return [page async for page in api.list_events(CAL_ID, **{"updated_at_gte": None, **kwargs})]


# --- paths, headers and bodies ---------------------------------------------------------------------


async def test_create_calendar_posts_exactly_the_oauth_fields_with_the_token(wire: Wire) -> None:
    wire.router.post(CALENDARS).respond(201, json=calendar_json())

    created = await wire.api.create_calendar(
        platform="google_calendar",
        oauth_client_id="client-1",
        oauth_client_secret="secret-1",
        oauth_refresh_token="refresh-1",
        oauth_email="ann@acme.test",
    )

    assert wire.sent == [("POST", f"{BASE_URL}{CALENDARS}")]
    request = wire.router.calls[0].request
    assert request.headers["authorization"] == f"Token {KEY}"
    assert request.headers["content-type"] == "application/json"
    assert wire.body(0) == {
        "platform": "google_calendar",
        "oauth_client_id": "client-1",
        "oauth_client_secret": "secret-1",
        "oauth_refresh_token": "refresh-1",
        "oauth_email": "ann@acme.test",
    }
    assert created == RecallCalendar(
        id=CAL_ID,
        platform="google_calendar",
        status="connecting",
        platform_email=None,
        oauth_email="ann@acme.test",
        status_changes=[{"status": "connecting", "created_at": iso(NOW)}],
    )
    assert wire.http.endpoints == ["calendars"]


async def test_create_calendar_without_an_email_leaves_the_field_out(wire: Wire) -> None:
    wire.router.post(CALENDARS).respond(201, json=calendar_json(oauth_email=None))
    await wire.api.create_calendar(
        platform="microsoft_outlook",
        oauth_client_id="client-1",
        oauth_client_secret="secret-1",
        oauth_refresh_token="refresh-1",
        oauth_email=None,
    )
    assert wire.body(0) == {
        "platform": "microsoft_outlook",
        "oauth_client_id": "client-1",
        "oauth_client_secret": "secret-1",
        "oauth_refresh_token": "refresh-1",
    }


async def test_get_and_delete_calendar_use_the_slash_form(wire: Wire) -> None:
    wire.router.get(f"{CALENDARS}{CAL_ID}/").respond(200, json=calendar_json(status="connected"))
    wire.router.delete(f"{CALENDARS}{CAL_ID}/").respond(204)

    assert (await wire.api.get_calendar(CAL_ID)).status == "connected"
    assert await wire.api.delete_calendar(CAL_ID) is True

    assert wire.sent == [
        ("GET", f"{BASE_URL}{CALENDARS}{CAL_ID}/"),
        ("DELETE", f"{BASE_URL}{CALENDARS}{CAL_ID}/"),
    ]
    assert all(call.request.headers["authorization"] == f"Token {KEY}" for call in wire.router.calls)
    assert wire.http.endpoints == ["calendars", "calendars"]


async def test_get_event_decodes_raw_and_bots(wire: Wire) -> None:
    wire.router.get(f"{EVENTS}{EVENT_ID}/").respond(200, json=event_json(bots=[bot_entry()]))

    got = await wire.api.get_event(EVENT_ID)

    assert wire.sent == [("GET", f"{BASE_URL}{EVENTS}{EVENT_ID}/")]
    assert got == RecallCalendarEvent(
        id=EVENT_ID,
        calendar_id=CAL_ID,
        start_time=NOW + timedelta(hours=2),
        end_time=NOW + timedelta(hours=3),
        raw={"summary": "Pipeline review", "attendees": [{"email": "ann@acme.test"}]},
        platform="google_calendar",
        ical_uid="g-1@google.com",
        meeting_url=ZOOM,
        meeting_platform="zoom",
        is_deleted=False,
        updated_at=NOW,
        created_at=NOW,
        bots=[
            EventBot(
                bot_id=BOT_ID, start_time=NOW + timedelta(hours=2), deduplication_key="k1", meeting_url=ZOOM
            )
        ],
    )
    assert wire.http.endpoints == ["calendar_event"]


async def test_schedule_bot_posts_the_key_and_config_and_returns_the_event(wire: Wire) -> None:
    wire.router.post(f"{EVENTS}{EVENT_ID}/bot/").respond(200, json=event_json(bots=[bot_entry()]))

    updated = await wire.api.schedule_bot(EVENT_ID, deduplication_key="k1", bot_config=BOT_CONFIG)

    assert wire.sent == [("POST", f"{BASE_URL}{EVENTS}{EVENT_ID}/bot/")]
    assert wire.router.calls[0].request.headers["authorization"] == f"Token {KEY}"
    assert wire.body(0) == {"deduplication_key": "k1", "bot_config": BOT_CONFIG}
    assert [bot.bot_id for bot in updated.bots] == [BOT_ID]
    assert wire.http.endpoints == ["calendar_event_bot"]


async def test_remove_bot_deletes_and_returns_the_event_without_bots(wire: Wire) -> None:
    wire.router.delete(f"{EVENTS}{EVENT_ID}/bot/").respond(200, json=event_json())

    updated = await wire.api.remove_bot(EVENT_ID)

    assert wire.sent == [("DELETE", f"{BASE_URL}{EVENTS}{EVENT_ID}/bot/")]
    assert updated is not None
    assert updated.bots == []
    assert wire.http.endpoints == ["calendar_event_bot"]


async def test_ids_stay_one_path_segment(wire: Wire) -> None:
    wire.router.route().respond(404, json={"detail": "Not found."})
    assert await wire.api.remove_bot("a/../b?x=1") is None
    assert wire.router.calls[0].request.url.raw_path == b"/api/v2/calendar-events/a%2F..%2Fb%3Fx%3D1/bot/"


# --- 404 meaning "already done" ----------------------------------------------------------------------


async def test_deleting_a_calendar_recall_no_longer_knows_is_not_an_error(wire: Wire) -> None:
    wire.router.delete(f"{CALENDARS}{CAL_ID}/").respond(404, json={"detail": "Not found."})
    assert await wire.api.delete_calendar(CAL_ID) is False


async def test_removing_the_bot_of_an_unknown_event_answers_none(wire: Wire) -> None:
    wire.router.delete(f"{EVENTS}{EVENT_ID}/bot/").respond(404, json={"detail": "Not found."})
    assert await wire.api.remove_bot(EVENT_ID) is None


async def test_other_404s_stay_errors(wire: Wire) -> None:
    wire.router.get(f"{EVENTS}{EVENT_ID}/").respond(404, json={"detail": "Not found."})
    wire.router.post(f"{EVENTS}{EVENT_ID}/bot/").respond(404, json={"detail": "Not found."})
    with pytest.raises(ProviderNotFound):
        await wire.api.get_event(EVENT_ID)
    with pytest.raises(ProviderNotFound):
        await wire.api.schedule_bot(EVENT_ID, deduplication_key="k1", bot_config={})


# --- list_events: filters and pages ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("since", "sent"),
    [
        pytest.param(datetime(2026, 5, 11, 12, 0, 5, tzinfo=UTC), "2026-05-11T12:00:05Z", id="whole-seconds"),
        pytest.param(
            datetime(2026, 5, 11, 12, 0, 5, 120, tzinfo=UTC), "2026-05-11T12:00:05.000120Z", id="microseconds"
        ),
        pytest.param(
            datetime(2026, 5, 11, 14, 0, 5, tzinfo=timezone(timedelta(hours=2))),
            "2026-05-11T12:00:05Z",
            id="other-zone",
        ),
    ],
)
async def test_list_events_filters_by_calendar_and_updated_at_in_utc(
    wire: Wire, since: datetime, sent: str
) -> None:
    wire.router.get(EVENTS).respond(200, json={"next": None, "previous": None, "results": [event_json()]})

    pages = await all_pages(wire.api, updated_at_gte=since)

    assert [[event.id for event in page] for page in pages] == [[EVENT_ID]]
    [call] = wire.router.calls
    assert call.request.url.path == EVENTS
    assert dict(call.request.url.params) == {"calendar_id": CAL_ID, "updated_at__gte": sent}
    assert call.request.headers["authorization"] == f"Token {KEY}"


async def test_list_events_without_updated_at_sends_only_the_calendar(wire: Wire) -> None:
    wire.router.get(EVENTS).respond(200, json={"next": None, "previous": None, "results": []})
    assert await all_pages(wire.api) == [[]]
    assert dict(wire.router.calls[0].request.url.params) == {"calendar_id": CAL_ID}


async def test_a_naive_updated_at_is_refused_before_any_call(wire: Wire) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await all_pages(wire.api, updated_at_gte=datetime(2026, 5, 11, 12, 0))
    assert wire.sent == []


def paged(
    base: str, cursors: Mapping[str | None, tuple[str | None, list[str]]]
) -> respx.types.SideEffectTypes:
    """Answer each cursor with (next cursor, event ids); `next` is an absolute URL on ``base``."""

    def handler(request: httpx.Request) -> httpx.Response:
        following, ids = cursors[request.url.params.get("cursor")]
        link = f"{base}{EVENTS}?calendar_id={CAL_ID}&cursor={following}" if following else None
        body = {"next": link, "previous": None, "results": [event_json(i) for i in ids]}
        return httpx.Response(200, json=body)

    return handler


async def test_list_events_follows_next_verbatim_over_three_pages(wire: Wire) -> None:
    pages = {None: ("c2", ["e1", "e2"]), "c2": ("c3", ["e3", "e4"]), "c3": (None, ["e5"])}
    wire.router.get(EVENTS).mock(side_effect=paged(BASE_URL, pages))

    got = await all_pages(wire.api, updated_at_gte=NOW)

    assert [[event.id for event in page] for page in got] == [["e1", "e2"], ["e3", "e4"], ["e5"]]
    since = "2026-05-11T12%3A00%3A00Z"
    assert wire.sent == [
        ("GET", f"{BASE_URL}{EVENTS}?calendar_id={CAL_ID}&updated_at__gte={since}"),
        ("GET", f"{BASE_URL}{EVENTS}?calendar_id={CAL_ID}&cursor=c2"),
        ("GET", f"{BASE_URL}{EVENTS}?calendar_id={CAL_ID}&cursor=c3"),
    ]
    assert all(call.request.headers["authorization"] == f"Token {KEY}" for call in wire.router.calls)
    assert wire.http.endpoints == ["calendar_events_list"] * 3


async def test_plain_http_next_links_of_a_local_recall_are_followed(make_wire: MakeWire) -> None:
    local = "http://localhost:8080"
    wire = make_wire(local)
    wire.router.get(EVENTS).mock(side_effect=paged(local, {None: ("c2", ["e1"]), "c2": (None, ["e2"])}))

    got = await all_pages(wire.api)

    assert [[event.id for event in page] for page in got] == [["e1"], ["e2"]]
    assert wire.sent[1] == ("GET", f"{local}{EVENTS}?calendar_id={CAL_ID}&cursor=c2")


@pytest.mark.parametrize(
    "foreign",
    [
        pytest.param("https://evil.example", id="other-host"),
        pytest.param("http://us-east-1.recall.ai", id="downgraded-to-http"),
        pytest.param("https://us-east-1.recall.ai:8443", id="other-port"),
        pytest.param("https://us-east-1.recall.ai.evil.example", id="lookalike-host"),
    ],
)
async def test_a_next_link_to_another_origin_is_not_followed(wire: Wire, foreign: str) -> None:
    wire.router.get(EVENTS).mock(side_effect=paged(foreign, {None: ("c2", ["e1"])}))

    pages = wire.api.list_events(CAL_ID, updated_at_gte=None)
    first = await anext(pages)
    with pytest.raises(ProviderUnavailable, match="not followed") as info:
        await anext(pages)

    assert [event.id for event in first] == ["e1"]
    assert len(wire.router.calls) == 1  # the key never went to the other server
    assert KEY not in str(info.value)


async def test_a_next_link_that_points_back_is_not_followed_forever(wire: Wire) -> None:
    wire.router.get(EVENTS).mock(side_effect=paged(BASE_URL, {None: ("c2", ["e1"]), "c2": ("c2", ["e2"])}))
    with pytest.raises(ProviderUnavailable, match="loops"):
        await all_pages(wire.api)
    assert len(wire.router.calls) == 2


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [409, 429, 507])
async def test_retryable_answers_become_provider_unavailable_with_retry_after(
    wire: Wire, status: int
) -> None:
    wire.router.post(f"{EVENTS}{EVENT_ID}/bot/").respond(
        status, json={"detail": "try again"}, headers={"Retry-After": "30"}
    )
    with pytest.raises(ProviderUnavailable) as info:
        await wire.api.schedule_bot(EVENT_ID, deduplication_key="k1", bot_config=BOT_CONFIG)
    assert (info.value.status, info.value.retry_after) == (status, 30.0)
    assert KEY not in str(info.value)


async def test_a_rate_limited_page_becomes_provider_unavailable(wire: Wire) -> None:
    wire.router.get(EVENTS).respond(429, json={"detail": "Throttled."}, headers={"Retry-After": "7"})
    with pytest.raises(ProviderUnavailable) as info:
        await all_pages(wire.api)
    assert (info.value.status, info.value.retry_after) == (429, 7.0)


async def test_a_400_becomes_provider_rejected(wire: Wire) -> None:
    wire.router.post(CALENDARS).respond(400, json={"oauth_email": ["Enter a valid email address."]})
    with pytest.raises(ProviderRejected) as info:
        await wire.api.create_calendar(
            platform="google_calendar",
            oauth_client_id="client-1",
            oauth_client_secret="secret-1",
            oauth_refresh_token="refresh-1",
            oauth_email="nope",
        )
    assert info.value.status == 400
    assert "oauth_email: Enter a valid email address." in str(info.value)
    assert "secret-1" not in str(info.value)
    assert "refresh-1" not in str(info.value)


async def test_unknown_fields_are_ignored_and_absent_optional_ones_default(wire: Wire) -> None:
    event = event_json(bots=[bot_entry(extra={"new": True})], future_field=[1, 2], platform_id="g-9")
    for name in ("raw", "ical_uid", "meeting_url", "meeting_platform", "created_at"):
        del event[name]
    wire.router.get(f"{EVENTS}{EVENT_ID}/").respond(200, json=event)
    wire.router.get(f"{CALENDARS}{CAL_ID}/").respond(
        200, json={"id": CAL_ID, "platform": "zoom_calendar", "status": "paused", "oauth_client_secret": "s"}
    )

    got = await wire.api.get_event(EVENT_ID)
    calendar = await wire.api.get_calendar(CAL_ID)

    assert (got.raw, got.ical_uid, got.meeting_url, got.meeting_platform, got.created_at) == (
        {},
        None,
        None,
        None,
        None,
    )
    assert got.bots[0].deduplication_key == "k1"
    assert calendar == RecallCalendar(id=CAL_ID, platform="zoom_calendar", status="paused")


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        pytest.param(b"<html>gateway</html>", {"content-type": "text/html"}, id="not-json"),
        pytest.param(json.dumps({"id": EVENT_ID}).encode(), {}, id="missing-fields"),
        pytest.param(json.dumps(event_json(start_time="soon")).encode(), {}, id="bad-time"),
        pytest.param(json.dumps(event_json(is_deleted=None)).encode(), {}, id="null-is-deleted"),
    ],
)
async def test_an_unreadable_body_is_provider_unavailable(
    wire: Wire, content: bytes, headers: dict[str, str]
) -> None:
    wire.router.get(f"{EVENTS}{EVENT_ID}/").respond(200, content=content, headers=headers)
    with pytest.raises(ProviderUnavailable) as info:
        await wire.api.get_event(EVENT_ID)
    assert info.value.status is None


async def test_an_unreadable_page_is_provider_unavailable(wire: Wire) -> None:
    wire.router.get(EVENTS).respond(200, json={"next": None, "results": [{"id": "e1"}]})
    with pytest.raises(ProviderUnavailable, match="unreadable"):
        await all_pages(wire.api)


# --- against the sandbox ---------------------------------------------------------------------------


async def test_our_structs_read_what_the_sandbox_emits() -> None:
    recall = RecallSandbox(api_keys=[KEY], clock=SandboxClock(start=NOW, frozen=True))
    calendars = CalendarV2Sandbox(recall, page_size=2)
    transport = httpx.ASGITransport(app=create_recall_sandbox_app(recall, calendar_v2=calendars))
    http = provider_http(transport, base_url="http://recall.test")
    api = CalendarV2Api(http)
    try:
        calendar = await api.create_calendar(
            platform="google_calendar",
            oauth_client_id="client-1",
            oauth_client_secret="secret-1",
            oauth_refresh_token="refresh-1",
            oauth_email="ann@acme.test",
        )
        assert (calendar.platform, calendar.status, calendar.oauth_email) == (
            "google_calendar",
            "connecting",
            "ann@acme.test",
        )
        assert calendar.status_changes[0]["status"] == "connecting"
        seeded = []
        for hours in (2, 3, 4):
            start = NOW + timedelta(hours=hours)
            spec = {
                "start_time": iso(start),
                "end_time": iso(start + timedelta(hours=1)),
                "raw": {"summary": f"Call {hours}", "location": ZOOM},
            }
            answer = await http.client.post(f"/_sandbox/calendars/{calendar.id}/events", json=spec)
            assert answer.status_code == 201, answer.text
            seeded.append(answer.json()["id"])

        pages = [page async for page in api.list_events(calendar.id, updated_at_gte=NOW)]

        assert [len(page) for page in pages] == [2, 1]  # page_size 2: `next` was followed
        events = [event for page in pages for event in page]
        assert [event.id for event in events] == seeded
        first = events[0]
        assert (first.calendar_id, first.platform, first.is_deleted, first.bots) == (
            calendar.id,
            "google_calendar",
            False,
            [],
        )
        assert (first.start_time, first.end_time) == (NOW + timedelta(hours=2), NOW + timedelta(hours=3))
        assert first.raw["summary"] == "Call 2"
        assert first.meeting_url == ZOOM
        assert first.ical_uid
        assert first.updated_at == NOW

        scheduled = await api.schedule_bot(first.id, deduplication_key="k1", bot_config=BOT_CONFIG)

        [bot] = scheduled.bots
        assert (bot.start_time, bot.deduplication_key, bot.meeting_url) == (first.start_time, "k1", ZOOM)
        assert bot.bot_id
        assert (await api.get_event(first.id)).bots == [bot]
        removed = await api.remove_bot(first.id)
        assert removed is not None
        assert removed.bots == []
        assert (await api.get_calendar(calendar.id)).status == "connected"
        assert await api.delete_calendar(calendar.id) is True
        assert await api.delete_calendar(calendar.id) is False
        # The sandbox logs each call under its rate-limit name: ours must be the same names.
        calls = (await http.client.get("/_sandbox/calls")).json()
        assert [(call["method"], call["endpoint"], call["status"]) for call in calls] == [
            ("POST", "calendars", 201),
            ("GET", "calendar_events_list", 200),
            ("GET", "calendar_events_list", 200),
            ("POST", "calendar_event_bot", 200),
            ("GET", "calendar_event", 200),
            ("DELETE", "calendar_event_bot", 200),
            ("GET", "calendars", 200),
            ("DELETE", "calendars", 204),
            ("DELETE", "calendars", 404),
        ]
        assert [call["endpoint"] for call in calls] == http.endpoints
    finally:
        await http.aclose()
        await calendars.aclose()
        await recall.aclose()


async def test_reconnect_patches_only_the_new_refresh_token(wire: Wire) -> None:
    wire.router.patch(f"{CALENDARS}{CAL_ID}/").respond(200, json=calendar_json(status="connecting"))

    updated = await wire.api.update_calendar(CAL_ID, oauth_refresh_token="refresh-2")

    assert wire.sent == [("PATCH", f"{BASE_URL}{CALENDARS}{CAL_ID}/")]
    assert wire.body(0) == {"oauth_refresh_token": "refresh-2"}
    assert updated.status == "connecting"


# --- the drift audit's reads ---------------------------------------------------------------------


async def test_the_audit_lists_every_calendars_events_by_start_in_utc(wire: Wire) -> None:
    wire.router.get(EVENTS).respond(200, json={"next": None, "previous": None, "results": [event_json()]})
    after = datetime(2026, 5, 11, 14, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    pages = [
        page
        async for page in wire.api.list_events_starting(start_gte=after, start_lte=NOW + timedelta(days=28))
    ]
    assert [[event.id for event in page] for page in pages] == [[EVENT_ID]]
    [call] = wire.router.calls
    assert dict(call.request.url.params) == {
        "start_time__gte": "2026-05-11T12:00:05Z",
        "start_time__lte": "2026-06-08T12:00:00Z",
    }  # no calendar_id: one listing covers the account


async def test_the_audit_reads_a_bots_tag_and_a_gone_bot_is_none(wire: Wire) -> None:
    wire.router.get(f"/api/v1/bot/{BOT_ID}/").respond(
        200, json={"id": BOT_ID, "metadata": {"meetbridge_profile": PROFILE_ID}, "bot_name": "Notetaker"}
    )
    wire.router.get("/api/v1/bot/gone/").respond(404, json={"detail": "Not found."})
    bot = await wire.api.get_bot(BOT_ID)
    assert bot is not None
    assert (bot.id, bot.metadata) == (BOT_ID, {"meetbridge_profile": PROFILE_ID})
    assert await wire.api.get_bot("gone") is None
    assert [c.request.headers["authorization"] for c in wire.router.calls] == [f"Token {KEY}"] * 2
