"""One job: load the event, let each extension's adapter act, write back what happened.

Provider facts (bot ids, records of creates under way) are always written, because forgetting a bot
is how doubles happen. Status is written only if the event did not change meanwhile; if it did, the
job was enqueued again and the next run plans against the newer version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from meetbridge.config.incarnation import incarnation
from meetbridge.config.live import LiveConfig, live
from meetbridge.config.profiles import GatewayConfig, Profile
from meetbridge.config.sealing import SealError
from meetbridge.db.database import Database
from meetbridge.db.events import EventRepository, StoredEvent
from meetbridge.db.links import LinkRepository
from meetbridge.db.matching import find_target
from meetbridge.db.switching import IncarnationStore, MigrationLog
from meetbridge.db.tables import event_extensions, events, utcnow
from meetbridge.domain.events import meeting_url_of
from meetbridge.domain.extensions import NO_PROFILE, ExtensionState, ExtensionStatus
from meetbridge.errors import ProviderAuthRevoked
from meetbridge.forwarding import ForwardingLinks, forwarder_of
from meetbridge.outbox.migrate import (
    MIGRATION,
    Migrator,
    adapter_state,
    incarnation_of,
    stamp,
    stamp_state,
)
from meetbridge.outbox.store import enqueue
from meetbridge.providers.base import (
    EventSnapshot,
    ForwardTarget,
    LinkedEvent,
    Outcome,
    PresetLinker,
    ProviderState,
    SaveState,
)
from meetbridge.providers.registry import AdapterRegistry


class AdapterFailure(Exception):
    """An adapter call failed; carries which adapter, so the worker applies that adapter's budget."""

    def __init__(self, adapter: str, error: BaseException) -> None:
        self.adapter = adapter
        self.error = error
        super().__init__(str(error))


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


def _target_id(state: ProviderState | None) -> str | None:
    target = (state or {}).get("provider_event_id")
    return str(target) if target else None


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


def _relink_message(calendar_id: str, profile_id: str, detail: str | None) -> str:
    reason = f": {detail}" if detail else ""
    return (
        f"the link of calendar {calendar_id} for profile {profile_id} is disconnected{reason}; "
        f"PUT /v1/calendars/{calendar_id}/links/{profile_id} again with new access_token and refresh_token"
    )


def owner_profile_id(state: ProviderState | None) -> str | None:
    """The profile under which the provider objects in ``state`` were made."""
    if not state:
        return None
    owner = state.get("profile_id") or (state.get("intended") or {}).get("profile_id")
    return str(owner) if owner else None


