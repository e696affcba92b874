"""Calendar V2 scheduling end to end: dedup, moves, fault storms, rules, unlink, connect, disconnect.

Real processes (tests.e2e.calendar_v2): the sandbox plays Recall and the users' calendars, the tests play
the app. Every test makes its own calendars and meetings (a meeting id of its own, so bots are told
apart by meeting), lets the sandbox and the gateway settle, clears the call log, acts, settles again,
and then asserts bodies, the exact provider calls made (and not made) and the bots at the sandbox.

The gateway runs on a copy of the adapter catalogue whose recall-calendar-v2 retry backoff starts at
50 ms instead of 1 s, so storms of 409s converge in a second or two; Retry-After is still a floor, and
the fault storm checks from the call log's times that it was honoured.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from meetbridge.providers.recall.webhooks import sign_recall_webhook
from meetbridge.settings import default_catalogue_dir
from tests.e2e.calendar_v2 import WEBHOOK_PROFILE, V2Gateway, attendee, google_raw, running_v2_gateway
from tests.e2e.recall import from_now, instant, wire, zoom

Json = dict[str, Any]
BOT_ENDPOINT = "calendar_event_bot"  # the sandbox's fault/call-log name of POST|DELETE .../bot/
FAST_RETRY = {
    "base_delay_seconds = 1.0": "base_delay_seconds = 0.05",
    "max_delay_seconds = 300.0": "max_delay_seconds = 5.0",
}
SANDBOX_EMAIL = "sandbox.user@example.com"  # the OAuth stand-in's mailbox when no login_hint is given
_meeting_ids = itertools.count(4_100_000_001)


def fast_catalogue(directory: Path) -> Path:
    """The adapter catalogue, with recall-calendar-v2's retry backoff starting at 50 ms."""
    directory.mkdir()
    for source in default_catalogue_dir().glob("*.toml"):
        text = source.read_text(encoding="utf-8")
        if source.stem == "recall-calendar-v2":
            for old, new in FAST_RETRY.items():
                assert old in text, f"{source} no longer says {old!r}"
                text = text.replace(old, new)
        (directory / source.name).write_text(text, encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[V2Gateway]:
    workdir = Path(tmp_path_factory.mktemp("v2-scheduling"))
    catalogue = fast_catalogue(workdir / "adapters")
    with pytest.MonkeyPatch.context() as patch:
        # ServerProcess copies os.environ when it is made: the gateway (and `db upgrade`) read this.
        patch.setenv("MEETBRIDGE_CATALOGUE_DIR", str(catalogue))
        with running_v2_gateway(workdir) as v2:
            yield v2


@pytest.fixture
def v2(gateway: V2Gateway) -> V2Gateway:
    """For each test: webhooks delivered, outbox drained, no faults, no key hold, an empty call log."""
    gateway.settle()
    gateway.sandbox.clear_faults()
    set_key_hold(gateway, 0)
    gateway.sandbox.clear_calls()
    return gateway


# --- helpers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Copy:
    """One user's copy of a meeting: their Recall calendar and event, and the meetbridge calendar."""

    owner: str
    summary: str
    recall_calendar: str
    recall_event: str
    calendar_id: str

    @property
    def bot_path(self) -> str:
        return f"/api/v2/calendar-events/{self.recall_event}/bot/"


def new_meeting() -> int:
    return next(_meeting_ids)


def seed_copies(
    v2: V2Gateway, owners: list[str], meeting: int, start: datetime, summary: str = "Shared meeting"
) -> list[Copy]:
    """The same meeting (start, link, iCal UID) in each owner's Recall calendar; nothing linked yet."""
    ical_uid = f"meeting-{meeting}@google.com"
    copies = []
    for owner in owners:
        recall_calendar = v2.recall_calendar(owner)
        raw = google_raw(
            summary,
            meeting_url=zoom(meeting),
            attendees=[attendee(owner, self_=True), *(attendee(o) for o in owners if o != owner)],
        )
        event = v2.seed(recall_calendar, start, raw, ical_uid=ical_uid)
        copies.append(Copy(owner, summary, recall_calendar, event["id"], v2.calendar(f"{owner} work")))
    # The seeds' sync webhooks and the connect webhooks are delivered now, while no link listens.
    v2.settle()
    return copies


def link_copies(v2: V2Gateway, copies: list[Copy], profile_id: str, record: str = "all") -> None:
    for copy in copies:
        v2.link(copy.calendar_id, profile_id, {"recall_calendar_id": copy.recall_calendar, "record": record})


def find_external(v2: V2Gateway, calendar_id: str, summary: str) -> Json | None:
    found = [e for e in v2.events(calendar_id) if e["summary"] == summary and e.get("event_id") is None]
    assert len(found) <= 1, found
    return v2.by_uid(calendar_id, found[0]["event_uid"]) if found else None


def detail(v2: V2Gateway, calendar_id: str, summary: str) -> Json:
    found = find_external(v2, calendar_id, summary)
    assert found is not None, f"no external event {summary!r} in {calendar_id}"
    return found


def copy_detail(v2: V2Gateway, copy: Copy) -> Json:
    return detail(v2, copy.calendar_id, copy.summary)


def only_extension(event: Json) -> Json:
    extensions: list[Json] = event.get("extensions", [])
    assert len(extensions) == 1, event
    return extensions[0]


def set_extension(v2: V2Gateway, calendar_id: str, event_uid: str, profile_id: str) -> None:
    """The app says what it wants for an external event (Cronofy: upsert by event_uid)."""
    v2.upsert(
        calendar_id,
        {"event_uid": event_uid, "extensions": [{"provider": "recall", "profile_id": profile_id}]},
    )


def bots_of_meeting(v2: V2Gateway, meeting: int, *, live: bool = True) -> list[Json]:
    return [
        bot
        for bot in v2.sandbox.bots()
        if bot["meeting_url"].get("meeting_id") == str(meeting) and not (live and bot["deleted"])
    ]


def bot_calls(v2: V2Gateway) -> list[tuple[str, str, int]]:
    """(method, path, status) of every Add Bot / Remove Bot call, in order."""
    return [
        (c["method"], c["path"], c["status"]) for c in v2.sandbox.calls() if c["endpoint"] == BOT_ENDPOINT
    ]


def set_key_hold(v2: V2Gateway, seconds: float) -> None:
    response = v2.sandbox.admin.post("/_sandbox/calendar-v2/config", json={"key_hold_seconds": seconds})
    assert response.status_code == 200, response.text
    assert response.json()["key_hold_seconds"] == seconds


def key_for(strategy: str, start: datetime, meeting: int, copy: Copy) -> str:
    base = f"{wire(start)}-{zoom(meeting)}"
    if strategy == "v2_all":
        return base
    if strategy == "v2_domain":
        return f"{base}-{copy.owner.rpartition('@')[2]}"
    return f"{base}-{copy.recall_event}"


def webhook_secret(v2: V2Gateway) -> str:
    args = v2.sandbox.args
    return args[args.index("--webhook-secret") + 1]


def deliver_calendar_webhook(v2: V2Gateway, event: str, data: Json) -> httpx.Response:
    """A signed calendar webhook as Recall sends it (e.g. a late redelivery), straight to the gateway."""
    body = json.dumps({"event": event, "data": data}).encode()
    msg_id, timestamp = f"msg_{secrets.token_hex(12)}", int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_recall_webhook(webhook_secret(v2), msg_id, timestamp, body),
    }
    return httpx.post(
        f"{v2.server.url}/v1/webhooks/recall/{WEBHOOK_PROFILE}", content=body, headers=headers, timeout=10
    )


