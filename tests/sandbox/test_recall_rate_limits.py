"""The Recall stand-in's opt-in rate limits: per API key and endpoint, N calls per sliding window,
429 with Retry-After past it, refused calls not counted, every 429 in the call log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient

from meetbridge.cli import main
from meetbridge.sandbox import RecallSandbox, SandboxClock, create_recall_sandbox_app
from tests.sandbox.common import AUTH, KEY, START

OTHER_KEY = "sandbox-other-workspace"
OTHER_AUTH = {"Authorization": f"Token {OTHER_KEY}"}
ZOOM = "https://zoom.us/j/1234567890"


@pytest.fixture
def clock() -> SandboxClock:
    return SandboxClock(start=START, frozen=True)


@pytest.fixture
async def client(clock: SandboxClock) -> AsyncIterator[httpx.AsyncClient]:
    sandbox = RecallSandbox(api_keys=[KEY, OTHER_KEY], clock=clock)
    transport = httpx.ASGITransport(app=create_recall_sandbox_app(sandbox))
    async with httpx.AsyncClient(transport=transport, base_url="http://recall.test") as http:
        yield http
    await sandbox.aclose()


async def set_limits(client: httpx.AsyncClient, **limits: dict[str, Any]) -> httpx.Response:
    return await client.put("/_sandbox/rate-limits", json={"limits": limits})


async def create(client: httpx.AsyncClient, auth: dict[str, str] = AUTH) -> httpx.Response:
    return await client.post("/api/v1/bot/", json={"meeting_url": ZOOM}, headers=auth)


async def bot_count(client: httpx.AsyncClient) -> int:
    return len((await client.get("/_sandbox/bots")).json())


async def test_off_by_default(client: httpx.AsyncClient) -> None:
    assert (await client.get("/_sandbox/rate-limits")).json() == {}
    for _ in range(130):
        assert (await create(client)).status_code == 201
    assert await bot_count(client) == 130


async def test_past_the_limit_a_429_with_retry_after_until_the_window_slides(
    client: httpx.AsyncClient, clock: SandboxClock
) -> None:
    configured = await set_limits(client, create_bot={"calls": 3})
    assert configured.json() == {"create_bot": {"calls": 3, "window_seconds": 60.0}}
    for second in range(3):
        assert (await create(client)).status_code == 201
        clock.advance(10 if second < 2 else 1)  # calls at 0, 10 and 20 s; now 21 s
    refused = await create(client)
    assert refused.status_code == 429
    # The oldest call (0 s) leaves the window at 60 s: 39 s from 21 s.
    assert refused.headers["retry-after"] == "39"
    assert refused.json() == {"detail": "Request was throttled. Expected available in 39 seconds."}
    assert await bot_count(client) == 3  # a refused call makes nothing
    clock.advance(38)
    assert (await create(client)).status_code == 429  # 59 s: still three in the window
    clock.advance(1)
    assert (await create(client)).status_code == 201  # 60 s: the first has left it
    assert (await create(client)).status_code == 429  # refused calls did not count, the 4th did
    assert await bot_count(client) == 4

    calls = (await client.get("/_sandbox/calls")).json()
    assert [(call["status"], call["throttled"], call["faulted"]) for call in calls] == [
        (201, False, False),
        (201, False, False),
        (201, False, False),
        (429, True, False),
        (429, True, False),
        (201, False, False),
        (429, True, False),
    ]


async def test_per_api_key_and_endpoint(client: httpx.AsyncClient) -> None:
    await set_limits(client, create_bot={"calls": 2, "window_seconds": 5}, list_bots={"calls": 1})
    assert [(await create(client)).status_code for _ in range(3)] == [201, 201, 429]
    # Another workspace has its own allowance; other endpoints theirs, or none.
    assert [(await create(client, OTHER_AUTH)).status_code for _ in range(3)] == [201, 201, 429]
    listed = [(await client.get("/api/v1/bot/", headers=AUTH)).status_code for _ in range(2)]
    assert listed == [200, 429]
    bot_id = (await client.get("/_sandbox/bots")).json()[0]["id"]
    assert (await client.get(f"/api/v1/bot/{bot_id}/", headers=AUTH)).status_code == 200
    assert await bot_count(client) == 4


async def test_bad_credentials_are_a_401_not_counted(client: httpx.AsyncClient) -> None:
    await set_limits(client, create_bot={"calls": 1})
    assert (await create(client, {"Authorization": "Token wrong"})).status_code == 401
    assert (await create(client)).status_code == 201


async def test_a_short_window_slides_and_turning_limits_off(
    client: httpx.AsyncClient, clock: SandboxClock
) -> None:
    await set_limits(client, create_bot={"calls": 2, "window_seconds": 2})
    statuses = []
    for _ in range(6):
        statuses.append((await create(client)).status_code)
        clock.advance(0.5)
    # Accepted at 0 and 0.5 s; 1 and 1.5 s refused; 2 s frees the first, 2.5 s the second.
    assert statuses == [201, 201, 429, 429, 201, 201]
    assert (await set_limits(client)).json() == {}
    assert [(await create(client)).status_code for _ in range(5)] == [201] * 5


@pytest.mark.parametrize(
    ("limits", "named"),
    [
        ({"create_bots": {"calls": 1}}, "create_bots"),
        ({"create_bot": {"calls": 0}}, "limits.create_bot"),
        ({"create_bot": {"calls": 5, "window_seconds": 0}}, "limits.create_bot"),
    ],
)
async def test_bad_limits_are_a_400_naming_them_and_change_nothing(
    client: httpx.AsyncClient, limits: dict[str, Any], named: str
) -> None:
    await set_limits(client, list_bots={"calls": 7})
    refused = await client.put("/_sandbox/rate-limits", json={"limits": limits})
    assert refused.status_code == 400
    assert named in refused.json()["limits"][0]
    assert (await client.get("/_sandbox/rate-limits")).json() == {
        "list_bots": {"calls": 7, "window_seconds": 60.0}
    }


def sandbox_app(monkeypatch: pytest.MonkeyPatch, *args: str) -> Litestar:
    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.append(app))
    result = CliRunner().invoke(main, ["sandbox", "--api-key", KEY, *args])
    assert result.exit_code == 0, result.output
    [app] = served
    assert isinstance(app, Litestar)
    return app


async def test_the_cli_option_sets_limits_per_minute_or_per_window(monkeypatch: pytest.MonkeyPatch) -> None:
    app = sandbox_app(monkeypatch, "--rate-limit", "create_bot=120", "--rate-limit", "list_bots=40/2s")
    async with AsyncTestClient(app=app) as client:
        assert (await client.get("/_sandbox/rate-limits")).json() == {
            "create_bot": {"calls": 120, "window_seconds": 60.0},
            "list_bots": {"calls": 40, "window_seconds": 2.0},
        }


@pytest.mark.parametrize("given", ["create_bot", "create_bot=ten", "create_bot=5/2h", "nope=5"])
def test_a_bad_cli_limit_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, given: str) -> None:
    monkeypatch.setattr(uvicorn, "run", lambda *_, **__: pytest.fail("must not serve"))
    result = CliRunner().invoke(main, ["sandbox", "--rate-limit", given])
    assert result.exit_code == 2
    assert "--rate-limit" in result.output


async def test_reset_forgets_the_calls_counted_not_the_limits(client: httpx.AsyncClient) -> None:
    await set_limits(client, create_bot={"calls": 1})
    assert [(await create(client)).status_code for _ in range(2)] == [201, 429]
    assert (await client.post("/_sandbox/reset")).status_code == 204
    assert (await client.get("/_sandbox/rate-limits")).json() == {
        "create_bot": {"calls": 1, "window_seconds": 60.0}
    }
    assert [(await create(client)).status_code for _ in range(2)] == [201, 429]
