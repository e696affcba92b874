"""The Recall Calendar V1 stand-in: calendar users, their tokens and meetings, the bots their recording
preferences call for, the OAuth callbacks, and its test API under `/_sandbox/calendar-v1/`."""

from meetbridge.sandbox.recall.calendar_v1.admin import CALENDAR_V1_ADMIN_HANDLERS
from meetbridge.sandbox.recall.calendar_v1.callbacks import CALENDAR_V1_CALLBACK_HANDLERS
from meetbridge.sandbox.recall.calendar_v1.models import (
    Attendee,
    ChangeMeetingIn,
    MeetInvite,
    SeedMeetingIn,
    TeamsInvite,
    WebexInvite,
    ZoomInvite,
)
from meetbridge.sandbox.recall.calendar_v1.routes import CALENDAR_V1_HANDLERS
from meetbridge.sandbox.recall.calendar_v1.state import CalendarV1Sandbox

__all__ = [
    "CALENDAR_V1_ADMIN_HANDLERS",
    "CALENDAR_V1_CALLBACK_HANDLERS",
    "CALENDAR_V1_HANDLERS",
    "Attendee",
    "CalendarV1Sandbox",
    "ChangeMeetingIn",
    "MeetInvite",
    "SeedMeetingIn",
    "TeamsInvite",
    "WebexInvite",
    "ZoomInvite",
]
