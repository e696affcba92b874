"""The outbox: JobStore on a real migrated SQLite file and the worker loop (the retry strategy it
follows is tests/unit/test_retry.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa

from meetbridge.config.catalogue import Catalogue, RetryBudget
from meetbridge.db.database import Database
from meetbridge.db.jobs import enqueue
from meetbridge.db.tables import events, jobs, utcnow
from meetbridge.engine.store import ClaimedJob, JobStore
from meetbridge.engine.worker import Worker
from meetbridge.errors import AdapterFailure, ProviderRejected, ProviderUnavailable
from meetbridge.runtime.gateway import Gateway
from tests.service.conftest import Clock

T0 = datetime(2026, 5, 11, 12, 0, tzinfo=UTC)
DEADLINE = 5.0  # seconds any awaited condition may take before the test fails


# --- helpers -------------------------------------------------------------------------------------


@pytest.fixture
async def db(gateway: Gateway) -> AsyncIterator[Gateway]:
    yield gateway
    await gateway.aclose()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Freeze the time the job store reads (leases, due times)."""
    frozen = Clock(T0)
    monkeypatch.setattr("meetbridge.engine.store.utcnow", lambda: frozen.now)
    return frozen


async def new_events(gateway: Gateway, count: int) -> list[int]:
    """Event rows for jobs to be about."""
    application_id, _ = await gateway.applications.create_token(f"outbox-{uuid.uuid4().hex[:8]}")
    calendar = await gateway.calendars.create(application_id, "Work")
    pks: list[int] = []
    async with gateway.database.write() as connection:
        for index in range(count):
            pk = await connection.scalar(
                events.insert()
                .values(
                    calendar_id=calendar.calendar_id,
                    event_id=f"event-{index}",
                    event_uid=f"evt_{uuid.uuid4().hex}",
                    fields={},
                    start_at=T0,
                    end_at=T0 + timedelta(hours=1),
                    deleted=False,
                    version=1,
                    metadata={},
                    created_at=T0,
                    updated_at=T0,
                )
                .returning(events.c.pk)
            )
            pks.append(int(pk))
    return pks


async def put(database: Database, pk: int, now: datetime) -> None:
    async with database.write() as connection:
        await enqueue(connection, pk, now)


async def rows(database: Database) -> dict[int, dict[str, Any]]:
    async with database.read() as connection:
        found = await connection.execute(sa.select(jobs))
        return {row.subject: dict(row._mapping) for row in found}


def tokenless(claimed: list[ClaimedJob]) -> list[ClaimedJob]:
    """Claims as compared here: each carries a new lease token (db.fencing), checked elsewhere."""
    return [msgspec.structs.replace(job, token="") for job in claimed]


async def eventually(condition: Callable[[], Awaitable[bool]], what: str, deadline: float = DEADLINE) -> None:
    try:
        async with asyncio.timeout(deadline):
            while True:
                if await condition():
                    return
                await asyncio.sleep(0.01)
    except TimeoutError:
        pytest.fail(f"not within {deadline}s: {what}")


# --- JobStore ------------------------------------------------------------------------------------


async def test_ten_enqueues_coalesce_into_one_due_row_with_generation_ten(db: Gateway) -> None:
    [pk] = await new_events(db, 1)
    for minute in range(10):
        await put(db.database, pk, T0 + timedelta(minutes=minute))
    assert await rows(db.database) == {
        pk: {
            "kind": "event",
            "subject": pk,
            "run_at": T0 + timedelta(minutes=9),
            "generation": 10,
            "attempts": 0,
            "lease_owner": None,
            "lease_expires_at": None,
            "lease_token": None,
            "last_error": None,
        }
    }


async def test_an_enqueue_makes_a_retried_job_due_now_and_keeps_its_failures(
    db: Gateway, clock: Clock
) -> None:
    # Kept so that a failing job enqueued again and again (each push, each upsert) still ends.
    [pk] = await new_events(db, 1)
    store = JobStore(db.database)
    await put(db.database, pk, clock.now)
    [job] = await store.claim("a", 10)
    await store.retry("a", job, delay=600, error="boom")
    await put(db.database, pk, clock.now)
    row = (await rows(db.database))[pk]
    assert (row["run_at"], row["attempts"], row["last_error"], row["generation"]) == (clock.now, 1, "boom", 2)
    assert tokenless(await store.claim("a", 10)) == [ClaimedJob("event", pk, 2, 1)]