# --- 1. deduplication strategies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile_id", "owners", "groups"),
    [
        ("v2_all", ["ann@acme.test", "raj@globex.test"], [[0, 1]]),
        ("v2_domain", ["ann@acme.test", "bo@acme.test", "cy@globex.test"], [[0, 1], [2]]),
        ("v2_none", ["ann@acme.test", "bo@acme.test"], [[0], [1]]),
    ],
)
def test_dedup_strategy_decides_which_copies_of_a_meeting_share_a_bot(
    v2: V2Gateway, profile_id: str, owners: list[str], groups: list[list[int]]
) -> None:
    meeting, start = new_meeting(), from_now(days=3)
    copies = seed_copies(v2, owners, meeting, start)
    link_copies(v2, copies, profile_id)
    v2.settle()

    details = [copy_detail(v2, copy) for copy in copies]
    for copy, event in zip(copies, details, strict=True):
        extension = only_extension(event)
        assert (extension["status"], extension["origin"]) == ("scheduled", "rule"), event
        assert event["metadata"]["recall"]["bot_id"] == extension["bot_id"]
        assert event["explain"]["deduplication_key"] == key_for(profile_id, start, meeting, copy)
    bot_ids = [event["metadata"]["recall"]["bot_id"] for event in details]
    # Copies in one group share a bot; different groups have different bots.
    assert [{bot_ids[i] for i in group} for group in groups] == [{bot_ids[g[0]]} for g in groups]
    assert len({bot_ids[g[0]] for g in groups}) == len(groups)
    live = bots_of_meeting(v2, meeting)
    assert sorted(bot["id"] for bot in live) == sorted({*bot_ids})
    for bot in live:
        assert instant(bot["join_at"]) == start, bot
    for copy, bot_id in zip(copies, bot_ids, strict=True):
        [entry] = v2.recall_event(copy.recall_event)["bots"]
        assert (entry["bot_id"], entry["deduplication_key"]) == (
            bot_id,
            key_for(profile_id, start, meeting, copy),
        )

    # One successful Add Bot per event (a concurrent one for a shared key may first get 409), no Remove.
    calls = bot_calls(v2)
    assert sorted(path for method, path, status in calls if status == 200) == sorted(
        c.bot_path for c in copies
    )
    assert {(method, status) for method, _, status in calls} <= {("POST", 200), ("POST", 409)}, calls


