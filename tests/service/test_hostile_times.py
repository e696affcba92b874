"""Zones that are folders and times at the ends of the calendar get a 422 naming the field, and
change nothing (issue 14, item 1)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Api

START, END = "2031-05-06T15:00:00Z", "2031-05-06T15:30:00Z"


def body(**fields: Any) -> dict[str, Any]:
    return {"event_id": "ev1", "summary": "Hostile", "start": START, "end": END, **fields}


def errors_of(response: httpx.Response) -> dict[str, list[str]]:
    assert response.status_code == 422, response.text
    return {field: [e["key"] for e in items] for field, items in response.json()["errors"].items()}


async def stored(api: Api, calendar_id: str) -> list[Any]:
    response = await api.client.get(
        "/v1/events", params={"calendar_ids[]": calendar_id, "include_managed": "true"}, headers=api.auth
    )
    assert response.status_code == 200, response.text
    events: list[Any] = response.json()["events"]
    return events


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"tzid": "America"}, {"tzid": ["errors.invalid"]}, id="zone-folder"),
        pytest.param({"tzid": "Etc"}, {"tzid": ["errors.invalid"]}, id="zone-folder-etc"),
        pytest.param({"start": "0001-01-01T00:00:00+05:00"}, {"start": ["errors.invalid"]}, id="year-1"),
        pytest.param(
            {"end": "9999-12-31T23:59:59Z", "tzid": "Asia/Tokyo"}, {"end": ["errors.invalid"]}, id="9999"
        ),
        pytest.param({"start": "1899-12-31T23:00:00Z"}, {"start": ["errors.invalid"]}, id="before-1900"),
        pytest.param(
            {"start": "1900-01-01T00:00:00+05:00"}, {"start": ["errors.invalid"]}, id="before-1900-in-utc"
        ),
        pytest.param(
            {"start": "2201-01-01", "end": "2201-01-02"},
            {"start": ["errors.invalid"], "end": ["errors.invalid"]},
            id="after-2200",
        ),
    ],
)
async def test_an_upsert_out_of_range_or_in_a_zone_folder_is_refused_and_stores_nothing(
    api: Api, fields: dict[str, Any], expected: dict[str, list[str]]
) -> None:
    calendar_id = await api.calendar()

    assert errors_of(await api.upsert(calendar_id, body(**fields))) == expected
    assert await stored(api, calendar_id) == []


async def test_the_ends_of_the_range_are_accepted_and_read_back_in_any_zone(api: Api) -> None:
    calendar_id = await api.calendar()
    edge = body(start="1900-01-01T00:00:00Z", end="2200-12-31T23:59:59Z", tzid="Asia/Tokyo")
    assert (await api.upsert(calendar_id, edge)).status_code == 202

    response = await api.client.get(
        "/v1/events",
        params={"calendar_ids[]": calendar_id, "include_managed": "true", "localized_times": "true"},
        headers=api.auth,
    )
    assert response.status_code == 200, response.text
    [event] = response.json()["events"]
    assert event["start"] == {"time": "1900-01-01T09:00:00+09:00", "tzid": "Asia/Tokyo"}
    assert event["end"] == {"time": "2201-01-01T08:59:59+09:00", "tzid": "Asia/Tokyo"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"tzid": "Europe"}, "tzid", id="zone-folder"),
        pytest.param({"from": "0001-01-01", "tzid": "Asia/Tokyo"}, "from", id="year-1"),
        pytest.param({"to": "9999-12-31T23:59:59Z", "tzid": "Asia/Tokyo"}, "to", id="9999"),
    ],
)
async def test_a_read_out_of_range_or_in_a_zone_folder_is_refused(
    api: Api, params: dict[str, str], field: str
) -> None:
    response = await api.client.get(
        "/v1/events", params={"include_managed": "true", **params}, headers=api.auth
    )

    assert list(errors_of(response)) == [field]
