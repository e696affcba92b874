"""A page token nobody issued is a 404, never a 500; a real one still pages (issue 14, item 2)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.conftest import Api


def token(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param(token({"after_start": "2031-05-06T15:00:00", "after_pk": 1}), id="naive-cursor"),
        pytest.param(token({"after_start": "2031-05-06T15:00:00+00:00", "after_pk": 2**64}), id="pk-2**64"),
        pytest.param(token({"after_start": "2031-05-06T15:00:00+00:00"}), id="half-a-cursor"),
        pytest.param(token({"after_start": "0001-01-01T00:00:00+00:00", "after_pk": 1}), id="year-1"),
        pytest.param(token({"page": 0}), id="page-0"),
        pytest.param(token(b"not json at all"), id="not-json"),
        pytest.param(token([1, 2]), id="not-an-object"),
        pytest.param("!!!not-base64!!!", id="not-base64"),
    ],
)
async def test_a_forged_page_token_is_not_found(api: Api, forged: str) -> None:
    response = await api.client.get(f"/v1/events/pages/{forged}", headers=api.auth)

    assert response.status_code == 404, response.text
    assert response.json()["error"] == "not_found"


async def test_a_token_the_server_issued_still_reads_the_next_page(api: Api) -> None:
    calendar_id = await api.calendar()
    for n in range(7):  # the fixture's page size is 5
        start = f"2031-05-{n + 1:02d}T15:00:00Z"
        body = {"event_id": f"ev{n}", "summary": "Paged", "start": start, "end": start.replace("15:", "16:")}
        assert (await api.upsert(calendar_id, body)).status_code == 202
    first = await api.client.get("/v1/events", params={"include_managed": "true"}, headers=api.auth)
    page = first.json()
    assert [e["event_id"] for e in page["events"]] == [f"ev{n}" for n in range(5)]

    second = await api.client.get(page["pages"]["next_page"], headers=api.auth)

    assert second.status_code == 200, second.text
    assert [e["event_id"] for e in second.json()["events"]] == ["ev5", "ev6"]
