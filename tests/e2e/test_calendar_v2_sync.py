"""Calendar V2 sync end to end: paged full sync, incremental sync, attaching bots, removing, webhooks.

Each test makes its own meetbridge calendar and Recall calendar on one shared gateway; what it
asserts on the provider side comes from the sandbox's call log, cleared once the setup has settled.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from meetbridge.providers.recall.webhooks import sign_recall_webhook
from tests.e2e.calendar_v2 import WEBHOOK_PROFILE, V2Gateway, attendee, google_raw, running_v2_gateway
from tests.e2e.recall import ENV_SECRET, from_now, instant, wire, zoom

pytestmark = pytest.mark.e2e

Json = dict[str, Any]
EVENTS_PATH = "/api/v2/calendar-events/"
NO_MATCH_YET = "no event of the linked calendar matches yet"


@pytest.fixture(scope="module")
def v2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[V2Gateway]:
    with running_v2_gateway(Path(tmp_path_factory.mktemp("v2sync"))) as gateway:
        yield gateway


# --- what the tests read ---------------------------------------------------------------------------


def list_calls(v2: V2Gateway) -> list[Json]:
    """The List Calendar Events calls meetbridge made, in order, with their parsed query."""
    return [
        {**call, "params": {k: v[0] for k, v in parse_qs(call["query"]).items()}}
        for call in v2.sandbox.calls()
        if call["endpoint"] == "calendar_events_list"
    ]


def bot_calls(v2: V2Gateway) -> list[tuple[str, str, int]]:
    """(method, path, status) of every Add Bot / Remove Bot call meetbridge made, in order."""
    return [
        (call["method"], call["path"], call["status"])
        for call in v2.sandbox.calls()
        if call["endpoint"] == "calendar_event_bot"
    ]


def bot_path(recall_event_id: str) -> str:
    return f"{EVENTS_PATH}{recall_event_id}/bot/"


def live_bot_ids(v2: V2Gateway) -> set[str]:
    return {bot["id"] for bot in v2.live_bots()}


def calendar_v2_config(v2: V2Gateway, **config: Any) -> Json:
    response = v2.sandbox.admin.post("/_sandbox/calendar-v2/config", json=config)
    assert response.status_code == 200, response.text
    found: Json = response.json()
    return found


def extension_of(event: Json) -> Json:
    [extension] = event["extensions"]
    found: Json = extension
    return found


def managed_event(event_id: str, start: datetime, **fields: Any) -> Json:
    return {
        "event_id": event_id,
        "summary": f"managed {event_id}",
        "start": wire(start),
        "end": wire(start + timedelta(minutes=30)),
        "tzid": "Etc/UTC",
        "extensions": [{"provider": "recall", "profile_id": "v2_all"}],
        **fields,
    }


def meeting_ids() -> Iterator[int]:
    """Zoom meeting ids no other test uses: dedup keys (start + link) must not join tests' bots."""
    base = 3000000000 + secrets.randbelow(10**8) * 10
    while True:
        base += 1
        yield base


MEETINGS = meeting_ids()


# --- webhooks as Recall (or a forger) would send them ----------------------------------------------


def sync_webhook(recall_calendar_id: str, last_updated_ts: str) -> bytes:
    body = {
        "event": "calendar.sync_events",
        "data": {"calendar_id": recall_calendar_id, "last_updated_ts": last_updated_ts},
    }
    return json.dumps(body).encode()


def signed(secret: str, body: bytes) -> dict[str, str]:
    msg_id = f"msg_{secrets.token_hex(8)}"
    timestamp = int(time.time())
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_recall_webhook(secret, msg_id, timestamp, body),
    }


def deliver(v2: V2Gateway, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{v2.server.url}/v1/webhooks/recall/{WEBHOOK_PROFILE}", content=body, headers=headers, timeout=10
    )


# --- 1. full sync ----------------------------------------------------------------------------------


