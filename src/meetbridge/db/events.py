"""Event persistence: the upsert/delete transactions and the Read Events query."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from meetbridge.db.database import Database
from meetbridge.db.ids import new_id
from meetbridge.db.tables import calendars, event_extensions, events, utcnow
from meetbridge.domain.events import merge_upsert
from meetbridge.domain.extensions import DesiredExtension, ExtensionState, plan_extensions
from meetbridge.errors import Conflict, InvalidRequest, NotFound

# Cronofy reads external events from 16 days back to 201 days ahead unless told otherwise.
DEFAULT_WINDOW_PAST = timedelta(days=16)
DEFAULT_WINDOW_FUTURE = timedelta(days=201)


class StoredEvent(msgspec.Struct, frozen=True, kw_only=True):
    pk: int
    calendar_id: str
    event_id: str | None
    event_uid: str
    fields: dict[str, Any]
    start_at: datetime
    end_at: datetime
    deleted: bool
    version: int
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    extensions: list[ExtensionState] = msgspec.field(default_factory=list)

    @property
    def managed(self) -> bool:
        return self.event_id is not None


class EventQuery(msgspec.Struct, frozen=True, kw_only=True):
    application_id: str
    calendar_ids: tuple[str, ...] = ()
    window_from: datetime | None = None
    window_to: datetime | None = None
    last_modified: datetime | None = None
    include_deleted: bool = False
    include_managed: bool = False
    only_managed: bool = False


_EVENT_COLUMNS = (
    events.c.pk,
    events.c.calendar_id,
    events.c.event_id,
    events.c.event_uid,
    events.c.fields,
    events.c.start_at,
    events.c.end_at,
    events.c.deleted,
    events.c.version,
    events.c.metadata,
    events.c.created_at,
    events.c.updated_at,
)


def _stored(row: Any, extensions: list[ExtensionState]) -> StoredEvent:
    return StoredEvent(**{c.name: getattr(row, c.name) for c in _EVENT_COLUMNS}, extensions=extensions)


async def _extensions_for(connection: AsyncConnection, pks: Sequence[int]) -> dict[int, list[ExtensionState]]:
    found: dict[int, list[ExtensionState]] = {pk: [] for pk in pks}
    if not pks:
        return found
    query = (
        sa.select(event_extensions)
        .where(event_extensions.c.event_pk.in_(pks))
        .order_by(event_extensions.c.provider)
    )
    for row in await connection.execute(query):
        found[row.event_pk].append(
            ExtensionState(
                provider=row.provider,
                profile_id=row.profile_id,
                status=row.status,
                bot_id=row.bot_id,
                last_error=row.last_error,
                updated_at=row.updated_at,
            )
        )
    return found


class EventRepository:
    def __init__(self, database: Database) -> None:
        self.database = database

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
        query = sa.select(*_EVENT_COLUMNS).where(events.c.calendar_id == calendar_id)
        query = query.where(
            events.c.event_id == event_id if event_id is not None else events.c.event_uid == event_uid
        )
        row = (await connection.execute(query)).first()
        if row is None:
            return None
        return _stored(row, (await _extensions_for(connection, [row.pk]))[row.pk])

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
                    return await self._upsert(
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
    ) -> StoredEvent:
        await self._owned_calendar(connection, application_id, calendar_id)
        previous = await self._find(connection, calendar_id, event_id=event_id, event_uid=event_uid)
        if previous is None and event_uid is not None:
            raise InvalidRequest.single(
                "event_uid", "not_found", f"no event with event_uid {event_uid} in this calendar"
            )
        now = utcnow()
        merged = merge_upsert(previous.fields if previous else None, provided)
        current = previous.extensions if previous else []
        changes = plan_extensions(current, extensions, now)
        fields_changed = previous is None or previous.deleted or merged.fields != previous.fields
        if not fields_changed and not changes.changed:
            return previous  # type: ignore[return-value]  # previous is set when nothing changed
        values = {
            "fields": merged.fields,
            "start_at": merged.start.instant(),
            "end_at": merged.end.instant(),
            "deleted": False,
            "updated_at": now,
        }
        if previous is None:
            pk = await connection.scalar(
                events.insert()
                .values(
                    calendar_id=calendar_id,
                    event_id=event_id,
                    event_uid=new_id("evt_"),
                    version=1,
                    metadata={},
                    created_at=now,
                    **values,
                )
                .returning(events.c.pk)
            )
        else:
            pk = previous.pk
            await connection.execute(
                events.update().where(events.c.pk == pk).values(version=events.c.version + 1, **values)
            )
        await self._write_extensions(connection, pk, changes.upserts, changes.removals)
        stored = await self._find(connection, calendar_id, event_id=event_id, event_uid=event_uid)
        assert stored is not None  # noqa: S101 - written in this transaction
        return stored

    async def _write_extensions(
        self, connection: AsyncConnection, pk: int, upserts: list[ExtensionState], removals: list[str]
    ) -> None:
        if removals:
            await connection.execute(
                event_extensions.delete().where(
                    event_extensions.c.event_pk == pk, event_extensions.c.provider.in_(removals)
                )
            )
        for state in upserts:
            await connection.execute(
                event_extensions.delete().where(
                    event_extensions.c.event_pk == pk, event_extensions.c.provider == state.provider
                )
            )
            await connection.execute(
                event_extensions.insert().values(event_pk=pk, **msgspec.structs.asdict(state))
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
            return await self._find(connection, calendar_id, event_id=event_id, event_uid=event_uid)

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

    def _filters(self, query: EventQuery, now: datetime) -> list[sa.ColumnElement[bool]]:
        conditions: list[sa.ColumnElement[bool]] = [calendars.c.application_id == query.application_id]
        if query.calendar_ids:
            conditions.append(events.c.calendar_id.in_(query.calendar_ids))
        if not query.include_deleted:
            conditions.append(events.c.deleted.is_(False))
        if query.only_managed:
            conditions.append(events.c.event_id.is_not(None))
        elif not query.include_managed:
            conditions.append(events.c.event_id.is_(None))
        if query.last_modified is not None:
            conditions.append(events.c.updated_at >= query.last_modified)
        if query.window_from is not None or query.window_to is not None:
            if query.window_from is not None:
                conditions.append(events.c.end_at >= query.window_from)
            if query.window_to is not None:
                conditions.append(events.c.start_at < query.window_to)
        else:
            # Managed events ignore the default window (Cronofy); external ones keep to it.
            conditions.append(
                sa.or_(
                    events.c.event_id.is_not(None),
                    sa.and_(
                        events.c.end_at >= now - DEFAULT_WINDOW_PAST,
                        events.c.start_at < now + DEFAULT_WINDOW_FUTURE,
                    ),
                )
            )
        return conditions

    async def read(self, query: EventQuery, *, page: int, page_size: int) -> tuple[list[StoredEvent], int]:
        """One page (1-based) of events and the total number of matching events."""
        conditions = self._filters(query, utcnow())
        base = (
            sa.select(*_EVENT_COLUMNS)
            .join(calendars, calendars.c.id == events.c.calendar_id)
            .where(*conditions)
        )
        count = sa.select(sa.func.count()).select_from(events.join(calendars)).where(*conditions)
        async with self.database.read() as connection:
            total = await connection.scalar(count) or 0
            rows = list(
                await connection.execute(
                    base.order_by(events.c.start_at, events.c.pk)
                    .limit(page_size)
                    .offset((page - 1) * page_size)
                )
            )
            extensions = await _extensions_for(connection, [row.pk for row in rows])
        return [_stored(row, extensions[row.pk]) for row in rows], total