async def test_claim_leases_the_job_so_another_owner_gets_nothing(db: Gateway, clock: Clock) -> None:
    [pk] = await new_events(db, 1)
    store = JobStore(db.database, lease=timedelta(seconds=30))
    await put(db.database, pk, clock.now)

    assert tokenless(await store.claim("worker-a", 10)) == [ClaimedJob("event", pk, generation=1, attempts=0)]
    row = (await rows(db.database))[pk]
    assert (row["lease_owner"], row["lease_expires_at"]) == ("worker-a", T0 + timedelta(seconds=30))

    clock.advance(seconds=29)
    assert await store.claim("worker-b", 10) == []
    assert await store.claim("worker-a", 10) == []  # the owner itself does not get it twice either


async def test_claim_takes_only_due_jobs_earliest_first_up_to_the_limit(db: Gateway, clock: Clock) -> None:
    pks = await new_events(db, 4)
    store = JobStore(db.database, lease=timedelta(hours=1))
    # Enqueued in reverse order of due time; the last one is not due yet.
    for pk, minutes_ago in zip(pks, (1, 2, 3, -5), strict=True):
        await put(db.database, pk, T0 - timedelta(minutes=minutes_ago))

    first = await store.claim("a", 2)
    assert [job.subject for job in first] == [pks[2], pks[1]]
    assert [job.subject for job in await store.claim("a", 10)] == [pks[0]]
    assert await store.claim("a", 10) == []  # pks[3] is due in five minutes
    clock.advance(minutes=5)
    assert tokenless(await store.claim("a", 10)) == [ClaimedJob("event", pks[3], 1, 0)]


async def test_a_stalled_job_is_claimable_again_once_its_lease_expires(db: Gateway) -> None:
    """A worker that died mid-job stops renewing its lease; another worker takes the job over."""
    [pk] = await new_events(db, 1)
    store = JobStore(db.database, lease=timedelta(milliseconds=200))
    await put(db.database, pk, utcnow())
    [stalled] = await store.claim("dead-worker", 10)

    taken: list[ClaimedJob] = []

    async def taken_over() -> bool:
        taken.extend(await store.claim("rescuer", 10))
        return bool(taken)

    await eventually(taken_over, "the expired lease is claimed by another worker")
    assert tokenless(taken) == [ClaimedJob("event", pk, stalled.generation, stalled.attempts)]

    # The dead worker coming back must not undo the rescuer's lease.
    assert await store.finish("dead-worker", stalled) is False
    await store.retry("dead-worker", stalled, delay=3600, error="late")
    row = (await rows(db.database))[pk]
    assert (row["lease_owner"], row["attempts"], row["last_error"]) == ("rescuer", 0, None)
    assert await store.finish("rescuer", taken[0]) is True
    assert await rows(db.database) == {}


async def test_heartbeat_extends_only_the_owners_listed_leases(db: Gateway, clock: Clock) -> None:
    mine, other_owner, not_listed = await new_events(db, 3)
    store = JobStore(db.database, lease=timedelta(seconds=30))
    for pk in (mine, other_owner, not_listed):
        await put(db.database, pk, clock.now)
    await store.claim("a", 1)
    await store.claim("b", 1)
    await store.claim("a", 1)

    clock.advance(seconds=20)
    await store.heartbeat("a", [("event", mine), ("event", other_owner)])
    leases = {
        pk: (row["lease_owner"], row["lease_expires_at"]) for pk, row in (await rows(db.database)).items()
    }
    assert leases == {
        mine: ("a", T0 + timedelta(seconds=50)),
        other_owner: ("b", T0 + timedelta(seconds=30)),
        not_listed: ("a", T0 + timedelta(seconds=30)),
    }

    clock.advance(seconds=15)  # 35 s after the claims: only the renewed lease still holds
    assert {job.subject for job in await store.claim("c", 10)} == {other_owner, not_listed}