def test_full_sync_on_link_reads_every_page(v2: V2Gateway) -> None:
    recall_calendar = v2.recall_calendar("full@example.com")
    start = from_now(days=3)
    responses = ["accepted", "declined", "tentative", "needsAction", "accepted", "declined", "tentative"]
    expected = {"accepted": "accepted", "declined": "declined", "tentative": "tentative"}
    seeded = [
        v2.seed(
            recall_calendar,
            start + timedelta(hours=i),
            google_raw(
                f"Full sync {i}",
                meeting_url=zoom(next(MEETINGS)),
                attendees=[
                    attendee("full@example.com", self_=True),
                    attendee(f"guest{i}@other.test", responses[i]),
                ],
            ),
        )
        for i in range(7)
    ]
    v2.settle()  # the seeding webhooks (for a calendar nobody linked yet) are answered and done
    previous = calendar_v2_config(v2, page_size=2)
    try:
        v2.sandbox.clear_calls()
        calendar_id = v2.calendar("full sync")
        v2.link(calendar_id, "v2_all", {"recall_calendar_id": recall_calendar, "record": "none"})
        v2.settle()
        calls = list_calls(v2)
        calendar_calls = v2.calendar_calls()
    finally:
        assert calendar_v2_config(v2, page_size=previous["page_size"])["page_size"] == previous["page_size"]

    # Seven events, two a page: four pages, four list calls, the first from the beginning.
    assert calendar_calls == [("GET", "calendars", 200)] + [("GET", "calendar_events_list", 200)] * 4
    assert [call["params"].get("calendar_id") for call in calls] == [recall_calendar] * 4
    assert "updated_at__gte" not in calls[0]["params"], calls[0]
    assert "cursor" not in calls[0]["params"]
    assert all("cursor" in call["params"] for call in calls[1:]), calls
    assert len({call["params"]["cursor"] for call in calls[1:]}) == 3  # each page a new cursor
    assert not bot_calls(v2)  # record "none": nothing is scheduled

    synced = {event["summary"]: event for event in v2.events(calendar_id)}
    assert sorted(synced) == sorted(f"Full sync {i}" for i in range(7))
    for i, recall_event in enumerate(seeded):
        event = synced[f"Full sync {i}"]
        assert event.get("event_id") is None  # external: the user's calendar owns it
        assert event["event_uid"].startswith("evt_external_")
        assert event["ical_uid"] == recall_event["ical_uid"]
        assert event["conferencing"]["join_url"] == recall_event["meeting_url"]
        assert event["conferencing"]["provider_name"] == "Zoom"
        assert event["meeting_url"] == recall_event["meeting_url"]
        assert instant(event["start"]) == start + timedelta(hours=i)
        assert instant(event["end"]) == start + timedelta(hours=i, minutes=30)
        assert event["deleted"] is False
        guests = {a["email"]: a["status"] for a in event["attendees"]}
        assert guests == {
            "full@example.com": "accepted",
            f"guest{i}@other.test": expected.get(responses[i], "needs_action"),
        }
    link = v2.get_link(calendar_id, "v2_all")
    assert link["last_synced"] is not None
    assert link["last_error"] is None


# --- 2. incremental sync ---------------------------------------------------------------------------


def test_incremental_sync_lists_only_what_changed(v2: V2Gateway) -> None:
    recall_calendar = v2.recall_calendar("incremental@example.com")
    start = from_now(days=4)
    seeded = [
        v2.seed(
            recall_calendar,
            start + timedelta(hours=i),
            google_raw(f"Incremental {i}", meeting_url=zoom(next(MEETINGS))),
        )
        for i in range(6)
    ]
    calendar_id = v2.calendar("incremental")
    v2.link(calendar_id, "v2_all", {"recall_calendar_id": recall_calendar, "record": "none"})
    v2.settle()
    assert len(v2.events(calendar_id)) == 6
    newest_before = max(seeded, key=lambda e: e["updated_at"])
    v2.sandbox.clear_calls()
    deliveries_before = len(v2.sandbox.deliveries())

    # The user renames and moves one meeting.
    target = seeded[2]
    moved = start + timedelta(days=1, hours=2)
    changed = v2.change(
        target["id"],
        start_time=wire(moved),
        end_time=wire(moved + timedelta(minutes=45)),
        raw={"summary": "Incremental 2 (renamed)"},
    )
    v2.eventually(
        lambda: any(e["summary"] == "Incremental 2 (renamed)" for e in v2.events(calendar_id)),
        "the renamed event to be synced",
    )
    v2.settle()

    # Recall told us with one signed calendar.sync_events webhook, and the gateway took it.
    [delivery] = v2.sandbox.deliveries()[deliveries_before:]
    assert delivery["delivered"] is True, delivery
    assert delivery["event"] == "calendar.sync_events", delivery
    assert delivery["bot_id"] == recall_calendar  # the sandbox logs the calendar there

    # One incremental list call, from the cursor the full sync left (never from the beginning).
    assert v2.calendar_calls() == [("GET", "calendar_events_list", 200)]
    [call] = list_calls(v2)
    assert call["params"]["calendar_id"] == recall_calendar
    since = instant(call["params"]["updated_at__gte"])
    assert since == instant(newest_before["updated_at"])  # the newest change the full sync stored
    assert since <= instant(changed["updated_at"])

    # What that call answered: the changed event, plus at most the already-seen one at the cursor.
    replay = v2.recall.get(EVENTS_PATH, params=call["params"])
    assert replay.status_code == 200, replay.text
    listed = {event["id"] for event in replay.json()["results"]}
    assert replay.json()["next"] is None
    assert target["id"] in listed
    assert listed <= {target["id"], newest_before["id"]}, listed

    events = {event["summary"]: event for event in v2.events(calendar_id)}
    assert sorted(events) == sorted(
        [f"Incremental {i}" for i in range(6) if i != 2] + ["Incremental 2 (renamed)"]
    )
    renamed = events["Incremental 2 (renamed)"]
    assert instant(renamed["start"]) == moved
    assert instant(renamed["end"]) == moved + timedelta(minutes=45)
    assert renamed["ical_uid"] == target["ical_uid"]
    assert instant(events["Incremental 3"]["start"]) == start + timedelta(hours=3)  # untouched


