"""Fields real calendars never fill beyond these limits are refused above them, naming the field,
and change nothing (issue 14, item 4)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api

START, END = "2031-05-06T15:00:00Z", "2031-05-06T15:30:00Z"


def body(**fields: Any) -> dict[str, Any]:
    return {"event_id": "ev1", "summary": "Limits", "start": START, "end": END, **fields}


def people(count: int, start: int = 0) -> list[dict[str, str]]:
    return [{"email": f"p{n}@example.com"} for n in range(start, start + count)]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({"location": {"description": "x" * 1025}}, "location", id="location"),
        pytest.param(
            {"conferencing": {"profile_id": "default", "provider_description": "z" * 257}},
            "conferencing",
            id="provider_description",
        ),
        pytest.param({"attendees": {"invite": people(1001)}}, "attendees", id="attendees-in-one-request"),
        pytest.param(
            {"attendees": {"invite": [{"email": "a@example.com", "display_name": "n" * 257}]}},
            "attendees",
            id="display_name",
        ),
        pytest.param({"reminders": [{"minutes": 5}] * 11}, "reminders", id="reminders"),
        pytest.param({"color": "#" + "f" * 40}, "color", id="color"),
        pytest.param(
            {"recurrence": {"rules": [{"frequency": "daily", "note": "r" * 9000}]}},
            "recurrence",
            id="recurrence",
        ),
        pytest.param(
            {"subscriptions": [{"type": "webhook", "uri": "https://example.com"}] * 11},
            "subscriptions",
            id="subscriptions",
        ),
    ],
)
async def test_a_field_over_its_limit_is_refused_and_nothing_is_stored(
    api: Api, fields: dict[str, Any], field: str
) -> None:
    calendar_id = await api.calendar()

    response = await api.upsert(calendar_id, body(**fields))

    assert response.status_code == 422, response.text
    assert list(response.json()["errors"]) == [field]
    missing = await api.client.get(f"/v1/calendars/{calendar_id}/events/ev1", headers=api.auth)
    assert missing.status_code == 404


async def test_attendees_merged_over_upserts_stop_at_the_limit(api: Api) -> None:
    calendar_id = await api.calendar()
    assert (await api.upsert(calendar_id, body(attendees={"invite": people(1000)}))).status_code == 202

    one_more = await api.upsert(
        calendar_id, {"event_id": "ev1", "attendees": {"invite": people(1, start=1000)}}
    )

    assert one_more.status_code == 422, one_more.text
    assert list(one_more.json()["errors"]) == ["attendees"]
    stored = await api.event(calendar_id, "ev1")
    assert len(stored["attendees"]) == 1000  # type: ignore[arg-type]
