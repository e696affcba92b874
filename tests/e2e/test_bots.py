"""recall-bot end to end: a real gateway keeps Recall bots in step with events, against the sandbox.

Each test starts with the worker idle and an empty sandbox call log, so the log is exactly the
provider calls that test caused.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.e2e.recall import (
    BOT_NAME,
    BotGateway,
    Json,
    call_summary,
    event_body,
    from_now,
    instant,
    running_bot_gateway,
    zoom,
)
from tests.e2e.server import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gateway_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotGateway]:
    with running_bot_gateway(tmp_path_factory.mktemp("bots")) as gateway:
        yield gateway


@pytest.fixture
def gateway(gateway_process: BotGateway) -> BotGateway:
    return gateway_process.fresh()


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def scheduled(gateway: BotGateway, event_id: str, body: Json) -> Json:
    """Upsert, wait for the bot, clear the call log; returns the sandbox's bot."""
    gateway.upsert(body)
    extension = gateway.wait_status(event_id, "scheduled")
    bot = only_live_bot(gateway, event_id)
    assert extension["bot_id"] == bot["id"]
    gateway.sandbox.clear_calls()
    return bot


def only_live_bot(gateway: BotGateway, event_id: str) -> Json:
    event = gateway.event(event_id)
    live = [b for b in gateway.sandbox.bots_of(event["event_uid"]) if not b["deleted"]]
    assert len(live) == 1, live
    assert event["metadata"]["recall"]["bot_id"] == live[0]["id"]
    assert event["extensions"][0]["bot_id"] == live[0]["id"]
    return live[0]


def test_create_makes_one_scheduled_bot_carrying_the_event(gateway: BotGateway) -> None:
    event_id, start = new_id("create"), from_now(days=2)
    gateway.upsert(event_body(event_id, start, join_url=zoom(1112223334)))

    extension = gateway.wait_status(event_id, "scheduled")
    event = gateway.event(event_id)
    calls = gateway.sandbox.calls()
    assert call_summary(calls) == [("POST", "create_bot", 201)]
    assert calls[0]["path"] == "/api/v1/bot/"
    (bot,) = gateway.sandbox.bots_of(event["event_uid"])
    assert bot["meeting_url"] == {"platform": "zoom", "meeting_id": "1112223334", "meeting_password": None}
    assert instant(bot["join_at"]) == start
    assert instant(bot["join_at"]) - instant(calls[0]["time"]) > timedelta(minutes=10)
    assert (bot["scheduled"], bot["deleted"], bot["bot_name"]) == (True, False, BOT_NAME)
    assert bot["metadata"]["meetbridge_event"] == event["event_uid"]
    assert extension["bot_id"] == bot["id"]
    assert extension["last_error"] is None
    assert event["metadata"]["recall"] == {"bot_id": bot["id"]}


def test_reschedule_far_ahead_patches_the_same_bot(gateway: BotGateway) -> None:
    event_id, start = new_id("move"), from_now(days=2)
    bot = scheduled(gateway, event_id, event_body(event_id, start, join_url=zoom()))

    later = start + timedelta(days=1, minutes=15)
    gateway.upsert(event_body(event_id, later, join_url=zoom()))
    gateway.wait_status(event_id, "scheduled")

    calls = gateway.sandbox.calls()
    assert call_summary(calls) == [("PATCH", "bot", 200)]
    assert calls[0]["bot_id"] == bot["id"]
    moved = only_live_bot(gateway, event_id)
    assert moved["id"] == bot["id"]
    assert instant(moved["join_at"]) == later