# --- 3. attach to an external event ----------------------------------------------------------------


def test_app_attaches_a_bot_to_an_external_event(v2: V2Gateway) -> None:
    recall_calendar = v2.recall_calendar("attach@example.com")
    url = zoom(next(MEETINGS))
    recall_event = v2.seed(recall_calendar, from_now(days=5), google_raw("Attach me", meeting_url=url))
    v2.seed(
        recall_calendar, from_now(days=5, hours=1), google_raw("Leave me", meeting_url=zoom(next(MEETINGS)))
    )
    calendar_id = v2.calendar("attach")
    v2.link(calendar_id, "v2_all", {"recall_calendar_id": recall_calendar, "record": "none"})
    v2.settle()
    external = v2.external(calendar_id, "Attach me")
    assert "extensions" not in v2.by_uid(calendar_id, external["event_uid"])
    bots_before = live_bot_ids(v2)
    v2.sandbox.clear_calls()

    v2.upsert(
        calendar_id,
        {"event_uid": external["event_uid"], "extensions": [{"provider": "recall", "profile_id": "v2_all"}]},
    )
    v2.eventually(
        lambda: extension_of(v2.by_uid(calendar_id, external["event_uid"]))["status"] == "scheduled",
        "the app's extension on the external event to be scheduled",
    )
    v2.settle()

    assert bot_calls(v2) == [("POST", bot_path(recall_event["id"]), 200)]
    assert [c for c in v2.calendar_calls() if c[1] != "calendar_event_bot"] == []
    [bot_id] = live_bot_ids(v2) - bots_before
    [on_event] = v2.recall_event(recall_event["id"])["bots"]
    assert on_event["bot_id"] == bot_id
    detail = v2.by_uid(calendar_id, external["event_uid"])
    extension = extension_of(detail)
    assert extension["origin"] == "app"
    assert extension["profile_id"] == "v2_all"
    assert extension["bot_id"] == bot_id
    assert extension["last_error"] is None
    assert detail["metadata"]["recall"]["bot_id"] == bot_id
    assert detail["explain"]["origin"] == "app"
    assert detail["explain"]["deduplication_key"] == on_event["deduplication_key"]
    assert "extensions" not in v2.by_uid(calendar_id, v2.external(calendar_id, "Leave me")["event_uid"])


# --- 4. managed events matched to the linked calendar ----------------------------------------------


