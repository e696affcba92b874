"""Calendar V2 end to end: link, full sync, rule-attached bots, moves, deletes, unlink."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.e2e.calendar_v2 import V2Gateway, attendee, google_raw, running_v2_gateway
from tests.e2e.recall import from_now, wire, zoom


@pytest.fixture(scope="module")
def v2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[V2Gateway]:
    with running_v2_gateway(Path(tmp_path_factory.mktemp("v2"))) as gateway:
        yield gateway


def test_link_sync_and_record_external_meetings(v2: V2Gateway) -> None:
    recall_calendar = v2.recall_calendar("owner@example.com")
    start = from_now(days=2)
    external = v2.seed(
        recall_calendar,
        start,
        google_raw(
            "With a customer",
            meeting_url=zoom(1111111111),
            attendees=[attendee("owner@example.com", self_=True), attendee("bob@customer.test")],
        ),
    )
    v2.seed(
        recall_calendar,
        start,
        google_raw(
            "Internal", meeting_url=zoom(2222222222), attendees=[attendee("owner@example.com", self_=True)]
        ),
    )
    calendar_id = v2.calendar()
    link = v2.link(calendar_id, "v2_all", {"recall_calendar_id": recall_calendar, "record": "external"})
    assert link["link"]["status"] in ("connecting", "connected")
    v2.settle()

    customer = v2.external(calendar_id, "With a customer")
    detail = v2.by_uid(calendar_id, customer["event_uid"])
    [extension] = detail["extensions"]
    assert extension["status"] == "scheduled", detail
    assert extension["origin"] == "rule"
    assert detail["explain"]["rule"]["rule"] == "external"
    assert "bob@customer.test" in detail["explain"]["rule"]["reason"]
    assert detail["metadata"]["recall"]["bot_id"] == extension["bot_id"]
    internal = v2.by_uid(calendar_id, v2.external(calendar_id, "Internal")["event_uid"])
    assert "extensions" not in internal
    assert internal["explain"]["rule"]["record"] is False
    [bot] = v2.live_bots()
    assert bot["id"] == extension["bot_id"]
    assert v2.recall_event(external["id"])["bots"][0]["bot_id"] == bot["id"]

    # The meeting moves in the user's calendar: the bot follows it (a new key, a new bot).
    later = start + timedelta(hours=3)
    v2.change(external["id"], start_time=wire(later), end_time=wire(later + timedelta(minutes=30)))
    v2.eventually(
        lambda: v2.by_uid(calendar_id, customer["event_uid"])["extensions"][0]["bot_id"] != bot["id"],
        "the bot to follow the moved meeting",
    )
    v2.settle()
    [moved] = v2.live_bots()
    assert moved["join_at"].startswith(wire(later)[:16]), moved
    detail = v2.by_uid(calendar_id, customer["event_uid"])
    assert detail["explain"]["deduplication_key"] == f"{wire(later)}-{zoom(1111111111)}"

    # Deleted in the user's calendar: the bot is removed.
    v2.remove(external["id"])
    v2.eventually(lambda: not v2.live_bots(), "the bot of the deleted event to be removed")
    v2.settle()
    gone = v2.by_uid(calendar_id, customer["event_uid"])
    assert gone["deleted"] is True
    assert gone["extensions"][0]["status"] == "cancelled"
    assert "recall" not in gone["metadata"]
