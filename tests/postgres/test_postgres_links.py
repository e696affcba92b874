"""Calendar links and synced events on PostgreSQL: the SQL the sync relies on (CASE merges, IN
subqueries, NOT IN, JSON columns) behaves as on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from meetbridge.db.links import LinkRules
from meetbridge.db.synced_events import SyncedEventStore
from meetbridge.db.tables import calendar_links, event_extensions, events, jobs
from meetbridge.domain.recording_rules import RuleDecision
from meetbridge.providers.base import ProviderCalendar, ProviderEvent
from meetbridge.runtime.gateway import Gateway
from tests.conftest import Api

pytestmark = pytest.mark.postgres

START = datetime(2030, 1, 7, 15, 0, tzinfo=UTC)


def provider_event(source_id: str, *, minutes: int = 0, title: str = "Weekly") -> ProviderEvent:
    start = START + timedelta(minutes=minutes)
    return ProviderEvent(
        provider_event_id=source_id,
        ical_uid=f"{source_id}@example.com",
        start_at=start,
        end_at=start + timedelta(minutes=30),
        meeting_url="https://zoom.us/j/1234567890",
        deleted=False,
        updated_at=START - timedelta(days=1, minutes=-minutes),
        fields={
            "summary": title,
            "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": "2030-01-07T16:00:00Z",
        },
        participants=[],
        organizer_email=None,
        owner_response=None,
    )


def record_all(_: ProviderEvent) -> RuleDecision:
    return RuleDecision(record=True, rule="all", reason="every meeting with a link")


async def job_kinds(gateway: Gateway) -> list[tuple[str, int]]:
    async with gateway.database.read() as connection:
        return [
            (row.kind, row.subject)
            for row in await connection.execute(sa.select(jobs.c.kind, jobs.c.subject))
        ]


async def test_link_sync_bookkeeping_and_synced_events_on_postgres(pg_gateway: Gateway, pg_api: Api) -> None:
    calendar_id = await pg_api.calendar()
    target = ProviderCalendar(
        provider_calendar_id="rc-1", platform="google_calendar", email="o@acme.test", status="connected"
    )
    link, created = await pg_gateway.links.save(calendar_id, "cal", target, LinkRules(record="all"))
    assert created
    assert link.full_sync
    assert await job_kinds(pg_gateway) == [("sync", link.id)]

    # Webhooks merge to the earliest requested start (the CASE expression).
    later, earlier = START, START - timedelta(hours=2)
    await pg_gateway.links.request_sync(link, later)
    await pg_gateway.links.request_sync(link, earlier)
    await pg_gateway.links.request_sync(link, later)
    link = await pg_gateway.links.by_id(link.id)  # type: ignore[assignment]
    assert link.sync_from == earlier

    store = SyncedEventStore(pg_gateway.database)
    changed = await store.apply(
        link, [provider_event("a"), provider_event("b", minutes=60)], record_all, provider="recall"
    )
    assert changed == {"a", "b"}
    assert (
        await store.apply(link, [provider_event("a")], record_all, provider="recall") == set()
    )  # unchanged: no write
    assert await store.apply(link, [provider_event("a", title="Renamed")], record_all, provider="recall") == {
        "a"
    }

    await pg_gateway.links.sync_done(link, cursor=START, full=True, sync_from=earlier, error=None)
    done = await pg_gateway.links.by_id(link.id)
    assert done is not None
    assert (done.sync_from, done.sync_cursor, done.full_sync) == (None, START, False)

    async with pg_gateway.database.read() as connection:
        rows = {
            row.source_id: row
            for row in await connection.execute(
                sa.select(events.c.source_id, events.c.deleted, events.c.rule, event_extensions.c.origin)
                .join(event_extensions, event_extensions.c.event_pk == events.c.pk)
                .where(events.c.link_id == link.id)
            )
        }
    assert {source: (row.deleted, row.origin, row.rule["rule"]) for source, row in rows.items()} == {
        "a": (False, "rule", "all"),
        "b": (False, "rule", "all"),
    }

    # A complete listing without "b" retires it (NOT IN), and only inside the listed window.
    gone = await store.retire_missing(link, {"a"}, START - timedelta(days=1), START + timedelta(days=28))
    assert gone == {"b"}
    assert (
        await store.retire_missing(link, set(), START + timedelta(days=1), START + timedelta(days=2)) == set()
    )

    # Unlinking cancels what acted for the link (the IN-subquery on target ids) and retires its events.
    cancelled = await pg_gateway.links.delete(link)
    assert cancelled == 2
    async with pg_gateway.database.read() as connection:
        left = await connection.scalar(sa.select(sa.func.count()).select_from(calendar_links))
        live = await connection.scalar(
            sa.select(sa.func.count()).select_from(events).where(events.c.deleted.is_(False))
        )
    assert (left, live) == (0, 0)