def test_shared_bot_lives_until_its_last_event_lets_go(v2: V2Gateway) -> None:
    meeting, start = new_meeting(), from_now(days=3, hours=2)
    first, second = copies = seed_copies(v2, ["ann@acme.test", "raj@globex.test"], meeting, start)
    link_copies(v2, copies, "v2_all")
    v2.settle()
    [bot] = bots_of_meeting(v2, meeting)
    assert {copy_detail(v2, c)["metadata"]["recall"]["bot_id"] for c in copies} == {bot["id"]}

    # The app lets go of the first copy: Remove Bot on that event only; the second still holds the bot.
    v2.sandbox.clear_calls()
    set_extension(v2, first.calendar_id, copy_detail(v2, first)["event_uid"], "none")
    v2.settle()
    assert bot_calls(v2) == [("DELETE", first.bot_path, 200)]
    assert [b["id"] for b in bots_of_meeting(v2, meeting)] == [bot["id"]]
    released = copy_detail(v2, first)
    extension = only_extension(released)
    assert (extension["status"], extension["bot_id"], extension["origin"]) == ("cancelled", None, "app")
    assert "recall" not in released["metadata"]
    assert released["explain"]["summary"] == "no bot: the app set profile_id none"
    assert released["explain"]["deduplication_key"] is None
    holding = copy_detail(v2, second)
    assert (only_extension(holding)["status"], holding["metadata"]["recall"]["bot_id"]) == (
        "scheduled",
        bot["id"],
    )
    assert v2.recall_event(first.recall_event)["bots"] == []
    assert [b["bot_id"] for b in v2.recall_event(second.recall_event)["bots"]] == [bot["id"]]

    # The last event lets go: now the bot is deleted.
    v2.sandbox.clear_calls()
    set_extension(v2, second.calendar_id, holding["event_uid"], "none")
    v2.settle()
    assert bot_calls(v2) == [("DELETE", second.bot_path, 200)]
    assert bots_of_meeting(v2, meeting) == []
    [gone] = bots_of_meeting(v2, meeting, live=False)
    assert (gone["id"], gone["deleted"]) == (bot["id"], True)
    for copy in copies:
        event = copy_detail(v2, copy)
        assert only_extension(event)["status"] == "cancelled"
        assert "recall" not in event["metadata"]


# --- 2. time changes ---------------------------------------------------------------------------------


def test_moved_meeting_is_rescheduled_under_its_new_key(v2: V2Gateway) -> None:
    meeting, start = new_meeting(), from_now(days=4)
    copies = seed_copies(v2, ["ann@acme.test", "raj@globex.test"], meeting, start)
    link_copies(v2, copies, "v2_all")
    v2.settle()
    [old] = bots_of_meeting(v2, meeting)
    v2.sandbox.clear_calls()

    # The organiser moves the meeting: both users' calendars change.
    later = start + timedelta(hours=2)
    for copy in copies:
        v2.change(copy.recall_event, start_time=wire(later))

    def followed() -> bool:
        bots = {only_extension(copy_detail(v2, c)).get("bot_id") for c in copies}
        return len(bots) == 1 and None not in bots and old["id"] not in bots

    v2.eventually(followed, "both copies to share a bot at the new time")
    v2.settle()

    new_key = f"{wire(later)}-{zoom(meeting)}"
    [bot] = bots_of_meeting(v2, meeting)
    assert bot["id"] != old["id"]
    assert instant(bot["join_at"]) == later
    assert [b["deleted"] for b in bots_of_meeting(v2, meeting, live=False) if b["id"] == old["id"]] == [True]
    for copy in copies:
        event = copy_detail(v2, copy)
        assert event["start"] == wire(later)
        assert (only_extension(event)["status"], event["metadata"]["recall"]["bot_id"]) == (
            "scheduled",
            bot["id"],
        )
        assert event["explain"]["deduplication_key"] == new_key
        [entry] = v2.recall_event(copy.recall_event)["bots"]
        assert (entry["bot_id"], entry["deduplication_key"], instant(entry["start_time"])) == (
            bot["id"],
            new_key,
            later,
        )
    # A new Add Bot per event with the new key (Recall replaces the old key's bot); no Remove Bot.
    calls = bot_calls(v2)
    assert sorted(path for _, path, status in calls if status == 200) == sorted(c.bot_path for c in copies)
    assert {(method, status) for method, _, status in calls} <= {("POST", 200), ("POST", 409)}, calls


# --- 3. fault storms ---------------------------------------------------------------------------------


