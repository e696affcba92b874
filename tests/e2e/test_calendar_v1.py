"""Recall Calendar V1 (the "preset" world) end to end: link, poll, override, tokens, pacing, connect.

Real processes (tests.e2e.calendar_v1): the sandbox plays Recall and the users' calendars, the tests
play the app and the user. Three gateways run:

- ``v1``: the main one, ``sync_interval_seconds = 5`` (the minimum) and limits no test reaches. Every
  link it holds is polled every five seconds (List Calendar Meetings, then Retrieve Calendar User for
  the connection status), so its tests assert the calls to paths of their own (a meeting, a user's
  PUT, POST or DELETE) or count mints, never the whole log.
- ``quiet``: its own sandbox, and a sync interval of an hour, so that after the sync that follows
  linking nothing calls Recall unless a test acts: the token tests count every call, and expiring
  tokens or queueing a fault cannot reach another test's traffic.
- ``paced``: a second gateway on the quiet sandbox whose ``calendar_v1_meetings`` limit is 22 a minute,
  to see the per-user pacing in the call log's times.

Each test makes its own users, meetings (each with a Zoom number of its own) and calendars, lets the
gateway settle, clears the call log, acts, waits for a condition with a deadline, and then asserts
bodies, the exact calls made (and not made), and the sandbox's meetings and bots.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from meetbridge.providers.recall.options import V1_PRESET_MESSAGE
from tests.e2e.calendar_v1 import (
    AUTH,
    AUTH_PATH,
    DISCONNECT_PATH,
    GOOGLE_CLIENT_ID,
    MEETINGS,
    MEETINGS_PATH,
    MICROSOFT_CLIENT_ID,
    PROFILE,
    SYNC_INTERVAL,
    USER,
    USER_PATH,
    V1Gateway,
    meeting_path,
    new_server,
    new_user_id,
    person,
    run_cli,
    running_v1_gateway,
    v1_gateway_on,
    zoom_number,
)
from tests.e2e.recall import API_KEY, ENV_KEY, from_now, instant, wire, zoom
from tests.e2e.server import ServerProcess, webhook_secret

pytestmark = pytest.mark.e2e

Json = dict[str, Any]
# ProviderHttp paces at 90% of a limit, in bursts of a tenth of it: 22 a minute is the fastest pace whose
# burst is still one call, so each call waits for the one before: 60 / (0.9 * 22) = 3.03 s apart.
PACED_PER_MINUTE = 22
PACE_SECONDS = 60 / (0.9 * PACED_PER_MINUTE)
NO_MATCH_YET = "no event of the linked calendar matches yet"
WAITING_FOR_BOT = "Recall has not assigned a bot to the meeting yet"
SANDBOX_BOT_NAME = "Meeting Notetaker"  # the sandbox's bot_name preference until one is set
NO_PREFERENCES = {
    "record_non_host": False,
    "record_recurring": False,
    "record_external": False,
    "record_internal": False,
    "record_confirmed": False,
    "record_only_host": False,
    "bot_name": SANDBOX_BOT_NAME,
}


@pytest.fixture(scope="module")
def main_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[V1Gateway]:
    with running_v1_gateway(Path(tmp_path_factory.mktemp("v1-main"))) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def quiet_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[V1Gateway]:
    with running_v1_gateway(Path(tmp_path_factory.mktemp("v1-quiet")), sync_interval=3600) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def paced_gateway(tmp_path_factory: pytest.TempPathFactory, quiet_gateway: V1Gateway) -> Iterator[V1Gateway]:
    server = new_server(Path(tmp_path_factory.mktemp("v1-paced")), webhook_secret())
    with v1_gateway_on(
        quiet_gateway.sandbox, server, sync_interval=3600, meetings_per_minute=PACED_PER_MINUTE
    ) as gateway:
        yield gateway


@pytest.fixture
def v1(main_gateway: V1Gateway) -> V1Gateway:
    return main_gateway.fresh()


@pytest.fixture
def quiet(quiet_gateway: V1Gateway) -> V1Gateway:
    return quiet_gateway.fresh()


@pytest.fixture
def paced(paced_gateway: V1Gateway) -> V1Gateway:
    return paced_gateway.fresh()


# --- helpers ---------------------------------------------------------------------------------------


def linked_user(v1: V1Gateway, label: str, email: str, platform: str = "google") -> tuple[str, str]:
    """(user_id, calendar_id): a user with a connected calendar at Recall, linked to a new calendar."""
    user_id = new_user_id(label)
    v1.connect(user_id, email, platform)
    calendar_id = v1.calendar(f"{label} work")
    v1.link(calendar_id, {"user_id": user_id})
    return user_id, calendar_id


def only_extension(event: Json) -> Json:
    extensions: list[Json] = event.get("extensions", [])
    assert len(extensions) == 1, event
    return extensions[0]


def status_of(v1: V1Gateway, calendar_id: str, summary: str) -> str | None:
    event = v1.external(calendar_id, summary)
    extensions = (event or {}).get("extensions") or []
    return str(extensions[0]["status"]) if extensions else None


def preferences_rule(record: bool, reason: str) -> Json:
    return {"record": record, "rule": "recall_preferences", "reason": reason}


def managed_body(event_id: str, start: datetime, **fields: Any) -> Json:
    return {
        "event_id": event_id,
        "summary": f"app {event_id}",
        "start": wire(start),
        "end": wire(start + timedelta(minutes=30)),
        "tzid": "Etc/UTC",
        "extensions": [{"provider": "recall", "profile_id": PROFILE}],
        **fields,
    }


def put_times(v1: V1Gateway, meeting_ids: list[str]) -> list[datetime]:
    """When Recall answered each Update Calendar Meeting for these meetings, in order."""
    paths = {meeting_path(m) for m in meeting_ids}
    calls = [c for c in v1.calls(MEETINGS) if c["path"] in paths and c["method"] == "PUT"]
    assert [c["status"] for c in calls] == [200] * len(calls), calls
    return [instant(c["time"]) for c in calls]


# --- 1. linking --------------------------------------------------------------------------------------


def test_link_reads_the_user_from_recall_and_keeps_one_user_per_calendar(v1: V1Gateway) -> None:
    user_id = new_user_id("ann")
    v1.connect(user_id, "ann@acme.test")
    calendar_id, other_calendar = v1.calendar("ann work"), v1.calendar("someone else")

    response = v1.put_link(calendar_id, {"user_id": user_id})
    assert response.status_code == 201, response.text
    link = response.json()["link"]
    assert (link["calendar_id"], link["profile_id"], link["adapter"], link["recall_calendar_id"]) == (
        calendar_id,
        PROFILE,
        "recall-calendar-v1",
        user_id,
    )
    assert (link["status"], link["platform"], link["email"]) == ("connected", "google", "ann@acme.test")
    assert link["preset"] == {
        "user_id": user_id,
        "connections": [
            {"platform": "google", "connected": True, "email": "ann@acme.test"},
            {"platform": "microsoft", "connected": False, "email": None},
        ],
        "preferences": NO_PREFERENCES,
    }
    # One mint for the new user (the quiet gateway's token test counts every call).
    assert [(c["method"], c["path"], c["status"]) for c in v1.calls(AUTH)] == [("POST", AUTH_PATH, 200)]
    [recall_user] = v1.users_named(user_id)

    # The same user on a second calendar: refused without a mint or a second user at Recall.
    v1.sandbox.clear_calls()
    refused = v1.put_link(other_calendar, {"user_id": user_id})
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["errors"]["user_id"]
    assert error["key"] == "errors.duplicate"
    assert user_id in error["description"]
    assert v1.client.get(v1.link_path(other_calendar)).status_code == 404

    # The same calendar as another user: refused too, and that user is not made at Recall.
    other_user = new_user_id("bo")
    changed = v1.put_link(calendar_id, {"user_id": other_user})
    assert changed.status_code == 422, changed.text
    assert list(changed.json()["errors"]) == ["user_id"]
    assert changed.json()["errors"]["user_id"][0]["key"] == "errors.conflict"
    assert v1.users_named(other_user) == []

    # A Calendar V2 field is named, not ignored.
    v2_field = v1.put_link(calendar_id, {"user_id": user_id, "recall_calendar_id": "cal_123"})
    assert v2_field.status_code == 422, v2_field.text
    [error] = v2_field.json()["errors"]["recall_calendar_id"]
    assert error["key"] == "errors.not_applicable"
    assert "recall-calendar-v1" in error["description"]
    assert list(v2_field.json()["errors"]) == ["recall_calendar_id"]

    assert v1.calls(AUTH) == []
    assert [c for c in v1.calls(USER) if c["method"] != "GET"] == []
    assert v1.users_named(user_id) == [recall_user]
    assert v1.get_link(calendar_id)["recall_calendar_id"] == user_id


# --- 2 and 7. polled meetings, Recall's decision, preferences -----------------------------------------


def test_polling_imports_meetings_and_shows_recalls_decision_as_preferences_change(v1: V1Gateway) -> None:
    """One poll does two things here (each costs up to a sync interval of waiting): it brings in a
    meeting seeded after the link's first sync, and shows Recall's new decisions after the app changed
    the user's preferences."""
    user_id = new_user_id("cy")
    v1.connect(user_id, "cy@acme.test")
    start = from_now(days=2, hours=1)
    customer = v1.seed(
        user_id,
        "Customer call",
        start,
        zoom=zoom_number(),
        attendees=[person("cy@acme.test", organizer=True), person("buyer@partner.test")],
    )
    team = v1.seed(
        user_id,
        "Team sync",
        start + timedelta(hours=1),
        meet_invite={"meeting_id": "abc-defg-hij"},
        attendees=[person("cy@acme.test", organizer=True), person("ida@acme.test")],
    )
    calendar_id = v1.calendar()
    v1.link(calendar_id, {"user_id": user_id})
    v1.settle()  # the sync that follows linking imports what the calendar holds now
    none_set = "No recording preference is turned on."
    for summary in ("Customer call", "Team sync"):
        assert v1.detail(calendar_id, summary)["explain"] == {
            "summary": f"Recall will not record it: {none_set}",
            "origin": None,
            "rule": preferences_rule(False, none_set),
            "deduplication_key": None,
        }
    assert (
        v1.detail(calendar_id, "Team sync")["conferencing"]["join_url"]
        == "https://meet.google.com/abc-defg-hij"
    )
    v1.sandbox.clear_calls()

    # The app sets preferences (Recall keeps them; the link shows what Recall reports) ...
    response = v1.put_link(
        calendar_id, {"user_id": user_id, "preferences": {"record_external": True, "bot_name": "X"}}
    )
    assert response.status_code == 200, response.text
    wanted = {**NO_PREFERENCES, "record_external": True, "bot_name": "X"}
    assert response.json()["link"]["preset"]["preferences"] == wanted
    assert v1.path_calls(USER_PATH, "PUT") == [("PUT", USER_PATH, 200)]
    assert v1.get_link(calendar_id)["preset"]["preferences"] == wanted  # read back from Recall
    # ... and Recall records the external meeting at once, with a bot of its own named X.
    at_recall = v1.meeting(user_id, customer["id"])
    assert (at_recall["will_record"], at_recall["override_should_record"]) == (True, None)
    assert v1.bot(at_recall["bot_id"])["bot_name"] == "X"
    assert v1.meeting(user_id, team["id"])["will_record"] is False

    # Meanwhile a new meeting reaches the user's calendar: only polling can find it.
    number = zoom_number()
    ical_uid = f"import-{number}@google.com"
    attendees = [person("cy@acme.test", organizer=True), person("guest@partner.test", status="tentative")]
    later = v1.seed(
        user_id, "Later call", start + timedelta(days=1), zoom=number, attendees=attendees, ical_uid=ical_uid
    )
    matches = "Matches recording preferences: record_external."
    v1.eventually(
        lambda: (
            v1.external(calendar_id, "Later call") is not None
            and v1.detail(calendar_id, "Customer call")["explain"]["rule"] == preferences_rule(True, matches)
        ),
        "the next poll to bring the new meeting and Recall's new decisions",
        timeout=SYNC_INTERVAL + 3,
    )

    event = v1.detail(calendar_id, "Later call")
    assert (event["summary"], event["start"], event["end"], event["ical_uid"], event["deleted"]) == (
        "Later call",
        wire(start + timedelta(days=1)),
        wire(start + timedelta(days=1, minutes=30)),
        ical_uid,
        False,
    )
    assert event["attendees"] == [
        {"email": "cy@acme.test", "display_name": "Cy", "status": "accepted"},
        {"email": "guest@partner.test", "display_name": "Guest", "status": "tentative"},
    ]
    assert (event["conferencing"]["join_url"], event["meeting_url"]) == (zoom(number), zoom(number))
    assert later["will_record"] is True
    assert event["explain"] == {
        "summary": f"Recall will record it: {matches}",
        "origin": None,
        "rule": preferences_rule(True, matches),
        "deduplication_key": None,
    }
    # meetbridge shows Recall's decisions and claims nothing: no extension, no bot in metadata.
    for summary in ("Later call", "Customer call"):
        shown = v1.detail(calendar_id, summary)
        assert ("extensions" not in shown, shown["metadata"]) == (True, {}), shown
    assert (
        v1.detail(calendar_id, "Customer call")["explain"]["summary"] == f"Recall will record it: {matches}"
    )
    assert v1.detail(calendar_id, "Team sync")["explain"]["rule"] == preferences_rule(
        False, "Does not match recording preference record_external."
    )
    # Polling read the window; nothing steered this user's meetings.
    lists = [c for c in v1.calls(MEETINGS) if c["path"] == MEETINGS_PATH]
    assert lists
    assert all(c["method"] == "GET" and "start_time_after=" in c["query"] for c in lists)
    assert all("start_time_before=" in c["query"] for c in lists)
    for meeting in (customer, team, later):
        assert v1.path_calls(meeting_path(meeting["id"])) == []
        assert v1.meeting(user_id, meeting["id"])["override_should_record"] is None


