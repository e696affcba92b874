"""The calendar connect flow: sealed state, the authorization URL, and the code exchange against the
Google/Microsoft stand-ins served in-process (no network)."""

from __future__ import annotations

import base64
import hashlib
import json
import string
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from litestar import Litestar
from litestar.di import Provide

from meetbridge.errors import InvalidRequest, ProviderRejected, ProviderUnavailable
from meetbridge.providers.oauth_connect import (
    PLATFORMS,
    ConnectGrant,
    InvalidConnectState,
    authorization_url,
    complete_connect,
    open_state,
    seal_state,
)
from meetbridge.sandbox import DEFAULT_EMAIL, OAUTH_HANDLERS, OAuthStandIn

KEY = "state-secret-key-for-tests"
REDIRECT = "https://meetbridge.example/v1/connect/callback"
BASE = "http://sandbox.test/_oauth"
CLIENT = ("client-1.apps.example.com", "client-secret-value")
PAYLOAD = {
    "calendar_id": "cal_1",
    "profile_id": "recall",
    "platform": "google_calendar",
    "code_verifier": "v",
}


def client_for(profile_id: str, platform: str) -> tuple[str, str]:
    assert profile_id == "recall"
    assert platform in PLATFORMS
    return CLIENT


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, strict_parsing=True).items()}


def tampered(token: str) -> str:
    middle = len(token) // 2
    return token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]


def start(platform: str = "google_calendar", *, base: str | None = BASE) -> str:
    return authorization_url(
        platform,
        client_id=CLIENT[0],
        redirect_uri=REDIRECT,
        secret_key=KEY,
        calendar_id="cal_1",
        profile_id="recall",
        oauth_base_url=base,
    )


# --- sealed state ---------------------------------------------------------------------------------


def test_state_round_trips_and_hides_its_content() -> None:
    token = seal_state(PAYLOAD, KEY)
    assert open_state(token, KEY) == PAYLOAD
    assert "cal_1" not in token
    assert set(token) <= set(string.ascii_letters + string.digits + "-_=")  # nothing to escape in a URL


@pytest.mark.parametrize(
    "token", [tampered(seal_state(PAYLOAD, KEY)), "", "not-a-token", "a" * 120, "é" * 40]
)
def test_state_tampered_or_garbage_is_rejected(token: str) -> None:
    with pytest.raises(InvalidConnectState, match="not valid"):
        open_state(token, KEY)


def test_state_from_another_key_is_rejected() -> None:
    with pytest.raises(InvalidConnectState, match="not valid"):
        open_state(seal_state(PAYLOAD, "another-secret-key"), KEY)


def test_state_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patched:
        patched.setattr(time, "time", lambda: 1_800_000_000.0)
        token = seal_state(PAYLOAD, KEY)
        patched.setattr(time, "time", lambda: 1_800_000_000.0 + 901)
        with pytest.raises(InvalidConnectState, match="expired") as raised:
            open_state(token, KEY)
        assert open_state(token, KEY, max_age_seconds=1000) == PAYLOAD
    assert raised.value.status_code == 401


def test_state_needs_a_key() -> None:
    with pytest.raises(ValueError, match="secret key"):
        seal_state(PAYLOAD, "")


# --- authorization URL ----------------------------------------------------------------------------


def test_google_authorization_url() -> None:
    url = start(base=None)
    assert url.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    params = query(url)
    sealed = open_state(params.pop("state"), KEY)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(sealed["code_verifier"].encode()).digest())
    assert params == {
        "response_type": "code",
        "client_id": CLIENT[0],
        "redirect_uri": REDIRECT,
        "scope": PLATFORMS["google_calendar"].scope,
        "code_challenge": challenge.decode().rstrip("="),
        "code_challenge_method": "S256",
        "access_type": "offline",
        "prompt": "consent",
    }
    assert "https://www.googleapis.com/auth/calendar.events.readonly" in params["scope"].split()
    assert sealed == {"calendar_id": "cal_1", "profile_id": "recall", "platform": "google_calendar"} | {
        "code_verifier": sealed["code_verifier"]
    }
    assert len(sealed["code_verifier"]) == 48
    assert sealed["code_verifier"] not in url


def test_microsoft_authorization_url_and_fresh_verifiers() -> None:
    first, second = query(start("microsoft_outlook", base=None)), query(start("microsoft_outlook", base=None))
    assert "offline_access" in first["scope"].split()
    assert "access_type" not in first
    assert "prompt" not in first
    assert first["code_challenge"] != second["code_challenge"]


def test_oauth_base_url_replaces_the_endpoints() -> None:
    assert start(base=BASE + "/").startswith("http://sandbox.test/_oauth/google/authorize?")
    assert start("microsoft_outlook").startswith("http://sandbox.test/_oauth/microsoft/authorize?")


def test_unknown_platform_is_a_field_error() -> None:
    with pytest.raises(InvalidRequest) as raised:
        start("zoom")
    assert list(raised.value.errors) == ["platform"]


# --- the whole flow against the stand-ins ---------------------------------------------------------


@pytest.fixture
def stand_in() -> OAuthStandIn:
    return OAuthStandIn()


@pytest.fixture
def transport(stand_in: OAuthStandIn) -> httpx.ASGITransport:
    app = Litestar(
        route_handlers=OAUTH_HANDLERS,
        dependencies={"oauth_stand_in": Provide(lambda: stand_in, use_cache=True, sync_to_thread=False)},
        openapi_config=None,
    )
    return httpx.ASGITransport(app=app)


@pytest.fixture
async def browser(transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=transport, follow_redirects=False) as client:
        yield client


