"""Admin-made V1 meetings: what the user's calendar would hold, checked so every seeded link is joinable."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec

from meetbridge.sandbox.recall.calendar_v1.models import (
    CALENDAR_PLATFORMS,
    CalendarPlatform,
    ChangeMeetingIn,
    Invite,
    SeedMeetingIn,
)
from meetbridge.sandbox.recall.calendar_v1.records import MeetingRecord, UserRecord, invite_url
from meetbridge.sandbox.recall.core import SandboxError

# Outlook's iCalUId prefix (a Global Object ID); Google's are `<id>@google.com`.
_OUTLOOK_UID_PREFIX = "040000008200E00074C5B7101A82E008"


def _platform(user: UserRecord, wanted: CalendarPlatform | None) -> CalendarPlatform:
    """The connected calendar the meeting comes from: the one named, else the first connected one."""
    connected = [p for p in CALENDAR_PLATFORMS if p in user.connections]
    if wanted is not None and wanted not in connected:
        raise SandboxError(400, {"calendar_platform": [f"The user has no connected {wanted} calendar."]})
    if not connected:
        raise SandboxError(400, {"detail": "The user has no connected calendar to hold a meeting."})
    return wanted or connected[0]


def _one_invite(*given: Invite | None) -> Invite | None:
    invites = [invite for invite in given if invite is not None]
    if len(invites) > 1:
        raise SandboxError(400, {"detail": "A meeting has at most one invite."})
    if invites:
        invite_url(invites[0])  # raises when the bot API could not join the link
        return invites[0]
    return None


def _times(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end < start:
        raise SandboxError(400, {"end_time": ["end_time must not be before start_time."]})
    return start, end


def _new_ids(platform: CalendarPlatform) -> tuple[str, str]:
    """(platform_id, ical_uid) shaped like the provider's, so clients that parse them are not surprised."""
    token = uuid.uuid4().hex
    if platform == "google":
        return token[:26], f"{token[:26]}@google.com"
    return f"AAMkAD{token}", f"{_OUTLOOK_UID_PREFIX}{token.upper()}"


def new_meeting(user: UserRecord, spec: SeedMeetingIn, seq: int) -> MeetingRecord:
    platform = _platform(user, spec.calendar_platform)
    invite = _one_invite(spec.zoom_invite, spec.meet_invite, spec.teams_invite, spec.webex_invite)
    start, end = _times(spec.start_time, spec.end_time)
    platform_id, ical_uid = _new_ids(platform)
    return MeetingRecord(
        id=str(uuid.uuid4()),
        user_id=user.id,
        calendar_platform=platform,
        platform_id=platform_id,
        ical_uid=spec.ical_uid or ical_uid,
        title=spec.title,
        start_time=start,
        end_time=end,
        invite=invite,
        attendees=list(spec.attendees),
        seq=seq,
        organizer_email=spec.organizer_email,
        is_external=spec.is_external,
        is_hosted_by_me=spec.is_hosted_by_me,
        is_recurring=spec.is_recurring,
    )


def apply_change(meeting: MeetingRecord, spec: ChangeMeetingIn) -> None:
    """Everything is checked before anything is written, so a 400 leaves the meeting as it was."""
    invites = (spec.zoom_invite, spec.meet_invite, spec.teams_invite, spec.webex_invite)
    invite = meeting.invite
    if any(value is not msgspec.UNSET for value in invites):
        invite = _one_invite(
            *(value if not isinstance(value, msgspec.UnsetType) else None for value in invites)
        )
    start = spec.start_time or meeting.start_time
    # A new start alone moves the whole meeting, as dragging it in a calendar does.
    end = spec.end_time or meeting.end_time + (start.astimezone(UTC) - meeting.start_time)
    meeting.start_time, meeting.end_time = _times(start, end)
    meeting.invite = invite
    meeting.title = spec.title if spec.title is not None else meeting.title
    meeting.attendees = list(spec.attendees) if spec.attendees is not None else meeting.attendees
    meeting.organizer_email = spec.organizer_email or meeting.organizer_email
    if not isinstance(spec.is_external, msgspec.UnsetType):
        meeting.is_external = spec.is_external
    if not isinstance(spec.is_hosted_by_me, msgspec.UnsetType):
        meeting.is_hosted_by_me = spec.is_hosted_by_me
    if spec.is_recurring is not None:
        meeting.is_recurring = spec.is_recurring
