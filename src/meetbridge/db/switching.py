"""Switching profiles: the incarnations each profile has had, and the audit trail of moving bots."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from meetbridge.config.catalogue import Catalogue
from meetbridge.config.incarnation import incarnation
from meetbridge.config.profiles import GatewayConfig, Profile, parse_config
from meetbridge.db.database import Database
from meetbridge.db.jobs import enqueue
from meetbridge.db.tables import event_extensions, events, migration_steps, profile_incarnations, utcnow
from meetbridge.errors import ConfigError


class MigrationStep(msgspec.Struct, frozen=True, kw_only=True):
    profile_id: str
    from_adapter: str
    to_adapter: str
    old_bot_id: str | None
    new_bot_id: str | None
    outcome: str  # moved | kept | waiting | failed
    detail: str | None = None
    at: datetime | None = None


def _latest(profile_id: str) -> sa.Select[Any]:
    """The incarnation a profile was last configured with."""
    return (
        sa.select(profile_incarnations.c.incarnation)
        .where(profile_incarnations.c.profile_id == profile_id)
        .order_by(profile_incarnations.c.last_seen_at.desc())
        .limit(1)
    )


# pg_advisory_xact_lock key while recording the configuration: any fixed bigint ("mbincr").
RECORD_LOCK_KEY = 0x6D62696E6372


class IncarnationStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.on_enqueue: Callable[[], None] = lambda: None

    async def record(self, config: GatewayConfig) -> list[str]:
        """Remember the profiles as configured now; returns the ids whose incarnation changed since
        the last configuration recorded (their future events are re-planned: they move)."""
        now = utcnow()
        changed: list[str] = []
        async with self.database.write() as connection:
            if not self.database.is_sqlite:
                # Replicas starting together take turns (the others then find these rows recorded);
                # held to the end of the transaction. SQLite's single writer already serialises.
                await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(RECORD_LOCK_KEY)))
            for profile in config.profiles.values():
                current = incarnation(profile)
                latest = await connection.scalar(_latest(profile.profile_id))
                if latest is not None and latest != current:
                    changed.append(profile.profile_id)
                exists = await connection.scalar(
                    sa.select(sa.func.count())
                    .select_from(profile_incarnations)
                    .where(profile_incarnations.c.incarnation == current)
                )
                values = {"source": profile.source, "last_seen_at": now, "adapter": profile.adapter}
                if exists:
                    await connection.execute(
                        profile_incarnations.update()
                        .where(profile_incarnations.c.incarnation == current)
                        .values(**values)
                    )
                else:
                    await connection.execute(
                        profile_incarnations.insert().values(
                            incarnation=current, profile_id=profile.profile_id, first_seen_at=now, **values
                        )
                    )
            replanned = await self._replan(connection, changed, now)
        if replanned:
            self.on_enqueue()
        return changed

    async def _replan(self, connection: AsyncConnection, profile_ids: Iterable[str], now: datetime) -> int:
        ids = list(profile_ids)
        if not ids:
            return 0
        rows = await connection.execute(
            sa.select(events.c.pk)
            .join(event_extensions, event_extensions.c.event_pk == events.c.pk)
            .where(
                event_extensions.c.profile_id.in_(ids),  # a profile's adapter serves one provider
                events.c.deleted.is_(False),
                events.c.end_at > now,
            )
        )
        pks = [row.pk for row in rows]
        for pk in pks:
            await enqueue(connection, pk, now)
        return len(pks)

    async def latest(self, profile_id: str) -> str | None:
        async with self.database.read() as connection:
            found: str | None = await connection.scalar(_latest(profile_id))
        return found

    async def made_under(
        self, fingerprint: str | None, current: Profile, catalogue: Catalogue
    ) -> Profile | str:
        """The profile a record stamped ``fingerprint`` was made under: ``current`` unless the
        operator switched since (unstamped records predate switching: made under ``current``)."""
        if fingerprint is None or fingerprint == incarnation(current):
            return current
        return await self.profile(fingerprint, catalogue)

    async def profile(self, fingerprint: str, catalogue: Catalogue) -> Profile | str:
        """The profile as it was in that incarnation (secrets read from the environment now), or
        why it cannot be rebuilt."""
        async with self.database.read() as connection:
            row = (
                await connection.execute(
                    sa.select(profile_incarnations).where(profile_incarnations.c.incarnation == fingerprint)
                )
            ).first()
        if row is None:
            return f"the configuration its bot was made under ({fingerprint}) is not recorded"
        try:
            config = parse_config({"profiles": {row.profile_id: dict(row.source)}}, catalogue)
        except ConfigError as exc:
            return f"its earlier configuration cannot be used any more: {'; '.join(exc.problems)}"
        return config.profiles[row.profile_id]


class MigrationLog:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def note(self, event_pk: int, step: MigrationStep) -> bool:
        """Record a step unless it repeats the event's last one; True if recorded."""
        async with self.database.write() as connection:
            last = (
                await connection.execute(
                    sa.select(migration_steps)
                    .where(migration_steps.c.event_pk == event_pk)
                    .order_by(migration_steps.c.id.desc())
                    .limit(1)
                )
            ).first()
            same = last is not None and (
                last.outcome,
                last.to_adapter,
                last.old_bot_id,
                last.new_bot_id,
                last.detail,
            ) == (step.outcome, step.to_adapter, step.old_bot_id, step.new_bot_id, step.detail)
            if same:
                return False
            values = msgspec.structs.asdict(step)
            values["at"] = step.at or utcnow()
            await connection.execute(migration_steps.insert().values(event_pk=event_pk, **values))
        return True

    async def of_event(self, event_pk: int) -> list[MigrationStep]:
        async with self.database.read() as connection:
            rows = await connection.execute(
                sa.select(migration_steps)
                .where(migration_steps.c.event_pk == event_pk)
                .order_by(migration_steps.c.id)
            )
            return [
                MigrationStep(
                    profile_id=row.profile_id,
                    from_adapter=row.from_adapter,
                    to_adapter=row.to_adapter,
                    old_bot_id=row.old_bot_id,
                    new_bot_id=row.new_bot_id,
                    outcome=row.outcome,
                    detail=row.detail,
                    at=row.at,
                )
                for row in rows
            ]