async def consent(browser: httpx.AsyncClient, url: str) -> tuple[str, str]:
    """The user consents; the provider redirects to our callback with (code, state)."""
    response = await browser.get(url)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    callback = query(location)
    assert callback["state"] == query(url)["state"]
    return callback["code"], callback["state"]


async def finish(code: str, state: str, transport: httpx.AsyncBaseTransport) -> ConnectGrant:
    return await complete_connect(
        code=code,
        state=state,
        secret_key=KEY,
        client_for=client_for,
        redirect_uri=REDIRECT,
        oauth_base_url=BASE,
        transport=transport,
    )


@pytest.mark.parametrize("platform", ["google_calendar", "microsoft_outlook"])
async def test_full_flow(
    platform: str, browser: httpx.AsyncClient, transport: httpx.ASGITransport, stand_in: OAuthStandIn
) -> None:
    code, state = await consent(browser, start(platform))
    grant = await finish(code, state, transport)
    assert (grant.calendar_id, grant.profile_id, grant.platform) == ("cal_1", "recall", platform)
    assert grant.email == DEFAULT_EMAIL
    assert stand_in.email_for(grant.refresh_token) == DEFAULT_EMAIL
    assert grant.refresh_token not in repr(grant)


async def test_wrong_code_is_the_providers_refusal(
    browser: httpx.AsyncClient, transport: httpx.ASGITransport
) -> None:
    _, state = await consent(browser, start())
    with pytest.raises(ProviderRejected) as raised:
        await finish("not-the-code", state, transport)
    assert (raised.value.status, raised.value.code) == (400, "invalid_grant")
    assert "Google token endpoint refused: invalid_grant" in str(raised.value)
    assert CLIENT[1] not in str(raised.value)
    assert raised.value.__cause__ is None


async def test_a_code_is_spent_once(browser: httpx.AsyncClient, transport: httpx.ASGITransport) -> None:
    code, state = await consent(browser, start())
    await finish(code, state, transport)
    with pytest.raises(ProviderRejected, match="invalid_grant"):
        await finish(code, state, transport)


async def test_tampered_state_never_reaches_the_provider(
    browser: httpx.AsyncClient, transport: httpx.ASGITransport
) -> None:
    code, state = await consent(browser, start())
    with pytest.raises(InvalidConnectState):
        await finish(code, tampered(state), transport)
    # The code was not presented (a presentation spends it), so the genuine state still completes.
    assert (await finish(code, state, transport)).refresh_token


async def test_a_verifier_other_than_the_sealed_one_fails_pkce(
    browser: httpx.AsyncClient, transport: httpx.ASGITransport
) -> None:
    code, state = await consent(browser, start())
    # Only the holder of the key can seal another verifier; the provider still refuses it.
    forged = seal_state(open_state(state, KEY) | {"code_verifier": "x" * 48}, KEY)
    with pytest.raises(ProviderRejected, match="invalid_grant"):
        await finish(code, forged, transport)


async def test_state_missing_a_key_is_rejected(transport: httpx.ASGITransport) -> None:
    incomplete = seal_state({k: v for k, v in PAYLOAD.items() if k != "code_verifier"}, KEY)
    with pytest.raises(InvalidConnectState):
        await finish("code", incomplete, transport)


async def test_no_code_is_a_field_error(transport: httpx.ASGITransport) -> None:
    with pytest.raises(InvalidRequest):
        await finish("", seal_state(PAYLOAD, KEY), transport)


# --- token responses the stand-in does not give ---------------------------------------------------


def token_endpoint(status: int, body: object) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        assert form["code_verifier"] == ["v"]
        assert form["client_secret"] == [CLIENT[1]]
        assert form["redirect_uri"] == [REDIRECT]
        return httpx.Response(status, json=body)

    return httpx.MockTransport(answer)


def unsigned_jwt(claims: dict[str, object]) -> str:
    part = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJub25lIn0.{part}."


async def test_email_falls_back_to_the_id_token() -> None:
    body = {"access_token": "a", "token_type": "Bearer", "refresh_token": "r", "id_token": unsigned_jwt({})}
    assert (await finish("c", seal_state(PAYLOAD, KEY), token_endpoint(200, body))).email is None
    body["id_token"] = unsigned_jwt({"email": "ada@example.com"})
    grant = await finish("c", seal_state(PAYLOAD, KEY), token_endpoint(200, body))
    assert (grant.refresh_token, grant.email) == ("r", "ada@example.com")


async def test_no_refresh_token_is_explained() -> None:
    body = {"access_token": "a", "token_type": "Bearer", "expires_in": 3599}
    with pytest.raises(ProviderRejected, match=r"no refresh token.*access_type=offline") as raised:
        await finish("c", seal_state(PAYLOAD, KEY), token_endpoint(200, body))
    assert raised.value.code == "no_refresh_token"


async def test_provider_outage_and_bad_client() -> None:
    with pytest.raises(ProviderUnavailable) as outage:
        await finish("c", seal_state(PAYLOAD, KEY), token_endpoint(503, {"error": "unavailable"}))
    assert outage.value.status == 503
    with pytest.raises(ProviderRejected) as refused:
        await finish("c", seal_state(PAYLOAD, KEY), token_endpoint(401, {"error": "invalid_client"}))
    assert (refused.value.status, refused.value.code) == (401, "invalid_client")


async def test_network_failure_is_transient() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    with pytest.raises(ProviderUnavailable, match="ConnectTimeout"):
        await finish("c", seal_state(PAYLOAD, KEY), httpx.MockTransport(fail))