# --- 3. override true / false / null -------------------------------------------------------------------


def test_override_follows_the_apps_extension_true_false_then_null(v1: V1Gateway) -> None:
    user_id = new_user_id("dee")
    v1.connect(user_id, "dee@acme.test")
    number = zoom_number()
    meeting = v1.seed(user_id, "Board review", from_now(days=3), zoom=number)
    calendar_id = v1.calendar()
    v1.link(calendar_id, {"user_id": user_id})
    v1.settle()  # the sync that follows linking imports the meeting
    event_uid = v1.detail(calendar_id, "Board review")["event_uid"]
    path = meeting_path(meeting["id"])

    # The app asks for a bot: override true, and the bot Recall assigns is the event's.
    v1.sandbox.clear_calls()
    v1.set_extension(calendar_id, event_uid, PROFILE)
    v1.settle()
    assert v1.path_calls(path) == [("PUT", path, 200)]
    at_recall = v1.meeting(user_id, meeting["id"])
    assert (at_recall["override_should_record"], at_recall["will_record"]) == (True, True)
    first_bot = at_recall["bot_id"]
    assert first_bot is not None
    event = v1.detail(calendar_id, "Board review")
    extension = only_extension(event)
    assert (extension["status"], extension["bot_id"], extension["origin"]) == ("scheduled", first_bot, "app")
    assert event["metadata"]["recall"]["bot_id"] == first_bot
    bot = v1.bot(first_bot)
    assert (bot["deleted"], bot["meeting_url"]["meeting_id"]) == (False, str(number))

    # profile_id "none": override false; Recall drops the bot.
    v1.sandbox.clear_calls()
    v1.set_extension(calendar_id, event_uid, "none")
    v1.settle()
    assert v1.path_calls(path) == [("PUT", path, 200)]
    at_recall = v1.meeting(user_id, meeting["id"])
    assert (at_recall["override_should_record"], at_recall["will_record"], at_recall["bot_id"]) == (
        False,
        False,
        None,
    )
    assert v1.bot(first_bot)["deleted"] is True
    event = v1.detail(calendar_id, "Board review")
    extension = only_extension(event)
    assert (extension["status"], extension["bot_id"], extension["profile_id"]) == ("cancelled", None, "none")
    assert "recall" not in event["metadata"]

    # v1 again: override true, a new bot.
    v1.sandbox.clear_calls()
    v1.set_extension(calendar_id, event_uid, PROFILE)
    v1.settle()
    assert v1.path_calls(path) == [("PUT", path, 200)]
    second_bot = v1.meeting(user_id, meeting["id"])["bot_id"]
    assert second_bot not in (None, first_bot)
    assert v1.detail(calendar_id, "Board review")["metadata"]["recall"]["bot_id"] == second_bot

    # The app drops the extension: override null (back to the user's preferences, which record nothing).
    v1.sandbox.clear_calls()
    v1.set_extension(calendar_id, event_uid, None)
    v1.settle()
    assert v1.path_calls(path) == [("PUT", path, 200)]
    at_recall = v1.meeting(user_id, meeting["id"])
    assert at_recall["override_should_record"] is None  # null, not false: the preferences decide again
    assert (at_recall["will_record"], at_recall["bot_id"]) == (False, None)
    assert at_recall["will_record_reason"] == "No recording preference is turned on."
    assert v1.bot(second_bot)["deleted"] is True
    event = v1.detail(calendar_id, "Board review")
    assert "recall" not in event["metadata"]
    extension = only_extension(event)
    assert (extension["profile_id"], extension["status"], extension["bot_id"]) == ("none", "cancelled", None)