async def test_finish_deletes_the_job_when_nothing_changed_meanwhile(db: Gateway, clock: Clock) -> None:
    [pk] = await new_events(db, 1)
    store = JobStore(db.database)
    await put(db.database, pk, clock.now)
    [job] = await store.claim("a", 10)
    assert await store.finish("a", job) is True
    assert await rows(db.database) == {}
    assert await store.pending() == 0


async def test_finish_after_a_new_enqueue_keeps_the_job_and_releases_it_due_at_once(
    db: Gateway, clock: Clock
) -> None:
    [pk] = await new_events(db, 1)
    store = JobStore(db.database)
    await put(db.database, pk, clock.now)
    [job] = await store.claim("a", 10)
    clock.advance(seconds=3)
    await put(db.database, pk, clock.now)  # the event changed while the job ran

    assert await store.finish("a", job) is False
    row = (await rows(db.database))[pk]
    assert (row["generation"], row["lease_owner"], row["lease_expires_at"]) == (2, None, None)
    # Claimable at once, by anyone, with the new generation: the next run plans on the new version.
    assert tokenless(await store.claim("b", 10)) == [ClaimedJob("event", pk, 2, 0)]


async def test_retry_sets_a_later_due_time_and_counts_the_attempt(db: Gateway, clock: Clock) -> None:
    [pk] = await new_events(db, 1)
    store = JobStore(db.database)
    await put(db.database, pk, clock.now)
    [job] = await store.claim("a", 10)

    await store.retry("a", job, delay=90, error="Recall answered 503")
    row = (await rows(db.database))[pk]
    assert row == {
        "kind": "event",
        "subject": pk,
        "run_at": T0 + timedelta(seconds=90),
        "generation": 1,
        "attempts": 1,
        "lease_owner": None,
        "lease_expires_at": None,
        "lease_token": None,
        "last_error": "Recall answered 503",
    }
    assert await store.next_due() == T0 + timedelta(seconds=90)
    clock.advance(seconds=89)
    assert await store.claim("a", 10) == []
    clock.advance(seconds=1)
    assert tokenless(await store.claim("a", 10)) == [ClaimedJob("event", pk, 1, 1)]


async def test_retry_after_a_new_enqueue_leaves_the_job_due_now(db: Gateway, clock: Clock) -> None:
    [pk] = await new_events(db, 1)
    store = JobStore(db.database)
    await put(db.database, pk, clock.now)
    [job] = await store.claim("a", 10)
    await put(db.database, pk, clock.now)

    await store.retry("a", job, delay=300, error="timeout")
    row = (await rows(db.database))[pk]
    # Due now for the newer change, and the failed attempt counted all the same.
    assert (row["run_at"], row["attempts"], row["last_error"], row["lease_owner"]) == (T0, 1, "timeout", None)
    assert tokenless(await store.claim("b", 10)) == [ClaimedJob("event", pk, 2, 1)]


async def test_next_due_is_the_earliest_run_at_or_live_lease_expiry(db: Gateway, clock: Clock) -> None:
    store = JobStore(db.database, lease=timedelta(seconds=30))
    assert await store.next_due() is None
    leased, later = await new_events(db, 2)
    await put(db.database, leased, T0)
    await put(db.database, later, T0 + timedelta(minutes=10))
    assert await store.next_due() == T0

    [job] = await store.claim("a", 10)  # only `leased` is due; held until its lease runs out
    due = await store.next_due()
    assert due == T0 + timedelta(seconds=30)
    assert due is not None
    assert due.tzinfo is not None  # the worker subtracts it from an aware now

    assert await store.finish("a", job) is True
    assert await store.next_due() == T0 + timedelta(minutes=10)


# --- Worker --------------------------------------------------------------------------------------


