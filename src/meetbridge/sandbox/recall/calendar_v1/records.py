"""Stored Calendar V1 objects: calendar users, their tokens and meetings, and each meeting's bot."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

from meetbridge.sandbox.recall.calendar_v1.models import (
    CALENDAR_PLATFORMS,
    Attendee,
    CalendarPlatform,
    CalendarUserOut,
    ConnectionOut,
    Invite,
    MeetInvite,
    PreferencesOut,
    TeamsInvite,
    WebexInvite,
    ZoomInvite,
)
from meetbridge.sandbox.recall.core import DEFAULT_BOT_NAME, SandboxError, parse_meeting_url

PREFERENCE_FLAGS: tuple[str, ...] = (
    "record_non_host",
    "record_recurring",
    "record_external",
    "record_internal",
    "record_confirmed",
    "record_only_host",
)
_MEETING_PLATFORMS: dict[type[Invite], str] = {
    ZoomInvite: "zoom",
    MeetInvite: "google_meet",
    TeamsInvite: "microsoft_teams",
    WebexInvite: "webex",
}
_INVITE_FIELDS: dict[type[Invite], str] = {
    ZoomInvite: "zoom_invite",
    MeetInvite: "meet_invite",
    TeamsInvite: "teams_invite",
    WebexInvite: "webex_invite",
}


def invite_field(invite: Invite) -> str:
    return _INVITE_FIELDS[type(invite)]


def meeting_platform(invite: Invite | None) -> str | None:
    return _MEETING_PLATFORMS[type(invite)] if invite is not None else None


def _invite_url(invite: Invite) -> str | None:
    if isinstance(invite, ZoomInvite):
        password = f"?pwd={quote(invite.meeting_password, safe='')}" if invite.meeting_password else ""
        return f"https://zoom.us/j/{quote(invite.meeting_id, safe='')}{password}"
    if isinstance(invite, MeetInvite):
        return f"https://meet.google.com/{quote(invite.meeting_id, safe='')}"
    if isinstance(invite, TeamsInvite):
        path = f"{quote(invite.thread_id, safe='')}/{quote(invite.message_id, safe='')}"
        context = {k: v for k, v in (("Tid", invite.tenant_id), ("Oid", invite.organizer_id)) if v}
        query = f"?context={quote(json.dumps(context), safe='')}" if context else ""
        return f"https://teams.microsoft.com/l/meetup-join/{path}{query}"
    host = f"https://{invite.meeting_subdomain}.webex.com"
    if invite.meeting_personal_room_id:
        return f"{host}/meet/{quote(invite.meeting_personal_room_id, safe='')}"
    if invite.meeting_path and invite.meeting_mtid:
        return f"{host}/{invite.meeting_path.strip('/')}?MTID={quote(invite.meeting_mtid, safe='')}"
    return None


def invite_url(invite: Invite) -> str:
    """The link a bot is sent to, rebuilt from the invite; 400 when the bot API could not join it, so a
    bad seed fails at once instead of leaving a meeting that silently never gets its bot."""
    url = _invite_url(invite)
    if url is None or parse_meeting_url(url) is None:
        raise SandboxError(400, {invite_field(invite): [f"Not a meeting link the sandbox can join: {url}"]})
    return url


@dataclass
class Connection:
    email: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class UserRecord:
    id: str
    external_id: str
    preferences_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    preferences: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(PREFERENCE_FLAGS, False))
    bot_name: str = DEFAULT_BOT_NAME
    connections: dict[CalendarPlatform, Connection] = field(default_factory=dict)

    def to_wire(self) -> CalendarUserOut:
        # Both platforms are always listed, so a client can read `connected` without a missing-key case.
        connections = [
            ConnectionOut(platform, True, link.email, link.id)
            if (link := self.connections.get(platform))
            else ConnectionOut(platform, False, None, None)
            for platform in CALENDAR_PLATFORMS
        ]
        preferences = PreferencesOut(id=self.preferences_id, bot_name=self.bot_name, **self.preferences)
        return CalendarUserOut(self.id, self.external_id, connections, preferences)


@dataclass
class Token:
    user_id: str
    expires_at: datetime


@dataclass
class BotSlot:
    """The bot the sandbox made for a meeting, and what it was made for (to tell when to move it)."""

    bot_id: str
    meeting_url: str
    join_at: datetime
    bot_name: str


@dataclass
class MeetingRecord:
    id: str
    user_id: str
    calendar_platform: CalendarPlatform
    platform_id: str
    ical_uid: str
    title: str
    start_time: datetime
    end_time: datetime
    invite: Invite | None
    attendees: list[Attendee]
    seq: int
    organizer_email: str | None = None  # None: the calendar account's own address
    is_external: bool | None = None  # None: derived from the attendees' domains
    is_hosted_by_me: bool | None = None  # None: derived from the organizer
    is_recurring: bool = False
    override_should_record: bool | None = None
    bot: BotSlot | None = None
    assign_due: datetime | None = None  # when a wanted bot is made, under bot_assign_delay_seconds

    @property
    def meeting_url(self) -> str | None:
        return _invite_url(self.invite) if self.invite is not None else None

    def position(self) -> tuple[datetime, int]:
        return self.start_time, self.seq

    def has_ended(self, now: datetime) -> bool:
        return self.end_time <= now
