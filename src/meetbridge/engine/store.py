"""The outbox table: claim with a lease; finish or retry (the enqueue write is ``db.jobs``).

One row per subject: an event to reconcile (kind "event") or a calendar link to sync ("sync"). An
enqueue while a job runs bumps ``generation``; finishing then keeps the row (released, due now) so the
worker runs again against the newer state — ten quick upserts cost at most two plans. A lease that is
not renewed expires, and any worker may claim the job again. Each claim carries a new token: the
worker's writes (``db.fencing``), finish and retry act only while the row still carries it.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from meetbridge.db.database import Database
from meetbridge.db.tables import jobs, utcnow

JobKey = tuple[str, int]
# A job handed back at a clean stop waits this long for another worker (see hand_back).
HAND_BACK_AFTER = timedelta(seconds=5)


class ClaimedJob(msgspec.Struct, frozen=True):
    kind: str
    subject: int
    generation: int
    attempts: int
    token: str = ""  # this claim's lease token

    @property
    def key(self) -> JobKey:
        return (self.kind, self.subject)


def _is(kind: str, subject: int) -> sa.ColumnElement[bool]:
    return sa.and_(jobs.c.kind == kind, jobs.c.subject == subject)


def _not_in(running: Collection[JobKey]) -> list[sa.ColumnElement[bool]]:
    return [sa.tuple_(jobs.c.kind, jobs.c.subject).not_in(list(running))] if running else []


def _held(owner: str, job: ClaimedJob) -> sa.ColumnElement[bool]:
    """The job's row, still leased by this claim."""
    return sa.and_(_is(job.kind, job.subject), jobs.c.lease_owner == owner, jobs.c.lease_token == job.token)


