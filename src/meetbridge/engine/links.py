"""Linking calendars: the provider calls and bookkeeping behind the links API and its webhooks.

Provider calls happen in the request (the caller needs their answer: does the calendar exist, what
is its id); their failures become request errors that name the field the caller can fix.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from meetbridge.config.profiles import Profile
from meetbridge.db.links import Link, LinkRules
from meetbridge.engine.forwarding.links import link_forwarding, unlink_forwarding
from meetbridge.engine.link_errors import link_errors
from meetbridge.engine.services import Services
from meetbridge.errors import (
    InvalidRequest,
    NotFound,
    ProviderAuthExpired,
    ProviderNotFound,
    ProviderUnavailable,
    Taken,
    UpstreamUnavailable,
)
from meetbridge.providers.base import (
    CalendarLinker,
    PresetLinker,
    ProviderCalendar,
    calendar_linker,
    event_forwarder,
    preset_linker,
)
from meetbridge.providers.link_requests import CalendarAsk, ForwardAsk, LinkAsk, PresetAsk
from meetbridge.providers.registry import auth_headers


def calendar_profile(gateway: Services, profile_id: str) -> tuple[Profile, CalendarLinker]:
    """The profile and its calendar adapter. The profile is a segment of the link's path, so a
    profile that is not configured, or does not link calendars, names no link: a 404."""
    profile = gateway.config.profiles.get(profile_id)
    if profile is None:
        known = ", ".join(sorted(gateway.config.profiles)) or "none configured"
        raise NotFound(f"profile {profile_id!r} is not configured (known: {known})")
    adapter = gateway.registry.adapter(profile)
    if calendar_linker(adapter) is None and event_forwarder(adapter) is None:
        raise NotFound(f"profile {profile_id} uses adapter {profile.adapter}, which does not link calendars")
    return profile, cast(CalendarLinker, adapter)


async def link_calendar(
    gateway: Services,
    application_id: str,
    calendar_id: str,
    profile_id: str,
    ask: LinkAsk,
    *,
    public_url: str | None = None,
) -> tuple[Link, bool]:
    """Link the calendar as ``ask`` (the profile's adapter's request, read) says; (link, created).

    A link that registers a callback at the provider (a Cronofy push channel) needs ``public_url``:
    taken from a request's Host header, a caller could point the provider's callbacks anywhere."""
    await gateway.calendars.get(application_id, calendar_id)
    profile, linker = calendar_profile(gateway, profile_id)
    existing = await gateway.links.for_mechanism(calendar_id, profile_id, profile.adapter)
    forwarder, preset = event_forwarder(linker), preset_linker(linker)
    if isinstance(ask, ForwardAsk) and forwarder is not None:
        if not public_url:
            raise InvalidRequest.single(
                ask.calendar_field,
                "not_configured",
                f"{profile.adapter} links register a callback URL at the provider: set [server] public_url "
                "(or MEETBRIDGE_PUBLIC_URL) to the address it can reach meetbridge at",
            )
        return await link_forwarding(
            gateway, profile, forwarder, calendar_id, existing, ask, base_url=public_url
        )
    if isinstance(ask, PresetAsk) and preset is not None:
        return await _link_preset_user(gateway, application_id, profile, preset, calendar_id, existing, ask)
    if not isinstance(ask, CalendarAsk) or forwarder is not None or preset is not None:
        raise TypeError(f"{profile.adapter} declares a link request the engine cannot act on: {ask!r}")
    calendar: ProviderCalendar
    if ask.provider_calendar_id is not None:
        await _refuse_taken(gateway, application_id, profile, ask.provider_calendar_id, ask.calendar_field)
        if existing is not None and existing.provider_calendar_id != ask.provider_calendar_id:
            raise InvalidRequest.single(
                ask.calendar_field,
                "conflict",
                f"this calendar is linked to Recall calendar {existing.provider_calendar_id} for profile "
                f"{profile_id}; DELETE the link first to link another (its bots go with it)",
            )
        async with link_errors(profile, ask.calendar_field):
            calendar = await linker.find_calendar(ask.provider_calendar_id)
    elif ask.platform is not None and ask.refresh_token is not None:
        calendar = await calendar_for_credentials(linker, profile, existing, ask)
    elif existing is not None:
        calendar = ProviderCalendar(
            provider_calendar_id=existing.provider_calendar_id,
            platform=existing.platform,
            email=existing.email,
            status=existing.status,
            status_detail=existing.status_detail,
        )
    else:
        raise InvalidRequest.single(
            ask.calendar_field,
            "required",
            f"give {ask.calendar_field}, or {ask.platform_field} and {ask.credentials_field}",
        )
    rules = LinkRules(
        record=ask.record if ask.record is not None else (existing.record if existing else "none"),
        series=ask.series if ask.series is not None else (existing.series if existing else []),
    )
    return await gateway.links.save(calendar_id, profile_id, calendar, rules, adapter=profile.adapter)


async def _refuse_taken(
    gateway: Services, application_id: str, profile: Profile, provider_calendar_id: str, field: str
) -> None:
    """A provider calendar (or calendar user) belongs to the application that linked it first on its
    provider account: another's link would read its events, change its rules or delete it at the
    provider. Checked before any provider call; the refusal names no owner."""
    owners = await gateway.links.applications_linking(
        same_account(gateway, profile.profile_id), provider_calendar_id
    )
    if owners - {application_id}:
        raise Taken({field: [("errors.taken", f"this {field} cannot be linked by this application")]})


def serving(gateway: Services, links: list[Link]) -> list[Link]:
    """The links still made for their profile's mechanism."""
    profiles = gateway.config.profiles
    return [
        link
        for link in links
        if link.profile_id in profiles and link.serves(profiles[link.profile_id].adapter)
    ]


