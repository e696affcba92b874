"""Calendar links: a meetbridge calendar tied, under one profile, to a calendar at the provider.

A link owns the external events synced from its provider calendar and the sync bookkeeping: a full
sync is owed after linking; a webhook asks for an incremental one from its timestamp (merged with the
earliest still owed, so none is skipped); one sync job per link coalesces a burst of webhooks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from meetbridge.db.database import Database
from meetbridge.db.fencing import check_lease
from meetbridge.db.jobs import SYNC, enqueue, enqueue_job
from meetbridge.db.link_rows import (
    Link,
    LinkRules,
    acting_for,
    events_acting_for,
    link_by_id,
    link_from_row,
    link_of,
)
from meetbridge.db.tables import calendar_links, calendars, event_extensions, events, utcnow
from meetbridge.db.webhook_outbox import Before, note_change
from meetbridge.domain.extensions import NO_PROFILE, ExtensionStatus
from meetbridge.errors import NotFound

__all__ = ["Link", "LinkRepository", "LinkRules"]  # the values come from link_rows
from meetbridge.providers.base import ProviderCalendar


async def _status_changed(
    connection: AsyncConnection, link: Link, status: str, now: datetime, *, forget_bots: bool = True
) -> bool:
    """Re-plan the events acting for a link whose calendar changed status; True if any were.

    ``forget_bots``: on reconnecting, the records of what was made are dropped (Recall calendars);
    a forwarding link keeps them, since its forwarded copies are still upstream.
    """
    pks = await events_acting_for(connection, link)
    if pks and forget_bots and link.status == "disconnected" and status != "disconnected":
        # A disconnected calendar may have lost its bots at Recall: schedule them again (Add Bot
        # with the same key hands back a bot that survived).
        await connection.execute(
            event_extensions.update()
            .where(event_extensions.c.event_pk.in_(pks), acting_for(link))
            .values(provider_state=None, bot_id=None)
        )
    for pk in pks:
        await enqueue(connection, pk, now)
    return bool(pks)


class LinkRepository:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.on_enqueue: Callable[[], None] = lambda: None
        self.on_message: Callable[[], None] = lambda: None  # outbound webhook messages committed

    async def find(self, calendar_id: str, profile_id: str) -> Link | None:
        async with self.database.read() as connection:
            row = (await connection.execute(link_of(calendar_id, profile_id))).first()
        return link_from_row(row) if row else None

    async def for_mechanism(self, calendar_id: str, profile_id: str, adapter: str) -> Link | None:
        """The calendar's link for the profile as ``adapter``: one made for the mechanism the profile
        had before a switch is not (a new link replaces it)."""
        link = await self.find(calendar_id, profile_id)
        return link if link is not None and link.serves(adapter) else None

    async def get(self, application_id: str, calendar_id: str, profile_id: str) -> Link:
        async with self.database.read() as connection:
            row = (
                await connection.execute(
                    sa.select(calendar_links)
                    .join(calendars, calendars.c.id == calendar_links.c.calendar_id)
                    .where(
                        calendars.c.application_id == application_id,
                        calendar_links.c.calendar_id == calendar_id,
                        calendar_links.c.profile_id == profile_id,
                    )
                )
            ).first()
        if row is None:
            raise NotFound(f"calendar {calendar_id} has no link for profile {profile_id}")
        return link_from_row(row)

    async def by_id(self, link_id: int) -> Link | None:
        async with self.database.read() as connection:
            row = (
                await connection.execute(sa.select(calendar_links).where(calendar_links.c.id == link_id))
            ).first()
        return link_from_row(row) if row else None

    async def of_calendar(self, calendar_id: str) -> list[Link]:
        async with self.database.read() as connection:
            rows = await connection.execute(
                sa.select(calendar_links).where(calendar_links.c.calendar_id == calendar_id)
            )
            return [link_from_row(row) for row in rows]

    async def by_provider_calendar(self, profile_ids: Sequence[str], provider_calendar_id: str) -> list[Link]:
        async with self.database.read() as connection:
            rows = await connection.execute(
                sa.select(calendar_links).where(
                    calendar_links.c.profile_id.in_(profile_ids),
                    calendar_links.c.provider_calendar_id == provider_calendar_id,
                )
            )
            return [link_from_row(row) for row in rows]

    async def applications_linking(self, profile_ids: Sequence[str], provider_calendar_id: str) -> set[str]:
        """The applications whose calendars link ``provider_calendar_id`` under any of the profiles."""
        async with self.database.read() as connection:
            rows = await connection.execute(
                sa.select(calendars.c.application_id)
                .join(calendar_links, calendar_links.c.calendar_id == calendars.c.id)
                .where(
                    calendar_links.c.profile_id.in_(profile_ids),
                    calendar_links.c.provider_calendar_id == provider_calendar_id,
                )
            )
            return {row.application_id for row in rows}

    async def on_channel(self, profile_id: str, channel_id: str) -> list[Link]:
        async with self.database.read() as connection:
            rows = await connection.execute(
                sa.select(calendar_links).where(
                    calendar_links.c.profile_id == profile_id, calendar_links.c.channel_id == channel_id
                )
            )
            return [link_from_row(row) for row in rows]

    async def adopt_unrecorded(self, adapters: Mapping[str, str]) -> None:
        """Links made before their mechanism was recorded get their profile's (``adapters``) now."""
        async with self.database.write() as connection:
            for profile_id, adapter in adapters.items():
                await connection.execute(
                    calendar_links.update()
                    .where(calendar_links.c.profile_id == profile_id, calendar_links.c.adapter.is_(None))
                    .values(adapter=adapter)
                )

    async def forget(self, link: Link) -> None:
        """Remove a stale link (its profile moved to another mechanism) without touching the
        extensions: they belong to the profile, which now acts through its new mechanism."""
        async with self.database.write() as connection:
            await connection.execute(calendar_links.delete().where(calendar_links.c.id == link.id))

    async def acting_for(self, link: Link) -> list[int]:
        async with self.database.read() as connection:
            return await events_acting_for(connection, link)

    async def save(
        self,
        calendar_id: str,
        profile_id: str,
        calendar: ProviderCalendar,
        rules: LinkRules,
        *,
        forwarding: Mapping[str, Any] | None = None,
        adapter: str | None = None,
    ) -> tuple[Link, bool]:
        """Create or update the link; (link, created). A new target or new rules owe a full sync.

        ``forwarding``: a forwarding link's sealed ``credentials`` and ``channel_id``; it also owes
        a sync on every save (new credentials may read what the old ones could not).
        """
        now = utcnow()
        values: dict[str, Any] = {
            **(forwarding or {}),
            **({"adapter": adapter} if adapter else {}),
            "provider_calendar_id": calendar.provider_calendar_id,
            "platform": calendar.platform,
            "email": calendar.email,
            "status": calendar.status,
            "status_detail": calendar.status_detail,
            "record": rules.record,
            "series": list(rules.series),
            "updated_at": now,
        }
        replanned = False
        async with self.database.write() as connection:
            row = (await connection.execute(link_of(calendar_id, profile_id))).first()
            if row is None:
                link_id = (
                    await connection.execute(
                        calendar_links.insert()
                        .values(
                            calendar_id=calendar_id,
                            profile_id=profile_id,
                            full_sync=True,
                            created_at=now,
                            **values,
                        )
                        .returning(calendar_links.c.id)
                    )
                ).scalar_one()
                resync = fresh = True
            else:
                link_id = row.id
                before = link_from_row(row)
                fresh = adapter is not None and not before.serves(adapter)
                if fresh:
                    # Made for the mechanism the profile had before: this link replaces it.
                    values.setdefault("credentials", None)
                    values.setdefault("channel_id", None)
                    values.update(sync_cursor=None, sync_from=None, last_synced_at=None, last_error=None)
                resync = (
                    before.provider_calendar_id != calendar.provider_calendar_id
                    or before.record != rules.record
                    or before.series != list(rules.series)
                )
                if before.provider_calendar_id != calendar.provider_calendar_id:
                    values["sync_cursor"] = None
                if resync:
                    values["full_sync"] = True
                await connection.execute(
                    calendar_links.update().where(calendar_links.c.id == link_id).values(**values)
                )
                if before.status != calendar.status:
                    replanned = await _status_changed(
                        connection, before, calendar.status, now, forget_bots=forwarding is None
                    )
                resync = resync or forwarding is not None
            if fresh:
                # A new link, or one replacing the link of the profile's previous mechanism: events
                # already asking for the profile (waiting for a link, or for their bot to move to
                # the new mechanism) are planned again.
                for pk in await events_acting_for(connection, await link_by_id(connection, link_id)):
                    await enqueue(connection, pk, now)
                    replanned = True
            if resync:
                await enqueue_job(connection, SYNC, link_id, now)
            saved = link_from_row(
                (
                    await connection.execute(sa.select(calendar_links).where(calendar_links.c.id == link_id))
                ).one()
            )
        if resync or replanned:
            self.on_enqueue()
        return saved, row is None

    async def request_sync(self, link: Link, since: datetime | None) -> None:
        """A webhook said events changed at or after ``since``: sync them (coalesced per link)."""
        now = utcnow()
        async with self.database.write() as connection:
            if since is not None:
                await connection.execute(
                    calendar_links.update()
                    .where(calendar_links.c.id == link.id)
                    .values(
                        sync_from=sa.case(
                            (calendar_links.c.sync_from.is_(None), since),
                            (calendar_links.c.sync_from > since, since),
                            else_=calendar_links.c.sync_from,
                        )
                    )
                )
            await enqueue_job(connection, SYNC, link.id, now)
        self.on_enqueue()

    async def schedule_sync(self, link: Link, at: datetime) -> None:
        """Sync again at ``at`` (providers without change webhooks are polled)."""
        async with self.database.write() as connection:
            await enqueue_job(connection, SYNC, link.id, at)
            await check_lease(connection)  # this and the writes below: a sync job's, fenced (db.fencing)

    async def set_status(
        self, link: Link, status: str, detail: str | None, *, forget_bots: bool = True
    ) -> bool:
        """Record the provider calendar's status; on a change, re-plan the events acting for it."""
        if (status, detail) == (link.status, link.status_detail):
            return False
        now = utcnow()
        async with self.database.write() as connection:
            await connection.execute(
                calendar_links.update()
                .where(calendar_links.c.id == link.id)
                .values(status=status, status_detail=detail, updated_at=now)
            )
            replanned = await _status_changed(connection, link, status, now, forget_bots=forget_bots)
            await check_lease(connection)
        if replanned:
            self.on_enqueue()
        return True

    async def sync_done(
        self,
        link: Link,
        *,
        cursor: datetime | None,
        full: bool,
        sync_from: datetime | None,
        error: str | None,
    ) -> None:
        """Move the cursor; clear what this run covered unless a webhook asked for more meanwhile."""
        now = utcnow()
        values: dict[str, Any] = {"last_synced_at": now, "last_error": error, "updated_at": now}
        if cursor is not None:
            values["sync_cursor"] = sa.case(
                (calendar_links.c.sync_cursor.is_(None), cursor),
                (calendar_links.c.sync_cursor < cursor, cursor),
                else_=calendar_links.c.sync_cursor,
            )
        async with self.database.write() as connection:
            if full:
                # Unless the link was saved again meanwhile (new target or rules: another full sync).
                await connection.execute(
                    calendar_links.update()
                    .where(calendar_links.c.id == link.id, calendar_links.c.updated_at <= link.updated_at)
                    .values(full_sync=False)
                )
            await connection.execute(
                calendar_links.update().where(calendar_links.c.id == link.id).values(**values)
            )
            if sync_from is not None:
                # A later webhook keeps its own (earlier or equal) start: only clear the one we ran from.
                await connection.execute(
                    calendar_links.update()
                    .where(calendar_links.c.id == link.id, calendar_links.c.sync_from == sync_from)
                    .values(sync_from=None)
                )
            await check_lease(connection)

    async def note_error(self, link_id: int, error: str) -> None:
        async with self.database.write() as connection:
            await connection.execute(
                calendar_links.update().where(calendar_links.c.id == link_id).values(last_error=error)
            )
            await check_lease(connection)

    async def delete(self, link: Link) -> int:
        """The local half of unlinking: cancel what acted for the link, retire its external events.

        The provider calendar (and with it its bots) is already gone; returns how many extensions
        were cancelled.
        """
        now, told = utcnow(), 0
        async with self.database.write() as connection:
            pks = await events_acting_for(connection, link)
            if pks:
                # Their bot ids leave the events' metadata too, under each extension's provider.
                before = {
                    (row.event_pk, row.provider): Before(row.status, row.bot_id)
                    for row in await connection.execute(
                        sa.select(
                            event_extensions.c.event_pk,
                            event_extensions.c.provider,
                            event_extensions.c.status,
                            event_extensions.c.bot_id,
                        ).where(event_extensions.c.event_pk.in_(pks), acting_for(link))
                    )
                }
                providers = set(before)
                await connection.execute(
                    event_extensions.update()
                    .where(event_extensions.c.event_pk.in_(pks), acting_for(link))
                    .values(
                        profile_id=NO_PROFILE,
                        status=ExtensionStatus.CANCELLED,
                        bot_id=None,
                        provider_state=None,
                        target_id=None,
                        last_error=f"calendar link to profile {link.profile_id} was removed",
                        updated_at=now,
                    )
                )
                for pk, provider in sorted(providers):
                    metadata = await connection.scalar(sa.select(events.c.metadata).where(events.c.pk == pk))
                    if metadata and provider in metadata:
                        kept = {k: v for k, v in metadata.items() if k != provider}
                        await connection.execute(
                            events.update().where(events.c.pk == pk).values(metadata=kept, updated_at=now)
                        )
                    told += await note_change(connection, pk, provider, before=before[(pk, provider)])
            await connection.execute(
                events.update()
                .where(events.c.link_id == link.id, events.c.deleted.is_(False))
                .values(deleted=True, version=events.c.version + 1, updated_at=now)
            )
            await connection.execute(calendar_links.delete().where(calendar_links.c.id == link.id))
        if told:
            self.on_message()
        return len(pks)
