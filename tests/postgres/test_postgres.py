"""The same code on PostgreSQL: migrations, the event API, and job claims with SKIP LOCKED."""

from __future__ import annotations

import asyncio

import pytest

from meetbridge.db.jobs import enqueue
from meetbridge.engine.store import JobStore
from meetbridge.runtime.gateway import Gateway
from tests.conftest import Api

pytestmark = pytest.mark.postgres


async def test_upsert_read_and_delete_round_trip_on_postgres(pg_api: Api) -> None:
    calendar_id = await pg_api.calendar()
    body = {
        "event_id": "pg-1",
        "summary": "On PostgreSQL",
        "start": "2031-03-01T09:00:00Z",
        "end": "2031-03-01T10:00:00Z",
        "tzid": "Europe/Berlin",
        "conferencing": {"profile_id": "explicit", "join_url": "https://zoom.us/j/9988776655"},
        "extensions": [{"provider": "recall", "profile_id": "int_sales_0000"}],
    }
    assert (await pg_api.upsert(calendar_id, body)).status_code == 202
    assert (await pg_api.upsert(calendar_id, {"event_id": "pg-1", "summary": "Renamed"})).status_code == 202

    event = await pg_api.event(calendar_id, "pg-1")
    assert (event["summary"], event["start"], event["tzid"]) == (
        "Renamed",
        "2031-03-01T09:00:00Z",
        "Europe/Berlin",
    )
    assert event["meeting_url"] == "https://zoom.us/j/9988776655"
    assert [(x["profile_id"], x["status"]) for x in event["extensions"]] == [("int_sales_0000", "pending")]

    listed = await pg_api.client.get("/v1/events?include_managed=true", headers=pg_api.auth)
    assert [e["event_id"] for e in listed.json()["events"]] == ["pg-1"]

    deleted = await pg_api.client.request(
        "DELETE", f"/v1/calendars/{calendar_id}/events", json={"event_id": "pg-1"}, headers=pg_api.auth
    )
    assert deleted.status_code == 202
    assert (await pg_api.event(calendar_id, "pg-1"))["deleted"] is True


async def test_concurrent_claims_never_hand_out_the_same_job(pg_api: Api) -> None:
    calendar_id = await pg_api.calendar()
    for number in range(40):
        response = await pg_api.upsert(
            calendar_id,
            {
                "event_id": f"job-{number}",
                "summary": "Job",
                "start": "2031-03-01T09:00:00Z",
                "end": "2031-03-01T10:00:00Z",
                "extensions": [{"provider": "recall", "profile_id": "int_sales_0000"}],
            },
        )
        assert response.status_code == 202
    store = JobStore(pg_api.gateway.database)
    assert await store.pending() == 40

    claims = await asyncio.gather(*(store.claim(f"worker-{n}", 10) for n in range(6)))

    claimed = [job.subject for batch in claims for job in batch]
    assert len(claimed) == 40
    assert len(set(claimed)) == 40  # SKIP LOCKED: no job went to two workers


async def test_enqueue_coalesces_on_postgres(pg_gateway: Gateway, pg_api: Api) -> None:
    calendar_id = await pg_api.calendar()
    event = {
        "event_id": "c-1",
        "summary": "Coalesce",
        "start": "2031-03-01T09:00:00Z",
        "end": "2031-03-01T10:00:00Z",
        "extensions": [{"provider": "recall", "profile_id": "int_sales_0000"}],
    }
    for minute in range(10):
        event["start"] = f"2031-03-01T09:{minute:02d}:00Z"
        assert (await pg_api.upsert(calendar_id, event)).status_code == 202
    stored = await pg_gateway.events.get(
        await pg_gateway.applications.application_for_token(pg_api.token) or "", calendar_id, event_id="c-1"
    )
    async with pg_gateway.database.write() as connection:
        await enqueue(connection, stored.pk, stored.updated_at)
    [job] = await JobStore(pg_gateway.database).claim("w", 10)
    assert (job.subject, job.generation) == (stored.pk, 11)
