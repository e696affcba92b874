"""The official SDK (pycronofy 2.1.1) against the Cronofy sandbox, its `requests` calls carried in-process.

pycronofy calls `requests.get/post/delete` directly; the shim builds each request exactly as `requests`
would (capitalised booleans, `calendar_ids[]`, a JSON body on every call) and sends it to the app.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pycronofy
import pytest
import requests
from litestar import Litestar
from litestar.testing import TestClient
from pycronofy import request_handler
from pycronofy.exceptions import PyCronofyRequestError
from requests.structures import CaseInsensitiveDict

from meetbridge.sandbox import (
    DEFAULT_RECALL_PROFILE,
    CronofySandbox,
    RecallSandbox,
    SandboxClock,
    cronofy_sandbox_router,
)
from tests.sandbox.common import START

CLIENT_ID = "cronofy-client-id"
CLIENT_SECRET = "cronofy-client-secret"
CAL = "cal_upstream_1"
HOOK = "https://app.test/hook"


class RequestsShim:
    """Stands in for the `requests` module inside pycronofy.request_handler."""

    exceptions = requests.exceptions

    def __init__(self, client: TestClient[Any]) -> None:
        self.client = client
        self.sent: list[requests.PreparedRequest] = []

    # pycronofy looks the method up with `requests.__getattribute__(name)`, which skips `__getattr__`.
    def get(self, **kwargs: Any) -> requests.Response:
        return self._send("GET", **kwargs)

    def post(self, **kwargs: Any) -> requests.Response:
        return self._send("POST", **kwargs)

    def delete(self, **kwargs: Any) -> requests.Response:
        return self._send("DELETE", **kwargs)

    def _send(
        self, method: str, *, url: str, headers: dict[str, str], json: Any, params: Any, hooks: Any
    ) -> requests.Response:
        prepared = requests.Request(method, url, headers=headers, json=json, params=params).prepare()
        self.sent.append(prepared)
        body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
        assert body is None or isinstance(body, bytes)  # json= bodies are prepared as bytes
        headers = {name: str(value) for name, value in prepared.headers.items()}
        answer = self.client.request(method, str(prepared.url), content=body, headers=headers)
        response = requests.Response()
        response.status_code, response.url, response.request = answer.status_code, str(prepared.url), prepared
        response.reason = answer.reason_phrase
        response.headers = CaseInsensitiveDict(answer.headers)
        response._content = answer.content
        return response


class Pushes:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(202)

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 5
        while len(self.requests) < count:
            assert time.monotonic() < deadline, f"{len(self.requests)} pushes, expected {count}"
            time.sleep(0.01)


@pytest.fixture
def pushes() -> Pushes:
    return Pushes()


@pytest.fixture
def world(pushes: Pushes, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[CronofySandbox, RequestsShim]]:
    clock = SandboxClock(start=START, frozen=True)
    recall = RecallSandbox(api_keys=["recall-key"], clock=clock)
    push_client = httpx.AsyncClient(transport=httpx.MockTransport(pushes))
    sandbox = CronofySandbox(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, recall=recall, clock=clock, push_client=push_client
    )
    # The router in an app of the test's own, so that shutdown also closes what the test opened.
    app = Litestar(
        route_handlers=[cronofy_sandbox_router(sandbox)],
        on_shutdown=[sandbox.aclose, recall.aclose, push_client.aclose],
        openapi_config=None,
    )
    with TestClient(app=app, base_url="http://cronofy.test") as client:
        shim = RequestsShim(client)
        monkeypatch.setattr(request_handler, "requests", shim)
        yield sandbox, shim


def sdk(access_token: str, refresh_token: str) -> pycronofy.Client:
    client = pycronofy.Client(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        access_token=access_token,
        refresh_token=refresh_token,
    )
    client.request_handler.base_url = "http://cronofy.test"  # per instance: no global settings touched
    return client


def test_pycronofy_drives_the_whole_flow(world: tuple[CronofySandbox, RequestsShim], pushes: Pushes) -> None:
    sandbox, shim = world
    client = sdk(*sandbox.add_account(calendar_ids=[CAL]))

    assert [c["calendar_id"] for c in client.list_calendars()] == [CAL]
    channel = client.create_notification_channel(HOOK, calendar_ids=(CAL,))
    assert channel["filters"] == {"calendar_ids": [CAL]}
    assert client.list_notification_channels() == [channel]

    begin = START + timedelta(days=1)
    for n in range(11):
        client.upsert_event(
            CAL,
            {
                "event_id": f"e{n:02}",
                "summary": f"Meeting {n}",
                "description": "https://meet.google.com/abc-defg-hij",
                "start": begin + timedelta(hours=n),
                "end": begin + timedelta(hours=n, minutes=30),
                "tzid": "Europe/Berlin",
                "extensions": [{"provider": "recall", "profile_id": DEFAULT_RECALL_PROFILE}],
            },
        )
    pages = client.read_events(calendar_ids=(CAL,), tzid="Europe/Berlin")
    assert (pages.current, pages.total) == (1, 3)
    events = pages.all()
    assert [e["event_id"] for e in events] == [f"e{n:02}" for n in range(11)]
    assert all(e["metadata"]["recall"]["bot_id"] for e in events)
    assert events[0]["start"] == "2026-05-12T12:00:00Z"
    page_calls = [str(p.url) for p in shim.sent if "/v1/events/pages/" in str(p.url)]
    assert len(page_calls) == 2
    first_read = next(p for p in shim.sent if str(p.url).startswith("http://cronofy.test/v1/events?"))
    assert "calendar_ids%5B%5D=cal_upstream_1" in str(first_read.url)
    assert "include_managed=True" in str(first_read.url)

    client.delete_event(CAL, "e00")
    remaining = client.read_events(calendar_ids=(CAL,)).all()
    assert len(remaining) == 10

    pushes.wait_for(13)  # verification, 11 upserts, 1 delete
    verifier = pycronofy.Client(client_secret=CLIENT_SECRET)
    for push in pushes.requests:
        assert verifier.hmac_valid(push.headers["Cronofy-HMAC-SHA256"], push.content.decode())
    assert json.loads(pushes.requests[0].content)["notification"] == {"type": "verification"}

    old_refresh = client.auth.refresh_token
    tokens = client.refresh_authorization()
    assert tokens["refresh_token"] != old_refresh
    assert len(client.read_events(calendar_ids=(CAL,)).all()) == 10  # the new access token works
    stale = sdk(client.auth.access_token, old_refresh)
    with pytest.raises(PyCronofyRequestError) as refused:
        stale.refresh_authorization()
    assert (refused.value.response.status_code, refused.value.response.json()) == (
        400,
        {"error": "invalid_grant"},
    )

    with pytest.raises(PyCronofyRequestError) as invalid:
        client.upsert_event(CAL, {"event_id": "bad", "start": begin, "end": begin - timedelta(hours=1)})
    assert invalid.value.response.status_code == 422
    assert invalid.value.response.json() == {
        "errors": {
            "summary": [{"key": "errors.required", "description": "required"}],
            "end": [{"key": "errors.invalid", "description": "end must not be before start"}],
        }
    }

    sandbox.clock.advance(3600)
    with pytest.raises(PyCronofyRequestError) as expired:
        client.list_calendars()
    assert expired.value.response.status_code == 401
    client.refresh_authorization()
    client.close_notification_channel(channel["channel_id"])
    assert client.list_notification_channels() == []
