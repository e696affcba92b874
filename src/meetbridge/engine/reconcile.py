"""One job: load the event, let each extension's adapter act, write back what happened.

Provider facts (bot ids, records of creates under way) are always written, because forgetting a bot
is how doubles happen. Status is written only if the event did not change meanwhile; if it did, the
job was enqueued again and the next run plans against the newer version.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from meetbridge.config.incarnation import incarnation
from meetbridge.config.live import LiveConfig, live
from meetbridge.config.profiles import GatewayConfig
from meetbridge.db.database import Database, Prepared
from meetbridge.db.events import EventRepository, StoredEvent
from meetbridge.db.fencing import check_lease
from meetbridge.db.jobs import enqueue
from meetbridge.db.links import LinkRepository
from meetbridge.db.switching import MigrationLog
from meetbridge.db.tables import event_extensions, events, utcnow
from meetbridge.db.webhook_outbox import Before, note_change
from meetbridge.domain.events import meeting_url_of
from meetbridge.domain.extensions import NO_PROFILE, ExtensionState, ExtensionStatus
from meetbridge.engine.calls import MIGRATION, ProfileCalls, incarnation_of, owner_profile_id, target_id_of
from meetbridge.engine.forwarding.credentials import ForwardingLinks
from meetbridge.engine.switching.moves import Migrator
from meetbridge.observability import logs, metrics
from meetbridge.providers.base import (
    EventSnapshot,
    Outcome,
    ProviderState,
    preset_linker,
)
from meetbridge.providers.registry import AdapterRegistry

# The write-back's statements, compiled once: SQLAlchemy's statement building was the largest item
# of the write-back under cProfile; compiled once, the worker's CPU for 600 bot creates went from
# 4.86 s to 4.55 s, its start included (benchmarks/job_drain.py's setup at 50 ms).
_EVENT_TO_WRITE = Prepared(
    # FOR UPDATE: metadata is read-modify-write and webhooks write it too (PostgreSQL; on SQLite the
    # single writer already serialises).
    sa.select(events.c.version, events.c.metadata)
    .where(events.c.pk == sa.bindparam("event_pk"))
    .with_for_update()
)
_EXTENSION_ROW = sa.and_(  # bind names that are no column's, so an UPDATE does not take them as SETs
    event_extensions.c.event_pk == sa.bindparam("extension_event_pk"),
    event_extensions.c.provider == sa.bindparam("extension_provider"),
)
_EXTENSION_NOW = Prepared(
    sa.select(event_extensions.c.bot_id, event_extensions.c.bot_status, event_extensions.c.status).where(
        _EXTENSION_ROW
    )
)
_UPDATE_EXTENSION = Prepared(event_extensions.update().where(_EXTENSION_ROW))
_UPDATE_METADATA = Prepared(events.update().where(events.c.pk == sa.bindparam("event_pk")))


class _Written(NamedTuple):
    version: int
    metadata: dict[str, Any] | None


class _Current(NamedTuple):
    bot_id: str | None
    bot_status: str | None
    status: str


def snapshot(event: StoredEvent) -> EventSnapshot:
    fields = event.fields
    return EventSnapshot(
        pk=event.pk,
        event_uid=event.event_uid,
        calendar_id=event.calendar_id,
        version=event.version,
        deleted=event.deleted,
        summary=fields.get("summary") or "",
        start_at=event.start_at,
        end_at=event.end_at,
        all_day=len(fields.get("start", "")) == 10,
        meeting_url=meeting_url_of(fields),
        event_id=event.event_id,
        fields=fields,
    )


async def _replan_sharers(
    connection: AsyncConnection, event_pk: int, provider: str, target_id: str, now: datetime
) -> None:
    """This event let go of a provider event others act on too (an external event and a managed
    copy matched to it): Remove Bot took their bot as well, so they forget it and schedule again."""
    sharers = [
        row.event_pk
        for row in await connection.execute(
            sa.select(event_extensions.c.event_pk).where(
                event_extensions.c.target_id == target_id,
                event_extensions.c.provider == provider,
                event_extensions.c.event_pk != event_pk,
            )
        )
    ]
    if not sharers:
        return
    await connection.execute(
        event_extensions.update()
        .where(event_extensions.c.event_pk.in_(sharers), event_extensions.c.provider == provider)
        .values(provider_state=None, bot_id=None, target_id=None)
    )
    for pk in sharers:
        await enqueue(connection, pk, now)


class Reconciler:
    def __init__(
        self, database: Database, config: GatewayConfig | LiveConfig, registry: AdapterRegistry
    ) -> None:
        self.database = database
        self.live = live(config)
        self.registry = registry
        self.events = EventRepository(database)
        self.links = LinkRepository(database)
        self.calls = ProfileCalls(
            database, self.live, registry, self.links, ForwardingLinks(database, self.live, self.links)
        )
        self.migrator = Migrator(self.calls, MigrationLog(database))
        # Called once a write-back that wrote outbound webhook messages has committed.
        self.on_message: Callable[[], None] = lambda: None
        self._ahead: dict[int, StoredEvent] = {}  # the claimed batch's events, read by ``prepare``

    @property
    def config(self) -> GatewayConfig:
        return self.live.current

    async def prepare(self, event_pks: list[int]) -> None:
        """Read a claimed batch's events in one go (the worker calls this after claiming, so each is
        read after its claim, as ``run`` would): one read per job was most of a no-op job's cost."""
        self._ahead = {}  # first: a read that fails leaves no older batch's rows to be taken as fresh
        self._ahead = await self.events.get_many(event_pks)

    async def run(self, event_pk: int) -> None:
        event = self._ahead.pop(event_pk, None) or await self.events.get_by_pk(event_pk)
        if event is None or not event.extensions:
            return  # the row is gone (its calendar was deleted) or asks for nothing: nothing to keep in step
        view = snapshot(event)
        logs.bind(event_uid=event.event_uid)  # runs in the worker's task for this job
        for extension in event.extensions:
            outcome = await self._reconcile(view, extension)
            await self._write_back(
                view, extension.provider, outcome, extension.provider_state, extension.profile_id
            )

    async def _reconcile(self, event: EventSnapshot, extension: ExtensionState) -> Outcome:
        state = extension.provider_state
        owner = owner_profile_id(state)
        wanted = extension.profile_id if extension.profile_id != NO_PROFILE and not event.deleted else None
        if owner is not None and owner == wanted:
            current = self.config.profiles.get(wanted)
            made_under = incarnation_of(state)
            if current is not None and made_under is not None and made_under != incarnation(current):
                # The operator switched this profile's mechanism: move the bot, make before break.
                return await self.migrator.move(event, extension, current)
        if MIGRATION in (state or {}):
            # A move that will not finish now (switched back, another profile, none, deleted).
            state = await self.migrator.abandon(event, extension)
        if owner is not None and owner != wanted:
            # The bot belongs to another profile (or none is wanted): its own adapter cancels it.
            # Moving to another profile, a forwarded copy goes too: the other mechanism takes over.
            cancelled = await self._call(
                owner,
                event,
                extension.provider,
                want_bot=False,
                state=state,
                released=extension.released and wanted is None,
                drop_copy=wanted is not None,
            )
            if wanted is None or cancelled.provider_state:
                return cancelled
            state = None
        if wanted is None:
            preset = await self._preset_profile(event) if owner is None else None
            if preset is not None:
                # No bot of ours, but the provider records by its own preferences: "none" must say so.
                return await self._call(
                    preset,
                    event,
                    extension.provider,
                    want_bot=False,
                    state=state,
                    released=extension.released,
                )
            return Outcome(status=ExtensionStatus.CANCELLED)
        return await self._call(wanted, event, extension.provider, want_bot=True, state=state)

    async def _preset_profile(self, event: EventSnapshot) -> str | None:
        """The profile of a link on the event's calendar whose provider records by preferences."""
        for link in await self.links.of_calendar(event.calendar_id):
            profile = self.config.profiles.get(link.profile_id)
            if (
                profile is not None
                and link.serves(profile.adapter)
                and preset_linker(self.registry.adapter(profile)) is not None
            ):
                return profile.profile_id
        return None

    async def _call(
        self,
        profile_id: str,
        event: EventSnapshot,
        provider: str,
        *,
        want_bot: bool,
        state: ProviderState | None,
        released: bool = False,
        drop_copy: bool = False,
    ) -> Outcome:
        profile = await self.calls.profile_of(profile_id, state)
        if isinstance(profile, str):
            return Outcome(status=ExtensionStatus.FAILED, last_error=profile, provider_state=state)
        return await self.calls.call_profile(
            profile, event, provider, want_bot=want_bot, state=state, released=released, drop_copy=drop_copy
        )

    async def _write_back(
        self,
        event: EventSnapshot,
        provider: str,
        outcome: Outcome,
        previous_state: ProviderState | None,
        profile_id: str = NO_PROFILE,
    ) -> None:
        now = utcnow()
        extension = {"extension_event_pk": event.pk, "extension_provider": provider}
        async with self.database.write() as connection:
            found = await _EVENT_TO_WRITE.rows(connection, {"event_pk": event.pk})
            if not found:
                return
            row = _Written(*found[0])
            await check_lease(connection)  # a worker that lost the job writes nothing over the new owner
            extensions = await _EXTENSION_NOW.rows(connection, extension)
            current = _Current(*extensions[0]) if extensions else None
            same_bot = current is not None and current.bot_id == outcome.bot_id
            values: dict[str, Any] = {
                "provider_state": outcome.provider_state,
                "bot_id": outcome.bot_id,
                "target_id": target_id_of(outcome.provider_state),
            }
            if not same_bot:
                values["bot_status"] = None  # a new bot (or none): the old one's reports no longer apply
            # A bot Recall reported fatal stays failed: an unrelated edit must not call it scheduled.
            fatal = same_bot and current is not None and current.bot_status == "fatal"
            if row.version == event.version and not (fatal and outcome.status == ExtensionStatus.SCHEDULED):
                values.update(status=outcome.status, last_error=outcome.last_error, updated_at=now)
            metrics.extension_written(
                *self._labels(owner_profile_id(outcome.provider_state or previous_state) or profile_id),
                bot_before=(previous_state or {}).get("bot_id"),  # the row may hold mid-call saves
                bot_after=outcome.bot_id,
                state_changed=outcome.provider_state != previous_state,
                failed_now=values.get("status") == ExtensionStatus.FAILED
                and (current is None or current.status != ExtensionStatus.FAILED),
                last_error=outcome.last_error,
            )
            await _UPDATE_EXTENSION.rows(connection, {**extension, **values})
            released = target_id_of(previous_state)
            if released and released != values["target_id"]:
                await _replan_sharers(connection, event.pk, provider, released, now)
            metadata = dict(row.metadata or {})
            recall = dict(metadata.get(provider) or {})
            if outcome.bot_id:
                if recall.get("bot_id") != outcome.bot_id:
                    recall = {"bot_id": outcome.bot_id}
            else:
                recall = {}
            if recall:
                metadata[provider] = recall
            else:
                metadata.pop(provider, None)
            if metadata != (row.metadata or {}):
                await _UPDATE_METADATA.rows(
                    connection, {"event_pk": event.pk, "metadata": metadata, "updated_at": now}
                )
            owner = self.config.profiles.get(owner_profile_id(outcome.provider_state) or "")
            told = await note_change(
                connection,
                event.pk,
                provider,
                before=Before(current.status, current.bot_id) if current else None,
                adapter=owner.adapter if owner else None,
            )
        if told:
            self.on_message()

    def _labels(self, profile_id: str) -> tuple[str, str]:
        """(profile, adapter) for metrics: configured names only, so the label sets stay bounded."""
        profile = self.config.profiles.get(profile_id)
        return (profile_id, profile.adapter) if profile else ("none", "none")

    async def fail(self, event_pk: int, reason: str) -> None:
        """The worker gave up: say so on the event's extensions.

        Not only pending ones: a refused move of a scheduled bot must show on the event too.
        """
        async with self.database.write() as connection:
            before: dict[str, Before] = {}
            for row in await connection.execute(
                sa.select(
                    event_extensions.c.provider,
                    event_extensions.c.profile_id,
                    event_extensions.c.status,
                    event_extensions.c.bot_id,
                ).where(event_extensions.c.event_pk == event_pk)
            ):
                before[row.provider] = Before(row.status, row.bot_id)
                if row.status != ExtensionStatus.FAILED:
                    metrics.extension_failed(*self._labels(row.profile_id), reason)
            await connection.execute(
                event_extensions.update()
                .where(event_extensions.c.event_pk == event_pk)
                .values(status=ExtensionStatus.FAILED, last_error=reason, updated_at=utcnow())
            )
            told = sum([await note_change(connection, event_pk, p, before=b) for p, b in before.items()])
            await check_lease(connection)
        if told:
            self.on_message()

    async def note_retry(self, event_pk: int, error: str, delay: float) -> None:
        """While retrying, the event says what went wrong and when the next try is."""
        async with self.database.write() as connection:
            await connection.execute(
                event_extensions.update()
                .where(event_extensions.c.event_pk == event_pk)
                .values(last_error=f"{error} (retrying in {delay:.0f}s)")
            )
            await check_lease(connection)