# --- 4. a bot Recall assigns late ----------------------------------------------------------------------


def test_a_bot_recall_assigns_late_is_polled_for_with_backoff(v1: V1Gateway) -> None:
    user_id = new_user_id("eve")
    v1.connect(user_id, "eve@acme.test")
    meeting = v1.seed(user_id, "Late bot", from_now(days=3, hours=3), zoom=zoom_number())
    calendar_id = v1.calendar()
    v1.link(calendar_id, {"user_id": user_id})
    v1.settle()
    event_uid = v1.detail(calendar_id, "Late bot")["event_uid"]
    v1.configure(bot_assign_delay_seconds=2)
    v1.sandbox.clear_calls()

    v1.set_extension(calendar_id, event_uid, PROFILE)
    waiting: list[Json] = []

    def seen_waiting() -> bool:
        extension = only_extension(v1.detail(calendar_id, "Late bot"))
        if WAITING_FOR_BOT in (extension["last_error"] or ""):
            waiting.append(extension)
        return bool(waiting)

    v1.eventually(seen_waiting, "the event to say it waits for Recall's bot", timeout=5)
    assert (waiting[0]["status"], waiting[0]["bot_id"]) == ("pending", None)
    assert "retrying in" in waiting[0]["last_error"]
    assert v1.meeting(user_id, meeting["id"])["override_should_record"] is True

    v1.eventually(
        lambda: status_of(v1, calendar_id, "Late bot") == "scheduled", "the late bot to be picked up"
    )
    v1.settle()
    bot_id = v1.meeting(user_id, meeting["id"])["bot_id"]
    assert bot_id is not None
    event = v1.detail(calendar_id, "Late bot")
    extension = only_extension(event)
    assert (extension["status"], extension["bot_id"], extension["last_error"]) == ("scheduled", bot_id, None)
    assert event["metadata"]["recall"]["bot_id"] == bot_id
    # One override, then reads of the meeting (never a second override), backed off past the delay.
    path = meeting_path(meeting["id"])
    calls = [c for c in v1.calls(MEETINGS) if c["path"] == path]
    assert (calls[0]["method"], calls[0]["status"]) == ("PUT", 200)
    assert {(c["method"], c["status"]) for c in calls[1:]} == {("GET", 200)}
    times = [instant(c["time"]) for c in calls]
    assert all((later - earlier).total_seconds() >= 2 for earlier, later in itertools.pairwise(times)), calls
    assert [
        b["id"]
        for b in v1.sandbox.bots()
        if b["meeting_url"]["meeting_id"] == meeting["zoom_invite"]["meeting_id"]
    ] == [bot_id]


