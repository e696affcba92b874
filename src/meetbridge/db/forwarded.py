"""Forwarding links (Cronofy): the bot ids the upstream service reports, and the link's credentials.

Reports are stored in ``event_extensions.reported_bot_id``, a column only this module writes, and the
event is re-planned: the reconciler turns the report into the extension's bot id and
``metadata.recall.bot_id``, through the same write-back as every adapter's outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import sqlalchemy as sa

from meetbridge.db.database import Database
from meetbridge.db.fencing import check_lease
from meetbridge.db.jobs import enqueue
from meetbridge.db.link_rows import link_from_row
from meetbridge.db.links import Link
from meetbridge.db.tables import calendar_links, event_extensions, events, utcnow
from meetbridge.providers.audit import Forwarded
from meetbridge.providers.base import ReportedBot


class ForwardedEvents:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.on_enqueue: Callable[[], None] = lambda: None

    async def record_reports(self, link: Link, reports: Sequence[ReportedBot], provider: str) -> int:
        """Store what changed in the extensions of ``provider`` (the one the link's adapter serves);
        returns how many events were re-planned for it."""
        by_event_id = {report.event_id: report.bot_id for report in reports}
        if not by_event_id:
            return 0
        now = utcnow()
        changed = 0
        async with self.database.write() as connection:
            rows = await connection.execute(
                sa.select(
                    events.c.pk,
                    events.c.event_id,
                    event_extensions.c.profile_id,
                    event_extensions.c.provider_state,
                    event_extensions.c.reported_bot_id,
                )
                .join(event_extensions, event_extensions.c.event_pk == events.c.pk)
                .where(
                    events.c.calendar_id == link.calendar_id,
                    events.c.event_id.in_(list(by_event_id)),
                    event_extensions.c.provider == provider,
                )
            )
            for row in rows.all():
                forwarded_by = (row.provider_state or {}).get("profile_id")
                if link.profile_id not in (forwarded_by, row.profile_id):
                    continue  # another mechanism acts for this event; the copy is not ours
                reported = by_event_id[row.event_id]
                if reported == row.reported_bot_id:
                    continue
                await connection.execute(
                    event_extensions.update()
                    .where(event_extensions.c.event_pk == row.pk, event_extensions.c.provider == provider)
                    .values(reported_bot_id=reported)
                )
                await enqueue(connection, row.pk, now)
                changed += 1
            await check_lease(connection)  # a read-back that lost its lease writes no older report
        if changed:
            self.on_enqueue()
        return changed

    async def audited(
        self, profile_id: str, provider: str, now: datetime
    ) -> list[tuple[Link, dict[str, Forwarded]]]:
        """The drift audit: the profile's links, each with the events not yet ended that the profile
        forwarded to it (its record names the profile), by the app's event id."""
        async with self.database.read() as connection:
            found = await connection.execute(
                sa.select(calendar_links).where(calendar_links.c.profile_id == profile_id)
            )
            links = [link_from_row(row) for row in found]
            rows = await connection.execute(
                sa.select(
                    events.c.calendar_id,
                    events.c.event_id,
                    events.c.event_uid,
                    events.c.deleted,
                    event_extensions.c.profile_id,
                    event_extensions.c.bot_id,
                    event_extensions.c.provider_state,
                )
                .join(event_extensions, event_extensions.c.event_pk == events.c.pk)
                .where(
                    events.c.calendar_id.in_([link.calendar_id for link in links]),
                    events.c.event_id.is_not(None),
                    events.c.end_at > now,
                    event_extensions.c.provider == provider,
                )
            )
            by_calendar: dict[str, dict[str, Forwarded]] = {}
            for row in rows:
                if (row.provider_state or {}).get("profile_id") != profile_id:
                    continue  # never forwarded by this profile: a copy of it upstream is not ours
                by_calendar.setdefault(row.calendar_id, {})[row.event_id] = Forwarded(
                    event_uid=row.event_uid,
                    bot_id=row.bot_id,
                    wants_bot=row.profile_id == profile_id and not row.deleted,
                )
        return [(link, by_calendar.get(link.calendar_id, {})) for link in links]

    async def reported_bot_id(self, event_pk: int, provider: str) -> str | None:
        async with self.database.read() as connection:
            found: str | None = await connection.scalar(
                sa.select(event_extensions.c.reported_bot_id).where(
                    event_extensions.c.event_pk == event_pk, event_extensions.c.provider == provider
                )
            )
        return found

    async def credentials(self, link_id: int) -> str | None:
        async with self.database.read() as connection:
            sealed: str | None = await connection.scalar(
                sa.select(calendar_links.c.credentials).where(calendar_links.c.id == link_id)
            )
        return sealed

    async def save_credentials(self, link_id: int, generation: str, stored: str) -> None:
        """One UPDATE: the rotated refresh token replaces the old one atomically, unless the link
        was made again meanwhile (another generation: those credentials are the live ones)."""
        async with self.database.write() as connection:
            await connection.execute(
                calendar_links.update()
                .where(
                    calendar_links.c.id == link_id,
                    calendar_links.c.credentials.startswith(f"{generation}.", autoescape=True),
                )
                .values(credentials=stored)
            )