def test_managed_events_match_by_ical_uid_and_by_meeting_link(v2: V2Gateway) -> None:
    recall_calendar = v2.recall_calendar("match@example.com")
    start = from_now(days=6)
    ical_uid = f"match-{secrets.token_hex(6)}@google.com"
    by_uid = v2.seed(
        recall_calendar, start, google_raw("Has a UID", meeting_url=zoom(next(MEETINGS))), ical_uid=ical_uid
    )
    url = zoom(next(MEETINGS))
    by_url = v2.seed(recall_calendar, start + timedelta(hours=2), google_raw("By link", meeting_url=url))
    # The same link a day later (a recurring room): same URL, other start, must not be taken.
    decoy = v2.seed(recall_calendar, start + timedelta(days=1, hours=2), google_raw("Decoy", meeting_url=url))
    calendar_id = v2.calendar("match")
    v2.link(calendar_id, "v2_all", {"recall_calendar_id": recall_calendar, "record": "none"})
    v2.settle()
    bots_before = live_bot_ids(v2)
    v2.sandbox.clear_calls()

    # The app's copy knows the UID but not the link; the other knows the link and start only.
    v2.upsert(calendar_id, managed_event("uid-match", start, ical_uid=ical_uid))
    v2.upsert(
        calendar_id,
        managed_event(
            "url-match",
            start + timedelta(hours=2),
            conferencing={"profile_id": "explicit", "join_url": url},
        ),
    )
    v2.eventually(
        lambda: all(
            extension_of(v2.managed(calendar_id, e))["status"] == "scheduled"
            for e in ("uid-match", "url-match")
        ),
        "both managed events to be scheduled",
    )
    v2.settle()

    assert sorted(bot_calls(v2)) == sorted(
        [("POST", bot_path(by_uid["id"]), 200), ("POST", bot_path(by_url["id"]), 200)]
    )
    new_bots = live_bot_ids(v2) - bots_before
    assert len(new_bots) == 2
    for event_id, recall_event in (("uid-match", by_uid), ("url-match", by_url)):
        detail = v2.managed(calendar_id, event_id)
        extension = extension_of(detail)
        assert extension["origin"] == "app"
        [on_event] = v2.recall_event(recall_event["id"])["bots"]
        assert extension["bot_id"] == on_event["bot_id"] == detail["metadata"]["recall"]["bot_id"]
        assert on_event["bot_id"] in new_bots
    assert v2.recall_event(decoy["id"])["bots"] == []
    assert v2.managed(calendar_id, "uid-match")["explain"]["deduplication_key"].endswith(
        by_uid["meeting_url"]
    )


# --- 5. awaiting_sync, then matched -----------------------------------------------------------------


def test_managed_event_waits_for_its_calendar_copy(v2: V2Gateway) -> None:
    recall_calendar = v2.recall_calendar("wait@example.com")
    calendar_id = v2.calendar("awaiting")
    v2.link(calendar_id, "v2_all", {"recall_calendar_id": recall_calendar, "record": "none"})
    v2.settle()
    start = from_now(days=7)
    url = zoom(next(MEETINGS))
    bots_before = live_bot_ids(v2)
    v2.sandbox.clear_calls()

    v2.upsert(
        calendar_id,
        managed_event("early", start, conferencing={"profile_id": "explicit", "join_url": url}),
    )
    v2.eventually(
        lambda: extension_of(v2.managed(calendar_id, "early"))["status"] == "awaiting_sync",
        "the managed event to await its calendar copy",
    )
    v2.settle()
    waiting = extension_of(v2.managed(calendar_id, "early"))
    assert waiting["bot_id"] is None
    assert NO_MATCH_YET in waiting["last_error"]
    assert v2.calendar_calls() == []  # nothing to schedule on, and no sync was asked for

    # The invitation reaches the user's calendar: Recall syncs it and says so by webhook.
    recall_event = v2.seed(recall_calendar, start, google_raw("Arrived", meeting_url=url))
    v2.eventually(
        lambda: extension_of(v2.managed(calendar_id, "early"))["status"] == "scheduled",
        "the managed event to be scheduled once its copy is synced",
    )
    v2.settle()

    assert v2.calendar_calls() == [("GET", "calendar_events_list", 200), ("POST", "calendar_event_bot", 200)]
    assert "updated_at__gte" in list_calls(v2)[0]["params"]  # incremental, from the webhook
    assert bot_calls(v2) == [("POST", bot_path(recall_event["id"]), 200)]
    [bot_id] = live_bot_ids(v2) - bots_before
    detail = v2.managed(calendar_id, "early")
    extension = extension_of(detail)
    assert extension["bot_id"] == bot_id
    assert extension["last_error"] is None
    assert detail["metadata"]["recall"]["bot_id"] == bot_id
    assert [b["bot_id"] for b in v2.recall_event(recall_event["id"])["bots"]] == [bot_id]