def test_reschedule_too_late_to_patch_replaces_the_bot_with_an_ad_hoc_one(gateway: BotGateway) -> None:
    event_id = new_id("soon")
    old = scheduled(gateway, event_id, event_body(event_id, from_now(days=2), join_url=zoom()))

    gateway.upsert(event_body(event_id, from_now(minutes=5), join_url=zoom()))
    gateway.wait_status(event_id, "scheduled")

    calls = gateway.sandbox.calls()
    assert call_summary(calls) == [("DELETE", "bot", 204), ("POST", "create_bot", 201)]
    assert calls[0]["bot_id"] == old["id"]
    new = only_live_bot(gateway, event_id)
    assert new["id"] != old["id"]
    assert (new["join_at"], new["scheduled"]) == (None, False)  # ad hoc: sent now, no join_at
    assert [b["deleted"] for b in gateway.sandbox.bots() if b["id"] == old["id"]] == [True]


def test_meeting_link_change_moves_the_bot_to_the_new_meeting(gateway: BotGateway) -> None:
    event_id, start = new_id("relink"), from_now(days=2)
    bot = scheduled(gateway, event_id, event_body(event_id, start, join_url=zoom(1111111111)))

    gateway.upsert(event_body(event_id, start, join_url=zoom(2222222222)))
    gateway.wait_status(event_id, "scheduled")

    assert [(c["method"], c["bot_id"]) for c in gateway.sandbox.calls()] == [("PATCH", bot["id"])]
    followed = only_live_bot(gateway, event_id)
    assert followed["id"] == bot["id"]
    assert followed["meeting_url"]["meeting_id"] == "2222222222"
    assert gateway.event(event_id)["meeting_url"] == zoom(2222222222)


def test_profile_none_deletes_the_scheduled_bot(gateway: BotGateway) -> None:
    event_id, start = new_id("none"), from_now(days=2)
    bot = scheduled(gateway, event_id, event_body(event_id, start, join_url=zoom()))

    gateway.upsert(event_body(event_id, start, join_url=zoom(), profile_id="none"))
    extension = gateway.wait_status(event_id, "cancelled")

    calls = gateway.sandbox.calls()
    assert call_summary(calls) == [("DELETE", "bot", 204)]
    assert calls[0]["bot_id"] == bot["id"]
    assert [b["deleted"] for b in gateway.sandbox.bots() if b["id"] == bot["id"]] == [True]
    assert extension["bot_id"] is None
    assert "recall" not in gateway.event(event_id)["metadata"]


def test_deleting_the_event_deletes_its_bot(gateway: BotGateway) -> None:
    event_id = new_id("gone")
    bot = scheduled(gateway, event_id, event_body(event_id, from_now(days=2), join_url=zoom()))

    gateway.delete(event_id)
    extension = gateway.wait_status(event_id, "cancelled")

    calls = gateway.sandbox.calls()
    assert call_summary(calls) == [("DELETE", "bot", 204)]
    assert calls[0]["bot_id"] == bot["id"]
    assert [b["deleted"] for b in gateway.sandbox.bots() if b["id"] == bot["id"]] == [True]
    event = gateway.event(event_id)
    assert event["deleted"] is True
    assert extension["bot_id"] is None
    assert "recall" not in event["metadata"]


def test_cancelling_a_dispatched_bot_makes_it_leave_the_call(gateway: BotGateway) -> None:
    event_id, start = new_id("leave"), from_now(minutes=3)
    bot = scheduled(gateway, event_id, event_body(event_id, start, join_url=zoom()))
    assert bot["dispatched"] is True  # ad hoc: sent to the call at once

    gateway.upsert(event_body(event_id, start, join_url=zoom(), profile_id="none"))
    gateway.wait_status(event_id, "cancelled")

    calls = gateway.sandbox.calls()
    assert call_summary(calls) == [("DELETE", "bot", 405), ("POST", "bot", 200)]
    assert calls[1]["path"] == f"/api/v1/bot/{bot['id']}/leave_call/"
    assert {c["bot_id"] for c in calls} == {bot["id"]}
    (left,) = [b for b in gateway.sandbox.bots() if b["id"] == bot["id"]]
    assert ("call_ended", "bot_received_leave_call") in [
        (s["code"], s["sub_code"]) for s in left["status_changes"]
    ]
    assert "recall" not in gateway.event(event_id)["metadata"]


