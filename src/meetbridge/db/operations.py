"""What an operator reads: the outbox's depth, extensions and links by status, failures grouped by
reason, the last webhook per profile. Read at scrape time (metrics) and by ``meetbridge status``;
``application_id`` narrows every read to one application's calendars (``GET /v1/status``)."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa

from meetbridge.db.database import Database
from meetbridge.db.tables import calendar_links, calendars, event_extensions, events, jobs, webhook_receipts
from meetbridge.domain.extensions import ExtensionStatus
from meetbridge.domain.failures import failure_reason
from meetbridge.errors import Conflict

# Failed extensions read to group by reason: the newest ones (the count is exact either way).
FAILURES_READ = 5000
EXAMPLES_PER_REASON = 3


class QueueDepth(msgspec.Struct, frozen=True):
    kind: str
    queued: int  # due or waiting, never tried
    running: int  # held by a live lease
    retrying: int  # tried and failed at least once, waiting for the next try
    oldest_due_seconds: float  # how long the longest-waiting due job has been due (0 when none)


class FailureExample(msgspec.Struct, frozen=True):
    calendar_id: str
    event: str  # the app's event_id, or the event_uid of an external event
    profile_id: str
    sentence: str


class FailureGroup(msgspec.Struct, frozen=True):
    reason: str
    count: int
    examples: list[FailureExample]


class DisconnectedLink(msgspec.Struct, frozen=True):
    calendar_id: str
    profile_id: str
    detail: str | None
    since: datetime


class LinkState(msgspec.Struct, frozen=True):
    profile_id: str
    adapter: str | None
    status: str
    count: int
    stalest_sync_seconds: float | None  # the connected link synced longest ago; None: none has synced


class WebhookReceipt(msgspec.Struct, frozen=True):
    profile_id: str
    last_verified_at: datetime | None
    last_rejected_at: datetime | None
    last_rejection: str | None


def _scoped(query: sa.Select[Any], application_id: str | None) -> sa.Select[Any]:
    return query if application_id is None else query.where(calendars.c.application_id == application_id)


async def queue_depths(
    database: Database, now: datetime, application_id: str | None = None
) -> list[QueueDepth]:
    running = sa.and_(jobs.c.lease_expires_at.is_not(None), jobs.c.lease_expires_at >= now)
    state = sa.case((running, "running"), (jobs.c.attempts > 0, "retrying"), else_="queued").label("state")
    query = sa.select(jobs.c.kind, state, sa.func.count(), sa.func.min(jobs.c.run_at)).group_by(
        jobs.c.kind, state
    )
    due = sa.func.min(sa.case((sa.and_(sa.not_(running), jobs.c.run_at <= now), jobs.c.run_at))).label("due")
    query = query.add_columns(due)
    if application_id is not None:
        # Event jobs name an event, sync jobs a link: either way, one application's calendar.
        owner = sa.case(
            (
                jobs.c.kind == "sync",
                sa.select(calendar_links.c.calendar_id)
                .where(calendar_links.c.id == jobs.c.subject)
                .scalar_subquery(),
            ),
            else_=sa.select(events.c.calendar_id).where(events.c.pk == jobs.c.subject).scalar_subquery(),
        )
        mine = sa.select(calendars.c.id).where(calendars.c.application_id == application_id)
        query = query.where(owner.in_(mine))
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    oldest: dict[str, datetime] = {}
    async with database.read() as connection:
        for kind, kind_state, count, _first, first_due in await connection.execute(query):
            counts[kind][kind_state] = count
            if first_due is not None and (kind not in oldest or first_due < oldest[kind]):
                oldest[kind] = first_due
    return [
        QueueDepth(
            kind=kind,
            queued=found.get("queued", 0),
            running=found.get("running", 0),
            retrying=found.get("retrying", 0),
            oldest_due_seconds=max(0.0, (now - oldest[kind]).total_seconds()) if kind in oldest else 0.0,
        )
        for kind, found in sorted(counts.items())
    ]


async def extension_counts(database: Database) -> dict[tuple[str, str], int]:
    """(profile_id, status) -> extensions, deleted events' included (their cancels count too)."""
    query = sa.select(event_extensions.c.profile_id, event_extensions.c.status, sa.func.count()).group_by(
        event_extensions.c.profile_id, event_extensions.c.status
    )
    async with database.read() as connection:
        return {(profile, status): count for profile, status, count in await connection.execute(query)}