# --- 6. deleted in the calendar, or let go by the app ------------------------------------------------


def test_deleted_event_and_profile_none_remove_the_bots(v2: V2Gateway) -> None:
    recall_calendar = v2.recall_calendar("remove@example.com")
    start = from_now(days=8)
    owner, guest = attendee("remove@example.com", self_=True), attendee("carol@customer.test")
    # Rule "external": the two meetings with a customer get rule bots, the internal one does not.
    doomed = v2.seed(
        recall_calendar,
        start,
        google_raw("Will be deleted", meeting_url=zoom(next(MEETINGS)), attendees=[owner, guest]),
    )
    dropped = v2.seed(
        recall_calendar,
        start + timedelta(hours=1),
        google_raw("App lets go", meeting_url=zoom(next(MEETINGS)), attendees=[owner, guest]),
    )
    url = zoom(next(MEETINGS))
    matched = v2.seed(
        recall_calendar,
        start + timedelta(hours=2),
        google_raw("Internal", meeting_url=url, attendees=[owner]),
    )
    calendar_id = v2.calendar("remove")
    bots_before = live_bot_ids(v2)
    v2.link(calendar_id, "v2_all", {"recall_calendar_id": recall_calendar, "record": "external"})
    # The app's own copy of the internal meeting, matched by link and start.
    v2.upsert(
        calendar_id,
        managed_event(
            "copy", start + timedelta(hours=2), conferencing={"profile_id": "explicit", "join_url": url}
        ),
    )
    v2.eventually(
        lambda: extension_of(v2.managed(calendar_id, "copy"))["status"] == "scheduled",
        "the managed copy to be scheduled",
    )
    v2.settle()
    doomed_uid = v2.external(calendar_id, "Will be deleted")["event_uid"]
    dropped_uid = v2.external(calendar_id, "App lets go")["event_uid"]
    for uid in (doomed_uid, dropped_uid):
        extension = extension_of(v2.by_uid(calendar_id, uid))
        assert (extension["status"], extension["origin"]) == ("scheduled", "rule")
    assert "extensions" not in v2.by_uid(calendar_id, v2.external(calendar_id, "Internal")["event_uid"])
    ours = live_bot_ids(v2) - bots_before
    assert len(ours) == 3
    v2.sandbox.clear_calls()

    # Deleted in the user's calendar: the rule's event, and the event the managed copy matched.
    v2.remove(doomed["id"])
    v2.remove(matched["id"])
    # The app lets go of the third.
    v2.upsert(
        calendar_id,
        {"event_uid": dropped_uid, "extensions": [{"provider": "recall", "profile_id": "none"}]},
    )
    v2.eventually(
        lambda: all(
            extension_of(event)["status"] == "cancelled"
            for event in (
                v2.by_uid(calendar_id, doomed_uid),
                v2.by_uid(calendar_id, dropped_uid),
                v2.managed(calendar_id, "copy"),
            )
        ),
        "the three extensions to be cancelled",
    )
    v2.settle()

    # Exactly one Remove Bot per event, and no Add Bot at all.
    assert sorted(bot_calls(v2)) == sorted(
        [
            ("DELETE", bot_path(doomed["id"]), 200),
            ("DELETE", bot_path(dropped["id"]), 200),
            ("DELETE", bot_path(matched["id"]), 200),
        ]
    )
    assert not [c for c in v2.sandbox.calls() if c["method"] == "POST"]
    assert not ours & live_bot_ids(v2)
    assert live_bot_ids(v2) <= bots_before

    gone = v2.by_uid(calendar_id, doomed_uid)
    assert gone["deleted"] is True
    assert extension_of(gone)["bot_id"] is None
    assert "recall" not in gone["metadata"]
    let_go = v2.by_uid(calendar_id, dropped_uid)
    extension = extension_of(let_go)
    assert let_go["deleted"] is False
    assert (extension["profile_id"], extension["origin"], extension["bot_id"]) == ("none", "app", None)
    assert "recall" not in let_go["metadata"]
    copy = v2.managed(calendar_id, "copy")
    extension = extension_of(copy)
    assert copy["deleted"] is False  # the app's event stays; only its bot went with the calendar's copy
    assert (extension["profile_id"], extension["bot_id"]) == ("v2_all", None)
    assert "deleted in the linked calendar" in extension["last_error"]
    assert "recall" not in copy["metadata"]
    for recall_event in (doomed, dropped, matched):
        assert v2.recall_event(recall_event["id"])["bots"] == []