def test_changing_only_summary_and_description_calls_no_provider(gateway: BotGateway) -> None:
    event_id, start = new_id("words"), from_now(days=2)
    bot = scheduled(gateway, event_id, event_body(event_id, start, join_url=zoom()))

    gateway.upsert(event_body(event_id, start, join_url=zoom(), summary="renamed", description="new agenda"))
    gateway.settle()  # the job the upsert enqueued has run (its row is gone)

    assert gateway.sandbox.calls() == []
    event = gateway.event(event_id)
    assert (event["summary"], event["description"]) == ("renamed", "new agenda")
    assert event["extensions"][0]["status"] == "scheduled"
    assert only_live_bot(gateway, event_id)["id"] == bot["id"]


@pytest.mark.parametrize(
    ("kind", "body", "reason"),
    [
        pytest.param(
            "no link",
            event_body("x", from_now(days=2), description="call me"),
            "no_meeting_url",
            id="no-link",
        ),
        pytest.param(
            "all day",
            {
                **event_body("x", from_now(days=2), join_url=zoom()),
                "start": str(from_now(days=2).date()),
                "end": str(from_now(days=3).date()),
            },
            "all_day",
            id="all-day",
        ),
        pytest.param(
            "ended", event_body("x", from_now(hours=-3), join_url=zoom()), "event_ended", id="ended"
        ),
    ],
)
def test_events_that_cannot_have_a_bot_say_why_and_call_nothing(
    gateway: BotGateway, kind: str, body: Json, reason: str
) -> None:
    event_id = new_id(kind.replace(" ", "-"))
    gateway.upsert({**body, "event_id": event_id})
    expected = "cancelled" if reason == "event_ended" else "failed"
    extension = gateway.wait_status(event_id, expected)

    assert reason in (extension["last_error"] or "")
    assert extension["bot_id"] is None
    assert gateway.sandbox.calls() == []
    assert gateway.sandbox.bots_of(gateway.event(event_id)["event_uid"]) == []


def test_ten_quick_upserts_leave_one_bot_matching_the_last(gateway: BotGateway) -> None:
    event_id, first = new_id("burst"), from_now(days=2)
    starts = [first + timedelta(hours=hour) for hour in range(10)]
    for start in starts:
        gateway.upsert(event_body(event_id, start, join_url=zoom()))

    gateway.wait_status(event_id, "scheduled")
    bot = only_live_bot(gateway, event_id)
    assert instant(bot["join_at"]) == starts[-1]
    assert instant(gateway.event(event_id)["start"]) == starts[-1]


def test_deleting_the_event_while_its_create_is_in_flight_leaves_no_bot(gateway: BotGateway) -> None:
    event_id = new_id("race")
    gateway.sandbox.add_fault(endpoint="create_bot", latency_ms=1500)
    gateway.upsert(event_body(event_id, from_now(days=2), join_url=zoom()))
    wait_until(lambda: len(gateway.interrupted_creates()) == 1, timeout=10, what="the create to be under way")

    gateway.delete(event_id)
    extension = gateway.wait_status(event_id, "cancelled")

    calls = gateway.sandbox.calls()
    assert call_summary(calls) == [("POST", "create_bot", 201), ("DELETE", "bot", 204)]
    (bot,) = gateway.sandbox.bots_of(gateway.event(event_id)["event_uid"])
    assert (bot["deleted"], calls[1]["bot_id"]) == (True, bot["id"])
    assert extension["bot_id"] is None


def test_a_refused_create_fails_the_event_at_once(gateway: BotGateway) -> None:
    event_id = new_id("refused")
    gateway.sandbox.add_fault(endpoint="create_bot", status=403)
    gateway.upsert(event_body(event_id, from_now(days=2), join_url=zoom()))

    extension = gateway.wait_status(event_id, "failed")
    assert "403" in extension["last_error"]
    assert call_summary(gateway.sandbox.calls()) == [("POST", "create_bot", 403)]  # permanent: no retry
    assert gateway.sandbox.bots_of(gateway.event(event_id)["event_uid"]) == []