def test_add_bot_fault_storm_converges_to_one_bot(v2: V2Gateway) -> None:
    # Within ten minutes of the start: Recall's ad-hoc pool, the only place a 507 can come from.
    meeting, start = new_meeting(), from_now(minutes=7)
    [copy] = seed_copies(v2, ["ann@acme.test"], meeting, start, summary="Starting soon")
    v2.sandbox.clear_calls()
    for spec in (
        {"status": 409, "count": 3},
        {"status": 507, "retry_after": 1},
        {"status": 429, "retry_after": 1},
    ):
        v2.sandbox.add_fault(endpoint=BOT_ENDPOINT, **spec)
    link_copies(v2, [copy], "v2_all")

    retrying: list[str] = []

    def scheduled() -> bool:
        event = find_external(v2, copy.calendar_id, copy.summary)
        extensions = event.get("extensions", []) if event else []
        if extensions and "retrying" in (extensions[0]["last_error"] or ""):
            retrying.append(extensions[0]["last_error"])
        return bool(extensions) and extensions[0]["status"] == "scheduled"

    v2.eventually(scheduled, "the extension to be scheduled through the fault storm")
    v2.settle()

    calls = [c for c in v2.sandbox.calls() if c["endpoint"] == BOT_ENDPOINT]
    assert [(c["method"], c["path"], c["status"]) for c in calls] == [
        ("POST", copy.bot_path, status) for status in (409, 409, 409, 507, 429, 200)
    ]
    assert [c["faulted"] for c in calls] == [True] * 5 + [False]
    # Retry-After: 1 was honoured after the 507 and the 429.
    times = [instant(c["time"]) for c in calls]
    assert (times[4] - times[3]).total_seconds() >= 0.95, calls
    assert (times[5] - times[4]).total_seconds() >= 0.95, calls
    assert v2.sandbox.faults() == []
    assert retrying, "the event never said it was retrying"
    assert any("507" in e for e in retrying) or any("429" in e for e in retrying), retrying

    [bot] = bots_of_meeting(v2, meeting)
    event = copy_detail(v2, copy)
    extension = only_extension(event)
    assert (extension["status"], extension["bot_id"]) == ("scheduled", bot["id"])
    assert "retrying" not in (extension["last_error"] or "")
    assert [b["bot_id"] for b in v2.recall_event(copy.recall_event)["bots"]] == [bot["id"]]


def test_concurrent_add_bots_for_one_key_get_409_and_converge(v2: V2Gateway) -> None:
    meeting, start = new_meeting(), from_now(days=5)
    copies = seed_copies(v2, ["ann@acme.test", "bo@acme.test", "cy@globex.test"], meeting, start)
    # Each Add Bot holds its key a second: the other copies' Add Bots, sent meanwhile, get 409.
    set_key_hold(v2, 1.0)
    try:
        v2.sandbox.clear_calls()
        link_copies(v2, copies, "v2_all")

        def all_scheduled() -> bool:
            events = [find_external(v2, c.calendar_id, c.summary) for c in copies]
            return all(
                e and e.get("extensions") and e["extensions"][0]["status"] == "scheduled" for e in events
            )

        v2.eventually(all_scheduled, "every copy scheduled despite the 409s")
        v2.settle()
    finally:
        set_key_hold(v2, 0)

    calls = bot_calls(v2)
    assert sorted(path for _, path, status in calls if status == 200) == sorted(c.bot_path for c in copies)
    assert ("POST", 409) in {(method, status) for method, _, status in calls}, calls
    assert {(method, status) for method, _, status in calls} == {("POST", 200), ("POST", 409)}, calls
    [bot] = bots_of_meeting(v2, meeting)
    assert bots_of_meeting(v2, meeting, live=False) == [bot]  # never a second bot, not even briefly
    for copy in copies:
        assert copy_detail(v2, copy)["metadata"]["recall"]["bot_id"] == bot["id"]


# --- 4. recording rules and explain --------------------------------------------------------------------