# --- 7. forged and stray webhooks -------------------------------------------------------------------


def test_forged_or_stray_sync_webhooks_start_no_sync(v2: V2Gateway) -> None:
    recall_calendar = v2.recall_calendar("forged@example.com")
    v2.seed(recall_calendar, from_now(days=9), google_raw("Forged", meeting_url=zoom(next(MEETINGS))))
    calendar_id = v2.calendar("forged")
    v2.link(calendar_id, "v2_all", {"recall_calendar_id": recall_calendar, "record": "none"})
    v2.settle()
    synced_at = v2.get_link(calendar_id, "v2_all")["last_synced"]
    secret = v2.server.env[ENV_SECRET]
    v2.sandbox.clear_calls()
    body = sync_webhook(recall_calendar, wire(from_now(minutes=-5)))

    wrong_secret = signed("whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB", body)
    unsigned = {"content-type": "application/json"}
    tampered = signed(secret, sync_webhook(recall_calendar, wire(from_now(days=-1))))
    for headers in (wrong_secret, unsigned, tampered):
        response = deliver(v2, body, headers)
        assert response.status_code == 401, response.text
        assert "webhook rejected" in response.text
    # A correct signature for a calendar no link knows: accepted, and nothing to sync.
    stray = deliver(
        v2,
        (stray_body := sync_webhook("6a0c1d4e-0000-4000-8000-000000000000", wire(from_now()))),
        signed(secret, stray_body),
    )
    assert stray.status_code == 200, stray.text
    assert stray.json()["status"] == "ok"
    # Any sync those could have asked for was enqueued before they were answered: let it finish.
    v2.settle()
    assert v2.sandbox.calls() == []
    assert v2.get_link(calendar_id, "v2_all")["last_synced"] == synced_at

    # The control: the same body, correctly signed, does start a sync of the linked calendar.
    accepted = deliver(v2, body, signed(secret, body))
    assert accepted.status_code == 200, accepted.text
    v2.eventually(lambda: list_calls(v2), "the signed webhook's list call")
    v2.settle()
    [call] = list_calls(v2)
    assert call["params"]["calendar_id"] == recall_calendar
    assert "updated_at__gte" in call["params"]
    assert v2.calendar_calls() == [("GET", "calendar_events_list", 200)]


def test_an_app_letting_go_of_its_copy_leaves_the_rule_s_bot_on_the_shared_event(v2: V2Gateway) -> None:
    """A rule's external event and the app's managed copy act on one Recall event: Remove Bot for
    the copy takes the event's bot, so the external event schedules it again rather than forget it."""
    recall_calendar = v2.recall_calendar("owner@example.com")
    start = from_now(days=2)
    url = zoom(next(MEETINGS))
    shared = v2.seed(recall_calendar, start, google_raw("Shared", meeting_url=url))
    calendar_id = v2.calendar("sharers")
    v2.link(calendar_id, "v2_all", {"recall_calendar_id": recall_calendar, "record": "all"})
    copy = managed_event("copy", start, conferencing={"profile_id": "explicit", "join_url": url})
    v2.upsert(calendar_id, copy)
    v2.eventually(
        lambda: extension_of(v2.managed(calendar_id, "copy"))["status"] == "scheduled", "the copy scheduled"
    )
    v2.settle()
    external = v2.external(calendar_id, "Shared")
    assert extension_of(v2.by_uid(calendar_id, external["event_uid"]))["status"] == "scheduled"

    v2.upsert(calendar_id, {**copy, "extensions": [{"provider": "recall", "profile_id": "none"}]})
    v2.eventually(
        lambda: extension_of(v2.managed(calendar_id, "copy"))["status"] == "cancelled", "the copy let go"
    )
    v2.settle()

    [on_event] = v2.recall_event(shared["id"])["bots"]
    assert on_event["bot_id"] in live_bot_ids(v2)
    kept = v2.by_uid(calendar_id, external["event_uid"])
    assert extension_of(kept)["status"] == "scheduled"
    assert extension_of(kept)["bot_id"] == on_event["bot_id"] == kept["metadata"]["recall"]["bot_id"]
