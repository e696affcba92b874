"""Storing a page of provider events as a link's external events, with its recording rule applied.

Only what changed is written and re-planned: an event whose stored fields, times, deletion and rule
decision are unchanged costs one read. A rule attaches the link's profile as an extension of origin
"rule" and takes it away again; an extension the app set itself (origin "app") is never touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from meetbridge.db.database import Database
from meetbridge.db.fencing import check_lease
from meetbridge.db.ids import new_id
from meetbridge.db.jobs import enqueue
from meetbridge.db.links import Link
from meetbridge.db.tables import event_extensions, events, utcnow
from meetbridge.domain.extensions import NO_PROFILE, ExtensionStatus
from meetbridge.domain.recording_rules import RuleDecision
from meetbridge.providers.base import ProviderEvent

APP, RULE = "app", "rule"

Decide = Callable[[ProviderEvent], RuleDecision]


def _rule_json(decision: RuleDecision) -> dict[str, Any]:
    return {"record": decision.record, "rule": decision.rule, "reason": decision.reason}


async def _rule_extension(
    connection: AsyncConnection, pk: int, link: Link, provider: str, record: bool, now: datetime
) -> bool:
    """Attach or release the rule's extension (of ``provider``, the one the link's adapter serves);
    True when the extension row changed."""
    row = (
        await connection.execute(
            sa.select(
                event_extensions.c.profile_id,
                event_extensions.c.origin,
                event_extensions.c.bot_id,
                event_extensions.c.provider_state,
            ).where(event_extensions.c.event_pk == pk, event_extensions.c.provider == provider)
        )
    ).first()
    if row is not None and row.origin == APP:
        return False  # the app said what it wants for this event; rules do not overrule it
    wanted = link.profile_id if record else NO_PROFILE
    if row is None:
        if not record:
            return False
        await connection.execute(
            event_extensions.insert().values(
                event_pk=pk,
                provider=provider,
                profile_id=wanted,
                status=ExtensionStatus.PENDING,
                origin=RULE,
                updated_at=now,
            )
        )
        return True
    if row.profile_id == wanted:
        return False
    holds = row.bot_id is not None or bool(row.provider_state)
    status = ExtensionStatus.PENDING if record or holds else ExtensionStatus.CANCELLED
    await connection.execute(
        event_extensions.update()
        .where(event_extensions.c.event_pk == pk, event_extensions.c.provider == provider)
        .values(profile_id=wanted, status=status, last_error=None, updated_at=now)
    )
    return True


class SyncedEventStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.on_enqueue: Callable[[], None] = lambda: None

    async def apply(
        self,
        link: Link,
        page: Iterable[ProviderEvent],
        decide: Decide,
        *,
        provider: str,
        attach: bool = True,
    ) -> set[str]:
        """Store one page; returns the provider ids of the events that changed.

        ``provider``: the extensions provider the link's adapter serves (the rules attach those).
        ``attach`` False: the decision is only shown (the provider records by its own preferences).
        """
        page = list(page)
        if not page:
            return set()
        now = utcnow()
        changed: set[str] = set()
        enqueued = False
        async with self.database.write() as connection:
            existing = {
                row.source_id: row
                for row in await connection.execute(
                    sa.select(
                        events.c.pk,
                        events.c.source_id,
                        events.c.fields,
                        events.c.start_at,
                        events.c.end_at,
                        events.c.deleted,
                        events.c.ical_uid,
                        events.c.rule,
                        events.c.link_id,
                    ).where(
                        events.c.calendar_id == link.calendar_id,
                        events.c.source_id.in_([event.provider_event_id for event in page]),
                    )
                )
            }
            for event in page:
                decision = decide(event)
                values: dict[str, Any] = {
                    "fields": event.fields,
                    "start_at": event.start_at,
                    "end_at": event.end_at,
                    "deleted": event.deleted,
                    "ical_uid": event.ical_uid,
                    "rule": _rule_json(decision),
                    "link_id": link.id,
                }
                before = existing.get(event.provider_event_id)
                if before is None:
                    pk = (
                        await connection.execute(
                            events.insert()
                            .values(
                                calendar_id=link.calendar_id,
                                event_id=None,
                                event_uid=new_id("evt_external_"),
                                source_id=event.provider_event_id,
                                version=1,
                                metadata={},
                                created_at=now,
                                updated_at=now,
                                **values,
                            )
                            .returning(events.c.pk)
                        )
                    ).scalar_one()
                elif any(getattr(before, key) != value for key, value in values.items()):
                    pk = before.pk
                    await connection.execute(
                        events.update()
                        .where(events.c.pk == pk)
                        .values(version=events.c.version + 1, updated_at=now, **values)
                    )
                else:
                    continue
                changed.add(event.provider_event_id)
                if attach:
                    await _rule_extension(
                        connection, pk, link, provider, decision.record and not event.deleted, now
                    )
                has_extension = await connection.scalar(
                    sa.select(sa.func.count())
                    .select_from(event_extensions)
                    .where(event_extensions.c.event_pk == pk)
                )
                if has_extension:
                    await enqueue(connection, pk, now)
                    enqueued = True
            # A sync job that lost its lease would store what it listed before the new owner's newer listing.
            await check_lease(connection)
        if enqueued:
            self.on_enqueue()
        return changed

    async def retire_missing(
        self, link: Link, seen: set[str], start_from: datetime, start_to: datetime
    ) -> set[str]:
        """A complete listing of [start_from, start_to) left these out: they were deleted at the provider."""
        now = utcnow()
        async with self.database.write() as connection:
            gone = list(
                await connection.execute(
                    sa.select(events.c.pk, events.c.source_id).where(
                        events.c.link_id == link.id,
                        events.c.deleted.is_(False),
                        events.c.start_at >= start_from,
                        events.c.start_at < start_to,
                        events.c.source_id.not_in(sorted(seen)),
                    )
                )
            )
            for row in gone:
                await connection.execute(
                    events.update()
                    .where(events.c.pk == row.pk)
                    .values(deleted=True, version=events.c.version + 1, updated_at=now)
                )
                has_extension = await connection.scalar(
                    sa.select(sa.func.count())
                    .select_from(event_extensions)
                    .where(event_extensions.c.event_pk == row.pk)
                )
                if has_extension:
                    await enqueue(connection, row.pk, now)
            await check_lease(connection)  # its listing may predate events the new owner stored
        if gone:
            self.on_enqueue()
        return {row.source_id for row in gone}

    async def replan_matched(self, link: Link, changed: set[str]) -> int:
        """After a sync: re-plan managed events matched to a changed event, and those still waiting
        for one (awaiting_sync, or a bot moving here from the profile's previous mechanism).

        Pending ones too: a job may be reconciling one right now with a view from before this sync's
        events were stored, and will write awaiting_sync after this query ran. Enqueueing it while it
        runs makes the job run again (store.py), so it cannot wait for a sync that already happened.
        """
        now = utcnow()
        waiting = sa.and_(
            event_extensions.c.profile_id == link.profile_id,
            sa.or_(
                event_extensions.c.status == ExtensionStatus.AWAITING_SYNC,
                event_extensions.c.status == ExtensionStatus.PENDING,
                sa.and_(
                    event_extensions.c.target_id.is_(None),
                    event_extensions.c.status == ExtensionStatus.SCHEDULED,
                ),
            ),
        )
        condition = waiting
        if changed:
            condition = sa.or_(waiting, event_extensions.c.target_id.in_(sorted(changed)))
        async with self.database.write() as connection:
            pks = [
                row.pk
                for row in await connection.execute(
                    sa.select(events.c.pk)
                    .join(event_extensions, event_extensions.c.event_pk == events.c.pk)
                    .where(
                        events.c.calendar_id == link.calendar_id,
                        events.c.event_id.is_not(None),
                        condition,  # names the link's profile: the provider goes with it
                    )
                )
            ]
            for pk in pks:
                await enqueue(connection, pk, now)
            await check_lease(connection)
        if pks:
            self.on_enqueue()
        return len(pks)