def test_record_external_and_app_extensions_win_over_the_rule(v2: V2Gateway) -> None:
    owner, start = "owner@acme.test", from_now(days=6)
    customer_meeting, team_meeting = new_meeting(), new_meeting()
    recall_calendar = v2.recall_calendar(owner)
    customer_raw = google_raw(
        "Customer call",
        meeting_url=zoom(customer_meeting),
        attendees=[attendee(owner, self_=True), attendee("guest@partner.test")],
    )
    customer_event = v2.seed(recall_calendar, start, customer_raw)
    team_raw = google_raw(
        "Team sync",
        meeting_url=zoom(team_meeting),
        attendees=[attendee(owner, self_=True), attendee("colleague@acme.test")],
    )
    team_event = v2.seed(recall_calendar, start + timedelta(hours=1), team_raw)
    calendar_id = v2.calendar()
    v2.settle()
    v2.link(calendar_id, "v2_all", {"recall_calendar_id": recall_calendar, "record": "external"})
    v2.settle()

    customer = detail(v2, calendar_id, "Customer call")
    extension = only_extension(customer)
    [bot] = bots_of_meeting(v2, customer_meeting)
    assert (extension["status"], extension["origin"], extension["bot_id"]) == ("scheduled", "rule", bot["id"])
    reason = "attendee guest@partner.test is outside acme.test"
    assert customer["explain"] == {
        "summary": f"scheduled: profile v2_all, because rule external: {reason}",
        "origin": "rule",
        "rule": {"record": True, "rule": "external", "reason": reason},
        "deduplication_key": f"{wire(start)}-{zoom(customer_meeting)}",
    }
    team = detail(v2, calendar_id, "Team sync")
    assert "extensions" not in team
    assert "recall" not in team["metadata"]
    assert team["explain"] == {
        "summary": "no bot: rule external: no attendee outside acme.test",
        "origin": None,
        "rule": {"record": False, "rule": "external", "reason": "no attendee outside acme.test"},
        "deduplication_key": None,
    }
    assert bots_of_meeting(v2, team_meeting) == []

    # The app overrules the rule both ways: no bot for the customer call, one for the team sync.
    v2.sandbox.clear_calls()
    set_extension(v2, calendar_id, customer["event_uid"], "none")
    set_extension(v2, calendar_id, team["event_uid"], "v2_all")
    v2.settle()
    assert sorted(bot_calls(v2)) == sorted(
        [
            ("DELETE", f"/api/v2/calendar-events/{customer_event['id']}/bot/", 200),
            ("POST", f"/api/v2/calendar-events/{team_event['id']}/bot/", 200),
        ]
    )
    assert bots_of_meeting(v2, customer_meeting) == []
    [team_bot] = bots_of_meeting(v2, team_meeting)

    def overruled() -> None:
        customer = detail(v2, calendar_id, "Customer call")
        assert (only_extension(customer)["status"], only_extension(customer)["origin"]) == (
            "cancelled",
            "app",
        )
        assert customer["explain"]["summary"] == "no bot: the app set profile_id none"
        assert customer["explain"]["rule"]["record"] is True  # the rule still says record; the app won
        assert customer["explain"]["deduplication_key"] is None
        team = detail(v2, calendar_id, "Team sync")
        extension = only_extension(team)
        assert (extension["status"], extension["origin"], extension["bot_id"]) == (
            "scheduled",
            "app",
            team_bot["id"],
        )
        assert team["explain"]["summary"] == "scheduled: profile v2_all, because the app asked"
        assert team["explain"]["rule"]["record"] is False
        assert (
            team["explain"]["deduplication_key"] == f"{wire(start + timedelta(hours=1))}-{zoom(team_meeting)}"
        )

    overruled()

    # The user edits both events; the sync stores the edits but leaves the app's choices alone.
    v2.sandbox.clear_calls()
    v2.change(customer_event["id"], raw={"summary": "Customer call (agenda)"})
    v2.change(team_event["id"], raw={"summary": "Team sync (agenda)"})
    v2.eventually(
        lambda: (
            find_external(v2, calendar_id, "Team sync (agenda)") is not None
            and find_external(v2, calendar_id, "Customer call (agenda)") is not None
        ),
        "the edits to be synced",
    )
    v2.settle()
    assert bot_calls(v2) == []
    assert {method for method, endpoint, _ in v2.calendar_calls()} == {"GET"}
    customer = detail(v2, calendar_id, "Customer call (agenda)")
    assert only_extension(customer)["status"] == "cancelled"
    assert customer["explain"]["summary"] == "no bot: the app set profile_id none"
    team = detail(v2, calendar_id, "Team sync (agenda)")
    assert (only_extension(team)["status"], only_extension(team)["bot_id"]) == ("scheduled", team_bot["id"])
    assert bots_of_meeting(v2, customer_meeting) == []
    assert [b["id"] for b in bots_of_meeting(v2, team_meeting)] == [team_bot["id"]]


def test_record_confirmed_follows_the_owners_answer(v2: V2Gateway) -> None:
    owner, start = "owner@acme.test", from_now(days=7)
    recall_calendar = v2.recall_calendar(owner)
    meetings = {"accepted": new_meeting(), "declined": new_meeting(), "needsAction": new_meeting()}
    for offset, (answer, meeting) in enumerate(meetings.items()):
        raw = google_raw(
            f"Invite {answer}",
            meeting_url=zoom(meeting),
            attendees=[attendee(owner, answer, self_=True), attendee("lead@acme.test")],
        )
        v2.seed(recall_calendar, start + timedelta(hours=offset), raw)
    calendar_id = v2.calendar()
    v2.settle()
    v2.link(calendar_id, "v2_all", {"recall_calendar_id": recall_calendar, "record": "confirmed"})
    v2.settle()

    accepted = detail(v2, calendar_id, "Invite accepted")
    [bot] = bots_of_meeting(v2, meetings["accepted"])
    assert (only_extension(accepted)["status"], only_extension(accepted)["bot_id"]) == (
        "scheduled",
        bot["id"],
    )
    assert accepted["explain"]["rule"] == {
        "record": True,
        "rule": "confirmed",
        "reason": "the calendar owner accepted",
    }
    assert accepted["explain"]["deduplication_key"] == f"{wire(start)}-{zoom(meetings['accepted'])}"
    for answer, reason in (
        ("declined", "the calendar owner declined"),
        ("needsAction", "the calendar owner has not answered, not accepted"),
    ):
        event = detail(v2, calendar_id, f"Invite {answer}")
        assert "extensions" not in event, event
        assert event["explain"]["rule"] == {"record": False, "rule": "confirmed", "reason": reason}
        assert event["explain"]["summary"] == f"no bot: rule confirmed: {reason}"
        assert event["explain"]["deduplication_key"] is None
        assert bots_of_meeting(v2, meetings[answer]) == []