async def _account_links(gateway: Services, profile_id: str, provider_calendar_id: str) -> list[Link]:
    found = await gateway.links.by_provider_calendar(same_account(gateway, profile_id), provider_calendar_id)
    return serving(gateway, found)


async def _link_preset_user(
    gateway: Services,
    application_id: str,
    profile: Profile,
    linker: PresetLinker,
    calendar_id: str,
    existing: Link | None,
    ask: PresetAsk,
) -> tuple[Link, bool]:
    """Calendar V1: the calendar is one Recall calendar user, whose id must never change or repeat."""
    field, user_id = ask.user_field, ask.user_id
    if user_id is not None:
        await _refuse_taken(gateway, application_id, profile, user_id, field)
    if user_id is None:
        if existing is None:
            raise InvalidRequest.single(field, "required", f"give the calendar user's {field} to link")
        user_id = existing.provider_calendar_id
    elif existing is not None and existing.provider_calendar_id != user_id:
        raise InvalidRequest.single(
            field,
            "conflict",
            f"this calendar is linked as user {existing.provider_calendar_id}; a calendar keeps one {field} "
            "(DELETE the link first to start over)",
        )
    others = serving(gateway, await gateway.links.by_provider_calendar([profile.profile_id], user_id))
    if any(other.calendar_id != calendar_id for other in others):
        raise InvalidRequest.single(
            field,
            "duplicate",
            f"{field} {user_id} is already linked to another calendar for profile {profile.profile_id}; "
            "two calendars on one Recall calendar user would get duplicate bots",
        )
    async with link_errors(profile, field):
        calendar = await cast(CalendarLinker, linker).find_calendar(user_id)
        if ask.preferences:
            await linker.set_preferences(user_id, ask.preferences)
    return await gateway.links.save(
        calendar_id, profile.profile_id, calendar, LinkRules(), adapter=profile.adapter
    )


