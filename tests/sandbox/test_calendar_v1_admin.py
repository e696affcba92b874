"""Calendar V1 OAuth callbacks (with the `/_oauth/` stand-ins) and the `/_sandbox/calendar-v1/` test API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from meetbridge.sandbox import RecallSandbox, create_recall_sandbox_app
from tests.sandbox.common import AUTH, START

GOOGLE_CALLBACK = "http://recall.test/api/v1/calendar/google_oauth_callback/"
MS_CALLBACK = "http://recall.test/api/v1/calendar/ms_oauth_callback/"
SUCCESS = "https://app.test/calendar/connected?user=u1"
ERROR = "https://app.test/calendar/failed?user=u1"
MEET = {"meeting_id": "abc-defg-hij"}


def later(**delta: float) -> str:
    return (START + timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
async def client(recall: RecallSandbox) -> AsyncIterator[httpx.AsyncClient]:
    """The default wiring of `create_recall_sandbox_app`: V1 shares the V2 stand-in's OAuth servers."""
    transport = httpx.ASGITransport(app=create_recall_sandbox_app(recall))
    async with httpx.AsyncClient(transport=transport, base_url="http://recall.test") as http:
        yield http


async def mint(client: httpx.AsyncClient, user_id: str = "u1") -> str:
    response = await client.post("/api/v1/calendar/authenticate/", json={"user_id": user_id}, headers=AUTH)
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def state(token: str, **extra: str) -> str:
    return json.dumps(
        {"recall_calendar_auth_token": token, "google_oauth_redirect_url": GOOGLE_CALLBACK, **extra}
    )


async def connections(client: httpx.AsyncClient, token: str) -> list[tuple[str, bool, str | None]]:
    user = await client.get("/api/v1/calendar/user/", headers={"x-recallcalendarauthtoken": token})
    return [(c["platform"], c["connected"], c["email"]) for c in user.json()["connections"]]


async def test_google_callback_connects_and_redirects_to_success_url(client: httpx.AsyncClient) -> None:
    token = await mint(client)
    response = await client.get(
        "/api/v1/calendar/google_oauth_callback/",
        params={"code": "any-code", "state": state(token, success_url=SUCCESS, error_url=ERROR)},
    )
    assert response.status_code == 302
    assert response.headers["location"] == SUCCESS  # its query kept as given
    assert await connections(client, token) == [
        ("google", True, "sandbox.user@example.com"),
        ("microsoft", False, None),
    ]
    calls = (await client.get("/_sandbox/calls")).json()
    assert not [c for c in calls if "oauth_callback" in c["path"]]  # a browser visit, not API traffic

    no_target = await client.get(
        "/api/v1/calendar/google_oauth_callback", params={"code": "c", "state": state(token)}
    )
    assert no_target.status_code == 200
    assert no_target.json()["connections"][0]["connected"] is True


