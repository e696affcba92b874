"""Event persistence: the upsert/delete transactions and the Read Events query."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from meetbridge.db.bot_reports import apply_bot_status
from meetbridge.db.database import Database, Prepared
from meetbridge.db.event_rows import (
    EVENT_COLUMNS,
    EventQuery,
    StoredEvent,
    read_page,
)
from meetbridge.db.ids import new_id
from meetbridge.db.jobs import enqueue
from meetbridge.db.tables import calendars, event_extensions, events, utcnow
from meetbridge.domain.events import merge_upsert
from meetbridge.domain.extensions import (
    DesiredExtension,
    ExtensionChanges,
    ExtensionState,
    plan_extensions,
)
from meetbridge.errors import Conflict, NotFound, NotHeld

__all__ = ["EventQuery", "EventRepository", "StoredEvent"]  # the values come from event_rows

# Statements built once rather than per request; the upsert's own run as ``Prepared`` statements.
# One lookup returns the event with its extensions (and, for the upsert, the calendar's owner)
# instead of a query for each.
_EXTENSION_FIELDS = {  # ExtensionState field: column
    "provider": event_extensions.c.provider,
    "profile_id": event_extensions.c.profile_id,
    "status": event_extensions.c.status,
    "bot_id": event_extensions.c.bot_id,
    "last_error": event_extensions.c.last_error,
    "updated_at": event_extensions.c.updated_at.label("extension_updated_at"),
    "provider_state": event_extensions.c.provider_state,
    "bot_status": event_extensions.c.bot_status,
    "origin": event_extensions.c.origin,
    "released": event_extensions.c.released,
}
_EXTENSION_COLUMNS = tuple(_EXTENSION_FIELDS.values())
_EVENT_NAMES = [column.name for column in EVENT_COLUMNS]
_KEYS = {"event_id": events.c.event_id, "event_uid": events.c.event_uid}
_WITH_EXTENSIONS = events.outerjoin(event_extensions, event_extensions.c.event_pk == events.c.pk)


def _lookup_with_owner(key: sa.Column[Any]) -> sa.Select[Any]:
    matching = sa.and_(events.c.calendar_id == calendars.c.id, key == sa.bindparam("key"))
    joined = calendars.outerjoin(events, matching).outerjoin(
        event_extensions, event_extensions.c.event_pk == events.c.pk
    )
    return (
        sa.select(calendars.c.application_id, *EVENT_COLUMNS, *_EXTENSION_COLUMNS)
        .select_from(joined)
        .where(calendars.c.id == sa.bindparam("calendar_id"))
        .order_by(event_extensions.c.provider)
    )


_FIND = {
    name: sa.select(*EVENT_COLUMNS, *_EXTENSION_COLUMNS)
    .select_from(_WITH_EXTENSIONS)
    .where(events.c.calendar_id == sa.bindparam("calendar_id"), key == sa.bindparam("key"))
    .order_by(event_extensions.c.provider)
    for name, key in _KEYS.items()
}
# The worker's read of a job's event: one statement, not two (most of a no-op job's time was two reads).
_BY_PK = (
    sa.select(*EVENT_COLUMNS, *_EXTENSION_COLUMNS)
    .select_from(_WITH_EXTENSIONS)
    .where(events.c.pk == sa.bindparam("event_pk"))
    .order_by(event_extensions.c.provider)
)
# The worker's read of a claimed batch's events (``get_many``): one statement for them all.
_BY_PKS = (
    sa.select(*EVENT_COLUMNS, *_EXTENSION_COLUMNS)
    .select_from(_WITH_EXTENSIONS)
    .where(events.c.pk.in_(sa.bindparam("event_pks", expanding=True)))
    .order_by(events.c.pk, event_extensions.c.provider)
)
_FIND_WITH_OWNER = {name: Prepared(_lookup_with_owner(key)) for name, key in _KEYS.items()}
# Column values come as parameters, so these compile once per set of columns.
_INSERT_EVENT = Prepared(events.insert().returning(events.c.pk))
_UPDATE_EVENT = Prepared(
    events.update()
    .where(events.c.pk == sa.bindparam("event_pk"))
    .values(version=events.c.version + 1)
    .returning(events.c.version)
)
_EXTENSION_ROW = sa.and_(
    event_extensions.c.event_pk == sa.bindparam("extension_event_pk"),
    event_extensions.c.provider == sa.bindparam("extension_provider"),
)
_UPDATE_EXTENSION = Prepared(
    event_extensions.update().where(_EXTENSION_ROW).returning(event_extensions.c.event_pk)
)
_INSERT_EXTENSION = Prepared(event_extensions.insert())
_DELETE_EXTENSIONS = event_extensions.delete().where(
    event_extensions.c.event_pk == sa.bindparam("extension_event_pk"),
    event_extensions.c.provider.in_(sa.bindparam("extension_providers", expanding=True)),
)


def _event_from_rows(rows: Sequence[Sequence[Any]], start: int = 0) -> StoredEvent | None:
    """The event in joined lookup rows (one per extension), or None when no event matched.

    Columns from ``start`` on are ``EVENT_COLUMNS`` then ``_EXTENSION_COLUMNS``.
    """
    if not rows or rows[0][start] is None:
        return None
    first = rows[0]
    ends = start + len(EVENT_COLUMNS)
    fields = dict(zip(_EVENT_NAMES, first[start:ends], strict=True))
    extensions = [
        ExtensionState(**dict(zip(_EXTENSION_FIELDS, row[ends:], strict=True)))
        for row in rows
        if row[ends] is not None
    ]
    return StoredEvent(**fields, extensions=extensions)


def _extensions_after(current: list[ExtensionState], changes: ExtensionChanges) -> list[ExtensionState]:
    """What ``_write_extensions`` leaves in the table: desired columns replaced, the worker's kept."""
    after = {state.provider: state for state in current if state.provider not in changes.removals}
    for wanted in changes.upserts:
        existing = after.get(wanted.provider)
        after[wanted.provider] = (
            wanted
            if existing is None
            else msgspec.structs.replace(
                existing,
                profile_id=wanted.profile_id,
                status=wanted.status,
                last_error=wanted.last_error,
                updated_at=wanted.updated_at,
                origin="app",
                released=wanted.released,
            )
        )
    return [after[provider] for provider in sorted(after)]


