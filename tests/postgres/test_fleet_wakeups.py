"""Wake-ups across replicas: a job one replica enqueues is claimed by an idle one at its commit
(LISTEN/NOTIFY), not at that one's next poll."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from meetbridge.config.catalogue import load_catalogue
from meetbridge.db.database import Database
from meetbridge.db.job_notifications import JobNotifications
from meetbridge.db.jobs import enqueue
from meetbridge.db.migrate import upgrade
from meetbridge.db.tables import utcnow
from meetbridge.engine.store import JobStore
from meetbridge.engine.worker import Worker
from meetbridge.settings import default_catalogue_dir
from tests.service.test_outbox import eventually

pytestmark = pytest.mark.postgres


class Recorder:
    def __init__(self) -> None:
        self.ran: list[int] = []
        self.done = asyncio.Event()

    async def run(self, subject: int) -> None:
        self.ran.append(subject)
        self.done.set()

    async def fail(self, subject: int, reason: str) -> None:
        raise AssertionError(f"job {subject} failed: {reason}")

    async def note_retry(self, subject: int, error: str, delay: float) -> None:
        raise AssertionError(f"job {subject} retried: {error}")


async def test_a_job_enqueued_by_one_replica_wakes_an_idle_one_within_milliseconds(postgres_url: str) -> None:
    await asyncio.to_thread(upgrade, postgres_url)
    enqueuer, idle = Database(postgres_url), Database(postgres_url)
    notifications = JobNotifications(idle)
    listening = asyncio.Event()

    async def listen(stop: asyncio.Event, wake: Callable[[], None]) -> None:
        def woken() -> None:
            listening.set()  # the listener wakes the worker once as it starts listening
            wake()

        await notifications.listen(stop, woken)

    recorder = Recorder()
    # A poll every minute: only a notification can explain a claim within the test's deadline.
    worker = Worker(
        JobStore(idle),
        {"event": recorder},
        load_catalogue(default_catalogue_dir()),
        poll_interval=60,
        listen=listen,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.wait_for(listening.wait(), 10)
        started = time.monotonic()
        async with enqueuer.write() as connection:
            await enqueue(connection, 4242, utcnow())
        await asyncio.wait_for(recorder.done.wait(), 5)
        latency = time.monotonic() - started
        assert recorder.ran == [4242]
        assert latency < 1.0, latency
        print(f"claimed {latency * 1000:.1f} ms after the enqueue committed")

        async def finished() -> bool:  # claimed, run and finished by the idle replica
            return await JobStore(enqueuer).pending() == 0

        await eventually(finished, "the idle replica to finish the job")
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)
        for database in (enqueuer, idle):
            await database.dispose()


async def test_the_jobs_trigger_notifies_once_per_enqueueing_statement_and_not_for_claims(
    postgres_url: str,
) -> None:
    await asyncio.to_thread(upgrade, postgres_url)
    database = Database(postgres_url)
    heard: list[str] = []
    try:
        async with database.engine.connect() as listening:
            raw = await listening.get_raw_connection()
            await raw.driver_connection.add_listener("meetbridge_jobs", lambda *args: heard.append(args[2]))
            async with database.write() as connection:
                for subject in (1, 2, 3):
                    await enqueue(connection, subject, utcnow())
            assert [job.subject for job in await JobStore(database).claim("someone", 10)] == [1, 2, 3]
            async with database.write() as connection:  # a marker: notifications arrive in commit order
                await enqueue(connection, 4, utcnow())

            async def both_heard() -> bool:
                return len(heard) >= 2

            await eventually(both_heard, "the marker's notification")
            # One per enqueueing transaction (PostgreSQL folds equal ones), none for the claim.
            assert heard == ["meetbridge_jobs", "meetbridge_jobs"]
    finally:
        await database.dispose()