async def test_callback_exchanges_a_stand_in_code_for_its_account(client: httpx.AsyncClient) -> None:
    """The whole browser round trip: authorize at the stand-in, come back to Recall's callback."""
    client_id = "client-1.apps.googleusercontent.com"
    config = await client.post("/_sandbox/calendar-v1/config", json={"microsoft_oauth_client_id": client_id})
    assert config.json() == {
        "bot_assign_delay_seconds": 0.0,
        "google_oauth_client_id": None,
        "microsoft_oauth_client_id": client_id,
    }
    token = await mint(client)
    ms_state = json.dumps(
        {"recall_calendar_auth_token": token, "ms_oauth_redirect_url": MS_CALLBACK, "success_url": SUCCESS}
    )
    query = {
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": MS_CALLBACK,
        "state": ms_state,
        "login_hint": "alice@acme.test",
    }
    consent = await client.get(f"/_oauth/microsoft/authorize?{urlencode(query)}")
    assert consent.status_code == 302
    back = urlsplit(consent.headers["location"])
    assert back.path == "/api/v1/calendar/ms_oauth_callback/"
    done = await client.get(f"{back.path}?{back.query}")
    assert (done.status_code, done.headers["location"]) == (302, SUCCESS)
    assert await connections(client, token) == [
        ("google", False, None),
        ("microsoft", True, "alice@acme.test"),
    ]

    replayed = parse_qs(back.query)  # the code is spent: the default account connects instead
    await client.get(back.path, params={"code": replayed["code"][0], "state": ms_state})
    assert (await connections(client, token))[1] == ("microsoft", True, "sandbox.user@example.com")


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"code": "c", "state": "not json"}, "invalid 'state' supplied"),
        ({"code": "c", "state": json.dumps({"google_oauth_redirect_url": GOOGLE_CALLBACK})}, None),
        ({"code": "c", "state": json.dumps({"recall_calendar_auth_token": "forged"})}, None),
        ({"error": "access_denied"}, "OAuth error: access_denied"),
        ({}, "OAuth error: no code"),
    ],
)
async def test_callback_failures_go_to_error_url_or_400(
    client: httpx.AsyncClient, params: dict[str, str], detail: str | None
) -> None:
    token = await mint(client)
    params = {"state": state(token), **params}
    failed = await client.get("/api/v1/calendar/google_oauth_callback/", params=params)
    assert failed.status_code == 400
    assert failed.json()["detail"].startswith("Calendar connection failed! (")
    if detail is not None:
        assert failed.json() == {"detail": f"Calendar connection failed! ({detail})"}
    assert (await connections(client, token))[0] == ("google", False, None)


async def test_bad_or_expired_tokens_send_the_browser_to_error_url(client: httpx.AsyncClient) -> None:
    token = await mint(client)
    forged = await client.get(
        "/api/v1/calendar/google_oauth_callback/",
        params={"code": "c", "state": state("forged", success_url=SUCCESS, error_url=ERROR)},
    )
    assert (forged.status_code, forged.headers["location"]) == (302, ERROR)

    assert (await client.post("/_sandbox/calendar-v1/tokens/expire")).json() == {"expired": 1}
    expired = await client.get(
        "/api/v1/calendar/google_oauth_callback/",
        params={"code": "c", "state": state(token, success_url=SUCCESS)},
    )
    assert (expired.status_code, expired.json()) == (
        400,
        {"detail": "Calendar connection failed! (Invalid 'recall_calendar_auth_token' supplied)"},
    )
    # The ms callback wants its own redirect key in the state.
    wrong_key = await client.get(
        "/api/v1/calendar/ms_oauth_callback/", params={"code": "c", "state": state(await mint(client))}
    )
    assert wrong_key.json() == {
        "detail": "Calendar connection failed! ('ms_oauth_redirect_url' missing from state)"
    }


async def test_a_second_account_on_a_platform_clears_the_first_ones_meetings(
    client: httpx.AsyncClient,
) -> None:
    first = {"platform": "google", "email": "one@acme.test"}
    assert (await client.post("/_sandbox/calendar-v1/users/u1/connections", json=first)).status_code == 200
    spec = {"start_time": later(days=1), "end_time": later(days=1, hours=1), "meet_invite": MEET}
    assert (await client.post("/_sandbox/calendar-v1/users/u1/meetings", json=spec)).status_code == 201

    same = {"platform": "google", "email": "ONE@acme.test"}
    await client.post("/_sandbox/calendar-v1/users/u1/connections", json=same)
    assert len((await client.get("/_sandbox/calendar-v1/users/u1/meetings")).json()) == 1
    other = {"platform": "google", "email": "two@acme.test"}
    user = await client.post("/_sandbox/calendar-v1/users/u1/connections", json=other)
    assert user.json()["connections"][0]["email"] == "two@acme.test"
    assert (await client.get("/_sandbox/calendar-v1/users/u1/meetings")).json() == []


