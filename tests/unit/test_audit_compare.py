"""The drift audit's comparison: desired extensions against the provider's bots, classed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from meetbridge.domain.audit import (
    AuditedBot,
    DriftKind,
    Meeting,
    Wanted,
    attributed,
    audit_until,
    compare,
    counts,
    meeting_of,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
HORIZON = NOW + timedelta(minutes=15)
JOIN = NOW + timedelta(days=2)
ZOOM = "https://zoom.us/j/1234567890"
PROFILE = "bots"


def wanted(uid: str = "ev-1", **changes: Any) -> Wanted:
    values: dict[str, Any] = {
        "event_pk": 1,
        "event_uid": uid,
        "calendar_id": "cal_1",
        "event_id": f"app-{uid}",
        "application_id": "app_1",
        "wants_bot": True,
        "status": "scheduled",
        "bot_id": f"bot-{uid}",
        "join_at": JOIN,
        "meeting_url": ZOOM,
        "busy": False,
    }
    return Wanted(**{**values, **changes})


def bot(bot_id: str = "bot-ev-1", **changes: Any) -> AuditedBot:
    values: dict[str, Any] = {
        "bot_id": bot_id,
        "join_at": JOIN,
        "meeting": Meeting("zoom", "1234567890"),
        "event_uid": "ev-1",
        "profile_id": PROFILE,
    }
    return AuditedBot(**{**values, **changes})


def kinds(rows: list[Wanted], bots: list[AuditedBot]) -> list[tuple[str, str]]:
    return [(d.kind, d.bot_id) for d in compare(rows, bots, profile_id=PROFILE, horizon=HORIZON)]


def test_in_step_is_no_difference() -> None:
    assert kinds([wanted()], [bot()]) == []


def test_a_scheduled_bot_the_provider_lacks_is_missing_with_its_event() -> None:
    [difference] = compare([wanted()], [], profile_id=PROFILE, horizon=HORIZON)
    assert (difference.kind, difference.bot_id, difference.event_pk) == (DriftKind.MISSING, "bot-ev-1", 1)
    assert (difference.calendar_id, difference.event_id, difference.application_id) == (
        "cal_1",
        "app-ev-1",
        "app_1",
    )


def test_nothing_is_missing_while_the_event_is_in_motion_or_not_scheduled() -> None:
    assert kinds([wanted(busy=True)], []) == []
    assert kinds([wanted(status="pending")], []) == []
    assert kinds([wanted(status="failed")], []) == []
    assert kinds([wanted(wants_bot=False)], []) == []


def test_a_meeting_within_the_safety_window_is_never_compared() -> None:
    soon = NOW + timedelta(minutes=5)
    assert kinds([wanted(join_at=soon)], []) == []  # not missing
    assert kinds([], [bot(join_at=soon)]) == []  # not an orphan
    assert kinds([wanted(join_at=None)], []) == []  # an ad-hoc bot has no join time to list by


def test_our_bot_that_no_extension_wants_is_an_orphan() -> None:
    assert kinds([wanted(wants_bot=False, bot_id=None, status="cancelled")], [bot()]) == [
        ("orphan", "bot-ev-1")
    ]
    assert kinds([], [bot()]) == [("orphan", "bot-ev-1")]  # the event is gone or ended


def test_a_second_bot_for_a_meeting_is_an_orphan_and_the_recorded_one_is_not() -> None:
    assert kinds([wanted()], [bot(), bot("bot-extra")]) == [("orphan", "bot-extra")]


def test_an_orphan_of_an_event_in_motion_is_left_for_its_job() -> None:
    assert kinds([wanted(busy=True, bot_id=None)], [bot()]) == []


def test_another_profiles_bot_is_not_ours_to_judge() -> None:
    assert kinds([], [bot(profile_id="other")]) == []


def test_an_untagged_profile_bot_counts_as_ours_when_its_event_is_this_profiles() -> None:
    assert kinds([wanted()], [bot(profile_id=None)]) == []
    assert kinds([wanted()], [bot(), bot("bot-old", profile_id=None)]) == [("orphan", "bot-old")]
    assert kinds([], [bot(profile_id=None)]) == []  # whose it is cannot be told: left alone


def test_a_moved_join_time_is_stale_and_carries_the_providers_time() -> None:
    later = JOIN + timedelta(hours=3)
    [difference] = compare([wanted()], [bot(join_at=later)], profile_id=PROFILE, horizon=HORIZON)
    assert (difference.kind, difference.provider_join_at, difference.meeting_changed) == (
        "stale",
        later,
        False,
    )


def test_a_bot_on_another_meeting_is_stale_where_the_meeting_can_be_compared() -> None:
    [difference] = compare(
        [wanted()], [bot(meeting=Meeting("zoom", "999999999"))], profile_id=PROFILE, horizon=HORIZON
    )
    assert (difference.kind, difference.meeting_changed) == ("stale", True)
    assert kinds([wanted()], [bot(meeting=None)]) == []  # a read-back that does not name it


def test_a_bot_meetbridge_did_not_make_on_a_managed_meeting_is_foreign() -> None:
    stranger = bot("bot-stranger", event_uid=None, profile_id=None)
    [difference] = compare([wanted()], [bot(), stranger], profile_id=PROFILE, horizon=HORIZON)
    assert (difference.kind, difference.bot_id, difference.event_pk) == ("foreign", "bot-stranger", 1)
    elsewhere = bot("bot-elsewhere", event_uid=None, profile_id=None, meeting=Meeting("zoom", "555555555"))
    assert kinds([wanted()], [bot(), elsewhere]) == []  # not on a meeting meetbridge manages


def test_differences_come_in_class_order_and_are_counted() -> None:
    rows = [wanted(), wanted("ev-2", event_pk=2, meeting_url="https://zoom.us/j/2222222222")]
    bots = [
        bot("bot-stranger", event_uid=None, profile_id=None),
        bot("bot-ev-2", event_uid="ev-2", join_at=JOIN + timedelta(hours=1), meeting=None),
        bot("bot-orphan", event_uid="ev-9"),
    ]
    found = compare(rows, bots, profile_id=PROFILE, horizon=HORIZON)
    assert [d.kind for d in found] == ["missing", "orphan", "stale", "foreign"]
    assert counts(found) == {"missing": 1, "orphan": 1, "stale": 1, "foreign": 1}


def test_the_audited_range_reaches_the_furthest_join_time() -> None:
    assert audit_until([], HORIZON) == HORIZON
    assert audit_until([wanted(), wanted(join_at=JOIN + timedelta(days=30))], HORIZON) == JOIN + timedelta(
        days=30
    )


def test_meetings_compare_by_platform_and_id() -> None:
    assert meeting_of("https://us02web.zoom.us/j/1234567890?pwd=x") == Meeting("zoom", "1234567890")
    assert meeting_of("https://meet.google.com/ABC-defg-hij") == Meeting("google_meet", "abc-defg-hij")
    assert meeting_of("not a link") is None
    assert meeting_of(None) is None


def test_a_join_time_within_a_second_is_the_same_time() -> None:
    assert kinds([wanted()], [bot(join_at=JOIN + timedelta(milliseconds=400))]) == []
    assert kinds([wanted()], [bot(join_at=JOIN + timedelta(seconds=1))]) == [("stale", "bot-ev-1")]


# --- bots recognised by their deduplication key (Calendar V2: the listing names no event) -------


def keyed(bot_id: str, **changes: Any) -> AuditedBot:
    return bot(bot_id, event_uid=None, **changes)


def test_a_keyed_bot_that_is_recorded_is_in_step_or_stale() -> None:
    assert kinds([wanted()], [keyed("bot-ev-1")]) == []
    moved = keyed("bot-ev-1", join_at=JOIN + timedelta(hours=1))
    [difference] = compare([wanted()], [moved], profile_id=PROFILE, horizon=HORIZON)
    assert (difference.kind, difference.event_uid, difference.provider_join_at) == (
        DriftKind.STALE,
        "ev-1",
        JOIN + timedelta(hours=1),
    )


def test_a_keyed_bot_no_extension_records_is_an_orphan_with_no_event() -> None:
    [difference] = compare(
        [wanted()], [keyed("bot-ev-1"), keyed("bot-x")], profile_id=PROFILE, horizon=HORIZON
    )
    assert (difference.kind, difference.bot_id, difference.event_uid, difference.event_pk) == (
        DriftKind.ORPHAN,
        "bot-x",
        None,
        None,
    )


def test_a_bot_without_the_profiles_key_is_foreign_only_on_a_wanted_meeting() -> None:
    stranger = keyed("bot-theirs", profile_id=None)
    elsewhere = keyed("bot-elsewhere", profile_id=None, meeting=Meeting("zoom", "999"))
    assert kinds([wanted()], [stranger, elsewhere]) == [
        (DriftKind.MISSING, "bot-ev-1"),
        (DriftKind.FOREIGN, "bot-theirs"),
    ]


# --- bots named only by their calendar event (Calendar V1) ------------------------------------------


def by_meeting(bot_id: str, meeting_id: str, *, ours: bool = True) -> AuditedBot:
    """A V1 listing's bot: named by its meeting, the profile's when meetbridge's override is on it."""
    return bot(bot_id, event_uid=None, profile_id=PROFILE if ours else None, target_id=meeting_id)


