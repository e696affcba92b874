"""Fencing: a worker writes a job's result only while it still holds the job's lease.

A worker that was paused (SIGSTOP, a long GC, a partition) past its lease finds the job claimed by
another, which may already have written a newer result. Every write a job makes checks, in the same
transaction, that the job row still carries the token of this worker's claim, locking that row (on
PostgreSQL) so the lease cannot pass before the write commits; otherwise ``LeaseLost`` rolls the
write back. The claim is known through a context variable the worker sets for the job's task, so the
handlers keep their signatures; writes made outside a job (requests, tests) are not fenced. It lives
with the repositories because a sync job writes through them (synced_events, links, forwarded).
"""

from __future__ import annotations

from contextvars import ContextVar

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from meetbridge.db.database import Prepared
from meetbridge.db.tables import jobs
from meetbridge.errors import LeaseLost


class Lease(msgspec.Struct, frozen=True):
    kind: str
    subject: int
    token: str


current_lease: ContextVar[Lease | None] = ContextVar("meetbridge_lease", default=None)
# On every write a job makes: compiled once, as the write-back's statements (engine/reconcile.py).
_HELD_TOKEN = Prepared(
    sa.select(jobs.c.lease_token)
    .where(jobs.c.kind == sa.bindparam("lease_kind"), jobs.c.subject == sa.bindparam("lease_subject"))
    .with_for_update()
)


async def check_lease(connection: AsyncConnection) -> None:
    """Raise ``LeaseLost`` unless this task's job is still leased to its claim (no job: no check).

    Call it after the transaction's other row locks (events, then jobs, as an upsert takes them).
    """
    lease = current_lease.get()
    if lease is None:
        return
    held = await _HELD_TOKEN.rows(connection, {"lease_kind": lease.kind, "lease_subject": lease.subject})
    if not held or held[0][0] != lease.token:
        raise LeaseLost(
            f"{lease.kind} job {lease.subject}: its lease passed to another worker; this worker's "
            "result is not written"
        )
