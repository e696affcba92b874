"""How the Calendar V1 audit reads a meeting: its bot, and whether meetbridge's override holds it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meetbridge.domain.audit import Meeting
from meetbridge.providers.recall.calendar_v1_api import CalendarMeeting
from meetbridge.providers.recall.calendar_v1_audit import audited_bot

START = datetime(2026, 5, 3, 9, 0, tzinfo=UTC)
LINK = "https://zoom.us/j/5550001111"


def meeting(*, bot_id: str | None = "bot-1", override: bool | None = True) -> CalendarMeeting:
    return CalendarMeeting(
        id="meeting-1",
        start_time=START,
        end_time=START + timedelta(minutes=30),
        will_record=bot_id is not None,
        override_should_record=override,
        bot_id=bot_id,
    )


def test_a_bot_under_meetbridges_override_is_the_profiles_and_named_by_its_meeting() -> None:
    bot = audited_bot(meeting(), LINK, "v1")
    assert bot is not None
    assert (bot.bot_id, bot.profile_id, bot.target_id, bot.event_uid) == ("bot-1", "v1", "meeting-1", None)
    assert (bot.join_at, bot.meeting) == (START, Meeting("zoom", "5550001111"))  # it joins at its meeting


def test_a_bot_the_preferences_put_there_is_nobodys() -> None:
    for override in (None, False):
        bot = audited_bot(meeting(override=override), LINK, "v1")
        assert bot is not None
        assert (bot.profile_id, bot.target_id) == (None, None)


def test_a_meeting_without_a_bot_lists_none() -> None:
    assert audited_bot(meeting(bot_id=None), LINK, "v1") is None
