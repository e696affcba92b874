"""The pure bot plan: what the event wants (``desired_bot``) against what exists (``plan_bot``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from meetbridge.domain.bot_plan import (
    ALL_DAY,
    ENDED,
    NO_MEETING_URL,
    ActualBot,
    Cancel,
    Create,
    DesiredBot,
    Keep,
    Refusal,
    Update,
    desired_bot,
    plan_bot,
)
from meetbridge.domain.extensions import ExtensionStatus

NOW = datetime(2026, 5, 11, 12, 0, tzinfo=UTC)
START = NOW + timedelta(hours=2)
END = START + timedelta(hours=1)
ZOOM = "https://zoom.us/j/1234567890"
MEET = "https://meet.google.com/abc-defg-hij"
DIGEST = "digest-1"


def want(**overrides: Any) -> DesiredBot | Refusal | None:
    arguments: dict[str, Any] = {
        "wanted": True,
        "deleted": False,
        "all_day": False,
        "start_at": START,
        "end_at": END,
        "meeting_url": ZOOM,
        "lead": timedelta(0),
        "now": NOW,
    }
    return desired_bot(**{**arguments, **overrides})


def existing(**overrides: Any) -> ActualBot:
    fields: dict[str, Any] = {
        "bot_id": "bot-1",
        "meeting_url": ZOOM,
        "join_at": START,
        "config_digest": DIGEST,
    }
    return ActualBot(**{**fields, **overrides})


# --- desired_bot ---------------------------------------------------------------------------------


def test_a_wanted_future_event_with_a_link_wants_a_bot_at_its_start() -> None:
    assert want() == DesiredBot(meeting_url=ZOOM, join_at=START)


def test_the_join_lead_moves_join_at_before_the_start() -> None:
    assert want(lead=timedelta(minutes=2)) == DesiredBot(
        meeting_url=ZOOM, join_at=START - timedelta(minutes=2)
    )


def test_an_event_under_way_still_wants_its_bot() -> None:
    started = want(start_at=NOW - timedelta(minutes=5), end_at=NOW + timedelta(minutes=25))
    assert started == DesiredBot(meeting_url=ZOOM, join_at=NOW - timedelta(minutes=5))


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"wanted": False}, id="not-wanted"),
        pytest.param({"deleted": True}, id="deleted"),
        # Nothing is wanted, so nothing about the event matters: no refusal either.
        pytest.param({"wanted": False, "all_day": True, "meeting_url": None}, id="not-wanted-all-day"),
        pytest.param({"deleted": True, "end_at": NOW - timedelta(hours=1)}, id="deleted-and-ended"),
    ],
)
def test_no_bot_is_wanted_when_the_app_does_not_want_one_or_the_event_is_gone(
    overrides: dict[str, Any],
) -> None:
    assert want(**overrides) is None


@pytest.mark.parametrize(
    ("overrides", "refusal", "status", "code"),
    [
        pytest.param({"all_day": True}, ALL_DAY, ExtensionStatus.FAILED, "all_day", id="all-day"),
        pytest.param(
            {"start_at": NOW - timedelta(hours=2), "end_at": NOW - timedelta(hours=1)},
            ENDED,
            ExtensionStatus.CANCELLED,
            "event_ended",
            id="ended",
        ),
        pytest.param(
            {"start_at": NOW - timedelta(hours=1), "end_at": NOW},
            ENDED,
            ExtensionStatus.CANCELLED,
            "event_ended",
            id="ends-right-now",
        ),
        pytest.param(
            {"meeting_url": None}, NO_MEETING_URL, ExtensionStatus.FAILED, "no_meeting_url", id="no-link"
        ),
    ],
)
def test_a_wanted_bot_that_cannot_be_had_is_refused_with_a_reason(
    overrides: dict[str, Any], refusal: Refusal, status: ExtensionStatus, code: str
) -> None:
    found = want(**overrides)
    assert found is refusal
    assert isinstance(found, Refusal)
    assert (found.status, found.code) == (status, code)
    assert f"(reason: {code})" in found.message


# --- plan_bot ------------------------------------------------------------------------------------


def test_a_wanted_bot_that_does_not_exist_is_created() -> None:
    desired = DesiredBot(meeting_url=ZOOM, join_at=START)
    assert plan_bot(desired, None, DIGEST) == Create(desired)


def test_a_bot_that_matches_the_event_is_kept() -> None:
    assert plan_bot(DesiredBot(meeting_url=ZOOM, join_at=START), existing(), DIGEST) == Keep()


@pytest.mark.parametrize(
    ("desired", "actual", "digest", "config_changed"),
    [
        pytest.param(
            DesiredBot(ZOOM, START + timedelta(minutes=30)), existing(), DIGEST, False, id="join-at-moved"
        ),
        pytest.param(
            DesiredBot(ZOOM, START - timedelta(microseconds=1)), existing(), DIGEST, False, id="join-at-tiny"
        ),
        pytest.param(DesiredBot(MEET, START), existing(), DIGEST, False, id="url-changed"),
        pytest.param(DesiredBot(ZOOM, START), existing(), "digest-2", True, id="config-changed"),
        pytest.param(
            DesiredBot(MEET, START + timedelta(hours=1)),
            existing(),
            "digest-2",
            True,
            id="everything-changed",
        ),
    ],
)
def test_a_bot_that_differs_from_the_event_is_updated(
    desired: DesiredBot, actual: ActualBot, digest: str, config_changed: bool
) -> None:
    assert plan_bot(desired, actual, digest) == Update(desired, "bot-1", config_changed)


def test_a_join_at_in_another_time_zone_for_the_same_instant_is_not_a_change() -> None:
    same_instant = START.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert plan_bot(DesiredBot(ZOOM, same_instant), existing(), DIGEST) == Keep()


@pytest.mark.parametrize(
    "desired",
    [
        pytest.param(None, id="not-wanted"),
        pytest.param(ALL_DAY, id="became-all-day"),
        pytest.param(NO_MEETING_URL, id="link-removed"),
    ],
)
def test_a_bot_that_is_no_longer_wanted_or_possible_is_cancelled(desired: Refusal | None) -> None:
    assert plan_bot(desired, existing(), DIGEST) == Cancel("bot-1")


def test_an_ended_event_keeps_its_bot() -> None:
    # The meeting is over: the bot's own lifecycle ends it; cancelling would cut a recording short.
    ended = want(start_at=NOW - timedelta(hours=2), end_at=NOW - timedelta(minutes=1))
    assert ended is ENDED
    assert plan_bot(ended, existing(), DIGEST) == Keep()


@pytest.mark.parametrize(
    "desired",
    [
        pytest.param(None, id="not-wanted"),
        pytest.param(ALL_DAY, id="all-day"),
        pytest.param(ENDED, id="ended"),
        pytest.param(NO_MEETING_URL, id="no-link"),
    ],
)
def test_nothing_to_do_when_no_bot_is_wanted_and_none_exists(desired: Refusal | None) -> None:
    assert plan_bot(desired, None, DIGEST) == Keep()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param({}, Keep(), id="unchanged"),
        pytest.param(
            {"start_at": START + timedelta(minutes=15)},
            Update(DesiredBot(ZOOM, START + timedelta(minutes=15)), "bot-1", False),
            id="moved",
        ),
        pytest.param({"wanted": False}, Cancel("bot-1"), id="unwanted"),
        pytest.param({"deleted": True}, Cancel("bot-1"), id="deleted"),
        pytest.param({"meeting_url": None}, Cancel("bot-1"), id="link-removed"),
        pytest.param(
            {"start_at": NOW - timedelta(hours=2), "end_at": NOW - timedelta(hours=1)}, Keep(), id="ended"
        ),
    ],
)
def test_desired_and_plan_together_for_an_event_with_a_bot(
    overrides: dict[str, Any], expected: object
) -> None:
    assert plan_bot(want(**overrides), existing(), DIGEST) == expected
