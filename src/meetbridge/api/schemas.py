"""Request and response shapes (msgspec Structs), named Create/Update/Read as they are used.

Event shapes follow Cronofy's field names so the official SDKs work unchanged; unknown request fields
are ignored, as Cronofy's SDKs pass extra keys through.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from meetbridge.api.audit_schemas import AuditEntryRead

# An event id is a path segment of the single-event read, so it cannot hold '/'.
EventId = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f/]+$",
        description="Your id for the event: 1-200 characters, no control characters and no '/'",
    ),
]
# No whitespace or control characters: listed explicitly besides \s, whose meaning differs between
# Python's and ECMAScript's regular expressions (\x1c-\x1f and \x85 are whitespace only to Python).
Email = Annotated[
    str,
    msgspec.Meta(
        min_length=3, max_length=320, pattern=r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]+$"
    ),
]


# --- requests -----------------------------------------------------------------------------------


class EventTimeObject(msgspec.Struct, kw_only=True):
    time: str
    tzid: str | UnsetType = UNSET


Short = Annotated[str, msgspec.Meta(max_length=256)]


class LocationUpdate(msgspec.Struct, kw_only=True, omit_defaults=True):
    description: Annotated[str, msgspec.Meta(max_length=1024)] | None = None
    lat: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    long: Annotated[str, msgspec.Meta(max_length=32)] | None = None


class ConferencingUpdate(msgspec.Struct, kw_only=True, omit_defaults=True):
    profile_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    provider_description: Short | None = None
    join_url: Annotated[str, msgspec.Meta(max_length=2048)] | None = None


class Person(msgspec.Struct, kw_only=True, omit_defaults=True):
    email: Email
    display_name: Short | None = None


People = Annotated[list[Person], msgspec.Meta(max_length=1000)]


class AttendeesUpdate(msgspec.Struct, kw_only=True):
    invite: People = msgspec.field(default_factory=list)
    remove: People = msgspec.field(default_factory=list)
    reject: People = msgspec.field(default_factory=list)  # older SDK docs' name for remove


class Reminder(msgspec.Struct):
    minutes: Annotated[int, msgspec.Meta(ge=0, le=40320)]


class Extension(msgspec.Struct):
    provider: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    profile_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class EventUpsert(msgspec.Struct, kw_only=True):
    """``POST /v1/calendars/{calendar_id}/events``. Omitted fields keep their stored values."""

    event_id: EventId | UnsetType = UNSET
    event_uid: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | UnsetType = UNSET
    summary: str | UnsetType = UNSET
    description: str | UnsetType | None = UNSET
    start: str | EventTimeObject | UnsetType = UNSET
    end: str | EventTimeObject | UnsetType = UNSET
    tzid: str | UnsetType = UNSET
    location: LocationUpdate | UnsetType | None = UNSET
    url: Annotated[str, msgspec.Meta(max_length=2048)] | UnsetType | None = UNSET
    transparency: Literal["opaque", "transparent"] | UnsetType = UNSET
    conferencing: ConferencingUpdate | UnsetType | None = UNSET
    attendees: AttendeesUpdate | UnsetType = UNSET
    reminders: Annotated[list[Reminder], msgspec.Meta(max_length=10)] | UnsetType | None = UNSET
    reminders_create_only: bool | UnsetType = UNSET
    event_private: bool | UnsetType = UNSET
    recurrence: dict[str, Any] | UnsetType | None = UNSET
    subscriptions: Annotated[list[dict[str, Any]], msgspec.Meta(max_length=10)] | UnsetType | None = UNSET
    color: Annotated[str, msgspec.Meta(max_length=32)] | UnsetType | None = UNSET
    # meetbridge: the iCalendar UID of this meeting in the user's calendar, when the app knows it; a
    # linked calendar's event with the same UID is the one a calendar adapter's bot is attached to.
    ical_uid: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)] | UnsetType | None = UNSET
    extensions: Annotated[list[Extension], msgspec.Meta(max_length=10)] | UnsetType = UNSET


class EventDelete(msgspec.Struct, kw_only=True):
    event_id: EventId | UnsetType = UNSET
    event_uid: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | UnsetType = UNSET


class CalendarCreate(msgspec.Struct, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    profile_id: str | UnsetType = UNSET  # Cronofy's field; a meetbridge calendar has no upstream profile
    color: str | UnsetType = UNSET


# --- responses ----------------------------------------------------------------------------------


class LocalizedTime(msgspec.Struct, kw_only=True, omit_defaults=True):
    tzid: str
    time: str | None = None
    date: str | None = None


class Attendee(msgspec.Struct, kw_only=True):
    email: str
    display_name: str | None
    status: str


class Location(msgspec.Struct, kw_only=True, omit_defaults=True):
    description: str | None = None
    lat: str | None = None
    long: str | None = None


class Conferencing(msgspec.Struct, kw_only=True, omit_defaults=True):
    profile_id: str | None = None
    provider_name: str | None = None
    join_url: str | None = None


class ExtensionRead(msgspec.Struct, kw_only=True):
    provider: str
    profile_id: str


class RuleDecisionRead(msgspec.Struct, kw_only=True):
    """A linked calendar's recording rule applied to this event."""

    record: bool
    rule: str  # which rule decided: series | all | external | confirmed | none | no_meeting_url
    reason: str  # e.g. "attendee bob@other.com is outside example.com"


