"""The migration plan of a profile: for each future event carrying it, what switching the profile to
its configured mechanism will do (or is doing), and the provider calls a dry run prints.

The same planner answers ``GET /v1/profiles/{profile_id}/migration`` (the running configuration)
and ``meetbridge profiles diff`` (a configuration file not loaded yet). It reads; it calls nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import msgspec
import sqlalchemy as sa

from meetbridge.config.catalogue import load_catalogue
from meetbridge.config.incarnation import incarnation
from meetbridge.config.profiles import GatewayConfig, Profile
from meetbridge.db.database import Database
from meetbridge.db.links import LinkRepository
from meetbridge.db.matching import find_target
from meetbridge.db.switching import IncarnationStore
from meetbridge.db.tables import calendars, event_extensions, events, utcnow
from meetbridge.engine.calls import MIGRATION, incarnation_of
from meetbridge.providers.registry import AdapterRegistry
from meetbridge.settings import Settings

Action = Literal["move", "keep", "cannot_move"]


class PlannedEvent(msgspec.Struct, kw_only=True):
    calendar_id: str
    event_id: str | None
    event_uid: str
    start: datetime
    from_adapter: str | None  # None: no bot yet
    to_adapter: str
    old_bot_id: str | None
    action: Action
    reason: str | None = None
    calls: list[str] = msgspec.field(default_factory=list)


class MigrationPlan(msgspec.Struct, kw_only=True):
    profile_id: str
    adapter: str
    events: list[PlannedEvent]

    def count(self, action: Action) -> int:
        return sum(1 for event in self.events if event.action == action)


class Planner:
    def __init__(self, database: Database, registry: AdapterRegistry) -> None:
        self.database = database
        self.registry = registry
        self.links = LinkRepository(database)
        self.incarnations = IncarnationStore(database)

    async def plan(
        self,
        config: GatewayConfig,
        profile_id: str,
        *,
        application_id: str | None = None,
        now: datetime | None = None,
    ) -> MigrationPlan:
        """What moving ``profile_id``'s bots to ``config``'s mechanism involves, event by event
        (one application's events only, when given)."""
        now = now or utcnow()
        profile = config.profiles[profile_id]
        target = incarnation(profile)
        window = timedelta(seconds=config.server.migration_window_seconds)
        recorded = await self.incarnations.latest(profile_id)
        query = (
            sa.select(
                events.c.pk,
                events.c.calendar_id,
                events.c.event_id,
                events.c.event_uid,
                events.c.start_at,
                event_extensions.c.bot_id,
                event_extensions.c.provider_state,
            )
            .join(event_extensions, event_extensions.c.event_pk == events.c.pk)
            .where(
                event_extensions.c.profile_id == profile_id,  # its adapter serves one provider
                events.c.deleted.is_(False),
                events.c.end_at > now,
            )
            .order_by(events.c.start_at, events.c.pk)
        )
        if application_id is not None:
            mine = sa.select(calendars.c.id).where(calendars.c.application_id == application_id)
            query = query.where(events.c.calendar_id.in_(mine.scalar_subquery()))
        async with self.database.read() as connection:
            rows = (await connection.execute(query)).all()
        planned: list[PlannedEvent] = []
        for row in rows:
            state = dict(row.provider_state or {})
            made_under = incarnation_of(state) or recorded
            if not state or made_under == target:
                continue  # no bot yet (the new mechanism simply makes one), or already moved
            old = (
                await self.incarnations.made_under(made_under, profile, self.registry.catalogue)
                if made_under
                else "made before switching was recorded"
            )
            entry = PlannedEvent(
                calendar_id=row.calendar_id,
                event_id=row.event_id,
                event_uid=row.event_uid,
                start=row.start_at,
                from_adapter=old.adapter if isinstance(old, Profile) else None,
                to_adapter=profile.adapter,
                old_bot_id=row.bot_id,
                action="move",
            )
            if MIGRATION in state and (state[MIGRATION] or {}).get("to") == target:
                entry.reason = "under way: the new bot is made, waiting to be confirmed"
            if row.bot_id and row.start_at - now < window:
                minutes = int(window.total_seconds() // 60)
                entry.action = "keep"
                entry.reason = f"starts within the {minutes}-minute safety window: keeps its bot"
            elif isinstance(old, str):
                entry.action, entry.reason = "cannot_move", old
            else:
                blocked = await self._blocked(row.pk, row.calendar_id, profile)
                if blocked:
                    entry.action, entry.reason = "cannot_move", blocked
            if entry.action == "move":
                entry.calls = await self._calls(row.pk, entry, profile, old, state)
            planned.append(entry)
        return MigrationPlan(profile_id=profile_id, adapter=profile.adapter, events=planned)

    async def _blocked(self, pk: int, calendar_id: str, profile: Profile) -> str | None:
        """Why the new mechanism cannot take the event yet (None: it can)."""
        adapter = self.registry.adapter(profile)
        if not (adapter.capabilities.links_calendars or adapter.capabilities.forwards):
            return None
        link = await self.links.for_mechanism(calendar_id, profile.profile_id, profile.adapter)
        if link is None:
            return (
                f"calendar {calendar_id} is not linked for profile {profile.profile_id} under "
                f"{profile.adapter}: PUT /v1/calendars/{calendar_id}/links/{profile.profile_id} first"
            )
        if link.status == "disconnected":
            return f"the link of calendar {calendar_id} is disconnected ({link.status_detail or 'no detail'})"
        if adapter.capabilities.links_calendars and await find_target(self.database, pk, link) is None:
            return "no event of the linked calendar matches it (by ical_uid, or meeting link and start)"
        return None

    async def _calls(
        self, pk: int, entry: PlannedEvent, new: Profile, old: Profile | str | None, state: dict[str, object]
    ) -> list[str]:
        calls = [await self._call(pk, entry, new, "make", {})]
        if isinstance(old, Profile) and (entry.old_bot_id or state):
            calls.append(await self._call(pk, entry, old, "cancel", state))
        return calls

    async def _call(
        self, pk: int, entry: PlannedEvent, profile: Profile, kind: str, state: dict[str, object]
    ) -> str:
        adapter = self.registry.adapter(profile)
        target: object = state.get("provider_event_id") or state.get("calendar") or ""
        link = await self.links.find(entry.calendar_id, profile.profile_id)
        if not target and link is not None:
            found = (
                await find_target(self.database, pk, link) if adapter.capabilities.links_calendars else None
            )
            target = found.source_id if found else link.provider_calendar_id
        return adapter.calls[kind].format(
            base_url=profile.base_url,
            target=target or "?",
            bot_id=entry.old_bot_id or "?",
            event_id=entry.event_id or entry.event_uid,
            start=entry.start.isoformat(),
            upstream=getattr(profile.options, "upstream_profile_id", ""),
        )


async def plans_for(settings: Settings, config: GatewayConfig, profile_ids: list[str]) -> list[MigrationPlan]:
    """The plans of a configuration not loaded yet, against the database the gateway uses."""
    database = Database(settings.database_url)
    registry = AdapterRegistry(load_catalogue(settings.catalogue_dir))
    try:
        planner = Planner(database, registry)
        return [await planner.plan(config, profile_id) for profile_id in profile_ids]
    finally:
        await registry.aclose()
        await database.dispose()


def plan_lines(plan: MigrationPlan, *, dry_run: bool) -> list[str]:
    head = f"profile {plan.profile_id} → {plan.adapter}"
    if not plan.events:
        return [f"{head}: nothing to move"]
    lines = [
        f"{head}: {plan.count('move')} to move, {plan.count('keep')} kept (safety window), "
        f"{plan.count('cannot_move')} cannot move"
    ]
    for event in plan.events:
        name = f"{event.calendar_id}/{event.event_id or event.event_uid}"
        bot = f" bot {event.old_bot_id}" if event.old_bot_id else ""
        reason = f": {event.reason}" if event.reason else ""
        lines.append(
            f"  {event.action:<11} {name} at {event.start.isoformat()} "
            f"{event.from_adapter or '?'}{bot} → {event.to_adapter}{reason}"
        )
        if dry_run:
            lines += [f"      {call}" for call in event.calls]
    return lines