# --- 5. managed events matched to Recall's meetings ------------------------------------------------------


def test_managed_events_wait_for_the_poll_then_steer_the_matching_meeting(v1: V1Gateway) -> None:
    user_id, calendar_id = linked_user(v1, "fay", "fay@acme.test")
    v1.settle()
    start, by_link, by_uid = from_now(days=4), zoom_number(), zoom_number()
    series_uid = f"series-{by_uid}@google.com"
    v1.sandbox.clear_calls()

    # The app's events come first: nothing at Recall matches them yet.
    v1.upsert(
        calendar_id,
        managed_body(
            f"link-{by_link}",
            start,
            conferencing={"profile_id": "explicit", "join_url": f"{zoom(by_link)}?pwd=secret"},
        ),
    )
    v1.upsert(calendar_id, managed_body(f"uid-{by_uid}", start + timedelta(hours=1), ical_uid=series_uid))
    v1.settle()
    for event_id in (f"link-{by_link}", f"uid-{by_uid}"):
        extension = only_extension(v1.managed(calendar_id, event_id))
        assert extension["status"] == "awaiting_sync", extension
        assert NO_MATCH_YET in extension["last_error"]
    assert [c for c in v1.calls(MEETINGS) if c["path"] != MEETINGS_PATH] == []  # nothing to steer yet

    # Then the meetings reach the user's calendar, beside a same-link meeting on another day.
    target = v1.seed(user_id, "Planning", start, zoom=by_link)
    other_day = v1.seed(user_id, "Planning (next week)", start + timedelta(days=7), zoom=by_link)
    series = v1.seed(user_id, "Series", start + timedelta(hours=1), zoom=by_uid, ical_uid=series_uid)
    v1.eventually(
        lambda: all(
            only_extension(v1.managed(calendar_id, e))["status"] == "scheduled"
            for e in (f"link-{by_link}", f"uid-{by_uid}")
        ),
        "the next poll to match both app events",
        timeout=SYNC_INTERVAL + 8,
    )
    v1.settle()

    for meeting in (target, series):
        assert v1.path_calls(meeting_path(meeting["id"])) == [("PUT", meeting_path(meeting["id"]), 200)]
    assert v1.path_calls(meeting_path(other_day["id"])) == []
    for event_id, meeting in ((f"link-{by_link}", target), (f"uid-{by_uid}", series)):
        at_recall = v1.meeting(user_id, meeting["id"])
        assert at_recall["override_should_record"] is True
        event = v1.managed(calendar_id, event_id)
        extension = only_extension(event)
        assert (extension["status"], extension["bot_id"]) == ("scheduled", at_recall["bot_id"])
        assert at_recall["bot_id"] is not None
        assert event["metadata"]["recall"]["bot_id"] == at_recall["bot_id"]
    untouched = v1.meeting(user_id, other_day["id"])
    assert (untouched["override_should_record"], untouched["bot_id"]) == (None, None)


