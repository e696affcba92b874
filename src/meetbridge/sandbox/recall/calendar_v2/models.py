"""Wire shapes of Recall Calendar V2 (reference §4) and of the sandbox's Calendar V2 admin API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

Platform = Literal["google_calendar", "microsoft_outlook"]
CalendarStatus = Literal["connecting", "connected", "disconnected"]
PLATFORMS: tuple[str, ...] = ("google_calendar", "microsoft_outlook")
# Admin times must carry a zone: a naive one could not be compared with the sandbox's aware clock.
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


# --- Calendar (reference §4.2) -------------------------------------------------------------------


class CalendarStatusChange(msgspec.Struct):
    """One status transition. The element shape is undocumented (open question 6): we give the status,
    when it changed, and the provider's error code and message for disconnects, else null."""

    status: CalendarStatus
    created_at: datetime
    error_code: str | None = None
    error_message: str | None = None


class CalendarOut(msgspec.Struct):
    # oauth_client_secret and oauth_refresh_token are deliberately absent: whether Recall echoes them is
    # unconfirmed (open question 5), and a client that needs them back already holds them, whereas a
    # client that logs responses would leak them. Real clients tolerate absent write-only fields.
    id: str
    platform: Platform
    platform_email: str | None
    oauth_client_id: str
    oauth_email: str | None
    status: CalendarStatus
    status_changes: list[CalendarStatusChange]
    created_at: datetime
    updated_at: datetime


class CalendarPage(msgspec.Struct):
    next: str | None
    previous: str | None
    results: list[CalendarOut]


# --- CalendarEvent (reference §4.3) ---------------------------------------------------------------


class EventBotOut(msgspec.Struct):
    bot_id: str
    start_time: datetime
    deduplication_key: str
    meeting_url: str


class CalendarEventOut(msgspec.Struct):
    id: str
    start_time: datetime
    end_time: datetime
    calendar_id: str
    raw: dict[str, Any]
    platform: Platform
    platform_id: str
    ical_uid: str
    meeting_platform: str | None
    meeting_url: str | None
    created_at: datetime
    updated_at: datetime
    is_deleted: bool
    bots: list[EventBotOut]


class CalendarEventPage(msgspec.Struct):
    next: str | None
    previous: str | None
    results: list[CalendarEventOut]


# --- webhooks (reference §4.5) ---------------------------------------------------------------------


class SyncEventsData(msgspec.Struct):
    calendar_id: str
    last_updated_ts: datetime


# kw_only so `event` can lead, as in every Recall webhook body.
class SyncEventsWebhook(msgspec.Struct, kw_only=True):
    event: str = "calendar.sync_events"
    data: SyncEventsData


class CalendarUpdateData(msgspec.Struct):
    calendar_id: str


class CalendarUpdateWebhook(msgspec.Struct, kw_only=True):
    event: str = "calendar.update"
    data: CalendarUpdateData


CalendarWebhook = SyncEventsWebhook | CalendarUpdateWebhook


# --- admin API -----------------------------------------------------------------------------------


class SeedEventIn(msgspec.Struct, forbid_unknown_fields=True):
    """`POST /_sandbox/calendars/{id}/events`: `raw` in the calendar's provider shape; the times, id and
    iCal UID are written into `raw` by the sandbox so the two never disagree."""

    start_time: AwareDatetime
    end_time: AwareDatetime
    raw: dict[str, Any] = {}
    platform_id: str | None = None
    ical_uid: str | None = None


class ChangeEventIn(msgspec.Struct, forbid_unknown_fields=True):
    """`PATCH /_sandbox/calendar-events/{id}`: `raw` keys are merged shallowly; a null value removes one."""

    start_time: AwareDatetime | None = None
    end_time: AwareDatetime | None = None
    raw: dict[str, Any] | None = None


class MoveBotIn(msgspec.Struct, forbid_unknown_fields=True):
    """`POST /_sandbox/calendar-v2/bots/{bot_id}/move`: the bot's new join time."""

    start_time: AwareDatetime


class CalendarStatusIn(msgspec.Struct, forbid_unknown_fields=True):
    status: CalendarStatus
    error_code: str | None = None
    error_message: str | None = None


class CalendarV2ConfigIn(msgspec.Struct, forbid_unknown_fields=True):
    page_size: int | None = None
    key_hold_seconds: float | None = None


class CalendarV2ConfigOut(msgspec.Struct):
    page_size: int
    key_hold_seconds: float
