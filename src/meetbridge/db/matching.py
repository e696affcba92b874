"""Which synced provider event an extension acts on (DESIGN §3).

An external event of the link is its own target. A managed event is matched to one of the link's
external events by ``ical_uid`` when the app gave one (the instance starting at the same time first,
then the nearest), else by the meeting link (the same platform and meeting id) and the same start.
A deleted match is kept when nothing else matches, so the bot it carries is removed, not forgotten.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from meetbridge.db.database import Database
from meetbridge.db.links import Link
from meetbridge.db.tables import events
from meetbridge.domain.events import meeting_url_of
from meetbridge.domain.meeting_urls import same_meeting
from meetbridge.providers.base import PROVIDER_BOT_ID


class SyncedEvent(msgspec.Struct, frozen=True, kw_only=True):
    pk: int
    source_id: str
    start_at: datetime
    deleted: bool
    meeting_url: str | None  # as the provider gave it
    bot_id: str | None  # the provider's own bot, where it reports one (Calendar V1)


def provider_meeting_url(fields: dict[str, Any]) -> str | None:
    conferencing = fields.get("conferencing") or {}
    url = conferencing.get("join_url")
    return url if isinstance(url, str) else None


_COLUMNS = (events.c.pk, events.c.source_id, events.c.start_at, events.c.deleted, events.c.fields)


def _synced(row: Any) -> SyncedEvent:
    return SyncedEvent(
        pk=row.pk,
        source_id=row.source_id,
        start_at=row.start_at,
        deleted=row.deleted,
        meeting_url=provider_meeting_url(row.fields),
        bot_id=row.fields.get(PROVIDER_BOT_ID),
    )


def _best(rows: list[Any], start_at: datetime) -> Any | None:
    """Live before deleted, then the same start, then the nearest start."""
    if not rows:
        return None
    return min(rows, key=lambda r: (r.deleted, abs((r.start_at - start_at).total_seconds()), r.pk))


async def _find(connection: AsyncConnection, event_pk: int, link: Link) -> SyncedEvent | None:
    event = (
        await connection.execute(
            sa.select(*_COLUMNS, events.c.link_id, events.c.event_id).where(events.c.pk == event_pk)
        )
    ).first()
    if event is None:
        return None
    if event.event_id is None:
        return _synced(event) if event.link_id == link.id and event.source_id else None
    of_link = sa.select(*_COLUMNS).where(events.c.link_id == link.id, events.c.event_id.is_(None))
    ical_uid = event.fields.get("ical_uid")
    if isinstance(ical_uid, str) and ical_uid:
        found = _best(
            list(await connection.execute(of_link.where(events.c.ical_uid == ical_uid))), event.start_at
        )
        if found is not None:
            return _synced(found)
    wanted_url = meeting_url_of(event.fields)
    if wanted_url is None:
        return None
    same_start = await connection.execute(of_link.where(events.c.start_at == event.start_at))
    # The same meeting (platform and meeting id), whatever passcode or tracking the links carry.
    candidates = [row for row in same_start if same_meeting(meeting_url_of(row.fields) or "", wanted_url)]
    found = _best(candidates, event.start_at)
    return _synced(found) if found is not None else None


async def find_target(database: Database, event_pk: int, link: Link) -> SyncedEvent | None:
    async with database.read() as connection:
        return await _find(connection, event_pk, link)