def test_a_refused_update_shows_on_the_moved_event(gateway: BotGateway) -> None:
    event_id, start = new_id("refused-move"), from_now(days=2)
    bot = scheduled(gateway, event_id, event_body(event_id, start, join_url=zoom()))
    gateway.sandbox.add_fault(endpoint="bot", status=403)

    gateway.upsert(event_body(event_id, start + timedelta(days=1), join_url=zoom()))
    gateway.settle()

    assert call_summary(gateway.sandbox.calls()) == [("PATCH", "bot", 403)]
    assert instant(only_live_bot(gateway, event_id)["join_at"]) == start  # Recall refused the move
    extension = gateway.extension(event_id)
    assert (extension["status"], extension["bot_id"]) == ("failed", bot["id"])
    assert "403" in (extension["last_error"] or "")


# --- fault storms ---------------------------------------------------------------------------------

STORM_EVENTS = 20
STORM_FAULTS = 8


def assert_waited(fault_times: list[str], create_times: list[str], seconds: float) -> None:
    """No event was retried sooner than ``seconds`` after its fault.

    The call log does not say which event a failed create was for, so this checks what must hold
    whichever way faults and events pair up: for the k-th fault, at least as many successful creates
    happen ``seconds`` or more after it as there are faults from the k-th on (each faulted event's
    success comes after its own fault, and the first wave of creates hits distinct events).
    """
    faults = sorted(instant(t) for t in fault_times)
    creates = [instant(t) for t in create_times]
    for k, fault in enumerate(faults):
        later = sum(1 for created in creates if created - fault >= timedelta(seconds=seconds))
        assert later >= len(faults) - k, (k, fault, sorted(creates))


@pytest.mark.parametrize(
    ("status", "retry_after", "ad_hoc"),
    [
        pytest.param(409, None, False, id="409-conflict"),
        pytest.param(429, 1, False, id="429-retry-after"),
        pytest.param(500, None, False, id="500-server-error"),
        pytest.param(507, None, True, id="507-ad-hoc-pool-empty"),
    ],
)
def test_fault_storm_converges_to_one_bot_per_event(
    gateway: BotGateway, status: int, retry_after: int | None, ad_hoc: bool
) -> None:
    fault: Json = {"endpoint": "create_bot", "status": status, "count": STORM_FAULTS}
    if retry_after is not None:
        fault["retry_after"] = retry_after
    gateway.sandbox.add_fault(**fault)
    # 507 only ever answers ad-hoc creates: those events start in two minutes.
    start = from_now(minutes=2) if ad_hoc else from_now(days=3)
    ids = [new_id(f"storm{status}") for _ in range(STORM_EVENTS)]
    gateway.upsert_all(
        [event_body(event_id, start, join_url=zoom(3_000_000_000 + i)) for i, event_id in enumerate(ids)]
    )

    gateway.settle(timeout=60)
    live = gateway.sandbox.live_bots_by_event()
    for event_id in ids:
        event = gateway.event(event_id)
        extension = event["extensions"][0]
        assert extension["status"] == "scheduled", extension
        bots = live[event["event_uid"]]
        assert len(bots) == 1, bots
        assert extension["bot_id"] == event["metadata"]["recall"]["bot_id"] == bots[0]["id"]
        assert bots[0]["scheduled"] is not ad_hoc

    calls = gateway.sandbox.calls()
    faulted = [c for c in calls if c["faulted"]]
    created = [c for c in calls if c["endpoint"] == "create_bot" and c["status"] == 201]
    assert gateway.sandbox.faults() == []
    assert [(c["endpoint"], c["status"]) for c in faulted] == [("create_bot", status)] * STORM_FAULTS
    assert len(created) == STORM_EVENTS
    assert len(calls) == STORM_FAULTS + STORM_EVENTS  # each fault cost one retry, nothing else
    if retry_after is not None:
        assert_waited([c["time"] for c in faulted], [c["time"] for c in created], retry_after)