# --- 6. calendar auth tokens ---------------------------------------------------------------------------


def test_one_token_serves_many_calls_and_an_expired_one_is_renewed_once(quiet: V1Gateway) -> None:
    user_id = new_user_id("gus")
    quiet.connect(user_id, "gus@acme.test")
    first = quiet.seed(user_id, "First", from_now(days=5), zoom=zoom_number())
    second = quiet.seed(user_id, "Second", from_now(days=5, hours=1), zoom=zoom_number())
    calendar_id = quiet.calendar()

    quiet.link(calendar_id, {"user_id": user_id})
    quiet.settle()
    for _ in range(2):
        quiet.get_link(calendar_id)
    for summary in ("First", "Second"):
        quiet.set_extension(calendar_id, quiet.detail(calendar_id, summary)["event_uid"], PROFILE)
    quiet.settle()
    calls = [(c["method"], c["path"], c["status"]) for c in quiet.calls()]
    # One mint, first; then every call with that token: link (read the user, show it), the sync (the
    # meetings, then the user's status), two link reads, two overrides.
    assert calls[0] == ("POST", AUTH_PATH, 200)
    assert sorted(calls[1:]) == sorted(
        [("GET", USER_PATH, 200)] * 5
        + [("GET", MEETINGS_PATH, 200)]
        + [("PUT", meeting_path(m["id"]), 200) for m in (first, second)]
    )

    # Every token expires: the next read gets a 401, mints once, and succeeds.
    quiet.sandbox.clear_calls()
    assert quiet.expire_tokens() >= 1
    link = quiet.get_link(calendar_id)
    assert link["preset"]["connections"][0]["email"] == "gus@acme.test"
    assert [(c["method"], c["path"], c["status"]) for c in quiet.calls()] == [
        ("GET", USER_PATH, 401),
        ("POST", AUTH_PATH, 200),
        ("GET", USER_PATH, 200),
    ]

    # The same in the worker: the override is refused once, re-minted once, and goes through.
    quiet.sandbox.clear_calls()
    assert quiet.expire_tokens() >= 1
    quiet.set_extension(calendar_id, quiet.detail(calendar_id, "First")["event_uid"], "none")
    quiet.settle()
    path = meeting_path(first["id"])
    assert [(c["method"], c["path"], c["status"]) for c in quiet.calls()] == [
        ("PUT", path, 401),
        ("POST", AUTH_PATH, 200),
        ("PUT", path, 200),
    ]
    assert quiet.meeting(user_id, first["id"])["override_should_record"] is False
    assert only_extension(quiet.detail(calendar_id, "First"))["status"] == "cancelled"


