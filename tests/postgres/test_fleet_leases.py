"""Leases you can trust, on PostgreSQL and SQLite alike: a worker that lost its lease writes nothing
over the new owner's result (fencing; event and calendar sync jobs), and a clean stop hands running
jobs back at once."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from meetbridge.config.catalogue import load_catalogue
from meetbridge.db.database import Database
from meetbridge.db.fencing import Lease, check_lease, current_lease
from meetbridge.db.jobs import SYNC, enqueue, enqueue_job
from meetbridge.db.link_rows import Link, link_from_row
from meetbridge.db.links import LinkRepository
from meetbridge.db.migrate import upgrade
from meetbridge.db.synced_events import SyncedEventStore
from meetbridge.db.tables import (
    applications,
    calendar_links,
    calendars,
    events,
    inbound_webhook_ids,
    jobs,
    utcnow,
)
from meetbridge.domain.recording_rules import RuleDecision
from meetbridge.engine import store as store_module
from meetbridge.engine.store import JobStore
from meetbridge.engine.worker import Worker
from meetbridge.errors import LeaseLost
from meetbridge.providers.base import ProviderEvent
from meetbridge.settings import default_catalogue_dir
from tests.postgres.conftest import SERVER, _admin
from tests.service.test_outbox import eventually

pytestmark = pytest.mark.postgres
SUBJECT = 7


def _admin_in_thread(statement: str) -> None:
    """The conftest's admin statement, off the test's running event loop."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _admin(statement)).result()