class JobStore:
    def __init__(self, database: Database, *, lease: timedelta = timedelta(seconds=30)) -> None:
        self.database = database
        self.lease = lease

    async def claim(self, owner: str, limit: int, *, running: Collection[JobKey] = ()) -> list[ClaimedJob]:
        """Lease up to ``limit`` due jobs; never one of ``running`` (the caller's own, still running
        after their lease ran out: a worker runs a job once at a time)."""
        now, token = utcnow(), uuid.uuid4().hex
        due = (
            sa.select(jobs.c.kind, jobs.c.subject, jobs.c.generation, jobs.c.attempts)
            .where(
                jobs.c.run_at <= now,
                sa.or_(jobs.c.lease_expires_at.is_(None), jobs.c.lease_expires_at < now),
                *_not_in(running),
            )
            .order_by(jobs.c.run_at)
            .limit(limit)
        )
        if not self.database.is_sqlite:
            due = due.with_for_update(skip_locked=True)
        async with self.database.write() as connection:
            claimed = [
                ClaimedJob(r.kind, r.subject, r.generation, r.attempts, token)
                for r in await connection.execute(due)
            ]
            if claimed:
                await connection.execute(
                    jobs.update()
                    .where(sa.tuple_(jobs.c.kind, jobs.c.subject).in_([j.key for j in claimed]))
                    .values(lease_owner=owner, lease_expires_at=now + self.lease, lease_token=token)
                )
        return claimed

    async def heartbeat(self, owner: str, keys: list[JobKey]) -> None:
        """Renew this worker's leases, skipping rows another transaction holds (``_unlocked``): a
        skipped lease is renewed by the next beat (a third of the lease later)."""
        if not keys:
            return
        mine = self._unlocked(
            sa.and_(sa.tuple_(jobs.c.kind, jobs.c.subject).in_(keys), jobs.c.lease_owner == owner)
        )
        async with self.database.write() as connection:
            await connection.execute(jobs.update().where(mine).values(lease_expires_at=utcnow() + self.lease))

    def _unlocked(self, rows: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
        """``rows`` less those another transaction holds, on PostgreSQL (FOR UPDATE SKIP LOCKED): a
        statement locking many job rows then never waits, so it cannot deadlock with a sync that
        enqueues them in another order. SQLite's one writer has no such race."""
        if self.database.is_sqlite:
            return rows
        free = sa.select(jobs.c.kind, jobs.c.subject).where(rows).with_for_update(skip_locked=True)
        return sa.tuple_(jobs.c.kind, jobs.c.subject).in_(free)

    async def finish(self, owner: str, job: ClaimedJob) -> bool:
        """Delete the job unless it was enqueued again meanwhile; True when it is gone."""
        async with self.database.write() as connection:
            deleted = await connection.execute(
                jobs.delete().where(_held(owner, job), jobs.c.generation == job.generation)
            )
            if deleted.rowcount:
                return True
            await self._release(connection, owner, job)
            return False

    async def finish_many(self, owner: str, claimed: list[ClaimedJob]) -> set[JobKey]:
        """``finish`` for a batch: one statement deletes those not enqueued again meanwhile; each of
        the rest is finished alone (released to run again). Returns the keys of the jobs now gone.

        One delete for the batch, not one transaction each: finishing was 0.8 ms of a no-op job's
        2-3 ms (benchmarks/job_drain.py). Rows another transaction holds are skipped (``_unlocked``)
        and finished alone, one lock at a time."""
        if not claimed:
            return set()
        held = sa.tuple_(jobs.c.kind, jobs.c.subject, jobs.c.lease_token, jobs.c.generation).in_(
            [(job.kind, job.subject, job.token, job.generation) for job in claimed]
        )
        mine = self._unlocked(sa.and_(jobs.c.lease_owner == owner, held))
        async with self.database.write() as connection:
            deleted = await connection.execute(
                jobs.delete().where(mine).returning(jobs.c.kind, jobs.c.subject)
            )
            gone: set[JobKey] = {(row.kind, row.subject) for row in deleted}
        for job in claimed:
            if job.key not in gone and await self.finish(owner, job):
                gone.add(job.key)
        return gone

    async def retry(self, owner: str, job: ClaimedJob, *, delay: float, error: str) -> None:
        """Count the failed attempt and run again after ``delay`` seconds, unless a newer enqueue
        already made it due now (the attempt counts all the same)."""
        async with self.database.write() as connection:
            mine = _held(owner, job)
            await connection.execute(
                jobs.update().where(mine).values(attempts=jobs.c.attempts + 1, last_error=error)
            )
            await connection.execute(
                jobs.update()
                .where(mine, jobs.c.generation == job.generation)
                .values(run_at=utcnow() + timedelta(seconds=delay))
            )
            await self._release(connection, owner, job)

    async def _release(self, connection: AsyncConnection, owner: str, job: ClaimedJob) -> None:
        await connection.execute(
            jobs.update()
            .where(_held(owner, job))
            .values(lease_owner=None, lease_expires_at=None, lease_token=None)
        )

    async def hand_back(self, owner: str, claimed: list[ClaimedJob]) -> int:
        """Give up these leases (a clean stop): another worker takes the jobs after ``HAND_BACK_AFTER``
        (or the lease, if shorter) instead of waiting out the lease. Not at once: a provider call
        the stop cut short may still be acted on, and the next owner looks for what it made."""
        if not claimed:
            return 0
        settle = min(HAND_BACK_AFTER, self.lease)
        async with self.database.write() as connection:
            released = await connection.execute(
                jobs.update()
                .where(sa.or_(*(_held(owner, job) for job in claimed)))
                .values(lease_owner=None, lease_expires_at=utcnow() + settle, lease_token=None)
            )
            return int(released.rowcount or 0)

    async def next_due(self, *, running: Collection[JobKey] = ()) -> datetime | None:
        """When the earliest job not held by a live lease becomes due (for the worker's sleep);
        ``running`` as for ``claim``."""
        async with self.database.read() as connection:
            found: datetime | None = await connection.scalar(
                sa.select(sa.func.min(sa.func.coalesce(jobs.c.lease_expires_at, jobs.c.run_at))).where(
                    *_not_in(running)
                )
            )
            return found

    async def pending(self) -> int:
        async with self.database.read() as connection:
            return int(await connection.scalar(sa.select(sa.func.count()).select_from(jobs)) or 0)