# --- 8. preset refusal ---------------------------------------------------------------------------------


def test_check_config_and_serve_refuse_bot_configuration_on_a_v1_profile(tmp_path: Path) -> None:
    config = tmp_path / "meetbridge.toml"
    config.write_text(
        "\n".join(
            [
                "[profiles.preset]",
                'adapter = "recall-calendar-v1"',
                'base_url = "http://127.0.0.1:9"',
                f'api_key = "env:{ENV_KEY}"',
                'bot_name = "Sales Notetaker"',
                "bot_config = { recording_config = { transcript = {} } }",
            ]
        )
    )
    server = ServerProcess(tmp_path, config=config, env={ENV_KEY: API_KEY})
    expected = [f"profile preset: {key}: {V1_PRESET_MESSAGE}" for key in ("bot_name", "bot_config")]
    for line in expected:
        assert "Calendar V1 bots take their configuration from the Recall preset" in line
        assert 'adapter = "recall-calendar-v2"' in line

    check = run_cli(server, "check-config", "--config", str(config))
    assert check.returncode == 2, (check.stdout, check.stderr)
    assert sorted(line for line in check.stderr.splitlines() if line.startswith("profile ")) == sorted(
        expected
    )
    assert "Traceback" not in check.stderr

    serve = run_cli(server, "serve", "--port", "0", "--config", str(config), timeout=30)
    assert serve.returncode == 2, (serve.stdout, serve.stderr)
    assert sorted(line for line in serve.stderr.splitlines() if line.startswith("profile ")) == sorted(
        expected
    )
    assert "Uvicorn running" not in serve.stdout + serve.stderr
    assert "Traceback" not in serve.stderr


# --- 9. pacing and 429 ---------------------------------------------------------------------------------


def test_overrides_are_paced_per_user(paced: V1Gateway) -> None:
    start = from_now(days=7)
    busy_user, other_user = new_user_id("ivy"), new_user_id("jon")
    paced.connect(busy_user, "ivy@acme.test")
    paced.connect(other_user, "jon@acme.test")
    busy = [
        paced.seed(busy_user, f"Ivy {n}", start + timedelta(hours=n), zoom=zoom_number()) for n in range(3)
    ]
    other = paced.seed(other_user, "Jon 0", start, zoom=zoom_number())
    busy_calendar, other_calendar = paced.calendar("ivy"), paced.calendar("jon")
    paced.link(busy_calendar, {"user_id": busy_user})
    paced.link(other_calendar, {"user_id": other_user})
    paced.settle()  # each link's sync imported its meetings: one List Calendar Meetings per user
    uids = {m["title"]: paced.detail(busy_calendar, m["title"])["event_uid"] for m in busy}
    uids["Jon 0"] = paced.detail(other_calendar, "Jon 0")["event_uid"]
    # Each user's import (one List Calendar Meetings call) counts against that user's pace, so each
    # user's first override may wait for it; what is measured is how the users' calls relate.
    paced.sandbox.clear_calls()

    for n in range(3):
        paced.set_extension(busy_calendar, uids[f"Ivy {n}"], PROFILE)
    paced.set_extension(other_calendar, uids["Jon 0"], PROFILE)
    paced.settle(timeout=3 * PACE_SECONDS + 10)

    busy_times = sorted(put_times(paced, [m["id"] for m in busy]))
    [other_time] = put_times(paced, [other["id"]])
    assert len(busy_times) == 3
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(busy_times)]
    assert all(gap >= PACE_SECONDS - 0.1 for gap in gaps), gaps
    # Jon's override went alongside Ivy's first, not in a queue behind hers.
    assert min(abs((other_time - t).total_seconds()) for t in busy_times) < PACE_SECONDS / 2, (
        other_time,
        busy_times,
    )
    assert (max(busy_times) - min(busy_times[0], other_time)).total_seconds() < 2.5 * PACE_SECONDS
    assert {c["status"] for c in paced.calls()} == {200}  # paced, so never a 429
    for calendar_id, summary in [(busy_calendar, f"Ivy {n}") for n in range(3)] + [(other_calendar, "Jon 0")]:
        assert status_of(paced, calendar_id, summary) == "scheduled"


