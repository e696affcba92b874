"""Which of a Recall calendar event's bots is "the" bot meetbridge reports (perpetual events)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meetbridge.providers.recall.calendar_v2 import current_bot
from meetbridge.providers.recall.calendar_v2_api import EventBot

NOW = datetime(2026, 5, 11, 12, 0, tzinfo=UTC)


def bot(bot_id: str, hours: float, key: str = "other-key") -> EventBot:
    return EventBot(bot_id=bot_id, start_time=NOW + timedelta(hours=hours), deduplication_key=key)


def test_the_bot_under_our_key_wins() -> None:
    assert current_bot([bot("a", 1), bot("b", 2, key="ours")], "ours", NOW) == "b"


def test_otherwise_the_current_occurrence_the_next_to_join() -> None:
    bots = [bot("last-week", -24 * 7), bot("next-week", 24 * 7), bot("tomorrow", 24), bot("now", -0.5)]
    assert current_bot(bots, "ours", NOW) == "now"
    assert current_bot(bots[:3], "ours", NOW) == "tomorrow"


def test_only_past_occurrences_give_the_latest_and_none_give_none() -> None:
    assert current_bot([bot("older", -48), bot("newer", -24)], "ours", NOW) == "newer"
    assert current_bot([], "ours", NOW) is None