async def failing_extensions(
    database: Database, application_id: str | None = None, *, ending_after: datetime | None = None
) -> list[FailureGroup]:
    """Failed extensions grouped by reason code, most common first, with a few examples each;
    ``ending_after``: only of events that are not over by then (and not deleted)."""
    failed = event_extensions.c.status == ExtensionStatus.FAILED.value
    if ending_after is not None:
        failed = sa.and_(failed, events.c.end_at > ending_after, sa.not_(events.c.deleted))
    joined = event_extensions.join(events, events.c.pk == event_extensions.c.event_pk).join(
        calendars, calendars.c.id == events.c.calendar_id
    )
    rows_query = _scoped(
        sa.select(
            events.c.calendar_id,
            sa.func.coalesce(events.c.event_id, events.c.event_uid),
            event_extensions.c.profile_id,
            event_extensions.c.last_error,
        )
        .select_from(joined)
        .where(failed)
        .order_by(event_extensions.c.updated_at.desc())
        .limit(FAILURES_READ),
        application_id,
    )
    groups: dict[str, list[FailureExample]] = defaultdict(list)
    async with database.read() as connection:
        for calendar_id, event, profile_id, last_error in await connection.execute(rows_query):
            groups[failure_reason(last_error)].append(
                FailureExample(calendar_id, event, profile_id, last_error or "no reason was recorded")
            )
    return sorted(
        (FailureGroup(reason, len(found), found[:EXAMPLES_PER_REASON]) for reason, found in groups.items()),
        key=lambda group: (-group.count, group.reason),
    )


async def link_states(database: Database, now: datetime) -> list[LinkState]:
    synced = sa.case((calendar_links.c.status == "connected", calendar_links.c.last_synced_at))
    query = sa.select(
        calendar_links.c.profile_id,
        calendar_links.c.adapter,
        calendar_links.c.status,
        sa.func.count(),
        sa.func.min(synced),
        sa.func.sum(sa.case((sa.and_(calendar_links.c.status == "connected", synced.is_(None)), 1), else_=0)),
    ).group_by(calendar_links.c.profile_id, calendar_links.c.adapter, calendar_links.c.status)
    async with database.read() as connection:
        rows = list(await connection.execute(query))
    return [
        LinkState(
            profile_id=profile_id,
            adapter=adapter,
            status=status,
            count=count,
            stalest_sync_seconds=(now - stalest).total_seconds() if stalest and not never else None,
        )
        for profile_id, adapter, status, count, stalest, never in rows
    ]


async def disconnected_links(database: Database, application_id: str | None = None) -> list[DisconnectedLink]:
    query = _scoped(
        sa.select(
            calendar_links.c.calendar_id,
            calendar_links.c.profile_id,
            calendar_links.c.status_detail,
            calendar_links.c.updated_at,
        )
        .select_from(calendar_links.join(calendars, calendars.c.id == calendar_links.c.calendar_id))
        .where(calendar_links.c.status == "disconnected")
        .order_by(calendar_links.c.updated_at),
        application_id,
    )
    async with database.read() as connection:
        return [DisconnectedLink(*row) for row in await connection.execute(query)]


async def profiles_of(database: Database, application_id: str) -> set[str]:
    """The profiles one application's links and extensions name."""
    linked = (
        sa.select(calendar_links.c.profile_id)
        .join(calendars, calendars.c.id == calendar_links.c.calendar_id)
        .where(calendars.c.application_id == application_id)
    )
    extended = (
        sa.select(event_extensions.c.profile_id)
        .join(events, events.c.pk == event_extensions.c.event_pk)
        .join(calendars, calendars.c.id == events.c.calendar_id)
        .where(calendars.c.application_id == application_id)
        .distinct()
    )
    async with database.read() as connection:
        return {row[0] for row in await connection.execute(sa.union(linked, extended))}


class WebhookReceipts:
    """A profile's receipt is written at most every WRITE_EVERY seconds per kind and process: a burst
    of deliveries (or a flood of forged ones) must not become a burst of writes; the metrics count
    every one."""

    WRITE_EVERY = 1.0

    def __init__(self, database: Database) -> None:
        self.database = database
        self._written: dict[tuple[str, bool], float] = {}

    async def record(self, profile_id: str, now: datetime, rejection: str | None = None) -> None:
        key = (profile_id, rejection is None)
        written = self._written.get(key)
        if written is not None and time.monotonic() - written < self.WRITE_EVERY:
            return
        self._written[key] = time.monotonic()
        values: dict[str, object] = (
            {"last_verified_at": now}
            if rejection is None
            else {"last_rejected_at": now, "last_rejection": rejection}
        )
        try:
            await self._write(profile_id, values)
        except Conflict:
            await self._write(profile_id, values)  # another process inserted the row first

    async def _write(self, profile_id: str, values: dict[str, object]) -> None:
        async with self.database.write() as connection:
            updated = await connection.execute(
                webhook_receipts.update().where(webhook_receipts.c.profile_id == profile_id).values(**values)
            )
            if not updated.rowcount:
                await connection.execute(webhook_receipts.insert().values(profile_id=profile_id, **values))

    async def all(self, profile_ids: set[str] | None = None) -> list[WebhookReceipt]:
        query = sa.select(
            webhook_receipts.c.profile_id,
            webhook_receipts.c.last_verified_at,
            webhook_receipts.c.last_rejected_at,
            webhook_receipts.c.last_rejection,
        ).order_by(webhook_receipts.c.profile_id)
        if profile_ids is not None:
            query = query.where(webhook_receipts.c.profile_id.in_(sorted(profile_ids)))
        async with self.database.read() as connection:
            return [WebhookReceipt(*row) for row in await connection.execute(query)]
