"""The drift audit of recall-calendar-v1 end to end: a real gateway and the Recall stand-in as processes,
meetings changed behind meetbridge's back through Calendar V1's own API (as the user's own app would,
with a calendar token of its own), and ``meetbridge audit v1`` run beside the server. Each test has its
own gateway, syncing hourly, so nothing but the test and the audit calls Recall after the first sync,
and one test's leftovers are never another's findings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.audit import audit_cli, rows
from tests.e2e.calendar_v1 import (
    AUTH,
    AUTH_PATH,
    MEETINGS,
    PROFILE,
    USER_PATH,
    V1Gateway,
    meeting_path,
    new_user_id,
    running_v1_gateway,
    zoom_number,
)
from tests.e2e.recall import API_KEY, from_now

pytestmark = pytest.mark.e2e

Json = dict[str, Any]
QUIET = 3600  # seconds between syncs: after the first one, no background call to Recall


@pytest.fixture
def v1(tmp_path: Path) -> Iterator[V1Gateway]:
    with running_v1_gateway(tmp_path, sync_interval=QUIET) as gateway:
        yield gateway.fresh()


class UsersOwnApp:
    """Calendar V1 as the user's own client uses it: a token minted for the user, then user calls."""

    def __init__(self, v1: V1Gateway, user_id: str) -> None:
        self.client = httpx.Client(base_url=v1.sandbox.url, timeout=10)
        minted = self.client.post(
            AUTH_PATH, json={"user_id": user_id}, headers={"Authorization": f"Token {API_KEY}"}
        )
        assert minted.status_code == 200, minted.text
        self.client.headers["x-recallcalendarauthtoken"] = minted.json()["token"]

    def override(self, meeting_id: str, value: bool | None) -> Json:
        response = self.client.put(meeting_path(meeting_id), json={"override_should_record": value})
        assert response.status_code == 200, response.text
        found: Json = response.json()
        return found

    def preferences(self, **preferences: bool) -> None:
        response = self.client.put(USER_PATH, json={"preferences": preferences})
        assert response.status_code == 200, response.text

    def close(self) -> None:
        self.client.close()


class Meeting:
    """One meeting on a user's connected calendar, linked under the profile, and meetbridge's copy."""

    def __init__(self, v1: V1Gateway, label: str, number: int, *, wants_bot: bool = True) -> None:
        self.v1 = v1
        self.user_id = new_user_id(label)
        v1.connect(self.user_id, f"{label}@acme.test")
        self.title = f"Audited {label}"
        self.id: str = v1.seed(self.user_id, self.title, from_now(days=3), zoom=number)["id"]
        self.calendar_id = v1.calendar(f"{label} work")
        v1.link(self.calendar_id, {"user_id": self.user_id})
        v1.settle()  # the sync that follows linking imports the meeting
        self.event_uid: str = v1.detail(self.calendar_id, self.title)["event_uid"]
        if wants_bot:
            v1.set_extension(self.calendar_id, self.event_uid, PROFILE)
            v1.settle()
            bot_id = self.at_recall()["bot_id"]
            assert bot_id is not None
            assert self.extension() == {"status": "scheduled", "bot_id": bot_id}

    def at_recall(self) -> Json:
        return self.v1.meeting(self.user_id, self.id)

    def extension(self) -> Json:
        [extension] = self.v1.detail(self.calendar_id, self.title)["extensions"]
        return {"status": extension["status"], "bot_id": extension["bot_id"]}


def calls(v1: V1Gateway) -> list[tuple[str, str, int]]:
    return [(c["method"], c["endpoint"], c["status"]) for c in v1.calls()]


def writes(v1: V1Gateway) -> list[tuple[str, str, int]]:
    # The token mint is a POST that writes nothing at Recall.
    return [c for c in calls(v1) if c[0] != "GET" and c[1] != AUTH]


# The audit process holds no token yet: it mints one, then lists the meetings of each linked user.
LISTING = [("POST", AUTH, 200), ("GET", MEETINGS, 200)]


def test_a_bot_dropped_behind_meetbridges_back_is_assigned_again_with_its_new_id(v1: V1Gateway) -> None:
    meeting = Meeting(v1, "dana", zoom_number())
    gone = meeting.at_recall()["bot_id"]
    own_app = UsersOwnApp(v1, meeting.user_id)
    dropped = own_app.override(meeting.id, False)  # the user turns recording off in their own app
    own_app.close()
    assert dropped["bot_id"] is None
    assert v1.bot(gone)["deleted"] is True
    v1.sandbox.clear_calls()
    before = rows(v1)

    code, out = audit_cli(v1, PROFILE)
    assert code == 1
    [line] = out.splitlines()
    assert line == (
        f"missing profile={PROFILE} calendar={meeting.calendar_id} event={meeting.event_uid} bot={gone}: "
        "the provider no longer has the bot meetbridge scheduled"
    )
    assert calls(v1) == LISTING  # looking changes nothing: no provider write, not a row
    assert rows(v1) == before

    v1.sandbox.clear_calls()
    code, out = audit_cli(v1, PROFILE, "--repair")
    assert code == 1
    assert f"missing profile={PROFILE} calendar={meeting.calendar_id} " in out
    assert f"bot={gone} [repaired]" in out
    v1.settle()
    made = meeting.at_recall()
    assert (made["override_should_record"], made["will_record"]) == (True, True)
    assert made["bot_id"] not in (None, gone)
    assert meeting.extension() == {"status": "scheduled", "bot_id": made["bot_id"]}
    event = v1.detail(meeting.calendar_id, meeting.title)
    assert event["metadata"]["recall"]["bot_id"] == made["bot_id"]
    [entry] = event["audit"]
    assert (entry["kind"], entry["bot_id"], entry["action"]) == ("missing", gone, "repaired")
    # The one write: the event's job set the override again, through the normal reconcile path.
    assert writes(v1) == [("PUT", MEETINGS, 200)]
    assert [c["path"] for c in v1.calls(MEETINGS) if c["method"] == "PUT"] == [meeting_path(meeting.id)]

    v1.sandbox.clear_calls()
    assert audit_cli(v1, PROFILE, "--repair") == (0, "")


