"""The drift audit's reads and writes: the extensions a profile's audit compares, the repairs that go
through the reconcile path (a marked extension and its job, in one transaction), and the runs."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from meetbridge.db.audit_tables import audit_findings, audit_runs
from meetbridge.db.database import Database
from meetbridge.db.jobs import EVENT, enqueue
from meetbridge.db.tables import calendar_links, calendars, event_extensions, events, jobs, utcnow
from meetbridge.domain.audit import Difference, Wanted

# A record of a create under way, or of a switching move, in a provider state: the event is in motion.
_IN_MOTION_KEYS = ("meetbridge_create", "migration")
# Runs (and their findings) older than this are removed when a newer run is recorded.
KEEP_RUNS = timedelta(days=30)
# The advisory lock (with the profile id's hash) that makes one PostgreSQL replica claim a profile's
# run at a time.
_LOCK_KEY = 0x6D62_6175  # "mbau"


class AuditRun(msgspec.Struct, frozen=True, kw_only=True):
    run_id: int
    profile_id: str
    started_at: datetime
    finished_at: datetime | None
    provider_calls: int | None
    error: str | None


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    bot_id: str
    calendar_id: str | None
    event_id: str | None
    event_uid: str | None
    detail: str
    action: str
    at: datetime


def _join_at(state: dict[str, Any]) -> datetime | None:
    # recall-bot records "scheduled": False for ad-hoc bots, which have no join time at the provider.
    raw = state.get("join_at")
    if not isinstance(raw, str) or state.get("scheduled") is False:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None


class AuditStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def wanted(self, profile_id: str, provider: str, now: datetime) -> list[Wanted]:
        """The extensions of events not yet ended that name ``profile_id`` or hold its bot."""
        named = sa.or_(event_extensions.c.profile_id == profile_id, event_extensions.c.bot_id.is_not(None))
        found = await self._wanted(profile_id, provider, events.c.end_at > now, named)
        return [w for w in found if w.wants_bot or w.owned]

    async def of_events(self, profile_id: str, provider: str, event_uids: Collection[str]) -> list[Wanted]:
        """The extensions of the events bots name in their tags (one that wants no bot, say)."""
        if not event_uids:
            return []
        return await self._wanted(profile_id, provider, events.c.event_uid.in_(list(event_uids)))

    async def linked_calendars(self, profile_id: str) -> list[str]:
        """The provider calendar ids linked under ``profile_id`` (Calendar V1: the users' ids)."""
        query = (
            sa.select(calendar_links.c.provider_calendar_id)
            .where(calendar_links.c.profile_id == profile_id)
            .order_by(calendar_links.c.provider_calendar_id)
            .distinct()
        )
        async with self.database.read() as connection:
            return [str(row) for row in await connection.scalars(query)]

    async def targets(self, profile_id: str, provider: str, target_ids: Collection[str]) -> dict[str, str]:
        """Provider calendar event id -> the uid of the meetbridge event whose extension of ``provider``
        acts on it, on a calendar linked under ``profile_id``: the event an extension steers
        (``target_id``) first, else the synced copy of it (``source_id``) when that has an extension."""
        if not target_ids:
            return {}
        wanted = list(target_ids)
        query = (
            sa.select(events.c.event_uid, events.c.source_id, event_extensions.c.target_id)
            .join(event_extensions, event_extensions.c.event_pk == events.c.pk)
            .join(calendar_links, calendar_links.c.calendar_id == events.c.calendar_id)
            .where(
                calendar_links.c.profile_id == profile_id,
                event_extensions.c.provider == provider,
                sa.or_(event_extensions.c.target_id.in_(wanted), events.c.source_id.in_(wanted)),
            )
        )
        steered: dict[str, str] = {}
        copies: dict[str, str] = {}
        async with self.database.read() as connection:
            for row in await connection.execute(query):
                if row.target_id in target_ids:
                    steered.setdefault(row.target_id, row.event_uid)
                if row.source_id in target_ids:
                    copies.setdefault(row.source_id, row.event_uid)
        return {**copies, **steered}

    async def _wanted(self, profile_id: str, provider: str, *where: sa.ColumnElement[bool]) -> list[Wanted]:
        query = (
            sa.select(
                events.c.pk,
                events.c.event_uid,
                events.c.calendar_id,
                events.c.event_id,
                events.c.deleted,
                calendars.c.application_id,
                event_extensions.c.profile_id,
                event_extensions.c.status,
                event_extensions.c.bot_id,
                event_extensions.c.provider_state,
                jobs.c.subject.label("job"),
            )
            .join(event_extensions, event_extensions.c.event_pk == events.c.pk)
            .join(calendars, calendars.c.id == events.c.calendar_id)
            .outerjoin(jobs, sa.and_(jobs.c.kind == EVENT, jobs.c.subject == events.c.pk))
            .where(event_extensions.c.provider == provider, *where)
        )
        found: list[Wanted] = []
        async with self.database.read() as connection:
            for row in await connection.execute(query):
                state = dict(row.provider_state or {})
                in_motion = any(key in state for key in _IN_MOTION_KEYS) and not row.bot_id
                found.append(
                    Wanted(
                        event_pk=row.pk,
                        event_uid=row.event_uid,
                        calendar_id=row.calendar_id,
                        event_id=row.event_id,
                        application_id=row.application_id,
                        wants_bot=row.profile_id == profile_id and not row.deleted,
                        owned=state.get("profile_id") == profile_id,
                        status=row.status,
                        bot_id=row.bot_id,
                        join_at=_join_at(state) if row.bot_id else None,
                        meeting_url=state.get("meeting_url") if row.bot_id else None,
                        busy=row.job is not None or in_motion or "migration" in state,
                    )
                )
        return found

    async def claim(self, profile_id: str, *, not_since: datetime | None) -> int | None:
        """Start a run of ``profile_id`` (its id), unless one started after ``not_since``."""
        now = utcnow()
        async with self.database.write() as connection:
            if connection.dialect.name == "postgresql":
                # Held to the end of this transaction: a second replica's scheduled claim skips
                # instead of racing, then sees this one's row; an on-demand one waits its turn.
                key = (_LOCK_KEY, sa.func.hashtext(profile_id))
                if not_since is None:
                    await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(*key)))
                elif not await connection.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(*key))):
                    return None
            if not_since is not None:
                recent = await connection.scalar(
                    sa.select(sa.func.count())
                    .select_from(audit_runs)
                    .where(audit_runs.c.profile_id == profile_id, audit_runs.c.started_at > not_since)
                )
                if recent:
                    return None
            run_id = await connection.scalar(
                audit_runs.insert().values(profile_id=profile_id, started_at=now).returning(audit_runs.c.id)
            )
        return int(run_id) if run_id is not None else None

    async def finish(self, run_id: int, *, provider_calls: int, error: str | None) -> None:
        now = utcnow()
        async with self.database.write() as connection:
            profile_id = await connection.scalar(
                sa.select(audit_runs.c.profile_id).where(audit_runs.c.id == run_id)
            )
            await connection.execute(
                audit_runs.update()
                .where(audit_runs.c.id == run_id)
                .values(finished_at=now, provider_calls=provider_calls, error=error)
            )
            await connection.execute(
                audit_runs.delete().where(
                    audit_runs.c.profile_id == profile_id,
                    audit_runs.c.started_at < now - KEEP_RUNS,
                    audit_runs.c.id != run_id,
                )
            )

    async def note(self, run_id: int, difference: Difference, action: str) -> None:
        async with self.database.write() as connection:
            await _note(connection, run_id, difference, action)

    async def mark_missing(self, run_id: int, provider: str, difference: Difference) -> bool:
        """The bot is gone: forget it and let the event's job make a new one (its create is
        recorded before it is sent, so a crash still ends with one bot). False if the event moved on."""
        return await self._mark(run_id, provider, difference, forget=True)

    async def mark_stale(self, run_id: int, provider: str, difference: Difference) -> bool:
        """The bot was moved at the provider: record what it has now, so the event's job plans the
        update back to what the event wants. False if the event moved on."""
        return await self._mark(run_id, provider, difference, forget=False)

    async def _mark(self, run_id: int, provider: str, difference: Difference, *, forget: bool) -> bool:
        if difference.event_pk is None:  # missing and stale differences are always about an event
            return False
        now = utcnow()
        async with self.database.write() as connection:
            row = (
                await connection.execute(
                    sa.select(
                        event_extensions.c.bot_id,
                        event_extensions.c.provider_state,
                        jobs.c.subject.label("job"),
                    )
                    .outerjoin(
                        jobs, sa.and_(jobs.c.kind == EVENT, jobs.c.subject == event_extensions.c.event_pk)
                    )
                    .where(
                        event_extensions.c.event_pk == difference.event_pk,
                        event_extensions.c.provider == provider,
                    )
                )
            ).first()
            if row is None or row.bot_id != difference.bot_id or row.job is not None:
                await _note(connection, run_id, difference, "skipped")
                return False
            if forget:
                values: dict[str, Any] = {"provider_state": None, "bot_id": None, "target_id": None}
                values.update(status="pending", last_error="the audit found its bot gone; making a new one")
            else:
                state = dict(row.provider_state or {})
                if difference.provider_join_at is not None:
                    state["join_at"] = difference.provider_join_at.isoformat()
                if difference.meeting_changed:
                    state["meeting_url"] = ""  # the provider's bot is elsewhere: the plan sends the link
                values = {"provider_state": state}
            await connection.execute(
                event_extensions.update()
                .where(
                    event_extensions.c.event_pk == difference.event_pk,
                    event_extensions.c.provider == provider,
                )
                .values(**values)
            )
            await enqueue(connection, difference.event_pk, now)
            await _note(connection, run_id, difference, "repaired")
        return True

    async def still_unwanted(self, provider: str, difference: Difference) -> bool:
        """Right before an orphan is cancelled: no extension of its event took the bot since, and
        the event is not in motion (a job due, a create under way)."""
        # Matched by event (a tagged bot) or by the bot id (a bot recognised by its deduplication key).
        of = events.c.event_uid == difference.event_uid if difference.event_uid else sa.false()
        rows = await self._wanted("", provider, sa.or_(of, event_extensions.c.bot_id == difference.bot_id))
        return not any(row.busy or row.bot_id == difference.bot_id for row in rows)

    async def last_run(self, profile_id: str) -> AuditRun | None:
        async with self.database.read() as connection:
            row = (
                await connection.execute(
                    sa.select(audit_runs)
                    .where(audit_runs.c.profile_id == profile_id, audit_runs.c.finished_at.is_not(None))
                    .order_by(audit_runs.c.id.desc())
                    .limit(1)
                )
            ).first()
        if row is None:
            return None
        return AuditRun(
            run_id=row.id,
            profile_id=row.profile_id,
            started_at=row.started_at,
            finished_at=row.finished_at,
            provider_calls=row.provider_calls,
            error=row.error,
        )

    async def findings(self, run_id: int, application_id: str) -> list[Finding]:
        """What the run found on the application's own events."""
        return await self._findings(
            (audit_findings.c.run_id == run_id, audit_findings.c.application_id == application_id)
        )

    async def of_event(self, event_pk: int) -> list[Finding]:
        """The repairs (and failed attempts) the audit made on one event, oldest first."""
        return await self._findings(
            (audit_findings.c.event_pk == event_pk, audit_findings.c.action.in_(("repaired", "failed")))
        )

    async def _findings(self, where: Sequence[sa.ColumnElement[bool]]) -> list[Finding]:
        async with self.database.read() as connection:
            rows = await connection.execute(
                sa.select(audit_findings).where(*where).order_by(audit_findings.c.id)
            )
            return [
                Finding(
                    kind=row.kind,
                    bot_id=row.bot_id,
                    calendar_id=row.calendar_id,
                    event_id=row.event_id,
                    event_uid=row.event_uid,
                    detail=row.detail,
                    action=row.action,
                    at=row.at,
                )
                for row in rows
            ]


async def _note(connection: AsyncConnection, run_id: int, difference: Difference, action: str) -> None:
    await connection.execute(
        audit_findings.insert().values(
            run_id=run_id,
            event_pk=difference.event_pk,
            application_id=difference.application_id,
            kind=str(difference.kind),
            bot_id=difference.bot_id,
            calendar_id=difference.calendar_id,
            event_id=difference.event_id,
            event_uid=difference.event_uid,
            detail=difference.detail,
            action=action,
            at=utcnow(),
        )
    )
