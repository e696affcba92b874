"""Wire shapes of Recall Calendar V1 (reference §3.3, §3.4) and of the sandbox's Calendar V1 admin API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

CalendarPlatform = Literal["google", "microsoft"]
CALENDAR_PLATFORMS: tuple[CalendarPlatform, ...] = ("google", "microsoft")
AttendeeStatus = Literal["accepted", "declined", "tentative", "not_available"]
# Admin times must carry a zone: a naive one could not be compared with the sandbox's aware clock.
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


# --- meeting invites: how a V1 meeting carries its link (there is no `meeting_url` field) ---------


class ZoomInvite(msgspec.Struct, forbid_unknown_fields=True):
    meeting_id: str
    meeting_password: str | None = None


class MeetInvite(msgspec.Struct, forbid_unknown_fields=True):
    meeting_id: str


class TeamsInvite(msgspec.Struct, forbid_unknown_fields=True):
    thread_id: str
    message_id: str
    organizer_id: str | None = None
    tenant_id: str | None = None


class WebexInvite(msgspec.Struct, forbid_unknown_fields=True):
    """Either a personal room (`meeting_personal_room_id`) or a standard meeting (`meeting_path` and
    `meeting_mtid`), the two shapes the bot API's Webex link parser knows."""

    meeting_subdomain: str
    meeting_path: str | None = None
    meeting_mtid: str | None = None
    meeting_personal_room_id: str | None = None


Invite = ZoomInvite | MeetInvite | TeamsInvite | WebexInvite


# --- CalendarUser (reference §3.3) ------------------------------------------------------------------


class ConnectionOut(msgspec.Struct):
    platform: CalendarPlatform
    connected: bool
    email: str | None
    id: str | None


class PreferencesOut(msgspec.Struct):
    id: str
    record_non_host: bool
    record_recurring: bool
    record_external: bool
    record_internal: bool
    record_confirmed: bool
    record_only_host: bool
    bot_name: str


class CalendarUserOut(msgspec.Struct):
    id: str
    external_id: str | None
    connections: list[ConnectionOut]
    preferences: PreferencesOut


class TokenOut(msgspec.Struct):
    token: str


# --- CalendarMeeting (reference §3.4) ---------------------------------------------------------------


class Attendee(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    name: str = ""
    is_organizer: bool = False
    status: AttendeeStatus = "accepted"


class CalendarMeetingOut(msgspec.Struct):
    id: str
    override_should_record: bool | None
    title: str
    will_record: bool
    will_record_reason: str
    start_time: datetime
    end_time: datetime
    # The provider's event ids: `platform` names the calendar provider as V2 does (google_calendar /
    # microsoft_outlook), `platform_id` is the event's id there. Reference §3.4 leaves `platform` vague.
    platform: str
    platform_id: str
    meeting_platform: str | None
    calendar_platform: CalendarPlatform
    zoom_invite: ZoomInvite | None
    teams_invite: TeamsInvite | None
    meet_invite: MeetInvite | None
    webex_invite: WebexInvite | None
    bot_id: str | None
    is_external: bool
    is_hosted_by_me: bool
    is_recurring: bool
    organizer_email: str
    attendee_emails: list[str]
    attendees: list[Attendee]
    ical_uid: str
    visibility: str


# --- admin API ---------------------------------------------------------------------------------------


class ConnectionIn(msgspec.Struct, forbid_unknown_fields=True):
    """`POST /_sandbox/calendar-v1/users/{external_id}/connections`: as if the OAuth dance succeeded."""

    platform: CalendarPlatform
    email: str = "sandbox.user@example.com"


class SeedMeetingIn(msgspec.Struct, forbid_unknown_fields=True):
    """`POST /_sandbox/calendar-v1/users/{external_id}/meetings`: a meeting as the user's calendar has it.

    At most one invite. Absent flags are derived: the organizer defaults to the calendar's account,
    `is_hosted_by_me` compares the two, `is_external` looks for an attendee outside the organizer's
    domain (the docs' definition of an external attendee).
    """

    start_time: AwareDatetime
    end_time: AwareDatetime
    title: str = "Sandbox meeting"
    calendar_platform: CalendarPlatform | None = None
    zoom_invite: ZoomInvite | None = None
    meet_invite: MeetInvite | None = None
    teams_invite: TeamsInvite | None = None
    webex_invite: WebexInvite | None = None
    attendees: list[Attendee] = []
    organizer_email: str | None = None
    ical_uid: str | None = None
    is_external: bool | None = None
    is_hosted_by_me: bool | None = None
    is_recurring: bool = False


class ChangeMeetingIn(msgspec.Struct, forbid_unknown_fields=True):
    """`PATCH /_sandbox/calendar-v1/meetings/{id}`: absent fields stay. Giving any invite key replaces the
    invite with the non-null one given (all null: the meeting loses its link); a null flag goes back to
    being derived; a new start alone moves the whole meeting, as dragging it in a calendar does."""

    start_time: AwareDatetime | None = None
    end_time: AwareDatetime | None = None
    title: str | None = None
    zoom_invite: ZoomInvite | msgspec.UnsetType | None = msgspec.UNSET
    meet_invite: MeetInvite | msgspec.UnsetType | None = msgspec.UNSET
    teams_invite: TeamsInvite | msgspec.UnsetType | None = msgspec.UNSET
    webex_invite: WebexInvite | msgspec.UnsetType | None = msgspec.UNSET
    attendees: list[Attendee] | None = None
    organizer_email: str | None = None
    is_external: bool | msgspec.UnsetType | None = msgspec.UNSET
    is_hosted_by_me: bool | msgspec.UnsetType | None = msgspec.UNSET
    is_recurring: bool | None = None


class CalendarV1ConfigIn(msgspec.Struct, forbid_unknown_fields=True):
    """`bot_assign_delay_seconds`: how long after a meeting starts to qualify its `bot_id` appears.
    `*_oauth_client_id`: the OAuth clients saved "in the Recall dashboard", used to exchange the codes
    the OAuth callbacks receive (an empty string forgets one)."""

    bot_assign_delay_seconds: float | None = None
    google_oauth_client_id: str | None = None
    microsoft_oauth_client_id: str | None = None


class CalendarV1ConfigOut(msgspec.Struct):
    bot_assign_delay_seconds: float
    google_oauth_client_id: str | None
    microsoft_oauth_client_id: str | None


class ExpiredTokensOut(msgspec.Struct):
    expired: int
