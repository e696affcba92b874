"""Linking a calendar to an upstream calendar that makes the bots itself (Cronofy): link, unlink,
and the push notifications that ask for a read-back.

As with Recall calendars, provider calls happen in the request and their failures name the field
the caller can fix.
"""

from __future__ import annotations

import logging
from datetime import datetime

import msgspec

from meetbridge.config.profiles import Profile
from meetbridge.config.sealing import SealError
from meetbridge.db.links import Link, LinkRules
from meetbridge.db.tables import utcnow
from meetbridge.engine.calls import owner_profile_id
from meetbridge.engine.forwarding.credentials import NewCredentials, callback_url
from meetbridge.engine.link_errors import UserTokens, link_errors
from meetbridge.engine.reconcile import snapshot
from meetbridge.engine.services import Services
from meetbridge.errors import (
    InvalidRequest,
)
from meetbridge.providers.base import (
    Adapter,
    EventForwarder,
    ForwardTarget,
    ProviderCalendar,
    ProviderState,
    event_forwarder,
)
from meetbridge.providers.link_requests import ForwardAsk

log = logging.getLogger("meetbridge.forwarding")


async def link_forwarding(
    gateway: Services,
    profile: Profile,
    forwarder: EventForwarder,
    calendar_id: str,
    existing: Link | None,
    request: ForwardAsk,
    *,
    base_url: str,
) -> tuple[Link, bool]:
    """Check the credentials reach the calendar, open its push channel, store the link.

    Linking again with the same calendar replaces the credentials (after a disconnect, say); another
    calendar needs a DELETE first, since the forwarded copies live in the first one.
    """
    upstream_id = request.provider_calendar_id
    if existing is not None and existing.provider_calendar_id != upstream_id:
        raise InvalidRequest.single(
            request.calendar_field,
            "conflict",
            f"this calendar is linked to Cronofy calendar {existing.provider_calendar_id} for profile "
            f"{profile.profile_id}; DELETE the link first to link another (its forwarded events go with it)",
        )
    others = [
        other
        for other in await gateway.links.by_provider_calendar([profile.profile_id], upstream_id)
        if other.serves(profile.adapter)
    ]
    if any(other.calendar_id != calendar_id for other in others):
        raise InvalidRequest.single(
            request.calendar_field,
            "duplicate",
            f"Cronofy calendar {upstream_id} is already linked to another calendar for profile "
            f"{profile.profile_id}; their event ids would collide there",
        )
    credentials = NewCredentials(request.access_token, request.refresh_token, request.expires_in)
    async with link_errors(profile, request.calendar_field, tokens=UserTokens()):
        calendar = await forwarder.open_link(
            credentials.target(upstream_id),
            callback_url=callback_url(base_url, profile),
            previous_channel_id=existing.channel_id if existing else None,
        )
    stored = gateway.forwarding.seal(credentials.generation, credentials.current)
    link, created = await gateway.links.save(
        calendar_id,
        profile.profile_id,
        ProviderCalendar(
            provider_calendar_id=upstream_id,
            platform=calendar.provider_name,
            email=calendar.profile_name,
            status="connected",
        ),
        LinkRules(),
        forwarding={"credentials": stored, "channel_id": calendar.channel_id},
        adapter=profile.adapter,
    )
    return link, created


async def unlink_forwarding(gateway: Services, link: Link, profile: Profile, adapter: Adapter) -> int:
    """Cancel the bots upstream (forwarded copies stay, with ``none``), close the channel, unlink.

    Credentials that no longer work cannot cancel anything; the link is removed all the same.
    """
    forwarder = event_forwarder(adapter)
    try:
        target = await gateway.forwarding.target(link)
    except SealError:
        target = None
    if forwarder is not None and target is not None:
        try:
            async with link_errors(profile, "profile_id", tokens=UserTokens()):  # only logged
                await _cancel_forwarded(gateway, link, adapter, target)
                await forwarder.close_link(target, link.channel_id)
        except InvalidRequest as exc:
            log.warning("unlinking link %s without cancelling upstream: %s", link.id, exc)
    return await gateway.links.delete(link)


async def _cancel_forwarded(gateway: Services, link: Link, adapter: Adapter, target: ForwardTarget) -> None:
    async def keep(_: ProviderState) -> None:
        return None  # the link and its records are about to go

    for pk in await gateway.links.acting_for(link):
        event = await gateway.events.get_by_pk(pk)
        provider = adapter.extension_provider
        extension = next((e for e in event.extensions if e.provider == provider), None) if event else None
        if (
            event is None
            or extension is None
            or owner_profile_id(extension.provider_state) != link.profile_id
        ):
            continue
        view = msgspec.structs.replace(snapshot(event), forward=target)
        await adapter.reconcile(
            view, want_bot=False, state=extension.provider_state, save_state=keep, now=utcnow()
        )


async def request_read_back(
    gateway: Services, profile: Profile, channel_id: str | None, since: datetime | None
) -> int:
    """A change notification: read the bot ids back for the links on that channel."""
    if channel_id is None:
        return 0
    links = [
        link
        for link in await gateway.links.on_channel(profile.profile_id, channel_id)
        if link.serves(profile.adapter)
    ]
    for link in links:
        await gateway.links.request_sync(link, since)
    return len(links)
