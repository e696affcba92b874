"""Finishing jobs in batches and renewing leases, on SQLite and PostgreSQL: the batch finish keeps
``finish``'s meaning per job, and on PostgreSQL neither it nor the heartbeat waits on a job row
another transaction holds (a sync enqueueing several rows in another order could deadlock with a
statement that locks many)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from meetbridge.db.database import Database
from meetbridge.db.jobs import enqueue
from meetbridge.db.migrate import upgrade
from meetbridge.db.tables import jobs, utcnow
from meetbridge.engine.store import JobStore
from tests.postgres import test_fleet_leases
from tests.service.test_outbox import eventually

pytestmark = pytest.mark.postgres
fleet_url = test_fleet_leases.fleet_url  # a fresh database per backend, here by name
SUBJECTS = (1, 2, 3)


@pytest.fixture
async def database(fleet_url: str) -> AsyncIterator[Database]:
    await asyncio.to_thread(upgrade, fleet_url)
    made = Database(fleet_url)
    async with made.write() as connection:
        for subject in SUBJECTS:
            await enqueue(connection, subject, utcnow())
    yield made
    await made.dispose()


async def job_rows(database: Database) -> dict[int, tuple[int, str | None, Any]]:
    async with database.read() as connection:
        found = await connection.execute(sa.select(jobs))
        return {row.subject: (row.generation, row.lease_owner, row.lease_expires_at) for row in found}


async def test_a_batch_finish_deletes_the_unchanged_releases_the_changed_and_spares_the_lost(
    database: Database,
) -> None:
    store = JobStore(database)
    claimed = {job.subject: job for job in await store.claim("me", 10)}
    async with database.write() as connection:
        await enqueue(connection, 2, utcnow())  # changed while it ran
        await connection.execute(  # another worker took 3 over after our lease ran out
            jobs.update().where(jobs.c.subject == 3).values(lease_owner="other", lease_token="theirs")
        )
    before = await job_rows(database)

    gone = await store.finish_many("me", list(claimed.values()))

    assert gone == {("event", 1)}
    after = await job_rows(database)
    assert set(after) == {2, 3}
    assert after[2] == (2, None, None)  # released, due at once, to plan again on the newer version
    assert after[3] == before[3]  # the new owner's lease untouched


@pytest.mark.parametrize("fleet_url", ["postgresql"], indirect=True)
async def test_on_postgres_a_batch_finish_does_not_wait_on_a_locked_row(database: Database) -> None:
    store = JobStore(database)
    claimed = await store.claim("me", 10)
    locker = Database(str(database.url.render_as_string(hide_password=False)))
    try:
        async with locker.engine.connect() as connection:
            transaction = await connection.begin()
            await connection.execute(sa.select(jobs).where(jobs.c.subject == 1).with_for_update())
            finishing = asyncio.create_task(store.finish_many("me", claimed))

            async def others_gone() -> bool:
                return set(await job_rows(database)) == {1}

            await eventually(others_gone, "jobs 2 and 3 finished while 1 was locked")
            assert not finishing.done()  # job 1 is finished alone, once its lock is free
            await transaction.commit()
            assert await asyncio.wait_for(finishing, 5) == {("event", s) for s in SUBJECTS}
    finally:
        await locker.dispose()
    assert await job_rows(database) == {}


@pytest.mark.parametrize("fleet_url", ["postgresql"], indirect=True)
async def test_on_postgres_a_heartbeat_skips_a_locked_row_instead_of_waiting(database: Database) -> None:
    store = JobStore(database, lease=timedelta(seconds=30))
    await store.claim("me", 10)
    before = await job_rows(database)
    store.lease = timedelta(minutes=10)  # so a renewal shows
    locker = Database(str(database.url.render_as_string(hide_password=False)))
    try:
        async with locker.engine.connect() as connection:
            transaction = await connection.begin()
            await connection.execute(sa.select(jobs).where(jobs.c.subject == 1).with_for_update())
            await asyncio.wait_for(store.heartbeat("me", [("event", s) for s in SUBJECTS]), 5)
            await transaction.rollback()
    finally:
        await locker.dispose()
    after = await job_rows(database)
    assert after[1] == before[1]  # skipped: renewed by the next beat
    assert all(after[s][2] > before[s][2] for s in (2, 3))