def test_series_is_recorded_even_when_the_rule_records_nothing(v2: V2Gateway) -> None:
    owner, start = "owner@acme.test", from_now(days=8)
    series_meeting, other_meeting = new_meeting(), new_meeting()
    series_uid = f"weekly-{series_meeting}@google.com"
    recall_calendar = v2.recall_calendar(owner)
    raw = google_raw("Weekly 1:1", meeting_url=zoom(series_meeting), attendees=[attendee(owner, self_=True)])
    series_event = v2.seed(recall_calendar, start, raw, ical_uid=series_uid)
    raw = google_raw("Other", meeting_url=zoom(other_meeting), attendees=[attendee(owner, self_=True)])
    v2.seed(recall_calendar, start, raw)
    calendar_id = v2.calendar()
    v2.settle()
    v2.sandbox.clear_calls()
    link = v2.link(
        calendar_id,
        "v2_all",
        {"recall_calendar_id": recall_calendar, "record": "none", "series": [series_uid]},
    )
    assert (link["link"]["record"], link["link"]["series"]) == ("none", [series_uid])
    v2.settle()

    weekly = detail(v2, calendar_id, "Weekly 1:1")
    [bot] = bots_of_meeting(v2, series_meeting)
    assert (only_extension(weekly)["status"], only_extension(weekly)["bot_id"]) == ("scheduled", bot["id"])
    reason = f"ical_uid {series_uid} is in the recorded series"
    assert weekly["explain"]["rule"] == {"record": True, "rule": "series", "reason": reason}
    assert weekly["explain"]["summary"] == f"scheduled: profile v2_all, because rule series: {reason}"
    assert weekly["explain"]["deduplication_key"] == f"{wire(start)}-{zoom(series_meeting)}"
    other = detail(v2, calendar_id, "Other")
    assert "extensions" not in other
    assert other["explain"]["rule"] == {
        "record": False,
        "rule": "none",
        "reason": "rule none records no event",
    }
    assert bots_of_meeting(v2, other_meeting) == []
    assert bot_calls(v2) == [("POST", f"/api/v2/calendar-events/{series_event['id']}/bot/", 200)]


# --- 5. unlink -----------------------------------------------------------------------------------------


