"""The drift audit of recall-calendar-v2 end to end: a real gateway and the Recall stand-in as processes,
bots changed on the calendar events behind meetbridge's back through Recall's own API (as another
integration would), and ``meetbridge audit v2_all`` run beside the server. Each test has its own
gateway, so one test's leftovers are never another's findings."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.audit import audit_cli
from tests.e2e.calendar_v2 import V2Gateway, attendee, google_raw, running_v2_gateway
from tests.e2e.recall import from_now, instant, wire, zoom

Json = dict[str, Any]
PROFILE = "v2_all"  # deduplication "all": the key is "{start}-{meeting_url}"
OWNER = "owner@example.com"
_meetings = itertools.count(4_200_000_001)


@pytest.fixture
def v2(tmp_path: Path) -> Iterator[V2Gateway]:
    with running_v2_gateway(tmp_path) as gateway:
        yield gateway


class Meeting:
    """One meeting on a linked calendar: its Recall event and meetbridge's copy."""

    def __init__(self, v2: V2Gateway, *, record: str = "all") -> None:
        self.number = next(_meetings)
        self.start = from_now(days=3)
        recall_calendar = v2.recall_calendar(OWNER)
        raw = google_raw(
            "Audited meeting", meeting_url=zoom(self.number), attendees=[attendee(OWNER, self_=True)]
        )
        self.recall_event: str = v2.seed(recall_calendar, self.start, raw)["id"]
        v2.settle()
        self.calendar_id = v2.calendar("audited work")
        v2.link(self.calendar_id, PROFILE, {"recall_calendar_id": recall_calendar, "record": record})
        v2.settle()
        self.key = f"{wire(self.start)}-{zoom(self.number)}"  # what meetbridge computes for it

    @property
    def bot_path(self) -> str:
        return f"/api/v2/calendar-events/{self.recall_event}/bot/"

    def bots(self, v2: V2Gateway) -> list[Json]:
        found: list[Json] = v2.recall_event(self.recall_event)["bots"]
        return found

    def extension(self, v2: V2Gateway) -> Json:
        [event] = [e for e in v2.events(self.calendar_id) if e.get("event_id") is None]
        [extension] = v2.by_uid(self.calendar_id, event["event_uid"])["extensions"]
        found: Json = extension
        return found


def calls(v2: V2Gateway) -> list[tuple[str, str, int]]:
    return [(c["method"], c["endpoint"], c["status"]) for c in v2.sandbox.calls()]


def scheduled(v2: V2Gateway) -> Meeting:
    meeting = Meeting(v2)
    [bot] = meeting.bots(v2)
    assert bot["deduplication_key"] == meeting.key
    assert meeting.extension(v2)["bot_id"] == bot["bot_id"]
    tags = {b["id"]: b["metadata"] for b in v2.sandbox.bots()}
    assert tags[bot["bot_id"]].get("meetbridge_profile") == PROFILE  # Add Bot carried the tag
    return meeting


def test_a_bot_removed_from_the_calendar_event_is_added_back(v2: V2Gateway) -> None:
    meeting = scheduled(v2)
    [gone] = meeting.bots(v2)
    assert v2.recall.delete(meeting.bot_path).status_code == 200  # behind meetbridge's back
    assert meeting.bots(v2) == []
    v2.sandbox.clear_calls()

    code, out = audit_cli(v2, PROFILE, "--repair")
    assert code == 1
    [line] = out.splitlines()
    assert line.startswith(f"missing profile={PROFILE} calendar={meeting.calendar_id}")
    assert f"bot={gone['bot_id']} [repaired]" in line
    v2.settle()
    made_calls = calls(v2)  # before this test's own reads at Recall join the log
    [made] = meeting.bots(v2)
    assert made["deduplication_key"] == meeting.key
    assert made["bot_id"] != gone["bot_id"]
    extension = meeting.extension(v2)
    assert (extension["status"], extension["bot_id"]) == ("scheduled", made["bot_id"])
    # The listing, the gone bot confirmed, then one Add Bot made by the event's job (and the reads
    # the new bot's status webhooks cause): no other write.
    assert made_calls[:3] == [
        ("GET", "calendar_events_list", 200),
        ("GET", "bot", 404),
        ("POST", "calendar_event_bot", 200),
    ]
    assert [c for c in made_calls if c[0] != "GET"] == [("POST", "calendar_event_bot", 200)]
    v2.sandbox.clear_calls()
    assert audit_cli(v2, PROFILE, "--repair") == (0, "")