def test_a_bot_named_by_its_meeting_is_attributed_to_the_event_acting_on_that_meeting() -> None:
    [attributed_bot] = attributed([by_meeting("b1", "m1")], {"m1": "ev-1"})
    assert (attributed_bot.event_uid, attributed_bot.profile_id) == ("ev-1", PROFILE)


def test_a_meeting_no_extension_acts_on_holds_no_bot_of_the_profile() -> None:
    # A user's own override on a meeting meetbridge does not steer: not the profile's, never touched.
    [unattributed] = attributed([by_meeting("b1", "m-unknown")], {"m1": "ev-1"})
    assert (unattributed.event_uid, unattributed.profile_id) == (None, None)
    assert kinds([], [unattributed]) == []


def test_tagged_and_unclaimed_bots_are_left_as_listed() -> None:
    tagged, unclaimed = bot("b1"), by_meeting("b2", "m1", ours=False)
    assert attributed([tagged, unclaimed], {"m1": "ev-9"}) == [tagged, unclaimed]


def test_an_override_left_on_a_meeting_whose_event_wants_no_bot_is_an_orphan() -> None:
    row = wanted(wants_bot=False, status="cancelled", bot_id=None)
    listed = attributed([by_meeting("b1", "m1")], {"m1": "ev-1"})
    assert kinds([row], listed) == [(DriftKind.ORPHAN, "b1")]


def test_a_bot_the_preferences_put_on_a_wanted_meeting_is_foreign() -> None:
    listed = attributed(
        [by_meeting("bot-ev-1", "m1"), by_meeting("theirs", "m2", ours=False)], {"m1": "ev-1"}
    )
    assert kinds([wanted()], listed) == [(DriftKind.FOREIGN, "theirs")]


def test_a_meeting_that_lost_meetbridges_bot_makes_it_missing() -> None:
    assert kinds([wanted()], attributed([], {})) == [(DriftKind.MISSING, "bot-ev-1")]


def test_meetbridges_bot_kept_by_the_users_preferences_alone_is_reported_not_repaired() -> None:
    # The user set the override back to null and their preferences record the meeting: same bot, theirs now.
    listed = attributed([by_meeting("bot-ev-1", "m1", ours=False)], {"m1": "ev-1"})
    assert kinds([wanted()], listed) == [(DriftKind.FOREIGN, "bot-ev-1")]
