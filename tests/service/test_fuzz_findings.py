"""What the fuzz run (tests/e2e/test_fuzz_openapi.py) found, each pinned where it was fixed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from litestar import Litestar

from meetbridge.db.tables import calendar_links
from meetbridge.settings import Settings
from tests.conftest import Api, app_api
from tests.service import test_cronofy_forwarding
from tests.service.conftest import gateway_on
from tests.service.test_cronofy_forwarding import Forwarding

forwarding = test_cronofy_forwarding.forwarding  # the Cronofy stand-in and a gateway linking to it

ONE_ACCOUNT = """
[profiles.bot]
adapter = "recall-bot"
base_url = "http://127.0.0.1:9"
api_key = "env:FINDINGS_KEY"
webhook_secret = "env:FINDINGS_SECRET"

[profiles.preset]
adapter = "recall-calendar-v1"
base_url = "http://127.0.0.1:9"
api_key = "env:FINDINGS_KEY"
webhook_secret = "env:FINDINGS_SECRET"
"""


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/v1/calendars", "GET, OPTIONS, POST"),
        ("/v1/calendars/cal_x/events", "DELETE, OPTIONS, POST"),
        ("/v1/calendars/cal_x/links/p", "DELETE, GET, OPTIONS, PUT"),
        ("/v1/events", "GET, OPTIONS"),
    ],
)
async def test_options_lists_every_method_of_the_path(api: Api, path: str, allow: str) -> None:
    """Litestar 2 listed only the first registered handler's method (GET /v1/calendars was missing)."""
    answered = await api.client.options(path, headers=api.auth)
    assert answered.status_code == 204, answered.text
    assert answered.headers["allow"] == allow
    assert answered.headers["cache-control"] == "no-store"


@pytest.fixture
async def one_account(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Api]:
    monkeypatch.setenv("FINDINGS_KEY", "one-recall-account")
    monkeypatch.setenv("FINDINGS_SECRET", "whsec_b25lLWFjY291bnQtc2VjcmV0")
    gateway = gateway_on(settings, tmp_path / "one.toml", ONE_ACCOUNT, Litestar())
    async with app_api(gateway, "findings") as made:
        yield made


async def test_a_calendar_v1_profile_beside_a_bot_profile_of_its_account_still_answers(
    one_account: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """The bot profile's client (with the API key as its Authorization header) was shared with the
    Calendar V1 adapter of the same account, which refused it: a 500 on every V1 route after it."""
    for profile in ("bot", "preset"):
        answered = await one_account.client.post(f"/v1/webhooks/recall/{profile}", content=b"{}")
        assert answered.status_code == 401, answered.text
        assert answered.json()["error"] == "unauthorized"
    assert "Traceback" not in caplog.text
    assert "unhandled error" not in caplog.text


@pytest.mark.parametrize("field", ["access_token", "refresh_token"])
async def test_a_token_that_cannot_be_sent_is_refused_naming_it(forwarding: Forwarding, field: str) -> None:
    """A token outside RFC 6750's characters cannot go into an Authorization header (httpx raised: 500)."""
    calendar_id = await forwarding.api.calendar()

    response = await forwarding.link(calendar_id, **{field: "t\u00f6ken"})

    assert response.status_code == 422, response.text
    [error] = response.json()["errors"][field]
    assert error["key"] == "errors.invalid"
    assert forwarding.calls() == []
    async with forwarding.gateway.database.read() as connection:
        assert (await connection.execute(sa.select(calendar_links))).all() == []
