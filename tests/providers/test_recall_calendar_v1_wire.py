"""CalendarV1Api and CalendarTokens on the wire (respx): paths, bodies, which credential goes where,
token caching and renewal, the 401 retry, per-user pacing, the local refresh limit, and decoding."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import respx

from meetbridge.config.catalogue import load_catalogue
from meetbridge.config.profiles import Profile, parse_config
from meetbridge.errors import ProviderAuthExpired, ProviderError, ProviderRejected, ProviderUnavailable
from meetbridge.providers.http import ProviderHttp
from meetbridge.providers.recall.calendar_v1_api import (
    CalendarConnection,
    CalendarMeeting,
    CalendarTokens,
    CalendarUser,
    CalendarV1Api,
    MeetingAttendee,
    MeetInvite,
    Preferences,
    TeamsInvite,
    WebexInvite,
    ZoomInvite,
)
from meetbridge.providers.registry import DEFAULT_TIMEOUT, auth_headers
from meetbridge.settings import default_catalogue_dir
from tests.providers.conftest import RecordedWire, Wires, mock_router

BASE_URL = "https://us-east-1.recall.ai"
KEY = "recall-v1-test-key"
PROFILE_ID = "int_cal_v1"
AUTHENTICATE = "/api/v1/calendar/authenticate/"
USER = "/api/v1/calendar/user/"
MEETINGS = "/api/v1/calendar/meetings/"
USER_ID = "acme:ann"
CAL_USER_ID = "1c1d1e1f-0000-4000-8000-000000000001"
MEETING_ID = "7e7e7e7e-0000-4000-8000-000000000002"
LIFETIME = 86400
RENEW_BEFORE = 3600
NOW = datetime(2026, 5, 11, 12, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def user_json(**fields: Any) -> dict[str, Any]:
    return {
        "id": CAL_USER_ID,
        "external_id": USER_ID,
        "connections": [
            {"platform": "google", "connected": True, "email": "ann@acme.test", "id": "g-conn"},
            {"platform": "microsoft", "connected": False, "email": None, "id": None},
        ],
        "preferences": {
            "id": "pref-1",
            "record_non_host": False,
            "record_recurring": False,
            "record_external": True,
            "record_internal": False,
            "record_confirmed": True,
            "record_only_host": False,
            "bot_name": "Notetaker",
        },
        **fields,
    }


def meeting_json(meeting_id: str = MEETING_ID, **fields: Any) -> dict[str, Any]:
    return {
        "id": meeting_id,
        "override_should_record": None,
        "title": "Pipeline review",
        "will_record": True,
        "will_record_reason": "external_and_confirmed",
        "start_time": iso(NOW + timedelta(hours=2)),
        "end_time": iso(NOW + timedelta(hours=3)),
        "platform": "google",
        "platform_id": "g-evt-1",
        "meeting_platform": "zoom",
        "calendar_platform": "google",
        "zoom_invite": {"meeting_id": "1234567890", "meeting_password": "abc"},
        "teams_invite": None,
        "meet_invite": None,
        "webex_invite": None,
        "bot_id": None,
        "is_external": True,
        "is_hosted_by_me": False,
        "is_recurring": False,
        "organizer_email": "bob@other.test",
        "attendee_emails": ["ann@acme.test", "bob@other.test"],
        "attendees": [
            {"name": "Bob", "email": "bob@other.test", "is_organizer": True, "status": "accepted"},
            {"name": None, "email": "ann@acme.test", "is_organizer": False, "status": "tentative"},
        ],
        "ical_uid": "g-evt-1@google.com",
        "visibility": "default",
        **fields,
    }


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingHttp(ProviderHttp):
    """ProviderHttp that remembers (endpoint, pace_key) of every call."""

    paced: list[tuple[str, str | None]]

    async def request(self, endpoint: str, *args: Any, **kwargs: Any) -> httpx.Response:
        self.paced.append((endpoint, kwargs.get("pace_key")))
        return await super().request(endpoint, *args, **kwargs)


def v1_profile() -> Profile:
    catalogue = load_catalogue(default_catalogue_dir())
    table = {"adapter": "recall-calendar-v1", "region": "us-east-1", "api_key": "env:RECALL_KEY"}
    config = parse_config({"profiles": {PROFILE_ID: table}}, catalogue, environ={"RECALL_KEY": KEY})
    return config.profiles[PROFILE_ID]


def provider_http(transport: httpx.AsyncBaseTransport, rate_limits: dict[str, int] | None) -> RecordingHttp:
    """Built the way AdapterRegistry builds its clients, from a recall-calendar-v1 profile."""
    profile = v1_profile()
    spec = load_catalogue(default_catalogue_dir()).adapters[profile.adapter]
    _, headers = auth_headers(profile, spec.auth_scheme)
    client = httpx.AsyncClient(
        base_url=profile.base_url, headers=headers, timeout=DEFAULT_TIMEOUT, transport=transport
    )
    # The catalogue's 10 a minute per user would make each test wait; pacing has tests of its own.
    limits = rate_limits or dict.fromkeys(profile.rate_limits, 100_000)
    http = RecordingHttp(f"{profile.adapter} at {profile.base_url}", client, limits)
    http.paced = []
    return http


@dataclass
class Wire(RecordedWire):
    http: RecordingHttp
    clock: FakeClock
    tokens: CalendarTokens
    api: CalendarV1Api
    gate: asyncio.Event

    def calls(self, path: str | None = None) -> list[httpx.Request]:
        requests = [call.request for call in self.router.calls]
        return [r for r in requests if path is None or r.url.path == path]

    def mints(self, *tokens: str) -> respx.Route:
        """Answer authenticate with these tokens, in turn."""
        route = self.router.post(AUTHENTICATE)
        route.side_effect = [httpx.Response(200, json={"token": token}) for token in tokens]
        return route


MakeWire = Callable[..., Wire]


@pytest.fixture
def make_wire(wires: Wires) -> MakeWire:
    def build(rate_limits: dict[str, int] | None = None, refresh_min_interval_seconds: float = 600) -> Wire:
        router = mock_router(BASE_URL)
        gate = asyncio.Event()
        gate.set()

        async def handler(request: httpx.Request) -> httpx.Response:
            if request.url.path == AUTHENTICATE:
                await gate.wait()  # a test may hold mints to let concurrent callers pile up
            response: httpx.Response = await router.async_handler(request)
            return response

        http = provider_http(httpx.MockTransport(handler), rate_limits)
        clock = FakeClock()
        tokens = CalendarTokens(
            http, KEY, lifetime_seconds=LIFETIME, renew_before_seconds=RENEW_BEFORE, clock=clock
        )
        api = CalendarV1Api(http, tokens, refresh_min_interval_seconds=refresh_min_interval_seconds)
        return wires.keep(Wire(router, http, clock, tokens, api, gate))

    return build


@pytest.fixture
def wire(make_wire: MakeWire) -> Wire:
    return make_wire()


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


# --- credentials: the key on authenticate only, the token alone on calendar calls ------------------


def test_the_catalogue_gives_calendar_v1_clients_no_default_authorization() -> None:
    profile = v1_profile()
    spec = load_catalogue(default_catalogue_dir()).adapters["recall-calendar-v1"]
    assert spec.auth_scheme == "calendar_token"
    credential, headers = auth_headers(profile, spec.auth_scheme)
    assert (credential, headers) == (KEY, {})  # still keyed per account
    assert auth_headers(profile, "token") == (KEY, {"Authorization": f"Token {KEY}"})
    assert {"auth_token_lifetime_seconds", "auth_token_renew_before_seconds"} <= set(spec.windows)
    assert spec.windows["auth_token_renew_before_seconds"] < spec.windows["auth_token_lifetime_seconds"]


async def test_get_user_mints_with_the_key_then_calls_with_the_token_alone(wire: Wire) -> None:
    wire.mints("tok-1")
    wire.router.get(USER).respond(200, json=user_json())

    user = await wire.api.get_user(USER_ID)

    assert wire.sent == [("POST", f"{BASE_URL}{AUTHENTICATE}"), ("GET", f"{BASE_URL}{USER}")]
    mint, call = wire.calls()
    assert mint.headers["authorization"] == f"Token {KEY}"
    assert "x-recallcalendarauthtoken" not in mint.headers
    assert body(mint) == {"user_id": USER_ID}
    assert call.headers["x-recallcalendarauthtoken"] == "tok-1"
    assert "authorization" not in call.headers
    assert user == CalendarUser(
        id=CAL_USER_ID,
        external_id=USER_ID,
        connections=[
            CalendarConnection(platform="google", connected=True, email="ann@acme.test", id="g-conn"),
            CalendarConnection(platform="microsoft", connected=False, email=None, id=None),
        ],
        preferences=Preferences(record_external=True, record_confirmed=True, bot_name="Notetaker"),
    )
    assert wire.http.paced == [("calendar_v1_auth", None), ("calendar_v1_user", USER_ID)]


def test_the_api_refuses_a_client_that_would_send_the_key_on_calendar_calls() -> None:
    client = httpx.AsyncClient(base_url=BASE_URL, headers={"Authorization": f"Token {KEY}"})
    http = ProviderHttp("recall-calendar-v1", client, {})
    tokens = CalendarTokens(http, KEY, lifetime_seconds=LIFETIME, renew_before_seconds=RENEW_BEFORE)
    with pytest.raises(ValueError, match="calendar_token") as info:
        CalendarV1Api(http, tokens)
    assert KEY not in str(info.value)


async def test_every_calendar_call_has_its_path_body_endpoint_and_pace_key(wire: Wire) -> None:
    wire.mints("tok-1")
    wire.router.put(USER).respond(200, json=user_json())
    wire.router.post(f"{USER}disconnect/").respond(200, json=user_json(connections=[]))
    wire.router.get(f"{MEETINGS}{MEETING_ID}/").respond(200, json=meeting_json())
    wire.router.put(f"{MEETINGS}{MEETING_ID}/").respond(200, json=meeting_json(override_should_record=True))
    wire.router.post(f"{MEETINGS}refresh/").respond(200, json=[meeting_json()])
    wire.router.delete(USER).respond(204)

    prefs = {"record_external": True, "record_only_host": False, "bot_name": "Notetaker"}
    assert (await wire.api.update_preferences(USER_ID, prefs)).preferences.record_external
    assert (await wire.api.disconnect(USER_ID, "google")).connections == []
    assert (await wire.api.get_meeting(USER_ID, MEETING_ID)).id == MEETING_ID
    assert (await wire.api.set_override(USER_ID, MEETING_ID, True)).override_should_record is True
    assert [m.id for m in await wire.api.refresh(USER_ID)] == [MEETING_ID]
    assert await wire.api.delete_user(USER_ID) is None

    assert wire.sent[1:] == [
        ("PUT", f"{BASE_URL}{USER}"),
        ("POST", f"{BASE_URL}{USER}disconnect/"),
        ("GET", f"{BASE_URL}{MEETINGS}{MEETING_ID}/"),
        ("PUT", f"{BASE_URL}{MEETINGS}{MEETING_ID}/"),
        ("POST", f"{BASE_URL}{MEETINGS}refresh/"),
        ("DELETE", f"{BASE_URL}{USER}"),
    ]
    calls = wire.calls()[1:]
    assert body(calls[0]) == {"preferences": prefs}
    assert body(calls[1]) == {"platform": "google"}
    assert body(calls[3]) == {"override_should_record": True}
    assert all(c.headers["x-recallcalendarauthtoken"] == "tok-1" for c in calls)
    assert not any("authorization" in c.headers for c in calls)
    assert wire.http.paced[1:] == [
        *[("calendar_v1_user", USER_ID)] * 2,
        *[("calendar_v1_meetings", USER_ID)] * 3,
        ("calendar_v1_user", USER_ID),
    ]


@pytest.mark.parametrize("value", [True, False, None])
async def test_set_override_sends_true_false_or_null(wire: Wire, value: bool | None) -> None:
    wire.mints("tok-1")
    wire.router.put(f"{MEETINGS}{MEETING_ID}/").respond(200, json=meeting_json(override_should_record=value))
    meeting = await wire.api.set_override(USER_ID, MEETING_ID, value)
    assert body(wire.calls(f"{MEETINGS}{MEETING_ID}/")[0]) == {"override_should_record": value}
    assert meeting.override_should_record is value


async def test_meeting_ids_are_one_percent_encoded_path_segment(wire: Wire) -> None:
    wire.mints("tok-1")
    route = wire.router.get(url__regex=r".*/meetings/.*").respond(200, json=meeting_json())
    await wire.api.get_meeting(USER_ID, "../user/?x=1#y")
    assert route.calls.last.request.url.raw_path == b"/api/v1/calendar/meetings/..%2Fuser%2F%3Fx%3D1%23y/"


async def test_list_meetings_sends_the_window_as_iso_utc(wire: Wire) -> None:
    wire.mints("tok-1")
    route = wire.router.get(MEETINGS).respond(200, json=[meeting_json(), meeting_json("m-2")])
    paris = timezone(timedelta(hours=2))
    meetings = await wire.api.list_meetings(
        USER_ID,
        start_after=datetime(2026, 5, 11, 14, 0, tzinfo=paris),
        start_before=datetime(2026, 5, 18, 12, 0, 0, 250000, tzinfo=UTC),
    )
    assert [m.id for m in meetings] == [MEETING_ID, "m-2"]
    assert dict(route.calls.last.request.url.params) == {
        "start_time_after": "2026-05-11T12:00:00Z",
        "start_time_before": "2026-05-18T12:00:00.250000Z",
    }
    with pytest.raises(ValueError, match="timezone-aware"):
        await wire.api.list_meetings(USER_ID, start_after=datetime(2026, 5, 11), start_before=NOW)


async def test_delete_user_forgets_the_token_and_a_missing_user_counts_as_deleted(wire: Wire) -> None:
    wire.mints("tok-1", "tok-2")
    wire.router.delete(USER).respond(404, json={"detail": "Not found."})
    wire.router.get(USER).respond(200, json=user_json())
    await wire.api.delete_user(USER_ID)
    await wire.api.get_user(USER_ID)
    assert wire.calls(USER)[-1].headers["x-recallcalendarauthtoken"] == "tok-2"


# --- token caching and renewal ----------------------------------------------------------------------


async def test_one_mint_serves_many_calls_and_each_user_has_its_own(wire: Wire) -> None:
    mint = wire.mints("tok-ann", "tok-bob")
    wire.router.get(USER).respond(200, json=user_json())
    for _ in range(5):
        await wire.api.get_user(USER_ID)
    await wire.api.get_user("acme:bob")
    await wire.api.get_user(USER_ID)
    assert mint.call_count == 2
    assert [body(r)["user_id"] for r in wire.calls(AUTHENTICATE)] == [USER_ID, "acme:bob"]
    tokens = [r.headers["x-recallcalendarauthtoken"] for r in wire.calls(USER)]
    assert tokens == ["tok-ann"] * 5 + ["tok-bob", "tok-ann"]
    assert await wire.api.connect_state_token(USER_ID) == "tok-ann"


async def test_a_token_is_renewed_once_it_is_lifetime_minus_renew_before_old(wire: Wire) -> None:
    mint = wire.mints("tok-1", "tok-2")
    start = wire.clock.now
    assert await wire.tokens.get(USER_ID) == "tok-1"
    wire.clock.now = start + LIFETIME - RENEW_BEFORE - 0.001
    assert await wire.tokens.get(USER_ID) == "tok-1"
    wire.clock.now = start + LIFETIME - RENEW_BEFORE
    assert await wire.tokens.get(USER_ID) == "tok-2"
    assert await wire.tokens.get(USER_ID) == "tok-2"
    assert mint.call_count == 2


async def test_concurrent_first_calls_for_one_user_share_one_mint(wire: Wire) -> None:
    mint = wire.mints("tok-1", "tok-unexpected")
    wire.router.get(USER).respond(200, json=user_json())
    wire.gate.clear()
    calls = [asyncio.create_task(wire.api.get_user(USER_ID)) for _ in range(5)]
    await asyncio.sleep(0.05)  # every caller is now waiting on the one mint in flight
    wire.gate.set()
    await asyncio.gather(*calls)
    assert mint.call_count == 1
    assert {r.headers["x-recallcalendarauthtoken"] for r in wire.calls(USER)} == {"tok-1"}


async def test_invalidate_drops_only_the_token_still_cached(wire: Wire) -> None:
    mint = wire.mints("tok-1", "tok-2")
    assert await wire.tokens.get(USER_ID) == "tok-1"
    wire.tokens.invalidate(USER_ID, "tok-1")
    assert await wire.tokens.get(USER_ID) == "tok-2"
    wire.tokens.invalidate(USER_ID, "tok-1")  # a late report about the old token changes nothing
    wire.tokens.invalidate("someone-else", "tok-2")
    assert await wire.tokens.get(USER_ID) == "tok-2"
    assert mint.call_count == 2


def test_tokens_need_a_renewal_window_inside_the_lifetime(wire: Wire) -> None:
    for renew_before in (LIFETIME, LIFETIME + 1, -1):
        with pytest.raises(ValueError, match="renew_before_seconds"):
            CalendarTokens(wire.http, KEY, lifetime_seconds=LIFETIME, renew_before_seconds=renew_before)


async def test_an_empty_user_id_is_refused_before_any_call(wire: Wire) -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        await wire.api.get_user("")
    assert wire.sent == []


# --- 401: one renewal, one retry --------------------------------------------------------------------


async def test_a_401_renews_the_token_and_retries_once(wire: Wire) -> None:
    mint = wire.mints("tok-old", "tok-new")
    wire.router.get(USER).side_effect = [
        httpx.Response(401, json={"detail": "Invalid token."}),
        httpx.Response(200, json=user_json()),
    ]
    user = await wire.api.get_user(USER_ID)
    assert user.id == CAL_USER_ID
    assert mint.call_count == 2
    assert [r.headers["x-recallcalendarauthtoken"] for r in wire.calls(USER)] == ["tok-old", "tok-new"]
    assert await wire.tokens.get(USER_ID) == "tok-new"


async def test_a_second_401_raises_without_the_key_or_a_token_in_the_message(wire: Wire) -> None:
    mint = wire.mints("tok-old", "tok-new", "tok-later")
    wire.router.put(f"{MEETINGS}{MEETING_ID}/").respond(401, json={"detail": "Invalid token."})
    with pytest.raises(ProviderAuthExpired) as info:
        await wire.api.set_override(USER_ID, MEETING_ID, False)
    assert mint.call_count == 2
    assert len(wire.calls(f"{MEETINGS}{MEETING_ID}/")) == 2
    assert not any(secret in str(info.value) for secret in (KEY, "tok-old", "tok-new"))
    assert await wire.tokens.get(USER_ID) == "tok-later"  # the refused token was not kept


async def test_a_401_on_authenticate_is_not_retried(wire: Wire) -> None:
    route = wire.router.post(AUTHENTICATE).respond(401, json={"detail": "Invalid token."})
    with pytest.raises(ProviderAuthExpired) as info:
        await wire.api.get_user(USER_ID)
    assert route.call_count == 1
    assert KEY not in str(info.value)


async def test_other_refusals_carry_neither_the_key_nor_the_token(wire: Wire) -> None:
    wire.mints("tok-1")
    wire.router.post(f"{USER}disconnect/").respond(400, json={"platform": ["Not a valid choice."]})
    with pytest.raises(ProviderRejected) as info:
        await wire.api.disconnect(USER_ID, "yahoo")
    assert info.value.status == 400
    assert "tok-1" not in str(info.value)
    assert KEY not in str(info.value)


# --- 429 and pacing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [AUTHENTICATE, MEETINGS])
async def test_429_is_unavailable_with_retry_after(wire: Wire, path: str) -> None:
    if path != AUTHENTICATE:
        wire.mints("tok-1")
    wire.router.route(path=path).respond(429, json={"detail": "Throttled."}, headers={"Retry-After": "42"})
    with pytest.raises(ProviderUnavailable) as info:
        await wire.api.list_meetings(USER_ID, start_after=NOW, start_before=NOW + timedelta(days=1))
    assert (info.value.status, info.value.retry_after) == (429, 42.0)


async def test_a_busy_user_does_not_hold_up_another(make_wire: MakeWire) -> None:
    wire = make_wire({"calendar_v1_auth": 300, "calendar_v1_user": 1, "calendar_v1_meetings": 1})
    wire.router.post(AUTHENTICATE).respond(200, json={"token": "tok"})
    wire.router.get(USER).respond(200, json=user_json())
    await wire.api.get_user("ann")
    second_ann = asyncio.create_task(wire.api.get_user("ann"))
    await asyncio.wait_for(wire.api.get_user("bob"), 2.0)  # Bob's first call is not paced behind Ann's
    done, _ = await asyncio.wait({second_ann}, timeout=0.3)
    assert not done  # Ann's second call waits for Ann's pacer (1 a minute)
    second_ann.cancel()
    assert len(wire.calls(USER)) == 2


# --- refresh: at most once per interval per user ----------------------------------------------------


async def test_refresh_inside_the_interval_lists_the_meetings_instead(wire: Wire) -> None:
    wire.mints("tok-ann", "tok-bob")
    refresh = wire.router.post(f"{MEETINGS}refresh/").respond(200, json=[meeting_json()])
    listing = wire.router.get(MEETINGS).respond(200, json=[meeting_json(), meeting_json("m-2")])
    start = wire.clock.now

    assert len(await wire.api.refresh(USER_ID)) == 1
    wire.clock.now = start + 599
    assert len(await wire.api.refresh(USER_ID)) == 2  # listed, not refreshed
    assert listing.calls.last.request.url.params == httpx.QueryParams()
    assert len(await wire.api.refresh("acme:bob")) == 1  # another user's interval is its own
    wire.clock.now = start + 600
    assert len(await wire.api.refresh(USER_ID)) == 1
    assert (refresh.call_count, listing.call_count) == (3, 1)


async def test_concurrent_refreshes_send_one_refresh(wire: Wire) -> None:
    wire.mints("tok-1")
    refresh = wire.router.post(f"{MEETINGS}refresh/").respond(200, json=[meeting_json()])
    listing = wire.router.get(MEETINGS).respond(200, json=[meeting_json()])
    await asyncio.gather(*(wire.api.refresh(USER_ID) for _ in range(3)))
    assert (refresh.call_count, listing.call_count) == (1, 2)


async def test_a_failed_refresh_still_counts(wire: Wire) -> None:
    wire.mints("tok-1")
    wire.router.post(f"{MEETINGS}refresh/").respond(503, json={"detail": "Dropped."})
    listing = wire.router.get(MEETINGS).respond(200, json=[])
    with pytest.raises(ProviderUnavailable):
        await wire.api.refresh(USER_ID)
    assert await wire.api.refresh(USER_ID) == []
    assert listing.call_count == 1


# --- decoding ---------------------------------------------------------------------------------------


async def test_meetings_decode_every_field_we_read_and_ignore_the_rest(wire: Wire) -> None:
    wire.mints("tok-1")
    teams = {"organizer_id": "o", "tenant_id": "t", "message_id": "m", "thread_id": "th", "new": 1}
    webex = {"meeting_subdomain": "acme", "meeting_path": "j.php", "future_field": {"a": 1}}
    wire.router.get(f"{MEETINGS}{MEETING_ID}/").respond(
        200,
        json=meeting_json(
            teams_invite=teams,
            meet_invite={"meeting_id": "abc-defg-hij"},
            webex_invite=webex,
            bot_id="b-1",
            brand_new_field=[1, 2, 3],
        ),
    )
    meeting = await wire.api.get_meeting(USER_ID, MEETING_ID)
    assert meeting == CalendarMeeting(
        id=MEETING_ID,
        title="Pipeline review",
        start_time=NOW + timedelta(hours=2),
        end_time=NOW + timedelta(hours=3),
        override_should_record=None,
        will_record=True,
        will_record_reason="external_and_confirmed",
        bot_id="b-1",
        meeting_platform="zoom",
        calendar_platform="google",
        zoom_invite=ZoomInvite(meeting_id="1234567890", meeting_password="abc"),
        meet_invite=MeetInvite(meeting_id="abc-defg-hij"),
        teams_invite=TeamsInvite(organizer_id="o", tenant_id="t", message_id="m", thread_id="th"),
        webex_invite=WebexInvite(meeting_subdomain="acme", meeting_path="j.php"),
        ical_uid="g-evt-1@google.com",
        is_external=True,
        is_hosted_by_me=False,
        is_recurring=False,
        organizer_email="bob@other.test",
        attendees=[
            MeetingAttendee(name="Bob", email="bob@other.test", is_organizer=True, status="accepted"),
            MeetingAttendee(name=None, email="ann@acme.test", is_organizer=False, status="tentative"),
        ],
        platform_id="g-evt-1",
    )


async def test_sparse_answers_decode_with_defaults(wire: Wire) -> None:
    wire.mints("tok-1")
    sparse_meeting = {
        "id": MEETING_ID,
        "will_record": False,
        "start_time": iso(NOW),
        "end_time": iso(NOW + timedelta(hours=1)),
        "zoom_invite": {},
        "attendees": [{"email": "x@y.test"}],
    }
    wire.router.get(MEETINGS).respond(200, json=[sparse_meeting])
    wire.router.get(USER).respond(200, json={"id": CAL_USER_ID, "connections": [{"platform": "google"}]})
    [meeting] = await wire.api.list_meetings(USER_ID, start_after=NOW, start_before=NOW)
    assert meeting.zoom_invite == ZoomInvite()
    assert (meeting.title, meeting.teams_invite, meeting.bot_id, meeting.is_external) == (
        None,
        None,
        None,
        False,
    )
    assert meeting.attendees == [MeetingAttendee(email="x@y.test")]
    user = await wire.api.get_user(USER_ID)
    assert user.connections == [CalendarConnection(platform="google", connected=False)]
    assert user.preferences == Preferences()


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param({k: v for k, v in meeting_json().items() if k != "will_record"}, id="no-will_record"),
        pytest.param(meeting_json(start_time="tomorrow"), id="bad-start"),
        pytest.param({"detail": "not a meeting"}, id="not-a-meeting"),
    ],
)
async def test_an_unreadable_meeting_is_unavailable_not_a_crash(wire: Wire, answer: Any) -> None:
    wire.mints("tok-1")
    wire.router.get(f"{MEETINGS}{MEETING_ID}/").respond(200, json=answer)
    with pytest.raises(ProviderUnavailable):
        await wire.api.get_meeting(USER_ID, MEETING_ID)


@pytest.mark.parametrize("answer", [{}, {"token": ""}, {"token": 5}, ["tok"]])
async def test_an_unreadable_mint_is_unavailable_and_not_cached(wire: Wire, answer: Any) -> None:
    wire.router.post(AUTHENTICATE).side_effect = [
        httpx.Response(200, json=answer),
        httpx.Response(200, json={"token": "tok-1"}),
    ]
    with pytest.raises(ProviderError) as info:
        await wire.tokens.get(USER_ID)
    assert type(info.value) is ProviderUnavailable
    assert await wire.tokens.get(USER_ID) == "tok-1"
