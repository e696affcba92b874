"""Pure planning for a directly managed bot: compare what the event wants with what exists."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from meetbridge.domain.extensions import ExtensionStatus


class DesiredBot(msgspec.Struct, frozen=True):
    meeting_url: str
    join_at: datetime


class Refusal(msgspec.Struct, frozen=True):
    """No bot for this event, and why, in words for the single-event read."""

    status: ExtensionStatus
    code: str
    message: str


class ActualBot(msgspec.Struct, frozen=True):
    bot_id: str
    meeting_url: str
    join_at: datetime
    config_digest: str


class Create(msgspec.Struct, frozen=True):
    bot: DesiredBot


class Update(msgspec.Struct, frozen=True):
    bot: DesiredBot
    bot_id: str
    config_changed: bool


class Cancel(msgspec.Struct, frozen=True):
    bot_id: str


class Keep(msgspec.Struct, frozen=True):
    pass


Action = Create | Update | Cancel | Keep

NO_MEETING_URL = Refusal(
    ExtensionStatus.FAILED,
    "no_meeting_url",
    "no meeting link was found in conferencing.join_url, location, url or description "
    "(reason: no_meeting_url)",
)
ALL_DAY = Refusal(
    ExtensionStatus.FAILED,
    "all_day",
    "all-day events have no meeting time for a bot to join (reason: all_day)",
)
ENDED = Refusal(
    ExtensionStatus.CANCELLED,
    "event_ended",
    "the event has ended; bots are not sent to past events (reason: event_ended)",
)


def desired_bot(
    *,
    wanted: bool,
    deleted: bool,
    all_day: bool,
    start_at: datetime,
    end_at: datetime,
    meeting_url: str | None,
    lead: timedelta,
    now: datetime,
) -> DesiredBot | Refusal | None:
    """None when no bot is wanted at all; a Refusal when one is wanted but cannot be had."""
    if not wanted or deleted:
        return None
    if all_day:
        return ALL_DAY
    if end_at <= now:
        return ENDED
    if meeting_url is None:
        return NO_MEETING_URL
    return DesiredBot(meeting_url=meeting_url, join_at=start_at - lead)


def plan_bot(desired: DesiredBot | Refusal | None, actual: ActualBot | None, config_digest: str) -> Action:
    if isinstance(desired, DesiredBot):
        if actual is None:
            return Create(desired)
        config_changed = actual.config_digest != config_digest
        if actual.join_at != desired.join_at or actual.meeting_url != desired.meeting_url or config_changed:
            return Update(desired, actual.bot_id, config_changed)
        return Keep()
    if actual is None:
        return Keep()
    if desired is ENDED:
        return Keep()  # the meeting is over; the bot's own lifecycle ends it
    return Cancel(actual.bot_id)