def test_a_429_with_retry_after_is_honoured_and_converges(quiet: V1Gateway) -> None:
    user_id = new_user_id("kim")
    quiet.connect(user_id, "kim@acme.test")
    meeting = quiet.seed(user_id, "Throttled", from_now(days=8), zoom=zoom_number())
    calendar_id = quiet.calendar()
    quiet.link(calendar_id, {"user_id": user_id})
    quiet.settle()
    event_uid = quiet.detail(calendar_id, "Throttled")["event_uid"]
    quiet.sandbox.clear_calls()
    quiet.sandbox.add_fault(endpoint=MEETINGS, status=429, retry_after=1)

    quiet.set_extension(calendar_id, event_uid, PROFILE)
    retrying: list[str] = []

    def scheduled() -> bool:
        extension = only_extension(quiet.detail(calendar_id, "Throttled"))
        if "retrying" in (extension["last_error"] or ""):
            retrying.append(extension["last_error"])
        return bool(extension["status"] == "scheduled")

    quiet.eventually(scheduled, "the override to go through after the 429")
    quiet.settle()

    path = meeting_path(meeting["id"])
    calls = quiet.calls()
    # The retry cannot know whether a refused or lost override landed: it reads, then sends it again.
    assert [(c["method"], c["path"], c["status"], c["faulted"]) for c in calls] == [
        ("PUT", path, 429, True),
        ("GET", path, 200, False),
        ("PUT", path, 200, False),
    ]
    assert (instant(calls[1]["time"]) - instant(calls[0]["time"])).total_seconds() >= 0.95, calls
    assert quiet.sandbox.faults() == []
    assert retrying
    assert "429" in retrying[0]
    at_recall = quiet.meeting(user_id, meeting["id"])
    assert at_recall["override_should_record"] is True
    event = quiet.detail(calendar_id, "Throttled")
    assert (only_extension(event)["bot_id"], event["metadata"]["recall"]["bot_id"]) == (
        at_recall["bot_id"],
        at_recall["bot_id"],
    )
    assert only_extension(event)["last_error"] is None


# --- 10. connect, disconnect, unlink -------------------------------------------------------------------


def authorize_params(url: str) -> tuple[str, dict[str, str], Json]:
    parsed = httpx.URL(url)
    params = dict(parsed.params)
    return str(parsed.copy_with(query=None)), params, json.loads(params["state"])


def choose_account(authorization_url: str, email: str) -> httpx.URL:
    return httpx.URL(authorization_url).copy_merge_params({"login_hint": email})


