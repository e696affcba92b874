"""A sync wakes every managed event that may be waiting for it, even one whose job is running now.

The race it closes: an event's job reads "no provider event matches yet" before a sync stores the
events, the sync re-plans the waiting ones before the job writes awaiting_sync, and the event then
waits for a sync that already happened (seen as a 30 s timeout in tests/e2e/test_calendar_v2_sync.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meetbridge.db.links import LinkRules
from meetbridge.db.synced_events import SyncedEventStore
from meetbridge.providers.base import ProviderCalendar
from tests.conftest import Api

PROFILE = "int_sales_0000"
OWNER = "worker-under-test"


async def test_a_sync_re_plans_an_event_whose_job_is_running_with_a_view_from_before_it(api: Api) -> None:
    gateway = api.gateway
    calendar_id = await api.calendar()
    start = datetime(2031, 5, 6, 15, 0, tzinfo=UTC)
    body = {
        "event_id": "copy",
        "summary": "The app's copy",
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=30)).isoformat(),
        "tzid": "Etc/UTC",
        "extensions": [{"provider": "recall", "profile_id": PROFILE}],
    }
    assert (await api.upsert(calendar_id, body)).status_code == 202
    link, created = await gateway.links.save(
        calendar_id,
        PROFILE,
        ProviderCalendar(
            provider_calendar_id="rc_1", platform=None, email="me@example.com", status="connected"
        ),
        LinkRules(),
        adapter="recall-calendar-v2",
    )
    assert created
    [job] = [job for job in await gateway.jobs.claim(OWNER, limit=10) if job.kind == "event"]
    extension = (await api.event(calendar_id, "copy"))["extensions"][0]  # type: ignore[index]
    assert extension["status"] == "pending"  # its job runs: it will say awaiting_sync after the sync

    assert await SyncedEventStore(gateway.database).replan_matched(link, changed=set()) == 1

    # The running job finishes: its row stays (enqueued meanwhile), so the event is reconciled again.
    assert await gateway.jobs.finish(OWNER, job) is False
    [again] = [j for j in await gateway.jobs.claim(OWNER, limit=10) if j.kind == "event"]
    assert (again.subject, again.generation) == (job.subject, job.generation + 1)
