"""Whether a V1 meeting will be recorded (reference §3.5), and how a meeting reads on the wire.

Preferences are ANDed: every preference set to true must hold, none set means nothing is recorded.
Two pairs are exclusive by nature, record_external/record_internal and record_non_host/record_only_host;
a literal AND of both halves could never hold, yet the docs' own "Record all meetings" example sets
record_external and record_internal together. So each pair is read as one condition, "either half
holds", which is plain AND whenever a single half is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from meetbridge.sandbox.recall.calendar_v1.models import (
    Attendee,
    CalendarMeetingOut,
    MeetInvite,
    TeamsInvite,
    WebexInvite,
    ZoomInvite,
)
from meetbridge.sandbox.recall.calendar_v1.records import MeetingRecord, UserRecord, meeting_platform

_PROVIDER_PLATFORM = {"google": "google_calendar", "microsoft": "microsoft_outlook"}
_VISIBILITY = {"google": "default", "microsoft": "normal"}


def _domain(email: str) -> str:
    return email.rpartition("@")[2].lower()


@dataclass(frozen=True)
class MeetingFacts:
    """The meeting as seen from the user's calendar account: explicit admin flags win, else derived."""

    organizer_email: str
    is_hosted_by_me: bool
    is_external: bool
    is_recurring: bool
    is_confirmed: bool

    @classmethod
    def of(cls, meeting: MeetingRecord, user: UserRecord) -> MeetingFacts:
        link = user.connections.get(meeting.calendar_platform)
        account = link.email if link else ""
        organizer = meeting.organizer_email or account
        hosted = meeting.is_hosted_by_me
        if hosted is None:
            hosted = organizer.lower() == account.lower()
        external = meeting.is_external
        if external is None:
            external = any(_domain(a.email) != _domain(organizer) for a in meeting.attendees)
        own = [a for a in meeting.attendees if a.email.lower() == account.lower()]
        # Without an attendee entry of its own, the account has accepted only a meeting it organises.
        confirmed = own[0].status == "accepted" if own else hosted
        return cls(organizer, hosted, external, meeting.is_recurring, confirmed)


@dataclass(frozen=True)
class Decision:
    will_record: bool
    reason: str


def _preference_checks(prefs: dict[str, bool], facts: MeetingFacts) -> list[tuple[str, bool]]:
    """(the preferences a condition stands for, whether it holds), for the conditions that apply."""
    checks: list[tuple[str, bool]] = []
    hosting = [name for name in ("record_non_host", "record_only_host") if prefs[name]]
    if hosting:
        wanted = {"record_non_host": not facts.is_hosted_by_me, "record_only_host": facts.is_hosted_by_me}
        checks.append((" or ".join(hosting), any(wanted[name] for name in hosting)))
    audience = [name for name in ("record_external", "record_internal") if prefs[name]]
    if audience:
        wanted = {"record_external": facts.is_external, "record_internal": not facts.is_external}
        checks.append((" or ".join(audience), any(wanted[name] for name in audience)))
    if prefs["record_recurring"]:
        checks.append(("record_recurring", facts.is_recurring))
    if prefs["record_confirmed"]:
        checks.append(("record_confirmed", facts.is_confirmed))
    return checks


def _without_preferences(meeting: MeetingRecord, now: datetime) -> Decision | None:
    """Prerequisites (a link, not ended) and the override, which settle it before any preference."""
    if meeting.invite is None:
        return Decision(False, "Meeting has no meeting link.")
    if meeting.has_ended(now):
        return Decision(False, "Meeting has already ended.")
    if meeting.override_should_record is None:
        return None
    verb = "on" if meeting.override_should_record else "off"
    return Decision(meeting.override_should_record, f"Recording turned {verb} by override_should_record.")


def decide(meeting: MeetingRecord, user: UserRecord, now: datetime) -> Decision:
    settled = _without_preferences(meeting, now)
    if settled is not None:
        return settled
    checks = _preference_checks(user.preferences, MeetingFacts.of(meeting, user))
    if not checks:
        return Decision(False, "No recording preference is turned on.")
    failed = [name for name, holds in checks if not holds]
    if failed:
        return Decision(False, f"Does not match recording preference {failed[0]}.")
    return Decision(True, "Matches recording preferences: " + ", ".join(name for name, _ in checks) + ".")


def meeting_out(meeting: MeetingRecord, user: UserRecord, now: datetime) -> CalendarMeetingOut:
    facts = MeetingFacts.of(meeting, user)
    decision = decide(meeting, user, now)
    invite = meeting.invite
    return CalendarMeetingOut(
        id=meeting.id,
        override_should_record=meeting.override_should_record,
        title=meeting.title,
        will_record=decision.will_record,
        will_record_reason=decision.reason,
        start_time=meeting.start_time,
        end_time=meeting.end_time,
        platform=_PROVIDER_PLATFORM[meeting.calendar_platform],
        platform_id=meeting.platform_id,
        meeting_platform=meeting_platform(invite),
        calendar_platform=meeting.calendar_platform,
        zoom_invite=invite if isinstance(invite, ZoomInvite) else None,
        teams_invite=invite if isinstance(invite, TeamsInvite) else None,
        meet_invite=invite if isinstance(invite, MeetInvite) else None,
        webex_invite=invite if isinstance(invite, WebexInvite) else None,
        bot_id=meeting.bot.bot_id if meeting.bot else None,
        is_external=facts.is_external,
        is_hosted_by_me=facts.is_hosted_by_me,
        is_recurring=facts.is_recurring,
        organizer_email=facts.organizer_email,
        attendee_emails=[a.email for a in meeting.attendees],
        attendees=[Attendee(a.email, a.name, a.is_organizer, a.status) for a in meeting.attendees],
        ical_uid=meeting.ical_uid,
        visibility=_VISIBILITY[meeting.calendar_platform],
    )