async def calendar_for_credentials(
    linker: CalendarLinker, profile: Profile, existing: Link | None, ask: CalendarAsk
) -> ProviderCalendar:
    """A Recall calendar for these OAuth credentials: the linked one reconnected, or a new one.

    Reconnecting keeps the calendar (and what Recall knows of it) rather than leaving an orphan
    with bots still scheduled beside a new one.
    """
    if ask.platform is None or ask.refresh_token is None:
        raise TypeError("calendar_for_credentials needs a platform and a refresh token")
    if existing is not None and existing.platform != ask.platform:
        raise InvalidRequest.single(
            ask.platform_field,
            "conflict",
            f"this calendar is linked to a {existing.platform} calendar for profile {profile.profile_id}; "
            "DELETE the link first to link another",
        )
    async with link_errors(profile, ask.credentials_field):
        if existing is not None:
            return await linker.reconnect_calendar(
                existing.provider_calendar_id, refresh_token=ask.refresh_token
            )
        return await linker.create_calendar(
            platform=ask.platform, refresh_token=ask.refresh_token, email=ask.email
        )


async def unlink_calendar(
    gateway: Services, application_id: str, calendar_id: str, profile_id: str
) -> tuple[Link, int]:
    link = await gateway.links.get(application_id, calendar_id, profile_id)
    profile = gateway.config.profiles.get(profile_id)
    if profile is None:
        raise NotFound(f"profile {profile_id} is no longer configured; meetbridge cannot reach its calendar")
    _, linker = calendar_profile(gateway, profile_id)
    if not link.serves(profile.adapter):
        await gateway.links.forget(link)  # made for the previous mechanism: nothing acts through it
        return link, 0
    if event_forwarder(linker) is not None:
        return link, await unlink_forwarding(gateway, link, profile, gateway.registry.adapter(profile))
    async with link_errors(profile, "profile_id"):
        # Deleting the Recall calendar removes the bots scheduled from it (reference §4.1).
        await linker.delete_calendar(link.provider_calendar_id)
    return link, await gateway.links.delete(link)


def same_account(gateway: Services, profile_id: str) -> list[str]:
    """Profiles on the same provider account as ``profile_id`` (their links are what matter).

    Recall sends a workspace's webhooks to one endpoint, so a calendar webhook received for one
    profile concerns the links of every profile on that account (say, one per dedup strategy).
    """
    receiving = gateway.config.profiles[profile_id]
    account = (receiving.base_url, auth_headers(receiving)[0])
    return [
        other.profile_id
        for other in gateway.config.profiles.values()
        if (other.base_url, auth_headers(other)[0]) == account
    ]


async def refresh_status(gateway: Services, profile_id: str, provider_calendar_id: str) -> int:
    """A calendar.update webhook: read the calendar's status again; returns the links updated."""
    links = await _account_links(gateway, profile_id, provider_calendar_id)
    if not links:
        return 0
    _, linker = calendar_profile(gateway, links[0].profile_id)
    try:
        calendar = await linker.find_calendar(provider_calendar_id)
    except (ProviderUnavailable, ProviderAuthExpired) as exc:
        # Answered 503: Recall delivers the webhook again later, and we read the status then.
        raise UpstreamUnavailable(
            f"could not read calendar {provider_calendar_id} at Recall: {exc}"
        ) from None
    except ProviderNotFound:
        calendar = ProviderCalendar(
            provider_calendar_id=provider_calendar_id,
            platform=None,
            email=None,
            status="disconnected",
            status_detail="the calendar no longer exists at Recall",
        )
    for link in links:
        await gateway.links.set_status(link, calendar.status, calendar.status_detail)
    return len(links)


async def request_sync(
    gateway: Services, profile_id: str, provider_calendar_id: str, since: datetime | None
) -> int:
    """A calendar.sync_events webhook: sync each link of that calendar from ``since``."""
    links = await _account_links(gateway, profile_id, provider_calendar_id)
    for link in links:
        await gateway.links.request_sync(link, since)
    return len(links)
