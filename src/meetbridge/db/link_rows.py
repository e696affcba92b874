"""Calendar links as the database holds them: the Link value, its rules, the lookups the link
repository and its neighbours share, and which events act for a link."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from meetbridge.db.tables import calendar_links, event_extensions, events


class Link(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    calendar_id: str
    profile_id: str
    provider_calendar_id: str
    platform: str | None
    email: str | None
    status: str
    status_detail: str | None
    record: str
    series: list[str]
    sync_cursor: datetime | None
    sync_from: datetime | None
    full_sync: bool
    last_synced_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    credentials: str | None = None  # sealed (config/sealing.py): forwarding links only
    channel_id: str | None = None  # the provider's push channel: forwarding links only
    adapter: str | None = None  # the mechanism it was made for (None: made before this was kept)

    def serves(self, adapter: str) -> bool:
        """False for a link made for the mechanism a profile had before it was switched."""
        return self.adapter in (None, adapter)


class LinkRules(msgspec.Struct, frozen=True, kw_only=True):
    record: str = "none"
    series: list[str] = msgspec.field(default_factory=list)


def link_of(calendar_id: str, profile_id: str) -> sa.Select[Any]:
    return sa.select(calendar_links).where(
        calendar_links.c.calendar_id == calendar_id, calendar_links.c.profile_id == profile_id
    )


async def link_by_id(connection: AsyncConnection, link_id: int) -> Link:
    return link_from_row(
        (await connection.execute(sa.select(calendar_links).where(calendar_links.c.id == link_id))).one()
    )


def link_from_row(row: Any) -> Link:
    return Link(**{column.name: getattr(row, column.name) for column in calendar_links.c})


def acting_for(link: Link) -> sa.ColumnElement[bool]:
    """Extensions that want the link's profile or act on one of its events (which names the
    extensions provider too: a profile's adapter serves one)."""
    synced = sa.select(events.c.source_id).where(events.c.link_id == link.id, events.c.source_id.is_not(None))
    return sa.or_(
        event_extensions.c.profile_id == link.profile_id,
        event_extensions.c.target_id.in_(synced.scalar_subquery()),
    )


async def events_acting_for(connection: AsyncConnection, link: Link) -> list[int]:
    """Events of the link's calendar with an extension acting for it."""
    query = (
        sa.select(events.c.pk)
        .join(event_extensions, event_extensions.c.event_pk == events.c.pk)
        .where(events.c.calendar_id == link.calendar_id, acting_for(link))
    )
    return [row.pk for row in await connection.execute(query)]
