"""What an inbound provider webhook asks of the engine, once the profile's adapter verified and read
it (``WebhookReceiver``): the same few actions whatever the provider's wire format."""

from __future__ import annotations

import logging

from meetbridge.config.profiles import Profile
from meetbridge.engine.forwarding.links import request_read_back
from meetbridge.engine.links import refresh_status, request_sync, same_account
from meetbridge.engine.services import Services
from meetbridge.providers.base import (
    BotStatusReported,
    CalendarChanged,
    CalendarStatusChanged,
    ForwardedEventsChanged,
    NothingToDo,
    WebhookAction,
)

log = logging.getLogger("meetbridge.webhooks")


async def apply_webhook(services: Services, profile: Profile, action: WebhookAction) -> str:
    """Act on one verified delivery for ``profile``; returns the status the answer reports."""
    match action:
        case BotStatusReported(bot_id=bot_id, code=code, sub_code=sub_code, reported_at=reported_at):
            # Only the bots of this account: a report verified with one profile's secret (the
            # sandbox's public one, say) must not reach another account's events.
            await services.events.record_bot_status(
                bot_id,
                code,
                sub_code,
                profile_ids=same_account(services, profile.profile_id),
                reported_at=reported_at,
            )
        case CalendarChanged(provider_calendar_id=calendar_id, since=since):
            await request_sync(services, profile.profile_id, calendar_id, since)
        case CalendarStatusChanged(provider_calendar_id=calendar_id):
            await refresh_status(services, profile.profile_id, calendar_id)
        case ForwardedEventsChanged(channel_id=channel_id, since=since):
            if not await request_read_back(services, profile, channel_id, since):
                return "no link on this channel"
        case NothingToDo(reason=reason):
            if reason:
                log.info("webhook for profile %s ignored: %s", profile.profile_id, reason)
    return "ok"
