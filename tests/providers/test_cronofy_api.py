"""CronofyApi on the wire (respx / MockTransport) and against the in-process Cronofy stand-in: paths,
bodies, the Bearer header, token refresh (before expiry, after a 401, shared, saved before use),
paging, and which answers become which meetbridge errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest

from meetbridge.config.catalogue import load_catalogue
from meetbridge.errors import (
    ProviderAuthExpired,
    ProviderError,
    ProviderNotFound,
    ProviderRejected,
    ProviderUnavailable,
)
from meetbridge.providers.cronofy.api import ENDPOINT, CronofyApi, CronofyAuthRevoked, CronofyInvalid
from meetbridge.providers.cronofy.wire import ChannelFilters, CronofyChannel, CronofyEvent, CronofyTokens
from meetbridge.providers.http import ProviderHttp
from meetbridge.sandbox import (
    DEFAULT_RECALL_PROFILE,
    BotQuery,
    CronofySandbox,
    RecallSandbox,
    SandboxClock,
    create_cronofy_sandbox_app,
)
from meetbridge.settings import default_catalogue_dir
from tests.providers.conftest import RecordedWire, Wires, mock_router

SPEC = load_catalogue(default_catalogue_dir()).adapters["cronofy"]
BASE_URL = SPEC.regions["us"]
CLIENT_ID = "cronofy-client-id"
CLIENT_SECRET = "cronofy-client-secret-XYZ"
ACCESS = "access-token-AAA"
REFRESH = "refresh-token-RRR"
NEW_ACCESS = "access-token-BBB"
NEW_REFRESH = "refresh-token-SSS"
SECRETS = (CLIENT_SECRET, ACCESS, REFRESH, NEW_ACCESS, NEW_REFRESH)
NOW = datetime(2026, 5, 11, 12, 0, tzinfo=UTC)
CAL = "cal_upstream_1"
EVENTS = "/v1/calendars/cal_upstream_1/events"
RECALL = [{"provider": "recall", "profile_id": DEFAULT_RECALL_PROFILE}]


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def event_json(event_uid: str = "evt_1", **fields: Any) -> dict[str, Any]:
    return {
        "calendar_id": CAL,
        "event_uid": event_uid,
        "event_id": "e1",
        "summary": "Pipeline review",
        "start": iso(NOW + timedelta(hours=2)),
        "end": iso(NOW + timedelta(hours=3)),
        "deleted": False,
        "created": iso(NOW),
        "updated": iso(NOW),
        "participation_status": "needs_action",
        **fields,
    }


def token_answer(
    access: str = NEW_ACCESS, refresh: str = NEW_REFRESH, expires_in: int = 3600
) -> httpx.Response:
    body = {
        "token_type": "bearer",
        "access_token": access,
        "expires_in": expires_in,
        "refresh_token": refresh,
        "scope": "create_event delete_event",
    }
    return httpx.Response(200, json=body, headers={"Cache-Control": "no-store"})


class FakeClock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Wire(RecordedWire):
    api: CronofyApi
    clock: FakeClock
    saved: list[CronofyTokens]
    log: list[str] = field(default_factory=list)  # the order of wire calls and saves

    def bearer(self, index: int) -> str:
        return self.router.calls[index].request.headers["authorization"]


MakeWire = Callable[..., Wire]


@pytest.fixture
def make_wire(wires: Wires) -> MakeWire:
    def build(*, expires_in: timedelta = timedelta(hours=1), base_url: str = BASE_URL) -> Wire:
        router = mock_router(base_url)
        client = httpx.AsyncClient(base_url=base_url, transport=httpx.MockTransport(router.async_handler))
        http = ProviderHttp(f"cronofy at {base_url}", client, SPEC.rate_limits)
        clock, saved, log = FakeClock(), list[CronofyTokens](), list[str]()

        async def save(tokens: CronofyTokens) -> None:
            saved.append(tokens)
            log.append(f"save {tokens.access_token}")

        tokens = CronofyTokens(access_token=ACCESS, refresh_token=REFRESH, expires_at=NOW + expires_in)
        api = CronofyApi(
            http,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            tokens=tokens,
            save_tokens=save,
            clock=clock,
        )
        return wires.keep(Wire(router, http, api, clock, saved, log))

    return build


@pytest.fixture
def wire(make_wire: MakeWire) -> Wire:
    return make_wire()


def logged(wire: Wire, status: int, **answer: Any) -> Callable[[httpx.Request], httpx.Response]:
    """A side effect that logs `<path> <bearer token>` before answering."""

    def respond(request: httpx.Request) -> httpx.Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        wire.log.append(f"{request.url.path} {token}")
        return httpx.Response(status, **answer)

    return respond


async def all_pages(api: CronofyApi, **kwargs: Any) -> list[list[CronofyEvent]]:
    params: dict[str, Any] = {"calendar_ids": [CAL], "last_modified": None} | kwargs
    return [page async for page in api.read_events(**params)]


# --- paths, headers and bodies ---------------------------------------------------------------------


def test_the_pacing_endpoint_is_the_catalogues_one_cronofy_limit() -> None:
    assert set(SPEC.rate_limits) == {ENDPOINT}


async def test_upsert_posts_the_body_as_json_with_the_bearer_token(wire: Wire) -> None:
    wire.router.post(EVENTS).respond(202)
    body = {"event_id": "e1", "summary": "Review", "start": "2026-05-11T14:00:00Z", "extensions": RECALL}

    assert await wire.api.upsert_event(CAL, body) is None

    assert wire.sent == [("POST", f"{BASE_URL}{EVENTS}")]
    assert wire.bearer(0) == f"Bearer {ACCESS}"
    assert wire.router.calls[0].request.headers["content-type"] == "application/json"
    assert wire.body(0) == body
    assert wire.saved == []


async def test_delete_sends_a_delete_with_a_json_body(wire: Wire) -> None:
    wire.router.delete(EVENTS).respond(202)

    await wire.api.delete_event(CAL, "e1")

    assert wire.sent == [("DELETE", f"{BASE_URL}{EVENTS}")]
    assert wire.body(0) == {"event_id": "e1"}
    assert wire.bearer(0) == f"Bearer {ACCESS}"


async def test_ids_stay_one_path_segment(wire: Wire) -> None:
    wire.router.post("/v1/calendars/cal%2F..%3Fx/events").respond(202)
    wire.router.delete("/v1/channels/chn%2F1").respond(202)

    await wire.api.upsert_event("cal/..?x", {"event_id": "e1"})
    await wire.api.close_channel("chn/1")

    assert [call.request.url.raw_path for call in wire.router.calls] == [
        b"/v1/calendars/cal%2F..%3Fx/events",
        b"/v1/channels/chn%2F1",
    ]


async def test_read_events_sends_repeated_calendar_ids_and_lowercase_flags(wire: Wire) -> None:
    wire.router.get("/v1/events").respond(200, json={"pages": {"current": 1, "total": 1}, "events": []})
    since = datetime(2026, 5, 11, 14, 30, 15, 999_000, tzinfo=UTC)

    pages = await all_pages(
        wire.api, calendar_ids=["cal_a", "cal_b"], last_modified=since, tzid="Europe/Berlin"
    )

    assert pages == [[]]
    url = wire.router.calls[0].request.url
    assert url.path == "/v1/events"
    assert url.params.multi_items() == [
        ("tzid", "Europe/Berlin"),
        ("calendar_ids[]", "cal_a"),
        ("calendar_ids[]", "cal_b"),
        ("last_modified", "2026-05-11T14:30:15Z"),  # truncated: only ever widens the read
        ("include_managed", "true"),
        ("include_deleted", "true"),
        ("only_managed", "false"),
    ]
    assert wire.bearer(0) == f"Bearer {ACCESS}"


async def test_read_events_follows_next_page_verbatim_with_the_token_on_every_page(wire: Wire) -> None:
    next_page = f"{BASE_URL}/v1/events/pages/08a07b034306679e"
    first = {"pages": {"current": 1, "total": 2, "next_page": next_page}, "events": [event_json("evt_1")]}
    external = event_json("evt_external_2", event_id=None, metadata={"recall": {"bot_id": "bot-2"}})
    del external["event_id"]
    second = {"pages": {"current": 2, "total": 2}, "events": [external]}
    wire.router.get("/v1/events").respond(200, json=first)
    wire.router.get("/v1/events/pages/08a07b034306679e").respond(200, json=second)

    pages = await all_pages(wire.api)

    assert [[e.event_uid for e in page] for page in pages] == [["evt_1"], ["evt_external_2"]]
    assert wire.sent[1] == ("GET", next_page)
    assert [wire.bearer(i) for i in range(2)] == [f"Bearer {ACCESS}"] * 2
    managed, other = pages[0][0], pages[1][0]
    assert (managed.event_id, managed.recall_bot_id, managed.updated) == ("e1", None, NOW)
    assert (other.event_id, other.recall_bot_id) == (None, "bot-2")


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example/v1/events/pages/abc",
        "http://api.cronofy.com/v1/events/pages/abc",  # a downgrade to plain HTTP
        "https://api.cronofy.com:8443/v1/events/pages/abc",
        "https://api-de.cronofy.com/v1/events/pages/abc",  # another data center, another account
    ],
)
async def test_a_next_page_elsewhere_is_not_followed(wire: Wire, link: str) -> None:
    first = {"pages": {"current": 1, "total": 2, "next_page": link}, "events": [event_json()]}
    wire.router.get("/v1/events").respond(200, json=first)

    with pytest.raises(ProviderUnavailable, match="not followed") as raised:
        await all_pages(wire.api)

    assert len(wire.router.calls) == 1
    assert ACCESS not in str(raised.value)


async def test_a_next_page_that_loops_is_refused(wire: Wire) -> None:
    link = f"{BASE_URL}/v1/events/pages/again"
    page = {"pages": {"current": 1, "total": 2, "next_page": link}, "events": []}
    wire.router.get("/v1/events").respond(200, json=page)
    wire.router.get("/v1/events/pages/again").respond(200, json=page)

    with pytest.raises(ProviderUnavailable, match="loops"):
        await all_pages(wire.api)
    assert len(wire.router.calls) == 2


async def test_channels_calendars(wire: Wire) -> None:
    channel = {
        "channel_id": "chn_1",
        "callback_url": "https://gw.test/push",
        "filters": {"calendar_ids": [CAL], "only_managed": True},
    }
    wire.router.post("/v1/channels").respond(200, json={"channel": channel})
    wire.router.get("/v1/channels").respond(200, json={"channels": [channel]})
    wire.router.delete("/v1/channels/chn_1").respond(202)
    calendars = [{"calendar_id": CAL, "calendar_name": "Work", "calendar_readonly": False}]
    wire.router.get("/v1/calendars").respond(200, json={"calendars": calendars})

    created = await wire.api.create_channel("https://gw.test/push", calendar_ids=[CAL])
    await wire.api.create_channel("https://gw.test/push", calendar_ids=[], only_managed=False)
    listed = await wire.api.list_channels()
    await wire.api.close_channel("chn_1")
    found = await wire.api.list_calendars()

    expected = CronofyChannel(
        channel_id="chn_1",
        callback_url="https://gw.test/push",
        filters=ChannelFilters(calendar_ids=[CAL], only_managed=True),
    )
    assert (created, listed, found) == (expected, [expected], calendars)
    assert wire.body(0) == {
        "callback_url": "https://gw.test/push",
        "filters": {"calendar_ids": [CAL], "only_managed": True},
    }
    assert wire.body(1) == {"callback_url": "https://gw.test/push", "filters": {"only_managed": False}}
    assert [m for m, _ in wire.sent] == ["POST", "POST", "GET", "DELETE", "GET"]
    assert all(wire.bearer(i) == f"Bearer {ACCESS}" for i in range(5))


# --- refresh ---------------------------------------------------------------------------------------


async def test_no_refresh_while_the_token_has_more_than_a_minute(make_wire: MakeWire) -> None:
    wire = make_wire(expires_in=timedelta(seconds=61))
    wire.router.post(EVENTS).respond(202)

    await wire.api.upsert_event(CAL, {"event_id": "e1"})

    assert [path for _, path in wire.sent] == [f"{BASE_URL}{EVENTS}"]


async def test_a_token_within_a_minute_of_expiry_is_refreshed_first(make_wire: MakeWire) -> None:
    wire = make_wire(expires_in=timedelta(hours=1))
    wire.clock.now = NOW + timedelta(minutes=59, seconds=30)
    token = wire.router.post("/oauth/token").mock(side_effect=lambda _: token_answer(expires_in=1800))
    wire.router.post(EVENTS).mock(side_effect=logged(wire, 202))

    await wire.api.upsert_event(CAL, {"event_id": "e1"})

    assert wire.sent[0] == ("POST", f"{BASE_URL}/oauth/token")  # no /v1 prefix
    assert wire.body(0) == {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH,
    }
    assert "authorization" not in token.calls[0].request.headers
    assert wire.log == [f"save {NEW_ACCESS}", f"{EVENTS} {NEW_ACCESS}"]
    assert wire.saved == [
        CronofyTokens(
            access_token=NEW_ACCESS,
            refresh_token=NEW_REFRESH,
            expires_at=wire.clock.now + timedelta(seconds=1800),
        )
    ]
    assert wire.api.tokens == wire.saved[0]

    # The new token is fresh: the next call refreshes nothing.
    await wire.api.upsert_event(CAL, {"event_id": "e2"})
    assert token.call_count == 1
    assert wire.bearer(2) == f"Bearer {NEW_ACCESS}"


async def test_a_401_refreshes_once_saves_and_then_retries(wire: Wire) -> None:
    answers = iter([401, 202])

    def api(request: httpx.Request) -> httpx.Response:
        return logged(wire, next(answers))(request)

    def token(request: httpx.Request) -> httpx.Response:
        wire.log.append("token")
        return token_answer()

    wire.router.post(EVENTS).mock(side_effect=api)
    wire.router.post("/oauth/token").mock(side_effect=token)

    await wire.api.upsert_event(CAL, {"event_id": "e1"})

    # The rotated tokens are saved before the new access token goes on the wire.
    assert wire.log == [f"{EVENTS} {ACCESS}", "token", f"save {NEW_ACCESS}", f"{EVENTS} {NEW_ACCESS}"]
    assert wire.body(2) == wire.body(0) == {"event_id": "e1"}


async def test_a_second_401_is_raised_after_one_refresh(wire: Wire) -> None:
    wire.router.get("/v1/calendars").respond(
        401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
    )
    token = wire.router.post("/oauth/token").mock(side_effect=lambda _: token_answer())

    with pytest.raises(ProviderAuthExpired) as raised:
        await wire.api.list_calendars()

    assert not isinstance(raised.value, CronofyAuthRevoked)
    assert token.call_count == 1
    assert [m for m, _ in wire.sent] == ["GET", "POST", "GET"]


async def test_invalid_grant_is_auth_revoked_and_nothing_is_saved(wire: Wire) -> None:
    wire.router.get("/v1/calendars").respond(401)
    wire.router.post("/oauth/token").respond(
        400, json={"error": "invalid_grant", "error_description": f"refresh token {REFRESH} is revoked"}
    )

    with pytest.raises(CronofyAuthRevoked, match="invalid_grant") as raised:
        await wire.api.list_calendars()

    assert isinstance(raised.value, ProviderAuthExpired)
    assert "[redacted]" in str(raised.value)
    assert wire.saved == []
    assert wire.api.tokens.refresh_token == REFRESH


async def test_a_refused_client_is_rejected_not_revoked(make_wire: MakeWire) -> None:
    wire = make_wire(expires_in=timedelta(0))
    wire.router.post("/oauth/token").respond(400, json={"error": "invalid_client"})

    with pytest.raises(ProviderRejected) as raised:
        await wire.api.list_calendars()

    assert (raised.value.status, raised.value.code) == (400, "invalid_client")
    assert len(wire.router.calls) == 1


async def test_an_unavailable_token_endpoint_is_transient(make_wire: MakeWire) -> None:
    wire = make_wire(expires_in=timedelta(0))
    wire.router.post("/oauth/token").respond(503)

    with pytest.raises(ProviderUnavailable):
        await wire.api.list_calendars()
    assert wire.saved == []


async def test_tokens_that_could_not_be_saved_are_never_used_until_saved(make_wire: MakeWire) -> None:
    wire = make_wire(expires_in=timedelta(0))
    token = wire.router.post("/oauth/token").mock(side_effect=lambda _: token_answer())
    wire.router.post(EVENTS).mock(side_effect=logged(wire, 202))
    failures = iter([RuntimeError("database down")])
    attempts: list[str] = []

    async def flaky(tokens: CronofyTokens) -> None:
        attempts.append(tokens.refresh_token)
        error = next(failures, None)
        if error is not None:
            raise error
        wire.log.append(f"save {tokens.access_token}")

    wire.api._save_tokens = flaky  # the store fails only for this test

    with pytest.raises(RuntimeError, match="database down"):
        await wire.api.upsert_event(CAL, {"event_id": "e1"})
    assert wire.log == []  # the unsaved access token was not used

    await wire.api.upsert_event(CAL, {"event_id": "e1"})

    assert token.call_count == 1  # the rotation is kept, not redone (the old refresh token is dead)
    assert attempts == [NEW_REFRESH, NEW_REFRESH]
    assert wire.log == [f"save {NEW_ACCESS}", f"{EVENTS} {NEW_ACCESS}"]


async def test_concurrent_callers_share_one_refresh(make_wire: MakeWire) -> None:
    wire = make_wire(expires_in=timedelta(0))
    release = asyncio.Event()

    async def token_endpoint(request: httpx.Request) -> httpx.Response:
        await release.wait()  # every caller is waiting on the refresh by now
        return token_answer()

    token = wire.router.post("/oauth/token").mock(side_effect=token_endpoint)
    wire.router.post(EVENTS).mock(side_effect=logged(wire, 202))

    calls = [asyncio.create_task(wire.api.upsert_event(CAL, {"event_id": f"e{n}"})) for n in range(5)]
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.gather(*calls)

    assert token.call_count == 1
    assert wire.log == [f"save {NEW_ACCESS}"] + [f"{EVENTS} {NEW_ACCESS}"] * 5


async def test_concurrent_401s_share_one_refresh(wire: Wire) -> None:
    arrived = 0
    all_in = asyncio.Event()

    async def api(request: httpx.Request) -> httpx.Response:
        nonlocal arrived
        if request.headers["authorization"] == f"Bearer {ACCESS}":
            arrived += 1
            if arrived == 3:
                all_in.set()
            await all_in.wait()  # all three were sent with the old token before any refresh
            return httpx.Response(401)
        return httpx.Response(202)

    wire.router.post(EVENTS).mock(side_effect=api)
    token = wire.router.post("/oauth/token").mock(side_effect=lambda _: token_answer())

    await asyncio.gather(*(wire.api.upsert_event(CAL, {"event_id": f"e{n}"}) for n in range(3)))

    assert token.call_count == 1
    assert len(wire.saved) == 1


# --- errors ----------------------------------------------------------------------------------------


async def test_a_422_names_each_field_and_keeps_cronofys_errors(wire: Wire) -> None:
    errors = {
        "event_id": [{"key": "errors.required", "description": "required"}],
        "start": [{"key": "errors.invalid", "description": "must be a time or a date"}],
    }
    wire.router.post(EVENTS).respond(422, json={"errors": errors})

    with pytest.raises(CronofyInvalid) as raised:
        await wire.api.upsert_event(CAL, {"summary": "x"})

    error = raised.value
    assert isinstance(error, ProviderRejected)
    assert (error.status, error.code) == (422, "invalid_request")
    assert str(error).endswith("event_id: required; start: must be a time or a date")
    assert error.errors == {
        "event_id": [("errors.required", "required")],
        "start": [("errors.invalid", "must be a time or a date")],
    }


async def test_a_422_without_field_errors_still_reads(wire: Wire) -> None:
    wire.router.post(EVENTS).respond(422, text="nope")

    with pytest.raises(CronofyInvalid, match="no field errors") as raised:
        await wire.api.upsert_event(CAL, {})
    assert raised.value.errors == {}


async def test_403_names_the_missing_scope_and_404_what_is_missing(wire: Wire) -> None:
    wire.router.delete(EVENTS).respond(403)
    wire.router.post("/v1/calendars/cal_gone/events").respond(404)

    with pytest.raises(ProviderRejected, match="delete_event scope") as forbidden:
        await wire.api.delete_event(CAL, "e1")
    with pytest.raises(ProviderNotFound, match="the calendar is not there"):
        await wire.api.upsert_event("cal_gone", {"event_id": "e1"})
    assert forbidden.value.status == 403


@pytest.mark.parametrize("status", [429, 500, 502, 503])
async def test_rate_limits_and_server_errors_are_transient(wire: Wire, status: int) -> None:
    wire.router.post(EVENTS).respond(status, headers={"Retry-After": "7"})

    with pytest.raises(ProviderUnavailable) as raised:
        await wire.api.upsert_event(CAL, {"event_id": "e1"})
    assert raised.value.retry_after == 7.0


async def test_no_error_message_carries_a_token_or_the_client_secret(make_wire: MakeWire) -> None:
    """Every failure path once, with the credentials echoed back where a server might echo them."""
    messages: list[str] = []
    scenarios: list[tuple[str, int, Any]] = [
        (
            "/oauth/token",
            400,
            {"error": "invalid_grant", "error_description": f"{REFRESH} / {CLIENT_SECRET}"},
        ),
        ("/oauth/token", 400, {"error": "invalid_client", "error_description": f"bad {CLIENT_SECRET}"}),
        ("/oauth/token", 401, {"error": f"invalid_client {ACCESS}"}),
        ("/oauth/token", 400, "not json"),
        ("/oauth/token", 503, None),
        (EVENTS, 422, {"errors": {"summary": [{"key": "errors.required", "description": "required"}]}}),
        (EVENTS, 403, None),
        (EVENTS, 404, None),
        (EVENTS, 429, None),
        (EVENTS, 401, None),
    ]
    for path, status, body in scenarios:
        wire = make_wire(expires_in=timedelta(0) if path == "/oauth/token" else timedelta(hours=1))
        answer = {"json": body} if isinstance(body, dict) else {"text": body or ""}
        wire.router.post(path).respond(status, **answer)
        if path != "/oauth/token":  # the same pattern would replace the scenario's route
            wire.router.post("/oauth/token").mock(side_effect=lambda _: token_answer())
        with pytest.raises(ProviderError) as raised:
            await wire.api.upsert_event(CAL, {"event_id": "e1"})
        messages.append(str(raised.value))
    assert len(messages) == len(scenarios)
    for message in messages:
        assert not [secret for secret in SECRETS if secret in message], message


def test_tokens_do_not_show_in_their_repr() -> None:
    tokens = CronofyTokens(access_token=ACCESS, refresh_token=REFRESH, expires_at=NOW)
    assert ACCESS not in repr(tokens)
    assert REFRESH not in repr(tokens)
    assert REFRESH not in str(tokens)
    assert "2026-05-11T12:00:00+00:00" in repr(tokens)
    assert all(ACCESS not in str(value) for _, value in tokens.__rich_repr__())


def test_events_tolerate_unknown_fields_but_not_a_missing_deleted_flag() -> None:
    raw = event_json(localized={"x": 1}, start={"time": iso(NOW), "tzid": "Europe/Berlin"})
    event = msgspec.json.decode(json.dumps(raw), type=CronofyEvent)
    assert event.start == {"time": iso(NOW), "tzid": "Europe/Berlin"}
    assert event.metadata == {}
    with pytest.raises(msgspec.ValidationError, match="deleted"):
        msgspec.json.decode(json.dumps({**raw, "deleted": None}), type=CronofyEvent)


# --- against the in-process Cronofy stand-in (with its Recall integration) -------------------------


@pytest.fixture
def sandbox_clock() -> SandboxClock:
    return SandboxClock(start=NOW, frozen=True)


@pytest.fixture
async def recall(sandbox_clock: SandboxClock) -> AsyncIterator[RecallSandbox]:
    sandbox = RecallSandbox(api_keys=["recall-key"], clock=sandbox_clock)
    yield sandbox
    await sandbox.aclose()


@pytest.fixture
async def cronofy(sandbox_clock: SandboxClock, recall: RecallSandbox) -> AsyncIterator[CronofySandbox]:
    sandbox = CronofySandbox(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, recall=recall, clock=sandbox_clock
    )
    yield sandbox
    await sandbox.aclose()


async def test_against_the_stand_in(
    cronofy: CronofySandbox, recall: RecallSandbox, sandbox_clock: SandboxClock
) -> None:
    access, refresh = cronofy.add_account(calendar_ids=[CAL])
    transport = httpx.ASGITransport(app=create_cronofy_sandbox_app(cronofy))
    client = httpx.AsyncClient(base_url="http://cronofy.test", transport=transport)
    http = ProviderHttp("cronofy sandbox", client, SPEC.rate_limits)
    saved: list[CronofyTokens] = []

    async def save(tokens: CronofyTokens) -> None:
        saved.append(tokens)

    tokens = CronofyTokens(access_token=access, refresh_token=refresh, expires_at=NOW + timedelta(hours=1))
    api = CronofyApi(
        http,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        tokens=tokens,
        save_tokens=save,
        clock=sandbox_clock.now,
    )
    try:
        assert [c["calendar_id"] for c in await api.list_calendars()] == [CAL]

        # The access token dies on the stand-in's clock: the client refreshes first, and rotates.
        sandbox_clock.advance(3600)
        await api.upsert_event(
            CAL,
            {
                "event_id": "e1",
                "summary": "Recall test",
                "start": iso(NOW + timedelta(hours=5)),
                "end": iso(NOW + timedelta(hours=6)),
                "conferencing": {"profile_id": "default"},
                "extensions": RECALL,
            },
        )
        [rotated] = saved
        assert (rotated.refresh_token != refresh, rotated.access_token != access) == (True, True)
        old = await client.post(
            "/oauth/token",
            json={
                "grant_type": "refresh_token",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "refresh_token": refresh,
            },
        )
        assert old.json() == {"error": "invalid_grant"}

        # The event reads back with the Recall bot Cronofy's integration made for it.
        [bot] = await recall.admin_bots(BotQuery())
        [[event]] = [page async for page in api.read_events(calendar_ids=[CAL], last_modified=None)]
        assert (event.event_id, event.summary, event.deleted) == ("e1", "Recall test", False)
        assert event.recall_bot_id == bot.id

        # Paging over the stand-in's absolute next_page links (five events a page).
        for n in range(2, 8):
            body = {"event_id": f"e{n}", "summary": f"M{n}", "start": iso(NOW + timedelta(hours=n + 4))}
            await api.upsert_event(CAL, body | {"end": iso(NOW + timedelta(hours=n + 5))})
        pages = [page async for page in api.read_events(calendar_ids=[CAL], last_modified=NOW)]
        assert [len(page) for page in pages] == [5, 2]

        # A 422 from the stand-in reads as Cronofy's field errors.
        with pytest.raises(CronofyInvalid, match="summary: ") as raised:
            await api.upsert_event(CAL, {"event_id": "bad", "start": iso(NOW), "end": iso(NOW)})
        assert "summary" in raised.value.errors

        await api.delete_event(CAL, "e1")
        [[gone, *_], _] = [page async for page in api.read_events(calendar_ids=[CAL], last_modified=NOW)]
        assert (gone.event_id, gone.deleted) == ("e1", True)

        # A revoked link: the next refresh is refused for good.
        await cronofy.revoke_account(cronofy.tokens.owner_of(CAL) or "", access_tokens=True)
        with pytest.raises(CronofyAuthRevoked):
            await api.list_calendars()
        assert len(saved) == 1
    finally:
        await http.aclose()