def test_an_override_meetbridge_left_on_a_meeting_whose_event_wants_no_bot_is_turned_off(
    v1: V1Gateway,
) -> None:
    meeting = Meeting(v1, "eli", zoom_number())
    bot_id = meeting.at_recall()["bot_id"]
    # The app asks for no bot; the override's "false" is answered 404 without changing anything, so
    # meetbridge believes the meeting gone and lets the event go, while Recall keeps recording.
    v1.sandbox.add_fault(endpoint=MEETINGS, status=404)
    v1.set_extension(meeting.calendar_id, meeting.event_uid, "none")
    v1.settle()
    assert meeting.extension() == {"status": "cancelled", "bot_id": None}
    left = meeting.at_recall()
    assert (left["override_should_record"], left["bot_id"]) == (True, bot_id)
    v1.sandbox.clear_calls()
    before = rows(v1)

    code, out = audit_cli(v1, PROFILE)
    assert code == 1
    assert out.startswith(
        f"orphan profile={PROFILE} calendar={meeting.calendar_id} event={meeting.event_uid} "
    )
    assert (calls(v1), rows(v1)) == (LISTING, before)

    v1.sandbox.clear_calls()
    code, out = audit_cli(v1, PROFILE, "--repair")
    assert code == 1
    [line] = out.splitlines()
    assert line.startswith(f"orphan profile={PROFILE} calendar={meeting.calendar_id}")
    assert f"bot={bot_id} [repaired]: meetbridge made this bot but its event no longer asks" in line
    assert calls(v1) == [*LISTING, ("PUT", MEETINGS, 200)]
    after = meeting.at_recall()
    assert (after["override_should_record"], after["bot_id"]) == (False, None)
    assert v1.bot(bot_id)["deleted"] is True
    [entry] = v1.detail(meeting.calendar_id, meeting.title)["audit"]
    assert (entry["kind"], entry["bot_id"], entry["action"]) == ("orphan", bot_id, "repaired")

    v1.sandbox.clear_calls()
    assert audit_cli(v1, PROFILE, "--repair") == (0, "")


def test_a_bot_the_users_preferences_put_on_a_managed_meeting_is_reported_and_left_alone(
    v1: V1Gateway,
) -> None:
    number = zoom_number()
    ours = Meeting(v1, "fay", number)
    our_bot = ours.at_recall()["bot_id"]
    # A colleague invited to the same call, linked under the profile too, whose own preferences
    # record it: Recall puts a bot of theirs on the call (the stand-in keeps one bot per meeting).
    theirs = Meeting(v1, "gus", number, wants_bot=False)
    own_app = UsersOwnApp(v1, theirs.user_id)
    own_app.preferences(record_internal=True)
    own_app.close()
    their_bot = theirs.at_recall()["bot_id"]
    assert their_bot not in (None, our_bot)
    assert theirs.at_recall()["override_should_record"] is None
    v1.sandbox.clear_calls()

    code, out = audit_cli(v1, PROFILE, "--repair")
    assert code == 1
    [line] = out.splitlines()
    assert line.startswith(f"foreign profile={PROFILE} calendar={ours.calendar_id} event={ours.event_uid} ")
    assert f"bot={their_bot} [reported]: a bot meetbridge did not make is on this meeting" in line
    assert sorted(calls(v1)) == sorted(
        [("POST", AUTH, 200), *[("GET", MEETINGS, 200)] * 2, ("POST", AUTH, 200)]
    )
    v1.settle()
    assert writes(v1) == []
    assert theirs.at_recall()["bot_id"] == their_bot
    assert v1.bot(their_bot)["deleted"] is False
    assert ours.extension() == {"status": "scheduled", "bot_id": our_bot}


def test_an_audit_in_step_makes_only_the_listing_calls(v1: V1Gateway) -> None:
    meeting = Meeting(v1, "hal", zoom_number())
    before = meeting.at_recall()
    v1.sandbox.clear_calls()
    assert audit_cli(v1, PROFILE, "--repair") == (0, "")
    assert calls(v1) == LISTING
    assert meeting.at_recall() == before
    assert meeting.extension() == {"status": "scheduled", "bot_id": before["bot_id"]}
