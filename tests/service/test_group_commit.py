"""Group commit on a real SQLite file: batching never costs a caller its durability or its isolation."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from meetbridge.db.database import Database
from meetbridge.errors import Conflict, StorageError

NOTES = sa.table("notes", sa.column("id", sa.Integer), sa.column("body", sa.String))


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    path = tmp_path / "group.db"
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")  # as the migrations leave it
        setup.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    database = Database(f"sqlite+aiosqlite:///{path}")
    yield database
    await database.dispose()


def committed(database: Database) -> set[int]:
    """What a fresh connection (as another process would) sees."""
    assert database.url.database is not None
    with sqlite3.connect(database.url.database) as other:
        return {row[0] for row in other.execute("SELECT id FROM notes")}


async def insert(database: Database, note_id: int, *, fail: bool = False) -> None:
    async with database.write() as connection:
        await connection.execute(sa.insert(NOTES).values(id=note_id, body=f"note {note_id}"))
        await asyncio.sleep(0)  # let the others queue behind this body
        if fail:
            raise RuntimeError(f"writer {note_id} changed its mind")


async def test_many_concurrent_writers_all_commit_in_shared_transactions(database: Database) -> None:
    commits = 0

    def count(*_: object) -> None:
        nonlocal commits
        commits += 1

    await insert(database, 0)  # opens the writer connection
    assert database.writer is not None
    _, raw = await database.writer.connection()
    raw.set_trace_callback(lambda sql: count() if sql == "COMMIT" else None)
    await asyncio.gather(*(insert(database, n) for n in range(1, 201)))
    assert committed(database) == set(range(201))
    assert commits < 200 / 4  # batched: many bodies per COMMIT


async def test_a_failing_writer_rolls_back_only_its_own_changes(database: Database) -> None:
    outcomes = await asyncio.gather(
        *(insert(database, n, fail=n % 5 == 0) for n in range(1, 21)), return_exceptions=True
    )
    failures = [n for n, outcome in enumerate(outcomes, 1) if isinstance(outcome, RuntimeError)]
    assert failures == [5, 10, 15, 20]
    assert all(outcome is None for n, outcome in enumerate(outcomes, 1) if n not in failures)
    assert committed(database) == {n for n in range(1, 21) if n % 5}


async def test_a_constraint_violation_is_a_conflict_for_that_writer_alone(database: Database) -> None:
    await insert(database, 1)
    outcomes = await asyncio.gather(
        insert(database, 2), insert(database, 1), insert(database, 3), return_exceptions=True
    )
    assert outcomes[0] is None
    assert isinstance(outcomes[1], Conflict)
    assert outcomes[2] is None
    assert committed(database) == {1, 2, 3}


async def test_changes_are_visible_to_a_new_connection_when_write_returns(database: Database) -> None:
    async def insert_and_check(note_id: int) -> bool:
        await insert(database, note_id)
        return note_id in committed(database)

    assert all(await asyncio.gather(*(insert_and_check(n) for n in range(30))))


async def test_reads_see_only_committed_writes(database: Database) -> None:
    async with database.write() as connection:
        await connection.execute(sa.insert(NOTES).values(id=1, body="pending"))
        async with database.read() as reader:
            assert (await reader.scalar(sa.select(sa.func.count()).select_from(NOTES))) == 0
    async with database.read() as reader:
        assert (await reader.scalar(sa.select(sa.func.count()).select_from(NOTES))) == 1


async def nested(database: Database, *, inner_fails: bool, outer_fails: bool) -> None:
    async with database.write() as outer:
        await outer.execute(sa.insert(NOTES).values(id=10, body="outer"))
        async with database.write() as inner:
            await inner.execute(sa.insert(NOTES).values(id=11, body="inner"))
        with contextlib.suppress(RuntimeError):
            await insert(database, 12, fail=inner_fails)
        if outer_fails:
            raise RuntimeError("outer failure")


async def test_sequential_and_nested_writes(database: Database) -> None:
    for note_id in range(3):
        await insert(database, note_id)
    await nested(database, inner_fails=True, outer_fails=False)
    assert committed(database) == {0, 1, 2, 10, 11}


async def test_an_outer_failure_undoes_its_nested_writes(database: Database) -> None:
    with pytest.raises(RuntimeError, match="outer failure"):
        await nested(database, inner_fails=False, outer_fails=True)
    await insert(database, 3)
    assert committed(database) == {3}


async def test_a_cancelled_writer_leaves_the_others_running(database: Database) -> None:
    started = asyncio.Event()

    async def slow() -> None:
        async with database.write() as connection:
            await connection.execute(sa.insert(NOTES).values(id=1, body="slow"))
            started.set()
            await asyncio.sleep(10)

    slow_task = asyncio.create_task(slow())
    await started.wait()
    queued = [asyncio.create_task(insert(database, n)) for n in range(2, 6)]
    await asyncio.sleep(0)
    queued[0].cancel()  # cancelled while waiting for its turn
    slow_task.cancel()  # cancelled inside its body
    results = await asyncio.gather(slow_task, *queued, return_exceptions=True)
    assert all(isinstance(result, asyncio.CancelledError) for result in results[:2])
    assert committed(database) == {3, 4, 5}


async def test_a_lock_held_by_another_process_is_waited_for(database: Database) -> None:
    assert database.url.database is not None
    other = sqlite3.connect(database.url.database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    writing = asyncio.create_task(insert(database, 1))
    await asyncio.sleep(0.05)
    assert not writing.done()  # waiting without blocking the loop
    other.execute("COMMIT")
    other.close()
    await writing
    assert committed(database) == {1}


async def test_a_lock_never_released_becomes_a_storage_error(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("meetbridge.db.group_commit.BUSY_WAIT_SECONDS", 0.05)
    assert database.url.database is not None
    other = sqlite3.connect(database.url.database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StorageError):
            await insert(database, 1)
    finally:
        other.execute("ROLLBACK")
        other.close()
    await insert(database, 2)  # the writer recovers once the lock is free
    assert committed(database) == {2}