@pytest.fixture(params=["sqlite", "postgresql"])
def fleet_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'leases.db'}"
        return
    name = f"meetbridge_{uuid.uuid4().hex[:12]}"
    _admin_in_thread(f'CREATE DATABASE "{name}"')
    try:
        yield f"{SERVER.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"
    finally:
        _admin_in_thread(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
async def databases(fleet_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two processes' worth of engines on one fresh database, with one job due."""
    url = fleet_url
    await asyncio.to_thread(upgrade, url)
    made = (Database(url), Database(url))
    async with made[0].write() as connection:
        await enqueue(connection, SUBJECT, utcnow())
    yield made
    for database in made:
        await database.dispose()


async def write_result(database: Database, who: str) -> None:
    """What a job's write-back does: its change, then the fence, in one transaction."""
    async with database.write() as connection:
        await connection.execute(
            inbound_webhook_ids.insert().values(key=f"result of {who}", handled=True, expires_at=utcnow())
        )
        await check_lease(connection)


async def results(database: Database) -> list[str]:
    async with database.read() as connection:
        return sorted((await connection.scalars(sa.select(inbound_webhook_ids.c.key))).all())


async def lease_of(database: Database) -> tuple[str | None, str | None]:
    async with database.read() as connection:
        row = (await connection.execute(sa.select(jobs.c.lease_owner, jobs.c.lease_token))).one()
    return row.lease_owner, row.lease_token


class Paused:
    """A job handler that stops mid-job until released, as a replica under SIGSTOP does."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.started = asyncio.Event()
        self.resume = asyncio.Event()
        self.outcome: str | None = None

    async def run(self, subject: int) -> None:
        self.started.set()
        try:
            await self.resume.wait()
        except asyncio.CancelledError:
            self.outcome = "cancelled"
            raise
        self.outcome = "writing"
        await write_result(self.database, "the paused worker")

    async def fail(self, subject: int, reason: str) -> None:
        raise AssertionError(reason)

    async def note_retry(self, subject: int, error: str, delay: float) -> None:
        raise AssertionError(error)


def paused_worker(database: Database, handler: Paused, *, lease: float, stop_grace: float = 2.0) -> Worker:
    return Worker(
        JobStore(database, lease=timedelta(seconds=lease)),
        {"event": handler},
        load_catalogue(default_catalogue_dir()),
        heartbeat_interval=3600,  # paused: it renews nothing
        stop_grace=stop_grace,
    )


async def test_a_worker_paused_past_its_lease_writes_nothing_over_the_new_owner(
    databases: tuple[Database, Database], caplog: pytest.LogCaptureFixture
) -> None:
    first, second = databases
    handler = Paused(first)
    worker = paused_worker(first, handler, lease=0.3)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.wait_for(handler.started.wait(), 10)
        paused_owner, paused_token = await lease_of(second)
        assert paused_owner == worker.owner

        # The lease runs out; another worker claims the job and writes its result.
        new_owner = JobStore(second, lease=timedelta(seconds=60))
        claimed = []

        async def taken_over() -> bool:
            claimed.extend(await new_owner.claim("the new owner", 10))
            return bool(claimed)

        await eventually(taken_over, "the lease to expire and the job to be claimed again")
        current_lease.set(Lease(claimed[0].kind, claimed[0].subject, claimed[0].token))
        await write_result(second, "the new owner")
        current_lease.set(None)

        with caplog.at_level(logging.WARNING, logger="meetbridge.worker"):
            handler.resume.set()

            async def fenced() -> bool:
                return "its lease passed to another worker" in caplog.text

            await eventually(fenced, "the paused worker to try its write-back")
        assert handler.outcome == "writing"
        assert await results(second) == ["result of the new owner"]  # the paused worker's rolled back
        owner, token = await lease_of(second)  # not finished, retried nor released by the paused one
        assert (owner, token) == ("the new owner", claimed[0].token)
        assert token != paused_token
        assert await new_owner.finish("the new owner", claimed[0])
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)


async def test_a_clean_stop_hands_running_jobs_back_within_seconds_not_a_lease(
    databases: tuple[Database, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "HAND_BACK_AFTER", timedelta(milliseconds=300))  # 5 s in production
    first, second = databases
    handler = Paused(first)
    worker = paused_worker(first, handler, lease=3600, stop_grace=0.1)  # a lease nobody waits out
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(handler.started.wait(), 10)
    assert (await lease_of(second))[0] == worker.owner

    stop.set()
    await asyncio.wait_for(running, 10)
    stopped = utcnow()

    assert handler.outcome == "cancelled"
    assert await lease_of(second) == (None, None)
    async with second.read() as connection:
        free_at = await connection.scalar(sa.select(jobs.c.lease_expires_at))
    assert free_at is not None
    assert free_at - stopped < timedelta(seconds=1)  # not in an hour
    # Not at once: a provider call the stop cut short gets a moment to land first.
    assert await JobStore(second).claim("another replica", 10) == [] or utcnow() >= free_at
    taken = []

    async def claimed_by_another() -> bool:
        taken.extend(await JobStore(second).claim("another replica", 10))
        return bool(taken)

    await eventually(claimed_by_another, "another worker to take the handed-back job")
    assert [job.subject for job in taken] == [SUBJECT]
    assert await results(second) == []


def provider_event(summary: str) -> ProviderEvent:
    start = utcnow().replace(microsecond=0) + timedelta(days=2)
    return ProviderEvent(
        provider_event_id="rec_evt_1",
        ical_uid="uid-1@example.com",
        start_at=start,
        end_at=start + timedelta(minutes=30),
        meeting_url=None,
        deleted=False,
        updated_at=utcnow(),
        fields={"summary": summary},
        participants=[],
        organizer_email=None,
        owner_response=None,
    )


def no_rule(event: ProviderEvent) -> RuleDecision:
    return RuleDecision(record=False, rule="none", reason="test")


async def linked_calendar(database: Database) -> Link:
    """A calendar linked to a provider calendar, its sync job due (and no other job)."""
    now = utcnow()
    async with database.write() as connection:
        await connection.execute(jobs.delete())
        await connection.execute(applications.insert().values(id="app_1", name="app", created_at=now))
        await connection.execute(
            calendars.insert().values(id="cal_1", application_id="app_1", name="linked", created_at=now)
        )
        row = (
            await connection.execute(
                calendar_links.insert()
                .values(
                    calendar_id="cal_1",
                    profile_id="int_v2",
                    adapter="recall-calendar-v2",
                    provider_calendar_id="rcal_1",
                    status="connecting",
                    record="none",
                    series=[],
                    full_sync=True,
                    created_at=now,
                    updated_at=now,
                )
                .returning(*calendar_links.c)
            )
        ).one()
        await enqueue_job(connection, SYNC, row.id, now)
    return link_from_row(row)


class PausedSync(Paused):
    """A sync job that listed its page, then stopped before storing it, as a replica under SIGSTOP."""

    def __init__(self, database: Database, link: Link) -> None:
        super().__init__(database)
        self.link = link

    async def run(self, subject: int) -> None:
        self.started.set()
        await self.resume.wait()
        self.outcome = "writing"
        await SyncedEventStore(self.database).apply(
            self.link, [provider_event("before the move")], no_rule, provider="recall"
        )


async def test_a_sync_job_paused_past_its_lease_stores_nothing_over_the_new_owners_sync(
    databases: tuple[Database, Database], caplog: pytest.LogCaptureFixture
) -> None:
    first, second = databases
    link = await linked_calendar(second)
    handler = PausedSync(first, link)
    worker = Worker(
        JobStore(first, lease=timedelta(seconds=0.3)),
        {SYNC: handler},
        load_catalogue(default_catalogue_dir()),
        heartbeat_interval=3600,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.wait_for(handler.started.wait(), 10)
        new_owner = JobStore(second, lease=timedelta(seconds=60))
        claimed = []

        async def taken_over() -> bool:
            claimed.extend(await new_owner.claim("the new owner", 10))
            return bool(claimed)

        await eventually(taken_over, "the sync job's lease to expire and the job to be claimed again")
        assert [(job.kind, job.subject) for job in claimed] == [(SYNC, link.id)]
        # The new owner's sync: the newer listing, the link's status and bookkeeping.
        current_lease.set(Lease(SYNC, link.id, claimed[0].token))
        assert await SyncedEventStore(second).apply(
            link, [provider_event("moved")], no_rule, provider="recall"
        )
        links = LinkRepository(second)
        await links.sync_done(link, cursor=utcnow(), full=True, sync_from=None, error=None)
        assert await links.set_status(link, "connected", None)
        current_lease.set(None)

        with caplog.at_level(logging.WARNING, logger="meetbridge.worker"):
            handler.resume.set()

            async def fenced() -> bool:
                return "sync job" in caplog.text and "its lease passed to another worker" in caplog.text

            await eventually(fenced, "the paused sync to try storing its page")
        assert handler.outcome == "writing"
        async with second.read() as connection:
            stored = (await connection.execute(sa.select(events.c.fields, events.c.version))).all()
            after = (await connection.execute(sa.select(calendar_links))).one()
        assert [(row.fields, row.version) for row in stored] == [({"summary": "moved"}, 1)]
        assert (after.status, after.full_sync, after.last_error) == ("connected", False, None)
        assert await new_owner.finish("the new owner", claimed[0])

        # A paused sync's other writes are fenced the same way: status, bookkeeping, errors.
        current_lease.set(Lease(SYNC, link.id, "a claim that passed"))
        stale = LinkRepository(first)
        for write in (
            stale.set_status(link, "disconnected", "stale"),
            stale.sync_done(link, cursor=None, full=False, sync_from=None, error="stale"),
            stale.note_error(link.id, "stale"),
        ):
            with pytest.raises(LeaseLost):
                await write
        current_lease.set(None)
        async with second.read() as connection:
            assert (await connection.execute(sa.select(calendar_links))).one() == after
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)