class EventRepository:
    def __init__(self, database: Database) -> None:
        self.database = database
        # Called after a transaction that enqueued a job has committed (the worker's wake-up).
        self.on_enqueue: Callable[[], None] = lambda: None
        # ... that wrote outbound webhook messages (the sender's wake-up).
        self.on_message: Callable[[], None] = lambda: None

    async def _owned_calendar(
        self, connection: AsyncConnection, application_id: str, calendar_id: str
    ) -> None:
        owner = await connection.scalar(
            sa.select(calendars.c.application_id).where(calendars.c.id == calendar_id)
        )
        if owner != application_id:
            raise NotFound(f"calendar {calendar_id} not found")

    async def _find(
        self, connection: AsyncConnection, calendar_id: str, *, event_id: str | None, event_uid: str | None
    ) -> StoredEvent | None:
        name, key = ("event_id", event_id) if event_id is not None else ("event_uid", event_uid)
        rows = (await connection.execute(_FIND[name], {"calendar_id": calendar_id, "key": key})).all()
        return _event_from_rows(rows)

    async def upsert(
        self,
        application_id: str,
        calendar_id: str,
        *,
        event_id: str | None,
        event_uid: str | None,
        provided: dict[str, Any],
        extensions: list[DesiredExtension] | None,
    ) -> StoredEvent:
        """Create or update in one transaction; retried once when a concurrent insert wins the race."""
        for attempt in (1, 2):
            try:
                async with self.database.write() as connection:
                    stored, enqueued = await self._upsert(
                        connection,
                        application_id=application_id,
                        calendar_id=calendar_id,
                        event_id=event_id,
                        event_uid=event_uid,
                        provided=provided,
                        extensions=extensions,
                    )
            except Conflict:
                if attempt == 2:
                    raise
            else:
                if enqueued:
                    self.on_enqueue()
                return stored
        raise AssertionError("unreachable")

    async def _upsert(
        self,
        connection: AsyncConnection,
        *,
        application_id: str,
        calendar_id: str,
        event_id: str | None,
        event_uid: str | None,
        provided: dict[str, Any],
        extensions: list[DesiredExtension] | None,
    ) -> tuple[StoredEvent, bool]:
        name, key = ("event_id", event_id) if event_id is not None else ("event_uid", event_uid)
        rows = await _FIND_WITH_OWNER[name].rows(connection, {"calendar_id": calendar_id, "key": key})
        if not rows or rows[0][0] != application_id:
            raise NotFound(f"calendar {calendar_id} not found")
        previous = _event_from_rows(rows, start=1)
        if event_uid is not None and (previous is None or previous.deleted):
            raise NotHeld.single(
                "event_uid", "not_found", f"no event with event_uid {event_uid} in this calendar"
            )
        now = utcnow()
        merged = merge_upsert(previous.fields if previous else None, provided)
        current = previous.extensions if previous else []
        changes = plan_extensions(current, extensions, now)
        fields_changed = previous is None or previous.deleted or merged.fields != previous.fields
        if not fields_changed and not changes.changed:
            return previous, False  # type: ignore[return-value]  # previous is set when nothing changed
        values = {
            "fields": merged.fields,
            "start_at": merged.start.instant(),
            "end_at": merged.end.instant(),
            "deleted": False,
            "updated_at": now,
        }
        if previous is None:
            created: dict[str, Any] = {"calendar_id": calendar_id, "event_id": event_id}
            created.update(event_uid=new_id("evt_"), version=1, metadata={}, created_at=now, **values)
            [(pk,)] = await _INSERT_EVENT.rows(connection, created)
            stored = StoredEvent(pk=pk, **created)
        else:
            [(version,)] = await _UPDATE_EVENT.rows(connection, {"event_pk": previous.pk, **values})
            stored = msgspec.structs.replace(previous, version=version, **values)
        await self._write_extensions(connection, stored.pk, changes.upserts, changes.removals)
        stored = msgspec.structs.replace(stored, extensions=_extensions_after(current, changes))
        if stored.extensions:
            await enqueue(connection, stored.pk, now)
        return stored, bool(stored.extensions)

    async def _write_extensions(
        self, connection: AsyncConnection, pk: int, upserts: list[ExtensionState], removals: list[str]
    ) -> None:
        if removals:
            await connection.execute(
                _DELETE_EXTENSIONS, {"extension_event_pk": pk, "extension_providers": removals}
            )
        for state in upserts:
            # Only the desired side changes here; bot_id and provider_state belong to the worker.
            desired = {
                "profile_id": state.profile_id,
                "status": state.status,
                "last_error": state.last_error,
                "updated_at": state.updated_at,
                "origin": "app",  # the app said so: recording rules leave this extension alone now
                "released": state.released,
            }
            keys = {"extension_event_pk": pk, "extension_provider": state.provider}
            if not await _UPDATE_EXTENSION.rows(connection, {**keys, **desired}):
                await _INSERT_EXTENSION.rows(
                    connection, {"event_pk": pk, "provider": state.provider, **desired}
                )

    async def delete(
        self, application_id: str, calendar_id: str, *, event_id: str | None, event_uid: str | None
    ) -> StoredEvent | None:
        """Mark the event deleted and its extensions cancelled; unknown ids are not an error."""
        async with self.database.write() as connection:
            await self._owned_calendar(connection, application_id, calendar_id)
            previous = await self._find(connection, calendar_id, event_id=event_id, event_uid=event_uid)
            if previous is None or previous.deleted:
                return previous
            now = utcnow()
            await connection.execute(
                events.update()
                .where(events.c.pk == previous.pk)
                .values(deleted=True, version=events.c.version + 1, updated_at=now)
            )
            changes = plan_extensions(previous.extensions, [], now)
            await self._write_extensions(connection, previous.pk, changes.upserts, changes.removals)
            stored = await self._find(connection, calendar_id, event_id=event_id, event_uid=event_uid)
            if stored is not None and stored.extensions:
                await enqueue(connection, previous.pk, now)
        if stored is not None and stored.extensions:
            self.on_enqueue()
        return stored

    async def record_bot_status(
        self,
        bot_id: str,
        code: str,
        sub_code: str | None,
        *,
        profile_ids: Sequence[str],
        reported_at: datetime | None = None,
    ) -> int:
        """Apply a provider's bot status report (``db.bot_reports``); returns how many extensions it
        changed."""
        async with self.database.write() as connection:
            changed, told = await apply_bot_status(
                connection, bot_id, code, sub_code, profile_ids=profile_ids, reported_at=reported_at
            )
        if told:
            self.on_message()
        return changed

    async def get_by_pk(self, pk: int) -> StoredEvent | None:
        async with self.database.read() as connection:
            rows = (await connection.execute(_BY_PK, {"event_pk": pk})).all()
        return _event_from_rows(rows)

    async def get_many(self, pks: Sequence[int]) -> dict[int, StoredEvent]:
        """The events of these pks that exist (``get_by_pk`` for a batch, in one read)."""
        async with self.database.read() as connection:
            rows = (await connection.execute(_BY_PKS, {"event_pks": list(pks)})).all()
        found: dict[int, StoredEvent] = {}
        for _, group in itertools.groupby(rows, key=lambda row: row.pk):
            event = _event_from_rows(list(group))
            if event is not None:
                found[event.pk] = event
        return found

    async def get(
        self,
        application_id: str,
        calendar_id: str,
        *,
        event_id: str | None = None,
        event_uid: str | None = None,
    ) -> StoredEvent:
        async with self.database.read() as connection:
            await self._owned_calendar(connection, application_id, calendar_id)
            found = await self._find(connection, calendar_id, event_id=event_id, event_uid=event_uid)
        if found is None:
            raise NotFound(f"event {event_id or event_uid} not found in calendar {calendar_id}")
        return found

    async def insert_external(
        self, calendar_id: str, fields: dict[str, Any], *, start_at: datetime, end_at: datetime
    ) -> str:
        """Store a provider's event as an external (read-only) event; returns its event_uid."""
        now, event_uid = utcnow(), new_id("evt_external_")
        async with self.database.write() as connection:
            await connection.execute(
                events.insert().values(
                    calendar_id=calendar_id,
                    event_id=None,
                    event_uid=event_uid,
                    fields=fields,
                    start_at=start_at,
                    end_at=end_at,
                    deleted=False,
                    version=1,
                    metadata={},
                    created_at=now,
                    updated_at=now,
                )
            )
        return event_uid

    async def read(
        self, query: EventQuery, *, after: tuple[datetime, int] | None, page_size: int, count_limit: int
    ) -> tuple[list[StoredEvent], int]:
        """A page of events after the keyset cursor ``after`` (start, pk), and how many remain (up to
        ``count_limit`` + 1)."""
        async with self.database.read() as connection:
            return await read_page(
                connection, query, after=after, page_size=page_size, now=utcnow(), count_limit=count_limit
            )
