"""``meetbridge sandbox`` with the Cronofy options, and the Cronofy stand-in of ``serve --sandbox``.

The command is run through click with ``uvicorn.run`` replaced, so the app it would serve is driven
in-process (its startup and shutdown hooks included) by Litestar's test client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient

from meetbridge.cli import CRONOFY_RECALL_PROFILE, main
from meetbridge.config.catalogue import load_catalogue
from meetbridge.runtime.sandbox_profiles import CRONOFY_PATH, SANDBOX_CRONOFY_PROFILE, sandbox_profiles
from meetbridge.sandbox import DEFAULT_RECALL_PROFILE
from meetbridge.settings import default_catalogue_dir

CLIENT_ID, CLIENT_SECRET = "e2e-cronofy-client", "e2e-cronofy-secret"
CAL = "cal_upstream_1"
ZOOM = "https://zoom.us/j/1234567890"


def sandbox_app(monkeypatch: pytest.MonkeyPatch, *args: str) -> Litestar:
    """The app ``meetbridge sandbox ARGS`` would serve."""
    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.append(app))
    result = CliRunner().invoke(main, ["sandbox", *args])
    assert result.exit_code == 0, result.output
    [app] = served
    assert isinstance(app, Litestar)
    return app


def cronofy_args(*extra: str) -> list[str]:
    return ["--cronofy-client-id", CLIENT_ID, "--cronofy-client-secret", CLIENT_SECRET, *extra]


def upsert_body(event_id: str, day: int, profile_id: str = DEFAULT_RECALL_PROFILE) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "summary": f"cli {event_id}",
        "start": f"2031-01-{day:02d}T10:00:00Z",
        "end": f"2031-01-{day:02d}T10:30:00Z",
        "conferencing": {"profile_id": "explicit", "provider_description": "Zoom", "join_url": ZOOM},
        "extensions": [{"provider": "recall", "profile_id": profile_id}],
    }


@pytest.fixture
async def both(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = sandbox_app(monkeypatch, *cronofy_args("--cronofy-token-lifetime", "90"))
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:9000") as client:
        yield client


def test_the_cli_default_extension_profile_is_the_stand_ins() -> None:
    assert CRONOFY_RECALL_PROFILE == DEFAULT_RECALL_PROFILE


@pytest.mark.parametrize("given", [["--cronofy-client-id", "x"], ["--cronofy-client-secret", "y"]])
def test_one_cronofy_credential_alone_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, given: list[str]
) -> None:
    monkeypatch.setattr(uvicorn, "run", lambda *_, **__: pytest.fail("must not serve"))
    result = CliRunner().invoke(main, ["sandbox", *given])
    assert result.exit_code == 2
    assert "--cronofy-client-id and --cronofy-client-secret go together" in result.output


async def test_without_the_options_only_recall_is_served(monkeypatch: pytest.MonkeyPatch) -> None:
    app = sandbox_app(monkeypatch)
    async with AsyncTestClient(app=app) as client:
        assert (await client.get("/_sandbox/clock")).status_code == 200
        assert (await client.post("/cronofy/_sandbox/accounts", json={})).status_code == 404


async def test_cronofy_bots_are_made_in_the_served_recall_sandbox(both: AsyncTestClient[Litestar]) -> None:
    created = await both.post("/cronofy/_sandbox/accounts", json={"calendar_ids": [CAL]})
    assert created.status_code == 201, created.text
    account = created.json()
    auth = {"Authorization": f"Bearer {account['access_token']}"}

    for day in range(1, 8):  # more than one page of the stand-in's Read Events
        response = await both.post(
            f"/cronofy/v1/calendars/{CAL}/events", json=upsert_body(f"e{day}", day), headers=auth
        )
        assert response.status_code == 202, response.text
    bots = (await both.get("/_sandbox/bots")).json()
    assert len(bots) == 7
    assert {bot["metadata"]["cronofy_event_id"] for bot in bots} == {f"e{day}" for day in range(1, 8)}

    params = {"tzid": "Etc/UTC", "include_managed": "true", "calendar_ids[]": CAL}
    first = (await both.get("/cronofy/v1/events", params=params, headers=auth)).json()
    next_page = first["pages"]["next_page"]
    assert next_page.startswith("http://127.0.0.1:9000/cronofy/v1/events/pages/"), next_page
    second = (await both.get(next_page, headers=auth)).json()
    shown = {e["event_id"]: e["metadata"]["recall"]["bot_id"] for e in first["events"] + second["events"]}
    assert shown == {bot["metadata"]["cronofy_event_id"]: bot["id"] for bot in bots}

    # The lifetime option reaches the token endpoint.
    refresh = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": account["refresh_token"],
    }
    token = await both.post("/cronofy/oauth/token", json=refresh)
    assert token.status_code == 200, token.text
    assert token.json()["expires_in"] == 90


async def test_recall_profile_and_bot_id_delay_options(monkeypatch: pytest.MonkeyPatch) -> None:
    app = sandbox_app(
        monkeypatch, *cronofy_args("--cronofy-recall-profile", "int_mine", "--cronofy-bot-id-delay", "3600")
    )
    async with AsyncTestClient(app=app) as client:
        account = (await client.post("/cronofy/_sandbox/accounts", json={"calendar_ids": [CAL]})).json()
        auth = {"Authorization": f"Bearer {account['access_token']}"}
        refused = await client.post(
            f"/cronofy/v1/calendars/{CAL}/events", json=upsert_body("e1", 1), headers=auth
        )
        assert refused.status_code == 422, refused.text  # the default profile is not set up here
        accepted = await client.post(
            f"/cronofy/v1/calendars/{CAL}/events", json=upsert_body("e1", 1, "int_mine"), headers=auth
        )
        assert accepted.status_code == 202, accepted.text
        [bot] = (await client.get("/_sandbox/bots")).json()
        [event] = (await client.get("/cronofy/_sandbox/events")).json()
        assert (event["bot_id"], event["shown_bot_id"]) == (bot["id"], None)  # held back an hour


def test_serve_sandbox_has_a_cronofy_profile_on_the_mounted_stand_in() -> None:
    profiles = sandbox_profiles("http://127.0.0.1:8000", load_catalogue(default_catalogue_dir()))
    profile = profiles[SANDBOX_CRONOFY_PROFILE]
    assert profile.adapter == "cronofy"
    assert profile.base_url == f"http://127.0.0.1:8000{CRONOFY_PATH}"