async def test_seeding_checks_the_user_the_calendar_and_the_invite(client: httpx.AsyncClient) -> None:
    base = {"start_time": later(days=1), "end_time": later(days=1, hours=1)}

    async def seed(user_id: str, **body: Any) -> httpx.Response:
        return await client.post(f"/_sandbox/calendar-v1/users/{user_id}/meetings", json={**base, **body})

    assert (await seed("nobody")).status_code == 404
    await mint(client, "u1")
    unconnected = await seed("u1")
    assert unconnected.json() == {"detail": "The user has no connected calendar to hold a meeting."}
    await client.post("/_sandbox/calendar-v1/users/u1/connections", json={"platform": "google"})
    two_invites = {"meet_invite": MEET, "zoom_invite": {"meeting_id": "1234567890"}}
    no_outlook = {"calendar_platform": ["The user has no connected microsoft calendar."]}
    for body, error in (
        ({"calendar_platform": "microsoft"}, no_outlook),
        (two_invites, {"detail": "A meeting has at most one invite."}),
        ({"meet_invite": {"meeting_id": "not a code"}}, None),
        ({"end_time": later(hours=1)}, {"end_time": ["end_time must not be before start_time."]}),
        ({"start_time": "2026-05-12T10:00:00"}, None),  # naive times are refused
        ({"colour": "red"}, None),
    ):
        response = await seed("u1", **body)
        assert response.status_code == 400, (body, response.text)
        if error is not None:
            assert response.json() == error
    assert (await client.get("/_sandbox/calendar-v1/users/u1/meetings")).json() == []

    made = (await seed("u1", title="Board", ical_uid="uid-1", attendees=[{"email": "x@other.test"}])).json()
    assert (made["title"], made["ical_uid"], made["organizer_email"]) == (
        "Board",
        "uid-1",
        "sandbox.user@example.com",
    )
    assert (made["is_external"], made["is_hosted_by_me"], made["is_recurring"]) == (True, True, False)
    assert (made["meeting_platform"], made["meet_invite"], made["override_should_record"]) == (
        None,
        None,
        None,
    )
    bad_patch = await client.patch(f"/_sandbox/calendar-v1/meetings/{made['id']}", json={"end_time": later()})
    assert bad_patch.status_code == 400
    assert (await client.patch("/_sandbox/calendar-v1/meetings/nope", json={})).status_code == 404
    flags = await client.patch(
        f"/_sandbox/calendar-v1/meetings/{made['id']}",
        json={"is_external": False, "is_recurring": True, "title": "Board (moved)"},
    )
    assert (flags.json()["is_external"], flags.json()["is_recurring"], flags.json()["title"]) == (
        False,
        True,
        "Board (moved)",
    )
    derived = await client.patch(f"/_sandbox/calendar-v1/meetings/{made['id']}", json={"is_external": None})
    assert derived.json()["is_external"] is True
    assert derived.json()["end_time"] == later(days=1, hours=1)  # untouched by the failed PATCH


async def test_config_and_reset(client: httpx.AsyncClient) -> None:
    assert (await client.get("/_sandbox/calendar-v1/config")).json()["bot_assign_delay_seconds"] == 0
    negative = await client.post("/_sandbox/calendar-v1/config", json={"bot_assign_delay_seconds": -1})
    assert negative.status_code == 400
    set_up = await client.post(
        "/_sandbox/calendar-v1/config", json={"bot_assign_delay_seconds": 5, "google_oauth_client_id": "g"}
    )
    assert set_up.json() == {
        "bot_assign_delay_seconds": 5,
        "google_oauth_client_id": "g",
        "microsoft_oauth_client_id": None,
    }
    cleared = await client.post("/_sandbox/calendar-v1/config", json={"google_oauth_client_id": ""})
    assert cleared.json()["google_oauth_client_id"] is None

    token = await mint(client)
    await client.post("/_sandbox/calendar-v1/users/u2/connections", json={"platform": "microsoft"})
    assert [u["external_id"] for u in (await client.get("/_sandbox/calendar-v1/users")).json()] == [
        "u1",
        "u2",
    ]
    assert (await client.post("/_sandbox/reset")).status_code == 204  # the bot sandbox's: V1 data stays
    assert len((await client.get("/_sandbox/calendar-v1/users")).json()) == 2

    assert (await client.post("/_sandbox/calendar-v1/reset")).status_code == 204
    assert (await client.get("/_sandbox/calendar-v1/users")).json() == []
    after = await client.get("/api/v1/calendar/user/", headers={"x-recallcalendarauthtoken": token})
    assert after.status_code == 401
