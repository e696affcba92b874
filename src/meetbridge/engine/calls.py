"""One adapter call under one profile: the profile as its bot was made, the event's link or forward
target, and every state the adapter returns or saves stamped with the profile's incarnation.

The reconciler calls adapters through this, and so does a switching move (with ``save`` pointed at
the record of the new bot beside the old one); neither knows the other.
"""

from __future__ import annotations

from typing import Any

import msgspec

from meetbridge.config.incarnation import incarnation
from meetbridge.config.live import LiveConfig
from meetbridge.config.profiles import GatewayConfig, Profile
from meetbridge.config.sealing import SealError
from meetbridge.db.database import Database
from meetbridge.db.fencing import check_lease
from meetbridge.db.links import LinkRepository
from meetbridge.db.matching import find_target
from meetbridge.db.switching import IncarnationStore
from meetbridge.db.tables import event_extensions, utcnow
from meetbridge.domain.extensions import ExtensionStatus
from meetbridge.engine.forwarding.credentials import ForwardingLinks
from meetbridge.errors import AdapterFailure, ProviderAuthRevoked
from meetbridge.observability import logs
from meetbridge.providers.base import (
    EventSnapshot,
    ForwardTarget,
    LinkedEvent,
    Outcome,
    ProviderState,
    SaveState,
    event_forwarder,
)
from meetbridge.providers.registry import AdapterRegistry

# Keys the engine keeps in a provider state besides the adapter's own: the incarnation the record was
# made under, a switching move under way, and the profile whose bot it is (an adapter may write the
# same key itself; the engine never relies on that).
INCARNATION, MIGRATION, OWNER = "incarnation", "migration", "profile_id"


def incarnation_of(state: ProviderState | None) -> str | None:
    found = (state or {}).get(INCARNATION)
    return str(found) if found else None


def adapter_state(state: ProviderState | None) -> ProviderState | None:
    """What the adapter itself recorded (the engine's keys taken out)."""
    if not state:
        return None
    own = {k: v for k, v in state.items() if k not in (INCARNATION, MIGRATION)}
    return own or None


def stamp_state(state: ProviderState | None, made_under: str, profile_id: str) -> ProviderState | None:
    return {**state, INCARNATION: made_under, OWNER: profile_id} if state else None


def stamp(outcome: Outcome, made_under: str, profile_id: str) -> Outcome:
    stamped = stamp_state(outcome.provider_state, made_under, profile_id)
    return msgspec.structs.replace(outcome, provider_state=stamped)


def owner_profile_id(state: ProviderState | None) -> str | None:
    """The profile under which the provider objects in ``state`` were made."""
    if not state:
        return None
    # A create saved before its call, by an adapter of a release that did not stamp the owner, holds
    # it under "intended".
    owner = state.get(OWNER) or (state.get("intended") or {}).get("profile_id")
    return str(owner) if owner else None


def target_id_of(state: ProviderState | None) -> str | None:
    """The provider event a calendar adapter's record acts on."""
    target = (state or {}).get("provider_event_id")
    return str(target) if target else None


def _relink_message(calendar_id: str, profile_id: str, detail: str | None) -> str:
    reason = f": {detail}" if detail else ""
    return (
        f"the link of calendar {calendar_id} for profile {profile_id} is disconnected{reason}; "
        f"PUT /v1/calendars/{calendar_id}/links/{profile_id} again with new access_token and refresh_token"
    )


class ProfileCalls:
    def __init__(
        self,
        database: Database,
        live: LiveConfig,
        registry: AdapterRegistry,
        links: LinkRepository,
        forwarding: ForwardingLinks,
    ) -> None:
        self.database = database
        self.live = live
        self.registry = registry
        self.links = links
        self.forwarding = forwarding
        self.incarnations = IncarnationStore(database)

    @property
    def config(self) -> GatewayConfig:
        return self.live.current

    async def profile_of(self, profile_id: str, state: ProviderState | None) -> Profile | str:
        """The profile as it was when ``state``'s provider objects were made, or why it is gone."""
        profile = self.config.profiles.get(profile_id)
        if profile is None:
            return f"profile {profile_id!r} is no longer configured; meetbridge cannot reach its bot"
        return await self.incarnations.made_under(incarnation_of(state), profile, self.registry.catalogue)

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
        logs.bind(profile_id=profile_id, adapter=profile.adapter)
        state = adapter_state(state)
        adapter = self.registry.adapter(profile)
        forwarder = event_forwarder(adapter)
        if forwarder is not None:
            target = await self._forward_target(event, profile, state)
            if isinstance(target, Outcome):
                return stamp(target, made_under, profile_id)
            event = msgspec.structs.replace(event, forward=target, deleted=event.deleted or drop_copy)
        if adapter.capabilities.links_calendars and (want_bot or adapter.capabilities.preset):
            linked = await self._linked(event, profile, state)
            if isinstance(linked, Outcome):
                if want_bot:
                    return stamp(linked, made_under, profile_id)
            else:
                event = msgspec.structs.replace(event, linked=linked)

        async def save_state(new_state: ProviderState) -> None:
            stamped = stamp_state(new_state, made_under, profile_id) or {}
            await (save(stamped) if save else self.save_state_of(event.pk, provider, stamped))

        try:
            outcome = await adapter.reconcile(
                event, want_bot=want_bot, state=state, save_state=save_state, now=utcnow(), released=released
            )
            return stamp(outcome, made_under, profile_id)
        except ProviderAuthRevoked as exc:
            if forwarder is None:
                raise AdapterFailure(profile.adapter, exc) from exc
            # Retrying cannot help: the link is disconnected (its events say so) until made again.
            link = await self.links.find(event.calendar_id, profile_id)
            if link is not None:
                await self.links.set_status(link, "disconnected", str(exc), forget_bots=False)
            message = _relink_message(event.calendar_id, profile_id, str(exc))
            failed = Outcome(status=ExtensionStatus.FAILED, last_error=message, provider_state=state)
            return stamp(failed, made_under, profile_id)
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
            shape = self.registry.link_requests().get(profile.adapter)
            fields = f" with {', '.join(shape.__struct_fields__)}" if shape else ""
            return failed(
                f"calendar {event.calendar_id} is not linked for profile {profile_id}: PUT "
                f"/v1/calendars/{event.calendar_id}/links/{profile_id}{fields} first"
            )
        if link.status == "disconnected":
            return failed(_relink_message(event.calendar_id, profile_id, link.status_detail))
        try:
            return await self.forwarding.target(
                link,
                reported_bot_id=await self.forwarding.events.reported_bot_id(
                    event.pk, self.registry.extension_provider(profile.adapter)
                ),
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
            shape = self.registry.link_requests().get(profile.adapter)
            fields = " and ".join(shape.reconnect_fields) if shape else ""
            how = f"with a new {fields} (PUT /v1/calendars/{event.calendar_id}/links/{profile_id})"
            message = (
                f"the linked calendar {link.provider_calendar_id} is disconnected at the provider{detail}; "
                f"link it again {how + ' or ' if fields else 'through '}the connect flow"
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
            values.update(bot_id=state.get("bot_id"), target_id=target_id_of(state))
        async with self.database.write() as connection:
            await connection.execute(
                event_extensions.update()
                .where(event_extensions.c.event_pk == event_pk, event_extensions.c.provider == provider)
                .values(**values)
            )
            await check_lease(connection)  # after the row it writes, in the order an upsert locks them
