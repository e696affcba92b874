"""The worker reads a claimed batch ahead (``prepare``) and finishes the jobs that ran together
(issue 19: a read and a write per job were most of a no-op job's cost, benchmarks/job_drain.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from meetbridge.db.events import EventRepository
from meetbridge.db.tables import utcnow
from meetbridge.engine.reconcile import Reconciler
from meetbridge.runtime.gateway import Gateway
from tests.service import test_outbox
from tests.service.test_outbox import FakeReconciler, Running, eventually, new_events, put, rows

db, start = test_outbox.db, test_outbox.start  # the outbox tests' fixtures, here by name


class ReadingAhead(FakeReconciler):
    """Records each batch read ahead and, per run, whether its subject had been read ahead."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[int]] = []
        self.ahead: set[int] = set()
        self.ran_ahead: list[bool] = []

    async def prepare(self, subjects: list[int]) -> None:
        self.batches.append(sorted(subjects))
        self.ahead = set(subjects)

    async def run(self, event_pk: int) -> None:
        self.ran_ahead.append(event_pk in self.ahead)
        await super().run(event_pk)


async def test_a_claimed_batch_is_read_ahead_once_and_finished(
    db: Gateway, start: Callable[..., Running]
) -> None:
    pks = await new_events(db, 12)
    for pk in pks:
        await put(db.database, pk, utcnow())
    reconciler = ReadingAhead()
    start(reconciler)

    async def all_finished() -> bool:
        return len(reconciler.runs) == len(pks) and await rows(db.database) == {}

    await eventually(all_finished, "every job ran and its row was deleted")
    assert reconciler.batches == [sorted(pks)]  # one claim of 12 (concurrency 16), one read
    assert reconciler.ran_ahead == [True] * len(pks)
    assert sorted(reconciler.runs) == sorted(pks)


async def test_a_job_whose_event_changed_while_it_ran_runs_again_after_the_batch_finish(
    db: Gateway, start: Callable[..., Running]
) -> None:
    changed, quiet = await new_events(db, 2)
    for pk in (changed, quiet):
        await put(db.database, pk, utcnow())
    reconciler = ReadingAhead()
    reconciler.gates[changed] = gate = asyncio.Event()
    start(reconciler)
    await eventually(lambda: _started(reconciler, changed), "the gated job started")
    await put(db.database, changed, utcnow())  # enqueued again while it runs
    gate.set()

    async def ran_twice() -> bool:
        return reconciler.runs.count(changed) == 2 and await rows(db.database) == {}

    await eventually(ran_twice, "the changed event's job ran again and both rows are gone")
    assert reconciler.runs.count(quiet) == 1


async def _started(reconciler: FakeReconciler, pk: int) -> bool:
    event = reconciler.started.get(pk)
    return event is not None and event.is_set()


async def test_the_reconciler_runs_a_prepared_job_without_reading_again(
    db: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = await new_events(db, 2)
    reconciler = Reconciler(db.database, db.live, db.registry)
    reads: list[int] = []
    by_pk = EventRepository.get_by_pk

    async def counted(repository: EventRepository, pk: int) -> object:
        reads.append(pk)
        return await by_pk(repository, pk)

    monkeypatch.setattr(EventRepository, "get_by_pk", counted)
    await reconciler.prepare([first, second, 10**9])  # one pk that has no row

    await reconciler.run(first)
    await reconciler.run(second)
    assert reads == []
    await reconciler.run(first)  # a read ahead serves one run only
    await reconciler.run(10**9)
    assert reads == [first, 10**9]
