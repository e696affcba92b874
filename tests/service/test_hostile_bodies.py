"""A body is read only for an authenticated caller, and only up to the cap (issue 14, item 3)."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import Api

DEEP = b"[" * 5000 + b"]" * 5000


async def calendar_names(api: Api) -> list[str]:
    response = await api.client.get("/v1/calendars", headers=api.auth)
    return [c["name"] for c in response.json()["calendars"]]


async def test_without_a_token_the_body_is_never_decoded(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        deep = await api.client.post(
            "/v1/calendars", content=DEEP, headers={"content-type": "application/json"}
        )
        big = await api.client.post(
            "/v1/calendars",
            content=b'{"name": "' + b"x" * 10_000_000 + b'"}',
            headers={"content-type": "application/json"},
        )

    assert (deep.status_code, big.status_code) == (401, 401)
    assert deep.json()["error"] == "unauthorized"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []  # no traceback per request
    assert await calendar_names(api) == []


async def test_an_authenticated_body_nested_too_deeply_names_the_body(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await api.client.post(
            "/v1/calendars", content=DEEP, headers={**api.auth, "content-type": "application/json"}
        )

    assert response.status_code == 422, response.text
    assert list(response.json()["errors"]) == ["body"]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert await calendar_names(api) == []


async def test_a_body_over_the_cap_is_413_and_changes_nothing(api: Api) -> None:
    cap = api.gateway.settings.max_body_bytes
    body = b'{"name": "' + b"x" * cap + b'"}'

    response = await api.client.post(
        "/v1/calendars", content=body, headers={**api.auth, "content-type": "application/json"}
    )

    assert response.status_code == 413, response.text
    assert response.json()["error"] == "request_entity_too_large"
    assert await calendar_names(api) == []
    small = await api.client.post("/v1/calendars", json={"name": "Fits"}, headers=api.auth)
    assert small.status_code == 200, small.text