class Reconciler:
    def __init__(
        self, database: Database, config: GatewayConfig | LiveConfig, registry: AdapterRegistry
    ) -> None:
        self.database = database
        self.live = live(config)
        self.registry = registry
        self.events = EventRepository(database)
        self.links = LinkRepository(database)
        self.forwarding = ForwardingLinks(database, config, self.links)
        self.incarnations = IncarnationStore(database)
        self.migrator = Migrator(self, MigrationLog(database))

    @property
    def config(self) -> GatewayConfig:
        return self.live.current

    async def run(self, event_pk: int) -> None:
        event = await self.events.get_by_pk(event_pk)
        if event is None:
            return  # the event row is gone (its calendar was deleted); nothing to keep in step
        view = snapshot(event)
        for extension in event.extensions:
            outcome = await self._reconcile(view, extension)
            await self._write_back(view, extension.provider, outcome, extension.provider_state)

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
                and isinstance(self.registry.adapter(profile), PresetLinker)
            ):
                return profile.profile_id
        return None

    async def profile_of(self, profile_id: str, state: ProviderState | None) -> Profile | str:
        """The profile as it was when ``state``'s provider objects were made, or why it is gone."""
        profile = self.config.profiles.get(profile_id)
        if profile is None:
            return f"profile {profile_id!r} is no longer configured; meetbridge cannot reach its bot"
        return await self.incarnations.made_under(incarnation_of(state), profile, self.registry.catalogue)

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
        profile = await self.profile_of(profile_id, state)
        if isinstance(profile, str):
            return Outcome(status=ExtensionStatus.FAILED, last_error=profile, provider_state=state)
        return await self.call_profile(
            profile, event, provider, want_bot=want_bot, state=state, released=released, drop_copy=drop_copy
        )

    async def call_profile(
        self,
        profile: Profile,
        event: EventSnapshot,
        provider: str,
        *,
        want_bot: bool,
        state: ProviderState | None,
        released: bool = False,
        drop_copy: bool = False,
        save: SaveState | None = None,
    ) -> Outcome:
        """One adapter call under ``profile``; the state it returns (and saves) is stamped with the
        profile's incarnation. ``save`` replaces where mid-call saves go (a migration's new bot)."""
        profile_id = profile.profile_id
        made_under = incarnation(profile)
        state = adapter_state(state)
        adapter = self.registry.adapter(profile)
        forwarder = forwarder_of(adapter)
        if forwarder is not None:
            target = await self._forward_target(event, profile, state)
            if isinstance(target, Outcome):
                return stamp(target, made_under)
            event = msgspec.structs.replace(event, forward=target, deleted=event.deleted or drop_copy)
        if adapter.links_calendars and (want_bot or isinstance(adapter, PresetLinker)):
            linked = await self._linked(event, profile, state)
            if isinstance(linked, Outcome):
                if want_bot:
                    return stamp(linked, made_under)
            else:
                event = msgspec.structs.replace(event, linked=linked)

        async def save_state(new_state: ProviderState) -> None:
            stamped = stamp_state(new_state, made_under) or {}
            await (save(stamped) if save else self.save_state_of(event.pk, provider, stamped))

        try:
            outcome = await adapter.reconcile(
                event, want_bot=want_bot, state=state, save_state=save_state, now=utcnow(), released=released
            )
            return stamp(outcome, made_under)
        except ProviderAuthRevoked as exc:
            if forwarder is None:
                raise AdapterFailure(profile.adapter, exc) from exc
            # Retrying cannot help: the link is disconnected (its events say so) until made again.
            link = await self.links.find(event.calendar_id, profile_id)
            if link is not None:
                await self.links.set_status(link, "disconnected", str(exc), forget_bots=False)
            message = _relink_message(event.calendar_id, profile_id, str(exc))
            failed = Outcome(status=ExtensionStatus.FAILED, last_error=message, provider_state=state)
            return stamp(failed, made_under)
        except Exception as exc:
            raise AdapterFailure(profile.adapter, exc) from exc

    async def _forward_target(
        self, event: EventSnapshot, profile: Profile, state: ProviderState | None
    ) -> ForwardTarget | Outcome:
        """Where a forwarding adapter copies the event, or why it cannot (kept records stay)."""
        profile_id = profile.profile_id

        def failed(message: str) -> Outcome:
            return Outcome(status=ExtensionStatus.FAILED, last_error=message, provider_state=state)

        link = await self.links.for_mechanism(event.calendar_id, profile_id, profile.adapter)
        if link is None:
            return failed(
                f"calendar {event.calendar_id} is not linked for profile {profile_id}: PUT "
                f"/v1/calendars/{event.calendar_id}/links/{profile_id} with cronofy_calendar_id, "
                "access_token and refresh_token first"
            )
        if link.status == "disconnected":
            return failed(_relink_message(event.calendar_id, profile_id, link.status_detail))
        try:
            return await self.forwarding.target(
                link, reported_bot_id=await self.forwarding.events.reported_bot_id(event.pk)
            )
        except SealError:
            return failed(
                _relink_message(
                    event.calendar_id,
                    profile_id,
                    "its stored credentials cannot be opened with this [server] secret_key (was it changed?)",
                )
            )

    async def _linked(
        self, event: EventSnapshot, profile: Profile, state: ProviderState | None
    ) -> LinkedEvent | Outcome:
        """The provider event a calendar adapter acts on, or why there is none (yet)."""
        profile_id = profile.profile_id
        bot_id = (state or {}).get("bot_id")

        def waiting(status: ExtensionStatus, message: str) -> Outcome:
            # Whatever the adapter made before stays recorded: nothing is forgotten while we wait.
            return Outcome(status=status, last_error=message, bot_id=bot_id, provider_state=state)

        link = await self.links.for_mechanism(event.calendar_id, profile_id, profile.adapter)
        if link is None:
            message = (
                f"calendar {event.calendar_id} is not linked for profile {profile_id}: "
                f"PUT /v1/calendars/{event.calendar_id}/links/{profile_id} first"
            )
            return waiting(ExtensionStatus.FAILED, message)
        if link.status == "disconnected":
            detail = f" ({link.status_detail})" if link.status_detail else ""
            message = (
                f"the linked calendar {link.provider_calendar_id} is disconnected at the provider{detail}; "
                "link it again with a new oauth_refresh_token (or the connect flow)"
            )
            return waiting(ExtensionStatus.FAILED, message)
        target = await find_target(self.database, event.pk, link)
        if target is None:
            message = (
                "no event of the linked calendar matches yet (by ical_uid, or meeting link and start); "
                "retried after the next sync"
            )
            return waiting(ExtensionStatus.AWAITING_SYNC, message)
        return LinkedEvent(
            provider_event_id=target.source_id,
            start_at=target.start_at,
            meeting_url=target.meeting_url,
            deleted=target.deleted,
            calendar_email=link.email,
            provider_calendar_id=link.provider_calendar_id,
            bot_id=target.bot_id,
        )

    async def save_state_of(
        self, event_pk: int, provider: str, state: ProviderState, *, moving: bool = False
    ) -> None:
        """Commit a record at once. ``moving``: the event's bot is still the old one (a migration
        saving its new bot's record beside it), so the bot id columns stay as they are."""
        values: dict[str, Any] = {"provider_state": state or None}
        if not moving:
            values.update(bot_id=state.get("bot_id"), target_id=_target_id(state))
        async with self.database.write() as connection:
            await connection.execute(
                event_extensions.update()
                .where(event_extensions.c.event_pk == event_pk, event_extensions.c.provider == provider)
                .values(**values)
            )

    async def _write_back(
        self, event: EventSnapshot, provider: str, outcome: Outcome, previous_state: ProviderState | None
    ) -> None:
        now = utcnow()
        async with self.database.write() as connection:
            row = (
                await connection.execute(
                    # FOR UPDATE: metadata is read-modify-write and webhooks write it too (PostgreSQL;
                    # on SQLite the single writer already serialises).
                    sa.select(events.c.version, events.c.metadata)
                    .where(events.c.pk == event.pk)
                    .with_for_update()
                )
            ).first()
            if row is None:
                return
            current = (
                await connection.execute(
                    sa.select(event_extensions.c.bot_id, event_extensions.c.bot_status).where(
                        event_extensions.c.event_pk == event.pk, event_extensions.c.provider == provider
                    )
                )
            ).first()
            same_bot = current is not None and current.bot_id == outcome.bot_id
            values: dict[str, Any] = {
                "provider_state": outcome.provider_state,
                "bot_id": outcome.bot_id,
                "target_id": _target_id(outcome.provider_state),
            }
            if not same_bot:
                values["bot_status"] = None  # a new bot (or none): the old one's reports no longer apply
            # A bot Recall reported fatal stays failed: an unrelated edit must not call it scheduled.
            fatal = same_bot and current is not None and current.bot_status == "fatal"
            if row.version == event.version and not (fatal and outcome.status == ExtensionStatus.SCHEDULED):
                values.update(status=outcome.status, last_error=outcome.last_error, updated_at=now)
            await connection.execute(
                event_extensions.update()
                .where(event_extensions.c.event_pk == event.pk, event_extensions.c.provider == provider)
                .values(**values)
            )
            released = _target_id(previous_state)
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
                await connection.execute(
                    events.update().where(events.c.pk == event.pk).values(metadata=metadata, updated_at=now)
                )

    async def fail(self, event_pk: int, reason: str) -> None:
        """The worker gave up: say so on the event's extensions.

        Not only pending ones: a refused move of a scheduled bot must show on the event too.
        """
        async with self.database.write() as connection:
            await connection.execute(
                event_extensions.update()
                .where(event_extensions.c.event_pk == event_pk)
                .values(status=ExtensionStatus.FAILED, last_error=reason, updated_at=utcnow())
            )

    async def note_retry(self, event_pk: int, error: str, delay: float) -> None:
        """While retrying, the event says what went wrong and when the next try is."""
        async with self.database.write() as connection:
            await connection.execute(
                event_extensions.update()
                .where(event_extensions.c.event_pk == event_pk)
                .values(last_error=f"{error} (retrying in {delay:.0f}s)")
            )