def test_connect_disconnect_and_unlink(v1: V1Gateway) -> None:
    user_id, calendar_id = new_user_id("lea"), v1.calendar()
    link = v1.link(calendar_id, {"user_id": user_id})  # the user has no calendar connected yet
    assert [c["connected"] for c in link["preset"]["connections"]] == [False, False]
    assert link["status"] != "connected"

    # Google: the consent URL Recall's guide describes, Recall's own callback as the redirect.
    response = v1.client.get(
        f"{v1.link_path(calendar_id)}/connect",
        params={"platform": "google", "success_url": "https://app.example/ok"},
    )
    assert response.status_code == 200, response.text
    connect = response.json()
    callback = f"{v1.sandbox.url}/api/v1/calendar/google_oauth_callback/"
    authorize, params, state = authorize_params(connect["authorization_url"])
    assert authorize == f"{v1.sandbox.url}/_oauth/google/authorize"
    assert connect["redirect_uri"] == callback
    assert (params["client_id"], params["redirect_uri"], params["response_type"]) == (
        GOOGLE_CLIENT_ID,
        callback,
        "code",
    )
    assert (params["access_type"], params["prompt"]) == ("offline", "consent")
    assert set(params["scope"].split()) == {
        "https://www.googleapis.com/auth/calendar.events.readonly",
        "https://www.googleapis.com/auth/userinfo.email",
    }
    assert set(state) == {"recall_calendar_auth_token", "google_oauth_redirect_url", "success_url"}
    assert (state["google_oauth_redirect_url"], state["success_url"]) == (callback, "https://app.example/ok")
    assert state["recall_calendar_auth_token"]

    with httpx.Client(timeout=10) as browser:  # the user's browser: no meetbridge token, no API key
        # The user picks their account at the consent page (the stand-in reads it from login_hint).
        consent = browser.get(choose_account(connect["authorization_url"], "lea@acme.test"))
        assert consent.status_code == 302, consent.text
        back = httpx.URL(consent.headers["location"])
        assert str(back.copy_with(query=None)) == callback
        done = browser.get(back)
        assert done.status_code == 302, done.text
        assert done.headers["location"] == "https://app.example/ok"

    google = {"platform": "google", "connected": True, "email": "lea@acme.test"}
    assert v1.get_link(calendar_id)["preset"]["connections"][0] == google

    # Microsoft, with an error_url and no success_url: Recall answers the user itself.
    response = v1.client.get(
        f"{v1.link_path(calendar_id)}/connect",
        params={"platform": "microsoft", "error_url": "https://app.example/failed"},
    )
    assert response.status_code == 200, response.text
    ms_callback = f"{v1.sandbox.url}/api/v1/calendar/ms_oauth_callback/"
    authorize, params, state = authorize_params(response.json()["authorization_url"])
    assert authorize == f"{v1.sandbox.url}/_oauth/microsoft/authorize"
    assert (params["client_id"], params["redirect_uri"], params["response_mode"]) == (
        MICROSOFT_CLIENT_ID,
        ms_callback,
        "query",
    )
    assert "https://graph.microsoft.com/Calendars.Read" in params["scope"].split()
    assert set(state) == {"recall_calendar_auth_token", "ms_oauth_redirect_url", "error_url"}
    with httpx.Client(timeout=10) as browser:
        consent = browser.get(choose_account(response.json()["authorization_url"], "lea@outlook.test"))
        assert consent.status_code == 302, consent.text
        done = browser.get(consent.headers["location"])
        assert done.status_code == 200, done.text
    microsoft = {"platform": "microsoft", "connected": True, "email": "lea@outlook.test"}
    assert v1.get_link(calendar_id)["preset"]["connections"] == [google, microsoft]

    # A meeting in the Outlook calendar, polled in, and a bot the app asks for.
    number = zoom_number()
    meeting = v1.seed(
        user_id, "Outlook meeting", from_now(days=9), zoom=number, calendar_platform="microsoft"
    )
    v1.eventually(
        lambda: v1.external(calendar_id, "Outlook meeting") is not None,
        "the Outlook meeting to be polled in",
        timeout=SYNC_INTERVAL + 3,
    )
    v1.set_extension(calendar_id, v1.detail(calendar_id, "Outlook meeting")["event_uid"], PROFILE)
    v1.eventually(
        lambda: status_of(v1, calendar_id, "Outlook meeting") == "scheduled",
        "the app's bot for the Outlook meeting",
        timeout=SYNC_INTERVAL + 8,
    )
    v1.settle()
    bot_id = v1.meeting(user_id, meeting["id"])["bot_id"]
    assert bot_id is not None
    assert v1.get_link(calendar_id)["status"] == "connected"

    # Disconnecting Google leaves Outlook (and its bot) alone.
    v1.sandbox.clear_calls()
    response = v1.client.post(f"{v1.link_path(calendar_id)}/disconnect", json={"platform": "google"})
    assert response.status_code == 200, response.text
    assert response.json()["link"]["preset"]["connections"] == [
        {"platform": "google", "connected": False, "email": None},
        microsoft,
    ]
    assert v1.path_calls(DISCONNECT_PATH) == [("POST", DISCONNECT_PATH, 200)]
    assert v1.get_link(calendar_id)["preset"]["connections"][0]["connected"] is False
    assert v1.bot(bot_id)["deleted"] is False

    # Unlinking deletes the Recall user (its meetings and bots go with it) and cancels the extension.
    v1.sandbox.clear_calls()
    response = v1.client.delete(v1.link_path(calendar_id))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "calendar_id": calendar_id,
        "profile_id": PROFILE,
        "recall_calendar_id": user_id,
        "cancelled_extensions": 1,
    }
    assert v1.path_calls(USER_PATH, "DELETE") == [("DELETE", USER_PATH, 204)]
    assert v1.users_named(user_id) == []
    assert v1.bot(bot_id)["deleted"] is True
    assert v1.client.get(v1.link_path(calendar_id)).status_code == 404
    event = v1.detail(calendar_id, "Outlook meeting")
    extension = only_extension(event)
    assert (extension["status"], extension["bot_id"]) == ("cancelled", None)
    assert extension["last_error"] == f"calendar link to profile {PROFILE} was removed"
    assert "recall" not in event["metadata"]
    v1.settle()
    assert [(c["method"], c["path"]) for c in v1.calls(USER) if c["method"] != "GET"] == [
        ("DELETE", USER_PATH)
    ]
    assert v1.path_calls(meeting_path(meeting["id"])) == []  # Recall drops the bot with the user


def test_a_meeting_gone_from_recalls_listing_is_deleted_and_its_extension_cancelled(v1: V1Gateway) -> None:
    user_id = new_user_id("gil")
    v1.connect(user_id, "gil@acme.test")
    kept = v1.seed(user_id, "Stays", from_now(days=2), zoom=zoom_number())
    doomed = v1.seed(user_id, "Cancelled later", from_now(days=2, hours=1), zoom=zoom_number())
    calendar_id = v1.calendar()
    v1.link(calendar_id, {"user_id": user_id})
    v1.settle()
    event_uid = v1.detail(calendar_id, "Cancelled later")["event_uid"]
    v1.set_extension(calendar_id, event_uid, PROFILE)
    v1.eventually(
        lambda: v1.by_uid(calendar_id, event_uid)["extensions"][0]["status"] == "scheduled", "the override"
    )

    v1._admin("DELETE", f"/meetings/{doomed['id']}", expect=(204,))
    v1.eventually(lambda: v1.by_uid(calendar_id, event_uid)["deleted"], "the next poll to notice", timeout=20)
    v1.settle()

    gone = v1.by_uid(calendar_id, event_uid)
    assert gone["extensions"][0]["status"] == "cancelled"
    assert "recall" not in gone["metadata"]
    assert v1.detail(calendar_id, "Stays")["deleted"] is False
    assert [m["id"] for m in v1.meetings(user_id)] == [kept["id"]]
