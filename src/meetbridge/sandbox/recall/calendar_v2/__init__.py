"""The Recall Calendar V2 stand-in: calendars, their events in each provider's `raw` shape, bots
scheduled per deduplication key, its webhooks, and its test API under `/_sandbox/`."""

from meetbridge.sandbox.recall.calendar_v2.admin import CALENDAR_V2_ADMIN_HANDLERS
from meetbridge.sandbox.recall.calendar_v2.models import ChangeEventIn, Platform, SeedEventIn
from meetbridge.sandbox.recall.calendar_v2.raw import check_raw, render_raw
from meetbridge.sandbox.recall.calendar_v2.routes import CALENDAR_V2_HANDLERS
from meetbridge.sandbox.recall.calendar_v2.state import CalendarV2Sandbox
from meetbridge.sandbox.recall.calendar_v2.validation import NewCalendar

__all__ = [
    "CALENDAR_V2_ADMIN_HANDLERS",
    "CALENDAR_V2_HANDLERS",
    "CalendarV2Sandbox",
    "ChangeEventIn",
    "NewCalendar",
    "Platform",
    "SeedEventIn",
    "check_raw",
    "render_raw",
]