def test_unlink_deletes_the_recall_calendar_and_cancels_its_extensions(v2: V2Gateway) -> None:
    owner, start = "owner@acme.test", from_now(days=9)
    first_meeting, second_meeting, internal_meeting, elsewhere_meeting, side_meeting = (
        new_meeting() for _ in range(5)
    )
    recall_calendar, elsewhere_calendar = v2.recall_calendar(owner), v2.recall_calendar("peer@acme.test")
    # The same meetbridge calendar is also linked under another profile, to the owner's team mailbox.
    side_calendar = v2.recall_calendar("owner.team@acme.test")
    for offset, (summary, meeting) in enumerate(
        (("Customer A", first_meeting), ("Customer B", second_meeting))
    ):
        raw = google_raw(
            summary,
            meeting_url=zoom(meeting),
            attendees=[attendee(owner, self_=True), attendee("x@partner.test")],
        )
        v2.seed(recall_calendar, start + timedelta(hours=offset), raw)
    raw = google_raw("Internal", meeting_url=zoom(internal_meeting), attendees=[attendee(owner, self_=True)])
    v2.seed(recall_calendar, start, raw)
    raw = google_raw(
        "Elsewhere",
        meeting_url=zoom(elsewhere_meeting),
        attendees=[attendee("peer@acme.test", self_=True), attendee("y@partner.test")],
    )
    v2.seed(elsewhere_calendar, start, raw)
    raw = google_raw(
        "Side customer",
        meeting_url=zoom(side_meeting),
        attendees=[attendee("owner.team@acme.test", self_=True), attendee("z@partner.test")],
    )
    v2.seed(side_calendar, start, raw)
    calendar_id, elsewhere_id = v2.calendar(), v2.calendar()
    v2.settle()
    v2.link(calendar_id, "v2_all", {"recall_calendar_id": recall_calendar, "record": "external"})
    v2.link(calendar_id, "v2_domain", {"recall_calendar_id": side_calendar, "record": "external"})
    v2.link(elsewhere_id, "v2_all", {"recall_calendar_id": elsewhere_calendar, "record": "external"})
    v2.settle()
    # The app also says "no bot" for the internal meeting: an extension that holds nothing at Recall.
    set_extension(v2, calendar_id, detail(v2, calendar_id, "Internal")["event_uid"], "none")
    v2.settle()
    [first_bot] = bots_of_meeting(v2, first_meeting)
    [second_bot] = bots_of_meeting(v2, second_meeting)
    [elsewhere_bot] = bots_of_meeting(v2, elsewhere_meeting)
    [side_bot] = bots_of_meeting(v2, side_meeting)
    v2.sandbox.clear_calls()

    response = v2.client.delete(f"/v1/calendars/{calendar_id}/links/v2_all")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "calendar_id": calendar_id,
        "profile_id": "v2_all",
        "recall_calendar_id": recall_calendar,
        "cancelled_extensions": 2,
    }
    v2.settle()
    # Deleting the Recall calendar removes its bots; nothing else is called.
    assert [(c["method"], c["path"], c["status"]) for c in v2.sandbox.calls()] == [
        ("DELETE", f"/api/v2/calendars/{recall_calendar}/", 204)
    ]
    assert v2.recall.get(f"/api/v2/calendars/{recall_calendar}/").status_code == 404
    for bot in (first_bot, second_bot):
        assert [b["deleted"] for b in v2.sandbox.bots() if b["id"] == bot["id"]] == [True]
    assert [b["id"] for b in bots_of_meeting(v2, elsewhere_meeting)] == [elsewhere_bot["id"]]
    assert [b["id"] for b in bots_of_meeting(v2, side_meeting)] == [side_bot["id"]]
    assert v2.client.get(f"/v1/calendars/{calendar_id}/links/v2_all").status_code == 404
    assert v2.get_link(calendar_id, "v2_domain")["recall_calendar_id"] == side_calendar
    for summary in ("Customer A", "Customer B"):
        event = detail(v2, calendar_id, summary)
        extension = only_extension(event)
        assert (extension["status"], extension["bot_id"]) == ("cancelled", None), event
        assert extension["last_error"] == "calendar link to profile v2_all was removed"
        assert "recall" not in event["metadata"]
        assert event["deleted"] is True
    # What acts for other links (another calendar; this calendar under another profile) is untouched.
    for event_calendar, summary, bot in (
        (elsewhere_id, "Elsewhere", elsewhere_bot),
        (calendar_id, "Side customer", side_bot),
    ):
        event = detail(v2, event_calendar, summary)
        extension = only_extension(event)
        assert (extension["status"], extension["bot_id"], extension["last_error"]) == (
            "scheduled",
            bot["id"],
            None,
        )
        assert event["metadata"]["recall"]["bot_id"] == bot["id"]
        assert event["deleted"] is False

    # A late (re)delivery of the deleted calendar's webhooks is accepted and costs no call.
    v2.sandbox.clear_calls()
    sync = {"calendar_id": recall_calendar, "last_updated_ts": wire(from_now())}
    assert deliver_calendar_webhook(v2, "calendar.sync_events", sync).status_code == 200
    update = {"calendar_id": recall_calendar}
    assert deliver_calendar_webhook(v2, "calendar.update", update).status_code == 200
    v2.settle()
    assert v2.sandbox.calls() == []
    assert v2.pending_jobs() == 0
    assert only_extension(detail(v2, calendar_id, "Customer A"))["status"] == "cancelled"


# --- 6. connect flow -----------------------------------------------------------------------------------


def test_connect_flow_creates_the_recall_calendar_and_the_link(v2: V2Gateway) -> None:
    calendar_id = v2.calendar()
    response = v2.client.get(
        f"/v1/calendars/{calendar_id}/links/v2_all/connect", params={"platform": "google_calendar"}
    )
    assert response.status_code == 200, response.text
    connect = response.json()
    callback = f"{v2.server.url}/v1/oauth/callback"
    assert connect["redirect_uri"] == callback
    authorize = httpx.URL(connect["authorization_url"])
    assert str(authorize.copy_with(query=None)) == f"{v2.sandbox.url}/_oauth/google/authorize"
    query = dict(authorize.params)
    assert query["client_id"] == "google-client-id"
    assert (query["response_type"], query["redirect_uri"]) == ("code", callback)
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43  # base64url of a SHA-256, unpadded
    assert (query["access_type"], query["prompt"]) == ("offline", "consent")
    state = query["state"]

    with httpx.Client(timeout=10) as browser:  # the user's browser: no meetbridge token
        consent = browser.get(connect["authorization_url"], follow_redirects=False)
        assert consent.status_code == 302, consent.text
        back = httpx.URL(consent.headers["location"])
        assert str(back.copy_with(query=None)) == callback
        assert back.params["state"] == state
        code = back.params["code"]

        # A tampered state is refused before anything is created (and before the code is spent).
        middle = len(state) // 2
        tampered = state[:middle] + ("B" if state[middle] == "A" else "A") + state[middle + 1 :]
        refused = browser.get(callback, params={"code": code, "state": tampered})
        assert refused.status_code == 401, refused.text
        assert "connect state" in refused.text
        assert v2.sandbox.calls() == []

        finished = browser.get(str(back))
        assert finished.status_code == 201, finished.text
        link = finished.json()["link"]
        assert (link["calendar_id"], link["profile_id"], link["adapter"]) == (
            calendar_id,
            "v2_all",
            "recall-calendar-v2",
        )
        assert link["platform"] == "google_calendar"
        assert link["status"] in ("connecting", "connected")
        assert link["email"] == SANDBOX_EMAIL
        assert (link["record"], link["series"]) == ("none", [])

        # The code is spent: replaying the callback creates nothing more.
        replayed = browser.get(str(back))
        assert replayed.status_code == 422, replayed.text

    recall_calendar = v2.recall.get(f"/api/v2/calendars/{link['recall_calendar_id']}/")
    assert recall_calendar.status_code == 200, recall_calendar.text
    created = recall_calendar.json()
    assert (created["platform"], created["oauth_client_id"]) == ("google_calendar", "google-client-id")
    assert SANDBOX_EMAIL in (created["platform_email"], created["oauth_email"])
    v2.eventually(
        lambda: v2.get_link(calendar_id, "v2_all")["status"] == "connected", "the calendar to connect"
    )
    v2.settle()
    posts = [(c["method"], c["path"], c["status"]) for c in v2.sandbox.calls() if c["method"] == "POST"]
    assert posts == [("POST", "/api/v2/calendars/", 201)]
    connected = v2.get_link(calendar_id, "v2_all")
    assert (connected["recall_calendar_id"], connected["email"]) == (
        link["recall_calendar_id"],
        SANDBOX_EMAIL,
    )
    assert connected["last_synced"] is not None  # the full sync after linking ran


