"""Wire shapes of the Cronofy stand-in (reference §1-§6) and of its admin API."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_text(moment: datetime) -> str:
    """Cronofy's UTC time format: second precision, `Z` suffix."""
    return moment.strftime(UTC_FORMAT)


def whole_second(moment: datetime) -> datetime:
    """Times Cronofy writes have second precision; changes are stamped alike so that
    `last_modified=<changes_since>` finds the change that a notification announced."""
    return moment.astimezone(UTC).replace(microsecond=0)


# --- errors ----------------------------------------------------------------------------------------


class ErrorDetail(msgspec.Struct, frozen=True):
    key: str
    description: str


class ErrorsOut(msgspec.Struct):
    """The 422 body: `{"errors": {field: [{key, description}]}}` (reference §0)."""

    errors: dict[str, list[ErrorDetail]]


class OAuthErrorOut(msgspec.Struct):
    """RFC 6749 §5.2 error body; Cronofy answers token errors with 400 (reference §0)."""

    error: str


# --- OAuth -----------------------------------------------------------------------------------------


class TokenOut(msgspec.Struct):
    token_type: str
    access_token: str
    expires_in: int
    refresh_token: str
    scope: str


# --- events ----------------------------------------------------------------------------------------

EventTimeOut = str | dict[str, str]


class LocationOut(msgspec.Struct, omit_defaults=True):
    description: str | None = None
    lat: str | msgspec.UnsetType = msgspec.UNSET
    long: str | msgspec.UnsetType = msgspec.UNSET


class ConferencingOut(msgspec.Struct):
    provider_name: str
    join_url: str


class EventOptions(msgspec.Struct):
    delete: bool
    update: bool
    change_participation_status: bool


class EventOut(msgspec.Struct):
    """One event of Read Events (reference §3); UNSET fields are left out as Cronofy leaves them out."""

    calendar_id: str
    event_uid: str
    event_id: str
    summary: str
    description: str
    start: EventTimeOut
    end: EventTimeOut
    deleted: bool
    created: str
    updated: str
    participation_status: str
    attendees: list[dict[str, str]]
    transparency: str
    status: str
    categories: list[str]
    recurring: bool
    event_private: bool
    options: EventOptions
    location: LocationOut | msgspec.UnsetType = msgspec.UNSET
    url: str | msgspec.UnsetType = msgspec.UNSET
    meeting_url: str | msgspec.UnsetType = msgspec.UNSET
    conferencing: ConferencingOut | msgspec.UnsetType = msgspec.UNSET
    # Seed 000: `metadata.recall.bot_id` once the bot is provisioned; absent before.
    metadata: dict[str, dict[str, str]] | msgspec.UnsetType = msgspec.UNSET


class PagesOut(msgspec.Struct):
    current: int
    total: int
    # Absent on the last page; pycronofy stops on `current >= total` anyway (reference §7).
    next_page: str | msgspec.UnsetType = msgspec.UNSET


class EventsPageOut(msgspec.Struct):
    pages: PagesOut
    events: list[EventOut]


class CalendarOut(msgspec.Struct):
    provider_name: str
    profile_id: str
    profile_name: str
    calendar_id: str
    calendar_name: str
    calendar_readonly: bool
    calendar_deleted: bool
    calendar_primary: bool
    permission_level: str


class CalendarsOut(msgspec.Struct):
    calendars: list[CalendarOut]


# --- push notifications (reference §5) ------------------------------------------------------------


class ChannelFilters(msgspec.Struct, frozen=True, omit_defaults=True):
    calendar_ids: tuple[str, ...] | None = None
    only_managed: bool | None = None


class ChannelOut(msgspec.Struct, frozen=True):
    channel_id: str
    callback_url: str
    filters: ChannelFilters


class ChannelEnvelope(msgspec.Struct):
    channel: ChannelOut


class ChannelsOut(msgspec.Struct):
    channels: list[ChannelOut]


class Notification(msgspec.Struct):
    type: str
    changes_since: str | msgspec.UnsetType = msgspec.UNSET


class NotificationBody(msgspec.Struct):
    notification: Notification
    channel: ChannelOut


# --- admin API -------------------------------------------------------------------------------------


class AccountIn(msgspec.Struct, forbid_unknown_fields=True):
    calendar_ids: list[str] = msgspec.field(default_factory=lambda: ["cal_upstream_1"])
    scope: str | None = None


class NewAccountOut(msgspec.Struct):
    account_id: str
    calendar_ids: list[str]
    access_token: str
    refresh_token: str


class AccountOut(msgspec.Struct):
    account_id: str
    calendar_ids: list[str]
    scope: str
    revoked: bool
    live_access_tokens: int


class RevokeIn(msgspec.Struct, forbid_unknown_fields=True):
    access_tokens: bool = True


class SuppressIn(msgspec.Struct, forbid_unknown_fields=True):
    count: int


class PushStateOut(msgspec.Struct):
    suppress_remaining: int


class AdminEventOut(msgspec.Struct):
    """An event as the sandbox holds it, with what the read API hides (pending bot, stored profile)."""

    account_id: str
    calendar_id: str
    event_id: str
    event_uid: str
    summary: str
    start: str
    end: str
    deleted: bool
    updated: str
    meeting_url: str | None
    recall_profile_id: str | None
    bot_id: str | None
    shown_bot_id: str | None