class ExplainRead(msgspec.Struct, kw_only=True):
    """Why a bot will or won't join this event."""

    summary: str
    origin: Literal["app", "rule"] | None = None  # who asked for the extension, if anyone
    rule: RuleDecisionRead | None = None
    deduplication_key: str | None = None  # Calendar V2: events with the same key share one bot


class ExtensionStatusRead(msgspec.Struct, kw_only=True):
    provider: str
    profile_id: str
    status: Literal["pending", "scheduled", "awaiting_sync", "cancelled", "failed"]
    bot_id: str | None
    last_error: str | None
    updated: str
    origin: Literal["app", "rule"] = "app"


class _EventBase(msgspec.Struct, kw_only=True, omit_defaults=True):
    calendar_id: str
    event_uid: str
    summary: str
    description: str
    start: str | LocalizedTime
    end: str | LocalizedTime
    deleted: bool
    created: str
    updated: str
    attendees: list[Attendee]
    participation_status: str
    transparency: str
    status: str
    event_private: bool
    recurring: bool
    metadata: dict[str, Any]
    event_id: str | None = None
    tzid: str | None = None
    location: Location | None = None
    url: str | None = None
    conferencing: Conferencing | None = None
    meeting_url: str | None = None
    reminders: list[Reminder] | None = None
    recurrence: dict[str, Any] | None = None
    color: str | None = None
    ical_uid: str | None = None


class EventRead(_EventBase, kw_only=True, omit_defaults=True):
    extensions: list[ExtensionRead] = msgspec.field(default_factory=list)


class MigrationStepRead(msgspec.Struct, kw_only=True):
    """One step of moving the event's bot after its profile's mechanism was switched."""

    profile_id: str
    from_adapter: str
    to_adapter: str
    old_bot_id: str | None
    new_bot_id: str | None
    outcome: Literal["moved", "kept", "waiting", "failed"]
    detail: str | None
    at: str


class EventDetailRead(_EventBase, kw_only=True, omit_defaults=True):
    extensions: list[ExtensionStatusRead] = msgspec.field(default_factory=list)
    explain: ExplainRead | None = None
    migrations: list[MigrationStepRead] = msgspec.field(default_factory=list)  # the audit trail
    audit: list[AuditEntryRead] = msgspec.field(default_factory=list)  # the drift audit's repairs


class EventDetailResponse(msgspec.Struct):
    event: EventDetailRead


class Pages(msgspec.Struct, kw_only=True, omit_defaults=True):
    current: int
    total: int
    next_page: str | None = None


class ReadEventsResponse(msgspec.Struct):
    pages: Pages
    events: list[EventRead]


class CalendarRead(msgspec.Struct, kw_only=True):
    calendar_id: str
    calendar_name: str
    provider_name: str = "meetbridge"
    profile_id: str = "meetbridge"
    profile_name: str = "meetbridge"
    calendar_readonly: bool = False
    calendar_deleted: bool = False
    calendar_primary: bool = False
    permission_level: str = "unrestricted"


class CalendarResponse(msgspec.Struct):
    calendar: CalendarRead


class CalendarsResponse(msgspec.Struct):
    calendars: list[CalendarRead]


class ProfileRead(msgspec.Struct, kw_only=True):
    profile_id: str
    adapter: str
    region: str | None
    base_url: str


class ProfilesResponse(msgspec.Struct):
    profiles: list[ProfileRead]


class PlannedEventRead(msgspec.Struct, kw_only=True):
    calendar_id: str
    event_id: str | None
    event_uid: str
    start: str
    from_adapter: str | None  # None: no bot yet
    to_adapter: str
    old_bot_id: str | None
    # move: the new bot is made, then the old one cancelled; keep: stays (safety window);
    # cannot_move: stays, ``reason`` says why.
    action: Literal["move", "keep", "cannot_move"]
    reason: str | None
    calls: list[str]  # the provider calls it takes, in order


class MigrationPlanRead(msgspec.Struct, kw_only=True):
    profile_id: str
    adapter: str  # the mechanism the profile is configured with now
    move: int
    keep: int
    cannot_move: int
    events: list[PlannedEventRead]


class MigrationPlanResponse(msgspec.Struct):
    migration: MigrationPlanRead


class FieldError(msgspec.Struct):
    key: str
    description: str


class ValidationErrors(msgspec.Struct):
    """Cronofy's 422 body: ``{"errors": {field: [{key, description}]}}``."""

    errors: dict[str, list[FieldError]]


class ErrorBody(msgspec.Struct):
    error: str
    message: str


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct, kw_only=True):
    status: str  # "ready", or why not: "database unavailable", "migrations behind"...
    database: str  # reachable | unreachable
    schema: str | None = None  # current | behind | ahead | empty (None: the database did not answer)
    schema_revision: str | None = None
    code_revision: str | None = None
    # Seconds since this process's worker last looked for jobs; None when this process runs none.
    worker_heartbeat_age_seconds: float | None = None