# --- 7. disconnected calendars -------------------------------------------------------------------------


def test_disconnected_calendar_fails_its_extensions_with_how_to_fix(v2: V2Gateway) -> None:
    owner, start, meeting = "owner@acme.test", from_now(days=10), new_meeting()
    recall_calendar = v2.recall_calendar(owner)
    raw = google_raw("Board review", meeting_url=zoom(meeting), attendees=[attendee(owner, self_=True)])
    v2.seed(recall_calendar, start, raw)
    calendar_id = v2.calendar()
    v2.settle()
    # record none: only the app's own event (matched by meeting link and start) asks for a bot.
    v2.link(calendar_id, "v2_all", {"recall_calendar_id": recall_calendar, "record": "none"})
    v2.settle()
    v2.upsert(
        calendar_id,
        {
            "event_id": f"board-{meeting}",
            "summary": "Board review",
            "start": wire(start),
            "end": wire(start + timedelta(minutes=30)),
            "tzid": "Etc/UTC",
            "conferencing": {"profile_id": "explicit", "join_url": zoom(meeting)},
            "extensions": [{"provider": "recall", "profile_id": "v2_all"}],
        },
    )
    v2.settle()
    [bot] = bots_of_meeting(v2, meeting)
    assert only_extension(v2.managed(calendar_id, f"board-{meeting}"))["bot_id"] == bot["id"]
    v2.sandbox.clear_calls()

    message = "Token has been expired or revoked."
    response = v2.sandbox.admin.post(
        f"/_sandbox/calendars/{recall_calendar}/status",
        json={"status": "disconnected", "error_code": "invalid_grant", "error_message": message},
    )
    assert response.status_code == 200, response.text
    v2.eventually(
        lambda: v2.get_link(calendar_id, "v2_all")["status"] == "disconnected",
        "the link to show disconnected",
    )
    v2.settle()

    link = v2.get_link(calendar_id, "v2_all")
    assert (link["status"], link["status_detail"]) == ("disconnected", message)
    event = v2.managed(calendar_id, f"board-{meeting}")
    extension = only_extension(event)
    assert extension["status"] == "failed", event
    error = extension["last_error"]
    assert f"calendar {recall_calendar} is disconnected" in error
    assert message in error
    # How to fix it:
    assert "oauth_refresh_token" in error
    assert "connect flow" in error
    assert event["explain"]["summary"].startswith("failed: profile v2_all, because the app asked")
    assert "disconnected" in event["explain"]["summary"]
    # Only the calendar was read again: no Add Bot against a disconnected calendar.
    assert v2.calendar_calls() == [("GET", "calendars", 200)]

    # Reconnecting gives the same Recall calendar a new refresh token (no second calendar) and the
    # event's bot is scheduled again.
    v2.sandbox.clear_calls()
    v2.link(
        calendar_id,
        "v2_all",
        {"platform": "google_calendar", "oauth_refresh_token": "refresh-after-revocation"},
        expect=200,
    )
    v2.eventually(
        lambda: v2.get_link(calendar_id, "v2_all")["status"] == "connected", "the link to connect again"
    )
    v2.eventually(
        lambda: only_extension(v2.managed(calendar_id, f"board-{meeting}"))["status"] == "scheduled",
        "the event to be scheduled again",
    )
    v2.settle()
    assert v2.get_link(calendar_id, "v2_all")["recall_calendar_id"] == recall_calendar
    assert ("PATCH", "calendars", 200) in v2.calendar_calls()
    assert ("POST", "calendars", 201) not in v2.calendar_calls()
    [live] = [b for b in bots_of_meeting(v2, meeting) if not b["deleted"]]
    assert only_extension(v2.managed(calendar_id, f"board-{meeting}"))["bot_id"] == live["id"]