def test_a_bot_with_meetbridges_key_and_tag_that_no_extension_wants_is_removed(v2: V2Gateway) -> None:
    meeting = Meeting(v2, record="none")  # linked, but nothing asks for a bot
    assert meeting.bots(v2) == []
    # A bot meetbridge made and then lost track of: its key and its tag.
    config = {"bot_name": "E2E V2 Notetaker", "metadata": {"meetbridge_profile": PROFILE}}
    response = v2.recall.post(meeting.bot_path, json={"deduplication_key": meeting.key, "bot_config": config})
    assert response.status_code == 200, response.text
    [orphan] = meeting.bots(v2)
    v2.sandbox.clear_calls()

    code, out = audit_cli(v2, PROFILE, "--repair")
    assert code == 1
    [line] = out.splitlines()
    assert line.startswith(f"orphan profile={PROFILE}")
    assert f"bot={orphan['bot_id']} [repaired]" in line
    assert calls(v2) == [
        ("GET", "calendar_events_list", 200),
        ("GET", "bot", 200),  # its tag read before anything is removed
        ("DELETE", "calendar_event_bot", 200),
    ]
    assert meeting.bots(v2) == []
    assert not [b for b in v2.live_bots() if b["id"] == orphan["bot_id"]]
    v2.sandbox.clear_calls()
    assert audit_cli(v2, PROFILE, "--repair") == (0, "")


def test_a_bot_with_meetbridges_key_but_no_tag_is_left_alone(v2: V2Gateway) -> None:
    meeting = Meeting(v2, record="none")
    # Another integration following Recall's suggested key pattern: the same key, no meetbridge tag.
    body = {"deduplication_key": meeting.key, "bot_config": {"bot_name": "Their Notetaker"}}
    assert v2.recall.post(meeting.bot_path, json=body).status_code == 200
    [theirs] = meeting.bots(v2)
    v2.sandbox.clear_calls()

    code, out = audit_cli(v2, PROFILE, "--repair")
    assert code == 1
    assert f"bot={theirs['bot_id']} [skipped]" in out
    assert calls(v2) == [("GET", "calendar_events_list", 200), ("GET", "bot", 200)]
    assert meeting.bots(v2) == [theirs]


def test_a_foreign_bot_on_a_managed_event_is_reported_and_left_alone(v2: V2Gateway) -> None:
    meeting = scheduled(v2)
    [ours] = meeting.bots(v2)
    # Another integration's Add Bot with its own key: on Recall one event holds one scheduled bot, so
    # theirs replaces meetbridge's.
    body = {"deduplication_key": f"their-{meeting.number}", "bot_config": {"bot_name": "Their Notetaker"}}
    assert v2.recall.post(meeting.bot_path, json=body).status_code == 200
    [theirs] = meeting.bots(v2)
    assert theirs["bot_id"] != ours["bot_id"]
    v2.sandbox.clear_calls()

    code, out = audit_cli(v2, PROFILE, "--repair")
    assert code == 1
    lines = out.splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == ["missing", "foreign"]
    assert f"bot={ours['bot_id']} [reported]" in lines[0]
    assert f"bot={theirs['bot_id']} [reported]" in lines[1]
    v2.settle()
    assert [c for c in calls(v2) if c[0] != "GET"] == []
    assert meeting.bots(v2) == [theirs]  # adding meetbridge's back would have removed theirs
    assert meeting.extension(v2)["bot_id"] == ours["bot_id"]


def test_an_audit_with_nothing_to_repair_makes_only_the_listing_call(v2: V2Gateway) -> None:
    meeting = scheduled(v2)
    before = meeting.bots(v2)
    v2.sandbox.clear_calls()
    assert audit_cli(v2, PROFILE, "--repair") == (0, "")
    assert calls(v2) == [("GET", "calendar_events_list", 200)]
    assert meeting.bots(v2) == before


def test_a_bot_moved_at_recall_is_put_back_at_the_events_start(v2: V2Gateway) -> None:
    meeting = scheduled(v2)
    [ours] = meeting.bots(v2)
    later = meeting.start + timedelta(hours=3)
    # Someone at Recall moves the bot (id kept); the calendar event itself does not change.
    moved = v2.recall.post(
        f"/_sandbox/calendar-v2/bots/{ours['bot_id']}/move", json={"start_time": wire(later)}
    )
    assert moved.status_code == 200, moved.text
    [shown] = meeting.bots(v2)
    assert (shown["bot_id"], instant(shown["start_time"])) == (ours["bot_id"], later)
    v2.sandbox.clear_calls()

    code, out = audit_cli(v2, PROFILE, "--repair")
    assert code == 1
    [line] = out.splitlines()
    assert line.startswith(f"stale profile={PROFILE} calendar={meeting.calendar_id}")
    assert f"bot={ours['bot_id']} [repaired]" in line
    v2.settle()
    assert [c for c in calls(v2) if c[0] != "GET"] == [("POST", "calendar_event_bot", 200)]
    # Add Bot again with the key: on Recall a moved V2 bot comes back as a new bot at the start.
    [made] = meeting.bots(v2)
    assert (made["deduplication_key"], instant(made["start_time"])) == (meeting.key, meeting.start)
    extension = meeting.extension(v2)
    assert (extension["status"], extension["bot_id"]) == ("scheduled", made["bot_id"])
    assert instant({b["id"]: b for b in v2.sandbox.bots()}[made["bot_id"]]["join_at"]) == meeting.start
    v2.sandbox.clear_calls()
    assert audit_cli(v2, PROFILE, "--repair") == (0, "")
