"""Read Events' keyset cursor: pages stay whole across events that start together, and the next
page's query is a range on ``ix_events_calendar_start`` (issue 19: written as ``start > s OR (start =
s AND pk > p)``, SQLite walked the calendar from its first event, 718 ms for the last page of 1M)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from meetbridge.api import events as events_api
from tests.conftest import Api

START = "2031-05-06T15:00:00Z"


async def upsert_seven(api: Api, calendar_id: str) -> None:
    """ev0..ev2 on three days, ev3..ev6 all at START: the fixture's page of 5 ends inside the tie."""
    for n in range(7):
        start = f"2031-05-0{n + 1}T09:00:00Z" if n < 3 else START
        body = {"event_id": f"ev{n}", "summary": "Paged", "start": start, "end": start[:11] + "20:00:00Z"}
        assert (await api.upsert(calendar_id, body)).status_code == 202


async def test_pages_split_inside_events_that_start_together(api: Api) -> None:
    calendar_id = await api.calendar()
    await upsert_seven(api, calendar_id)

    first = (await api.client.get("/v1/events", params={"include_managed": "true"}, headers=api.auth)).json()
    second = await api.client.get(first["pages"]["next_page"], headers=api.auth)

    assert [e["event_id"] for e in first["events"]] == ["ev0", "ev1", "ev2", "ev3", "ev4"]
    assert second.status_code == 200, second.text
    assert [e["event_id"] for e in second.json()["events"]] == ["ev5", "ev6"]
    assert (second.json()["pages"]["current"], second.json()["pages"]["total"]) == (2, 2)


async def test_the_next_page_query_is_a_range_on_the_start_index(api: Api) -> None:
    calendar_id = await api.calendar()
    await upsert_seven(api, calendar_id)
    first = (await api.client.get("/v1/events", params={"include_managed": "true"}, headers=api.auth)).json()
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "ORDER BY events.start_at, events.pk" in statement:
            statements.append((statement, parameters))

    engine = api.gateway.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        response = await api.client.get(first["pages"]["next_page"], headers=api.auth)
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    assert response.status_code == 200, response.text
    [(statement, parameters)] = statements
    database = Path(api.gateway.settings.database_url.split("///", 1)[1])
    with contextlib.closing(sqlite3.connect(database)) as connection:
        plan = [row[-1] for row in connection.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)]
    events_plan = [step for step in plan if "events" in step.split(" USING")[0]]
    range_on_start = "SEARCH events USING INDEX ix_events_calendar_start (calendar_id=? AND start_at>?)"
    assert events_plan == [range_on_start]


async def test_total_is_a_growing_lower_bound_beyond_the_pages_counted_ahead(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 2 pages of 5 counted ahead: 23 events are 5 pages, of which the first page sees only 2.
    monkeypatch.setattr(events_api, "PAGES_COUNTED_AHEAD", 2)
    calendar_id = await api.calendar()
    for n in range(23):
        start = f"2031-06-{n + 1:02}T09:00:00Z"
        body = {"event_id": f"p{n:02}", "summary": "Paged", "start": start, "end": start[:11] + "10:00:00Z"}
        assert (await api.upsert(calendar_id, body)).status_code == 202

    page = (await api.client.get("/v1/events", params={"include_managed": "true"}, headers=api.auth)).json()
    seen, totals = [], []
    while True:  # as pycronofy pages: on while current < total, following next_page verbatim
        seen += [e["event_id"] for e in page["events"]]
        totals.append((page["pages"]["current"], page["pages"]["total"]))
        if page["pages"]["current"] >= page["pages"]["total"]:
            break
        page = (await api.client.get(page["pages"]["next_page"], headers=api.auth)).json()

    assert seen == [f"p{n:02}" for n in range(23)]
    assert totals == [(1, 2), (2, 3), (3, 4), (4, 5), (5, 5)]
    assert "next_page" not in page["pages"]