class FakeReconciler:
    """Stands in for Reconciler: records calls; scripted errors per event, raised one per run."""

    def __init__(self, errors: dict[int, list[Exception]] | None = None) -> None:
        self.errors = errors or {}
        self.runs: list[int] = []
        self.failed: list[tuple[int, str]] = []
        self.retries: list[tuple[int, str, float]] = []
        self.gates: dict[int, asyncio.Event] = {}
        self.started: dict[int, asyncio.Event] = {}
        self.ran = asyncio.Event()

    async def run(self, event_pk: int) -> None:
        self.runs.append(event_pk)
        self.ran.set()
        self.started.setdefault(event_pk, asyncio.Event()).set()
        gate = self.gates.pop(event_pk, None)
        if gate is not None:
            await gate.wait()
        scripted = self.errors.get(event_pk)
        if scripted:
            raise scripted.pop(0)

    async def fail(self, event_pk: int, reason: str) -> None:
        self.failed.append((event_pk, reason))

    async def note_retry(self, event_pk: int, error: str, delay: float) -> None:
        self.retries.append((event_pk, error, delay))


class SignallingStore(JobStore):
    """A JobStore that says when the worker is about to sleep (it asks for the next due time)."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.sleeping = asyncio.Event()

    async def next_due(self) -> datetime | None:
        found = await super().next_due()
        self.sleeping.set()
        return found


def fast_catalogue(catalogue: Catalogue, **budget: Any) -> Catalogue:
    """The real catalogue with a quick retry budget for recall-bot, so retries happen in milliseconds."""
    retry = RetryBudget(
        **{"max_attempts": 5, "base_delay_seconds": 0.01, "max_delay_seconds": 0.05, **budget}
    )
    spec = msgspec.structs.replace(catalogue.adapters["recall-bot"], retry=retry)
    return Catalogue({**catalogue.adapters, "recall-bot": spec})


@dataclass
class Running:
    worker: Worker
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def halt(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, DEADLINE)


@pytest.fixture
async def start(db: Gateway) -> AsyncIterator[Callable[..., Running]]:
    running: list[Running] = []

    def starter(
        reconciler: FakeReconciler,
        *,
        store: JobStore | None = None,
        poll_interval: float = 0.05,
        catalogue: Catalogue | None = None,
    ) -> Running:
        worker = Worker(
            store or JobStore(db.database),
            {"event": reconciler},
            catalogue or fast_catalogue(db.catalogue),
            poll_interval=poll_interval,
        )
        stop = asyncio.Event()
        handle = Running(worker, stop, asyncio.create_task(worker.run(stop)))
        running.append(handle)
        return handle

    yield starter
    for handle in running:
        if not handle.task.done():
            await handle.halt()


def failure(error: Exception) -> AdapterFailure:
    return AdapterFailure("recall-bot", error)


async def test_two_workers_run_every_job_exactly_once(db: Gateway, start: Callable[..., Running]) -> None:
    pks = await new_events(db, 20)
    for pk in pks:
        await put(db.database, pk, utcnow())
    reconciler = FakeReconciler()
    start(reconciler)
    start(reconciler)

    async def all_done() -> bool:
        return len(reconciler.runs) >= len(pks) and await db.jobs.pending() == 0

    await eventually(all_done, "all jobs ran and were finished")
    assert sorted(reconciler.runs) == sorted(pks)
    assert reconciler.failed == reconciler.retries == []


async def test_a_transient_failure_is_retried_then_finishes(
    db: Gateway, start: Callable[..., Running]
) -> None:
    [pk] = await new_events(db, 1)
    await put(db.database, pk, utcnow())
    reconciler = FakeReconciler({pk: [failure(ProviderUnavailable("Recall answered 503"))]})
    start(reconciler)

    async def finished() -> bool:
        return len(reconciler.runs) == 2 and await db.jobs.pending() == 0

    await eventually(finished, "the job ran twice and was finished")
    assert reconciler.runs == [pk, pk]
    [(retried_pk, message, delay)] = reconciler.retries
    assert (retried_pk, message) == (pk, "Recall answered 503")
    assert 0.005 <= delay <= 0.01  # the adapter's own budget: base 0.01 s, first attempt
    assert reconciler.failed == []


async def test_the_worker_waits_out_retry_after_before_running_again(
    db: Gateway, start: Callable[..., Running]
) -> None:
    [pk] = await new_events(db, 1)
    await put(db.database, pk, utcnow())
    reconciler = FakeReconciler(
        {pk: [failure(ProviderUnavailable("pool empty", retry_after=60, status=507))]}
    )
    before = utcnow()
    start(reconciler)

    async def retried() -> bool:
        row = (await rows(db.database)).get(pk)
        return row is not None and row["attempts"] == 1 and row["lease_owner"] is None

    await eventually(retried, "the failure was recorded as a retry")
    row = (await rows(db.database))[pk]
    assert row["run_at"] >= before + timedelta(seconds=60)
    assert row["last_error"] == "pool empty"
    assert reconciler.retries == [(pk, "pool empty", 60)]
    assert reconciler.runs == [pk]


async def test_a_permanent_failure_gives_up_and_removes_the_job(
    db: Gateway, start: Callable[..., Running]
) -> None:
    [pk] = await new_events(db, 1)
    await put(db.database, pk, utcnow())
    rejected = ProviderRejected("Recall answered 400: invalid meeting_url", status=400, code="invalid")
    reconciler = FakeReconciler({pk: [failure(rejected)]})
    start(reconciler)

    async def gave_up() -> bool:
        return bool(reconciler.failed) and await db.jobs.pending() == 0

    await eventually(gave_up, "the worker gave up on the job")
    assert reconciler.failed == [(pk, "Recall answered 400: invalid meeting_url")]
    assert reconciler.runs == [pk]
    assert reconciler.retries == []


async def test_the_retry_budget_ends_in_giving_up_with_a_message(
    db: Gateway, start: Callable[..., Running]
) -> None:
    [pk] = await new_events(db, 1)
    await put(db.database, pk, utcnow())
    errors: list[Exception] = [failure(ProviderUnavailable("still down")) for _ in range(5)]
    reconciler = FakeReconciler({pk: errors})
    start(reconciler, catalogue=fast_catalogue(db.catalogue, max_attempts=3))

    async def gave_up() -> bool:
        return bool(reconciler.failed) and await db.jobs.pending() == 0

    await eventually(gave_up, "the budget ran out")
    assert reconciler.runs == [pk, pk, pk]
    assert [retry[:2] for retry in reconciler.retries] == [(pk, "still down"), (pk, "still down")]
    assert reconciler.failed == [(pk, "gave up after 3 attempts: still down")]


async def test_an_event_changed_while_its_job_ran_is_planned_again(
    db: Gateway, start: Callable[..., Running]
) -> None:
    [pk] = await new_events(db, 1)
    await put(db.database, pk, utcnow())
    reconciler = FakeReconciler()
    gate = reconciler.gates[pk] = asyncio.Event()
    reconciler.started[pk] = asyncio.Event()
    start(reconciler, poll_interval=60)

    await asyncio.wait_for(reconciler.started[pk].wait(), DEADLINE)
    for _ in range(9):  # nine more upserts while the first plan runs
        await put(db.database, pk, utcnow())
    gate.set()

    async def settled() -> bool:
        return len(reconciler.runs) == 2 and await db.jobs.pending() == 0

    await eventually(settled, "the job ran once more on the newer version, then finished")
    assert reconciler.runs == [pk, pk]  # ten upserts, two plans


async def test_wake_runs_a_new_job_without_waiting_for_the_poll_interval(
    db: Gateway, start: Callable[..., Running]
) -> None:
    store = SignallingStore(db.database)
    reconciler = FakeReconciler()
    running = start(reconciler, store=store, poll_interval=60)
    await asyncio.wait_for(store.sleeping.wait(), DEADLINE)  # idle, sleeping for up to 60 s

    first, second = await new_events(db, 2)
    await put(db.database, first, utcnow())  # written by "another process": no wake
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reconciler.ran.wait(), 0.3)
    assert reconciler.runs == []

    await put(db.database, second, utcnow())
    running.worker.wake()

    async def both_ran() -> bool:
        return sorted(reconciler.runs) == sorted([first, second])

    await eventually(both_ran, "the woken worker claimed the due jobs", deadline=2.0)


async def test_setting_stop_ends_run(db: Gateway, start: Callable[..., Running]) -> None:
    store = SignallingStore(db.database)
    running = start(FakeReconciler(), store=store, poll_interval=60)
    await asyncio.wait_for(store.sleeping.wait(), DEADLINE)
    running.stop.set()
    await asyncio.wait_for(running.task, 2.0)
    assert running.task.done()
    assert running.task.exception() is None
