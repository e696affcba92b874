"""The Cronofy sandbox's account API over HTTP: OAuth, token expiry, upsert/read/delete, paging, 422s."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from meetbridge.sandbox import CronofySandbox, SandboxClock, create_cronofy_sandbox_app
from tests.sandbox.common import START, iso, later

CLIENT_ID = "cronofy-client-id"
CLIENT_SECRET = "cronofy-client-secret"
SCOPE = "read_account list_calendars read_events create_event delete_event"
CAL = "cal_upstream_1"
BAD_ZONE = "unknown time zone 'Mars/Base'; use an IANA zone such as Europe/Berlin"
MANAGED = {"tzid": "Etc/UTC", "include_managed": "True"}  # capitalised, as pycronofy sends it


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def event(event_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "summary": f"Meeting {event_id}",
        "start": later(hours=4),
        "end": later(hours=5),
    } | fields


@pytest.fixture
def clock() -> SandboxClock:
    return SandboxClock(start=START, frozen=True)


@pytest.fixture
async def sandbox(clock: SandboxClock) -> AsyncIterator[CronofySandbox]:
    cronofy = CronofySandbox(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, clock=clock)
    yield cronofy
    await cronofy.aclose()


@pytest.fixture
async def client(sandbox: CronofySandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_cronofy_sandbox_app(sandbox))
    async with httpx.AsyncClient(transport=transport, base_url="http://cronofy.test") as http:
        yield http


@pytest.fixture
def tokens(sandbox: CronofySandbox) -> tuple[str, str]:
    return sandbox.add_account(calendar_ids=[CAL, "cal_upstream_2"])


@pytest.fixture
def auth(tokens: tuple[str, str]) -> dict[str, str]:
    return bearer(tokens[0])


def refresh_body(refresh_token: str, **overrides: str) -> dict[str, str]:
    return {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    } | overrides


async def upsert(
    client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any], cal: str = CAL
) -> None:
    response = await client.post(f"/v1/calendars/{cal}/events", json=body, headers=auth)
    assert response.status_code == 202, response.text
    assert response.content == b""


async def read_all(client: httpx.AsyncClient, auth: dict[str, str], **params: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/events", params=MANAGED | params, headers=auth)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    while "next_page" in response.json()["pages"]:
        response = await client.get(response.json()["pages"]["next_page"], headers=auth)
        events += response.json()["events"]
    return events


# --- OAuth ---------------------------------------------------------------------------------------


async def test_refresh_rotates_the_refresh_token_and_the_old_one_fails(
    client: httpx.AsyncClient, tokens: tuple[str, str]
) -> None:
    access, refresh = tokens
    response = await client.post("/oauth/token", json=refresh_body(refresh), headers=bearer(access))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body == {
        "token_type": "bearer",
        "access_token": body["access_token"],
        "expires_in": 3600,
        "refresh_token": body["refresh_token"],
        "scope": SCOPE,
    }
    assert body["refresh_token"] != refresh
    assert body["access_token"] != access

    reused = await client.post("/oauth/token", json=refresh_body(refresh))
    assert reused.status_code == 400
    assert reused.json() == {"error": "invalid_grant"}
    assert reused.headers["cache-control"] == "no-store"

    # Form-encoded bodies are accepted too (RFC 6749); the rotated token works exactly once.
    form = await client.post("/oauth/token", data=refresh_body(body["refresh_token"]))
    assert form.status_code == 200
    again = await client.post("/oauth/token", data=refresh_body(body["refresh_token"]))
    assert (again.status_code, again.json()) == (400, {"error": "invalid_grant"})
    for token in (access, body["access_token"], form.json()["access_token"]):  # old ones live until expiry
        assert (await client.get("/v1/calendars", headers=bearer(token))).status_code == 200


async def test_token_errors_follow_rfc_6749_and_spend_nothing(
    client: httpx.AsyncClient, tokens: tuple[str, str]
) -> None:
    _, refresh = tokens
    wrong_secret = await client.post("/oauth/token", json=refresh_body(refresh, client_secret="nope"))
    assert (wrong_secret.status_code, wrong_secret.json()) == (400, {"error": "invalid_client"})
    wrong_id = await client.post("/oauth/token", json=refresh_body(refresh, client_id="other"))
    assert (wrong_id.status_code, wrong_id.json()) == (400, {"error": "invalid_client"})

    basic = base64.b64encode(f"{CLIENT_ID}:nope".encode()).decode()
    body = {"grant_type": "refresh_token", "refresh_token": refresh}
    via_header = await client.post("/oauth/token", json=body, headers={"Authorization": f"Basic {basic}"})
    assert (via_header.status_code, via_header.json()) == (401, {"error": "invalid_client"})
    assert via_header.headers["www-authenticate"] == 'Basic realm="cronofy"'

    missing = await client.post("/oauth/token", json=refresh_body(refresh, grant_type=""))
    assert (missing.status_code, missing.json()) == (400, {"error": "invalid_request"})
    code = await client.post("/oauth/token", json=refresh_body(refresh, grant_type="authorization_code"))
    assert (code.status_code, code.json()) == (400, {"error": "unsupported_grant_type"})
    garbage = await client.post("/oauth/token", content=b"[1]", headers={"content-type": "application/json"})
    assert (garbage.status_code, garbage.json()) == (400, {"error": "invalid_request"})

    good_basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    ok = await client.post("/oauth/token", json=body, headers={"Authorization": f"Basic {good_basic}"})
    assert ok.status_code == 200  # none of the refused attempts used up the refresh token


async def test_access_tokens_expire_by_the_sandbox_clock(
    client: httpx.AsyncClient, tokens: tuple[str, str], clock: SandboxClock
) -> None:
    access, refresh = tokens
    clock.advance(3599)
    assert (await client.get("/v1/calendars", headers=bearer(access))).status_code == 200
    clock.advance(1)
    expired = await client.get("/v1/calendars", headers=bearer(access))
    assert expired.status_code == 401
    assert expired.content == b""
    assert expired.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    for headers in ({}, bearer("unknown"), {"Authorization": access}):
        assert (await client.get("/v1/calendars", headers=headers)).status_code == 401

    refreshed = (await client.post("/oauth/token", json=refresh_body(refresh))).json()
    assert (await client.get("/v1/calendars", headers=bearer(refreshed["access_token"]))).status_code == 200
    clock.advance(3600)
    assert (await client.get("/v1/calendars", headers=bearer(refreshed["access_token"]))).status_code == 401


async def test_revoked_tokens_fail(client: httpx.AsyncClient, sandbox: CronofySandbox) -> None:
    access, refresh = sandbox.add_account(calendar_ids=["cal_x"])
    revoke = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "token": refresh}
    response = await client.post("/oauth/token/revoke", json=revoke)
    assert (response.status_code, response.content) == (200, b"")
    assert (await client.post("/oauth/token", json=refresh_body(refresh))).json() == {
        "error": "invalid_grant"
    }
    assert (await client.get("/v1/calendars", headers=bearer(access))).status_code == 401
    unknown = await client.post("/oauth/token/revoke", json=revoke | {"token": "never-issued"})
    assert unknown.status_code == 200  # RFC 7009 §2.2
    bad_client = await client.post("/oauth/token/revoke", json=revoke | {"client_secret": "x"})
    assert (bad_client.status_code, bad_client.json()) == (400, {"error": "invalid_client"})


async def test_scopes_are_enforced_with_403(client: httpx.AsyncClient, sandbox: CronofySandbox) -> None:
    access, _ = sandbox.add_account(calendar_ids=["cal_ro"], scope="read_events")
    refused = await client.post("/v1/calendars/cal_ro/events", json=event("e1"), headers=bearer(access))
    assert (refused.status_code, refused.content) == (403, b"")
    read = await client.get("/v1/events", params=MANAGED, headers=bearer(access))
    assert read.status_code == 200


def test_accounts_need_unused_calendars(sandbox: CronofySandbox) -> None:
    sandbox.add_account(calendar_ids=["cal_a"])
    for calendar_ids in (["cal_a"], [], "cal_b"):
        with pytest.raises(ValueError, match="calendar_ids"):
            sandbox.add_account(calendar_ids=calendar_ids)


# --- events ----------------------------------------------------------------------------------------


async def test_upsert_read_delete_round_trip_across_pages(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for n in range(12):  # started in reverse order: reads sort by start
        await upsert(client, auth, event(f"e{n:02}", start=later(hours=20 - n), end=later(hours=21 - n)))

    first = await client.get("/v1/events", params=MANAGED, headers=auth)
    assert first.status_code == 200
    pages = first.json()["pages"]
    assert (pages["current"], pages["total"]) == (1, 3)
    assert pages["next_page"].startswith("http://cronofy.test/v1/events/pages/")
    second = await client.get(pages["next_page"], headers=auth)
    assert second.status_code == 200
    assert (second.json()["pages"]["current"], second.json()["pages"]["total"]) == (2, 3)
    third = (await client.get(second.json()["pages"]["next_page"], headers=auth)).json()
    assert third["pages"] == {"current": 3, "total": 3}
    ids = [e["event_id"] for page in (first.json(), second.json(), third) for e in page["events"]]
    assert ids == [f"e{n:02}" for n in reversed(range(12))]
    assert [len(page["events"]) for page in (first.json(), second.json(), third)] == [5, 5, 2]

    only = next(e for e in first.json()["events"] if e["event_id"] == "e11")
    assert only["event_uid"].startswith("evt_managed_")
    assert only == {
        "calendar_id": CAL,
        "event_uid": only["event_uid"],
        "event_id": "e11",
        "summary": "Meeting e11",
        "description": "",
        "start": later(hours=9),
        "end": later(hours=10),
        "deleted": False,
        "created": iso(START),
        "updated": iso(START),
        "participation_status": "accepted",
        "attendees": [],
        "transparency": "opaque",
        "status": "confirmed",
        "categories": [],
        "recurring": False,
        "event_private": False,
        "options": {"delete": True, "update": True, "change_participation_status": False},
    }

    await upsert(client, auth, event("e03", summary="Renamed", location={"description": "Room 1"}))
    delete = await client.request(
        "DELETE", f"/v1/calendars/{CAL}/events", json={"event_id": "e05"}, headers=auth
    )
    assert (delete.status_code, delete.content) == (202, b"")
    unknown = await client.request(
        "DELETE", f"/v1/calendars/{CAL}/events", json={"event_id": "zz"}, headers=auth
    )
    assert unknown.status_code == 202  # idempotent (reference open question 8)

    events = {e["event_id"]: e for e in await read_all(client, auth)}
    assert len(events) == 11
    assert "e05" not in events
    assert (events["e03"]["summary"], events["e03"]["location"]) == ("Renamed", {"description": "Room 1"})
    with_deleted = {e["event_id"]: e for e in await read_all(client, auth, include_deleted="true")}
    assert (len(with_deleted), with_deleted["e05"]["deleted"]) == (12, True)


async def test_next_page_follows_the_mount_prefix_and_the_token_owner(sandbox: CronofySandbox) -> None:
    access, _ = sandbox.add_account(calendar_ids=["cal_p"])
    other, _ = sandbox.add_account(calendar_ids=["cal_q"])
    transport = httpx.ASGITransport(app=create_cronofy_sandbox_app(sandbox, path_prefix="/cronofy/"))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        for n in range(6):
            response = await http.post(
                "/cronofy/v1/calendars/cal_p/events", json=event(f"e{n}"), headers=bearer(access)
            )
            assert response.status_code == 202
        first = (await http.get("/cronofy/v1/events", params=MANAGED, headers=bearer(access))).json()
        next_page = first["pages"]["next_page"]
        assert next_page.startswith("http://gateway.test/cronofy/v1/events/pages/")
        assert (await http.get(next_page, headers=bearer(other))).status_code == 404
        assert (await http.get(next_page, headers=bearer(access))).json()["pages"] == {
            "current": 2,
            "total": 2,
        }
        missing = await http.get("/cronofy/v1/events/pages/nope", headers=bearer(access))
        assert (missing.status_code, missing.content) == (404, b"")


async def test_read_filters(client: httpx.AsyncClient, auth: dict[str, str], clock: SandboxClock) -> None:
    await upsert(client, auth, event("early", start=later(hours=1), end=later(hours=2)))
    await upsert(
        client,
        auth,
        event("other_cal", start=later(days=2), end=later(days=2, hours=1)),
        cal="cal_upstream_2",
    )
    clock.advance(60)
    await upsert(
        client, auth, event("late", start=later(days=3), end=later(days=3, hours=1), tzid="Europe/Berlin")
    )

    async def ids(**params: str) -> list[str]:
        response = await client.get("/v1/events", params=params, headers=auth)
        assert response.status_code == 200, response.text
        return [e["event_id"] for e in response.json()["events"]]

    assert await ids(tzid="Etc/UTC") == []  # managed events only when asked for (reference §3)
    assert await ids(tzid="Etc/UTC", include_managed="False", only_managed="false") == []
    assert await ids(tzid="Etc/UTC", only_managed="TRUE") == ["early", "other_cal", "late"]
    assert await ids(**MANAGED, **{"calendar_ids[]": CAL}) == ["early", "late"]
    assert await ids(**MANAGED, last_modified=later(seconds=60)) == ["late"]
    assert await ids(**MANAGED, **{"from": "2026-05-13", "to": "2026-05-15"}) == ["other_cal", "late"]
    assert await ids(**MANAGED, to="2026-05-12") == ["early"]

    localized = await client.get(
        "/v1/events",
        params=MANAGED | {"localized_times": "true", "last_modified": later(seconds=60)},
        headers=auth,
    )
    [late] = localized.json()["events"]
    assert late["start"] == {"time": "2026-05-14T14:00:00+02:00", "tzid": "Europe/Berlin"}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"tzid": [{"key": "errors.required", "description": "required"}]}),
        (
            {"tzid": "Mars/Base"},
            {
                "tzid": [
                    {
                        "key": "errors.invalid",
                        "description": BAD_ZONE,
                    }
                ]
            },
        ),
        (
            {"tzid": "Etc/UTC", "include_managed": "yes"},
            {
                "include_managed": [
                    {"key": "errors.invalid", "description": "include_managed must be true or false"}
                ]
            },
        ),
        (
            {"tzid": "Etc/UTC", "last_modified": "soon"},
            {
                "last_modified": [
                    {
                        "key": "errors.invalid",
                        "description": "'soon' is not a time (YYYY-MM-DDTHH:MM:SSZ) or a date (YYYY-MM-DD)",
                    }
                ]
            },
        ),
    ],
)
async def test_read_rejects_bad_parameters(
    client: httpx.AsyncClient, auth: dict[str, str], params: dict[str, str], expected: dict[str, Any]
) -> None:
    response = await client.get("/v1/events", params=params, headers=auth)
    assert response.status_code == 422
    assert response.json() == {"errors": expected}


def required(*names: str) -> dict[str, list[dict[str, str]]]:
    return {name: [{"key": "errors.required", "description": "required"}] for name in names}


INVALID_UPSERTS: list[tuple[dict[str, Any], dict[str, list[dict[str, str]]]]] = [
    ({}, required("event_id", "summary", "start", "end")),
    (event("e1") | {"event_id": ""}, required("event_id")),
    (
        event("e1", summary="x" * 1025, start="tomorrow"),
        {
            "summary": [{"key": "errors.too_long", "description": "summary must be at most 1024 characters"}],
            "start": [
                {
                    "key": "errors.invalid",
                    "description": "'tomorrow' is not a time (YYYY-MM-DDTHH:MM:SSZ) or a date (YYYY-MM-DD)",
                }
            ],
        },
    ),
    (
        event("e1", start=later(hours=2), end=later(hours=1)),
        {"end": [{"key": "errors.invalid", "description": "end must not be before start"}]},
    ),
    (
        event("e1", start="2026-05-12", end=later(hours=1)),
        {
            "end": [
                {"key": "errors.invalid", "description": "start and end must both be dates or both be times"}
            ]
        },
    ),
    (
        event("e1", tzid="Mars/Base", summary=7),
        {
            "summary": [{"key": "errors.invalid", "description": "summary must be a string"}],
            "tzid": [
                {
                    "key": "errors.invalid",
                    "description": BAD_ZONE,
                }
            ],
        },
    ),
    (
        event("e1", conferencing={"profile_id": "explicit"}),
        {
            "conferencing": [
                {"key": "errors.invalid", "description": 'profile_id "explicit" needs an http(s) join_url'}
            ]
        },
    ),
    (
        event("e1", extensions=[{"provider": "recall", "profile_id": "int_nope"}]),
        {"extensions": [{"key": "errors.invalid", "description": "unknown recall profile_id 'int_nope'"}]},
    ),
]


@pytest.mark.parametrize(("body", "expected"), INVALID_UPSERTS)
async def test_upsert_rejects_invalid_bodies_with_cronofy_422(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    sandbox: CronofySandbox,
    body: dict[str, Any],
    expected: dict[str, list[dict[str, str]]],
) -> None:
    response = await client.post(f"/v1/calendars/{CAL}/events", json=body, headers=auth)
    assert response.status_code == 422
    assert response.json() == {"errors": expected}
    assert await sandbox.admin_events() == []


async def test_upsert_and_delete_need_a_calendar_of_the_account(
    client: httpx.AsyncClient, auth: dict[str, str], sandbox: CronofySandbox
) -> None:
    sandbox.add_account(calendar_ids=["cal_someone_else"])
    for cal in ("cal_someone_else", "cal_missing"):
        created = await client.post(f"/v1/calendars/{cal}/events", json={}, headers=auth)  # 404 before 422
        assert (created.status_code, created.content) == (404, b"")
        deleted = await client.request(
            "DELETE", f"/v1/calendars/{cal}/events", json={"event_id": "e"}, headers=auth
        )
        assert deleted.status_code == 404
    bad_delete = await client.request("DELETE", f"/v1/calendars/{CAL}/events", json={}, headers=auth)
    assert bad_delete.status_code == 422
    assert bad_delete.json() == {"errors": required("event_id")}
    not_json = await client.post(f"/v1/calendars/{CAL}/events", content=b"{", headers=auth)
    assert not_json.status_code == 422
    assert list(not_json.json()["errors"]) == ["body"]


async def test_delete_by_event_uid_and_recreate(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await upsert(client, auth, event("e1"))
    [stored] = await read_all(client, auth)
    deleted = await client.request(
        "DELETE", f"/v1/calendars/{CAL}/events", json={"event_uid": stored["event_uid"]}, headers=auth
    )
    assert deleted.status_code == 202
    assert await read_all(client, auth) == []
    await upsert(client, auth, event("e1", summary="Back"))
    [again] = await read_all(client, auth)
    assert (again["event_uid"], again["summary"], again["deleted"]) == (stored["event_uid"], "Back", False)


async def test_list_calendars(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.get("/v1/calendars", headers=auth)
    assert response.status_code == 200
    calendars = response.json()["calendars"]
    assert [(c["calendar_id"], c["calendar_primary"], c["calendar_readonly"]) for c in calendars] == [
        (CAL, True, False),
        ("cal_upstream_2", False, False),
    ]
