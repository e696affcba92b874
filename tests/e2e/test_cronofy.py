"""cronofy end to end: a real gateway forwards events to a linked Cronofy account (the stand-in), whose
Recall integration makes the bots; the gateway reads the bot ids back and shows them to the app.

One gateway serves most tests (``cron``); the poll fallback and proactive token refresh each need a
gateway configured for them (a short poll interval, short-lived access tokens). Cronofy calendar ids
are unique per test, so tests sharing a sandbox never see each other's events or bots.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.cronofy import (
    BOTS,
    PROFILE,
    UPSTREAM_PROFILE,
    CronofyGateway,
    Json,
    cronofy_sandbox_process,
    running_cronofy_gateway,
    sign,
)
from tests.e2e.recall import event_body, from_now, instant, wire, zoom
from tests.e2e.server import ServerProcess, wait_until

pytestmark = pytest.mark.e2e

SHORT_LIFETIME = 61  # seconds: the gateway refreshes 60 s before expiry, so after one second


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def cron_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CronofyGateway]:
    with running_cronofy_gateway(tmp_path_factory.mktemp("cronofy")) as gateway:
        yield gateway


@pytest.fixture
def cron(cron_process: CronofyGateway) -> CronofyGateway:
    return cron_process.fresh()


@pytest.fixture(scope="module")
def polling(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CronofyGateway]:
    """Polls every 3 s; Cronofy shows a bot id 2 s after making the bot (so only a read after that,
    announced by a push or not, can see it)."""
    workdir = tmp_path_factory.mktemp("cronofy-poll")
    with running_cronofy_gateway(workdir, poll_interval_seconds=3, bot_id_delay=2.0) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def short_tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CronofyGateway]:
    workdir = tmp_path_factory.mktemp("cronofy-tokens")
    with running_cronofy_gateway(workdir, token_lifetime=SHORT_LIFETIME) as gateway:
        yield gateway


def cron_body(event_id: str, start: datetime, *, profile_id: str = PROFILE, **fields: Any) -> Json:
    return event_body(event_id, start, join_url=zoom(1112223334), profile_id=profile_id, **fields)


def events_path(cronofy_calendar_id: str) -> str:
    return f"/v1/calendars/{cronofy_calendar_id}/events"


def upserts(gateway: CronofyGateway, cronofy_calendar_id: str, since: int = 0) -> list[int]:
    """Statuses of the upserts Cronofy got for one calendar."""
    return [
        status
        for method, path, status in gateway.cronofy_calls(since)
        if (method, path) == ("POST", events_path(cronofy_calendar_id))
    ]


def recall_metadata(event: Json) -> Any:
    return event.get("metadata", {}).get("recall")


def scheduled_with_its_bot(
    cron: CronofyGateway, calendar_id: str, event_id: str, cronofy_calendar: str
) -> Json:
    """Once Cronofy reports it: the calendar's one live bot, on the event and its extension."""
    event = cron.wait_for_bot(calendar_id, event_id)
    cron.settle()
    [bot] = cron.live_bots(cronofy_calendar)
    assert recall_metadata(event) == {"bot_id": bot["id"]}
    extension = cron.extension(calendar_id, event_id)
    assert (extension["status"], extension["bot_id"], extension["last_error"]) == (
        "scheduled",
        bot["id"],
        None,
    )
    return bot


# --- the sandbox process alone (runs before the adapter exists) ------------------------------------


def test_the_sandbox_process_serves_cronofy_making_bots_in_its_recall_stand_in(tmp_path: Path) -> None:
    sandbox = cronofy_sandbox_process(
        tmp_path, webhook_url="http://127.0.0.1:9/unused", webhook_secret="whsec_dW51c2Vk"
    ).start()
    try:
        cronofy = httpx.Client(base_url=f"{sandbox.url}/cronofy", timeout=10)
        made = cronofy.post("/_sandbox/accounts", json={"calendar_ids": ["cal_process"]})
        assert made.status_code == 201, made.text
        auth = {"Authorization": f"Bearer {made.json()['access_token']}"}
        start = from_now(days=3)
        for n in range(6):  # more than the stand-in's page of five
            body = cron_body(f"direct-{n}", start + timedelta(hours=n), profile_id=UPSTREAM_PROFILE)
            accepted = cronofy.post(events_path("cal_process"), json=body, headers=auth)
            assert accepted.status_code == 202, accepted.text
        bots = [b for b in sandbox.bots() if b["metadata"].get("cronofy_calendar_id") == "cal_process"]
        assert len(bots) == 6
        query = {"tzid": "Etc/UTC", "include_managed": "true"}
        first = cronofy.get("/v1/events", params=query, headers=auth).json()
        assert first["pages"]["next_page"].startswith(f"{sandbox.url}/cronofy/v1/events/pages/"), first
        second = cronofy.get(first["pages"]["next_page"], headers=auth).json()
        shown = {e["event_id"]: e["metadata"]["recall"]["bot_id"] for e in first["events"] + second["events"]}
        assert shown == {b["metadata"]["cronofy_event_id"]: b["id"] for b in bots}
        cronofy.close()
    finally:
        sandbox.stop()


def test_serve_sandbox_links_the_sandbox_cronofy_profile_to_its_mounted_stand_in(tmp_path: Path) -> None:
    """The README walk-through: a sandbox Cronofy account, a link, an upsert, the bot id read back."""
    server = ServerProcess(tmp_path)  # no configuration: --sandbox brings the profiles
    server.start("--sandbox")
    try:
        wait_until(lambda: "calendar:" in server.log(), timeout=10, what="the sandbox banner")
        token = re.search(r"bearer token: (\S+)", server.log())
        calendar = re.search(r"calendar:\s+(\S+)", server.log())
        assert token, server.log()
        assert calendar, server.log()
        app = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token.group(1)}"}, timeout=10
        )
        calendar_id = calendar.group(1)
        account = httpx.post(
            f"{server.url}/sandbox/cronofy/_sandbox/accounts", json={"calendar_ids": ["cal_demo"]}, timeout=10
        )
        assert account.status_code == 201, account.text
        body = {key: account.json()[key] for key in ("access_token", "refresh_token")}
        linked = app.put(
            f"/v1/calendars/{calendar_id}/links/sandbox-cronofy",
            json={"cronofy_calendar_id": "cal_demo", **body, "expires_in": 3600},
        )
        assert linked.status_code == 201, linked.text
        assert linked.json()["link"]["status"] == "connected"
        upsert = cron_body("demo-cronofy", from_now(days=2), profile_id="sandbox-cronofy")
        accepted = app.post(f"/v1/calendars/{calendar_id}/events", json=upsert)
        assert accepted.status_code == 202, accepted.text

        def read_back() -> Any:
            event = app.get(f"/v1/calendars/{calendar_id}/events/demo-cronofy").json()["event"]
            return recall_metadata(event)

        wait_until(read_back, timeout=20, what="the bot id read back from the Cronofy stand-in")
        bots = httpx.get(f"{server.url}/sandbox/recall/_sandbox/bots", timeout=10).json()
        assert [{"bot_id": b["id"]} for b in bots if not b["deleted"]] == [read_back()]
        app.close()
    finally:
        server.stop()


# --- links ----------------------------------------------------------------------------------------


def test_link_creates_a_push_channel_and_never_shows_the_tokens(cron: CronofyGateway) -> None:
    cronofy_calendar = new_id("cal_link")
    _, access, refresh = cron.account([cronofy_calendar])
    calendar_id = cron.calendar("linked")
    body = {"cronofy_calendar_id": cronofy_calendar, "access_token": access, "refresh_token": refresh}
    response = cron.client.put(f"/v1/calendars/{calendar_id}/links/{PROFILE}", json=body)
    assert response.status_code == 201, response.text
    link = response.json()["link"]
    assert (link["calendar_id"], link["profile_id"], link["adapter"]) == (calendar_id, PROFILE, "cronofy")
    assert (link["cronofy_calendar_id"], link["status"]) == (cronofy_calendar, "connected"), link
    cron.settle()

    [channel] = cron.channels(access)
    assert channel["callback_url"] == cron.webhook_url
    assert channel["filters"] == {"calendar_ids": [cronofy_calendar], "only_managed": True}
    [verification] = [d for d in cron.push_deliveries() if d["channel_id"] == channel["channel_id"]]
    assert (verification["type"], verification["delivered"]) == ("verification", True), verification

    shown = [response.text, cron.client.get(f"/v1/calendars/{calendar_id}/links/{PROFILE}").text]
    shown.append(cron.client.get(f"/v1/calendars/{calendar_id}").text)
    for text in shown:
        assert access not in text
        assert refresh not in text
        assert "access_token" not in text
        assert "refresh_token" not in text


def test_link_refuses_an_unknown_calendar_and_a_dead_refresh_token(cron: CronofyGateway) -> None:
    calendar_id = cron.calendar("refused")
    _, access, refresh = cron.account([new_id("cal_owned")])
    unknown = cron.link(
        calendar_id,
        PROFILE,
        {"cronofy_calendar_id": new_id("cal_elsewhere"), "access_token": access, "refresh_token": refresh},
        expect=422,
    )
    assert "cronofy_calendar_id" in unknown["errors"], unknown

    # An access token Cronofy does not take makes the gateway refresh: the refresh token is refused.
    owned = new_id("cal_owned")
    _, access, _ = cron.account([owned])
    cron.revoke_token(access)
    dead = cron.link(
        calendar_id,
        PROFILE,
        {"cronofy_calendar_id": owned, "access_token": access, "refresh_token": "not-a-refresh-token"},
        expect=422,
    )
    assert "refresh_token" in dead["errors"], dead
    assert access not in json.dumps([unknown, dead])
    missing = cron.client.get(f"/v1/calendars/{calendar_id}/links/{PROFILE}")
    assert missing.status_code == 404, missing.text


def test_unlink_cancels_the_bots_upstream_and_closes_the_channel(cron: CronofyGateway) -> None:
    cronofy_calendar = new_id("cal_unlink")
    _, access, refresh = cron.account([cronofy_calendar])
    calendar_id = cron.calendar("unlinked")
    body = {"cronofy_calendar_id": cronofy_calendar, "access_token": access, "refresh_token": refresh}
    cron.link(calendar_id, PROFILE, body)
    cron.settle()
    event_id = new_id("unlinked")
    cron.upsert(calendar_id, cron_body(event_id, from_now(days=2)))
    cron.wait_for_bot(calendar_id, event_id)
    cron.settle()

    gone = cron.unlink(calendar_id)
    assert (gone["calendar_id"], gone["profile_id"], gone["cancelled_extensions"]) == (
        calendar_id,
        PROFILE,
        1,
    )
    assert gone["cronofy_calendar_id"] == cronofy_calendar
    cron.settle()
    assert not cron.live_bots(cronofy_calendar)
    assert cron.channels(access) == []
    assert cron.client.get(f"/v1/calendars/{calendar_id}/links/{PROFILE}").status_code == 404
    event = cron.managed(calendar_id, event_id)
    assert recall_metadata(event) is None, event
    assert (event["extensions"][0]["status"], event["extensions"][0]["bot_id"]) == ("cancelled", None), event
    assert cron.cronofy_event(cronofy_calendar, event_id)["recall_profile_id"] is None  # forwarded `none`


# --- forwarding and reading the bot back ------------------------------------------------------------


def test_create_reschedule_none_reenable_delete(cron: CronofyGateway) -> None:
    cronofy_calendar = new_id("cal_life")
    calendar_id = cron.linked_calendar(cronofy_calendar)
    event_id, start = new_id("life"), from_now(days=2)
    body = cron_body(event_id, start)

    # Create: forwarded with the upstream profile; Cronofy's bot shows on the meetbridge event.
    cron.upsert(calendar_id, body)
    bot = scheduled_with_its_bot(cron, calendar_id, event_id, cronofy_calendar)
    upstream = cron.cronofy_event(cronofy_calendar, event_id)
    assert upstream["recall_profile_id"] == UPSTREAM_PROFILE
    assert (upstream["summary"], upstream["start"], upstream["meeting_url"]) == (
        body["summary"],
        body["start"],
        zoom(1112223334),
    )
    assert (upstream["bot_id"], upstream["deleted"]) == (bot["id"], False)
    assert bot["metadata"]["cronofy_event_id"] == event_id
    assert instant(bot["join_at"]) == start
    assert upserts(cron, cronofy_calendar) == [202]

    # The same upsert again changes nothing: not forwarded.
    cron.upsert(calendar_id, body)
    cron.settle()
    assert upserts(cron, cronofy_calendar) == [202]
    assert cron.extension(calendar_id, event_id)["status"] == "scheduled"

    # Reschedule: Cronofy moves the bot; the event shows the live bot.
    later = start + timedelta(days=1, minutes=15)
    cron.upsert(calendar_id, cron_body(event_id, later))
    cron.eventually(
        lambda: [instant(b["join_at"]) for b in cron.live_bots(cronofy_calendar)] == [later],
        "the bot to follow the moved event",
    )
    cron.settle()
    [moved] = cron.live_bots(cronofy_calendar)
    assert cron.cronofy_event(cronofy_calendar, event_id)["start"] == wire(later)
    assert recall_metadata(cron.managed(calendar_id, event_id)) == {"bot_id": moved["id"]}
    assert cron.extension(calendar_id, event_id)["bot_id"] == moved["id"]
    assert upserts(cron, cronofy_calendar) == [202, 202]

    # `none`: forwarded as none, the bot is gone and so is metadata.recall.
    cron.upsert(calendar_id, cron_body(event_id, later, profile_id="none"))
    cron.eventually(lambda: not cron.live_bots(cronofy_calendar), "Cronofy to remove the bot")
    cron.settle()
    assert cron.cronofy_event(cronofy_calendar, event_id)["recall_profile_id"] is None
    assert upserts(cron, cronofy_calendar) == [202, 202, 202]
    event = cron.managed(calendar_id, event_id)
    assert recall_metadata(event) is None, event
    assert event["extensions"][0]["status"] == "cancelled", event["extensions"]
    assert event["extensions"][0]["bot_id"] is None

    # Re-enabled: a new bot; then the app deletes the event: Cronofy gets a DELETE, no bot is left.
    cron.upsert(calendar_id, cron_body(event_id, later))
    event = cron.wait_for_bot(calendar_id, event_id)
    [again] = cron.live_bots(cronofy_calendar)
    assert again["id"] != bot["id"]
    assert recall_metadata(event) == {"bot_id": again["id"]}
    cron.settle()
    mark = len(cron.cronofy_calls())
    cron.delete(calendar_id, event_id)
    cron.eventually(
        lambda: not cron.live_bots(cronofy_calendar), "Cronofy to remove the bot of the deleted event"
    )
    cron.settle()
    assert ("DELETE", events_path(cronofy_calendar), 202) in cron.cronofy_calls(mark)
    assert cron.cronofy_event(cronofy_calendar, event_id)["deleted"] is True
    event = cron.managed(calendar_id, event_id)
    assert event["deleted"] is True
    assert recall_metadata(event) is None, event
    assert (event["extensions"][0]["status"], event["extensions"][0]["bot_id"]) == ("cancelled", None)


def app_view(gateway: CronofyGateway, calendar_id: str, event_id: str) -> Json:
    """What an app sees of the bot on an event, with nothing that names the profile."""
    event = gateway.managed(calendar_id, event_id)
    [extension] = event["extensions"]
    metadata = event.get("metadata", {})
    recall = metadata.get("recall")
    return {
        "deleted": event["deleted"],
        "status": extension["status"],
        "has_bot": extension["bot_id"] is not None,
        "metadata_is_the_bot": (recall or {}).get("bot_id") == extension["bot_id"],
        "last_error": extension["last_error"],
        "extension_keys": sorted(extension),
        "metadata": {
            key: sorted(value) if isinstance(value, dict) else value for key, value in metadata.items()
        },
    }


def test_an_app_cannot_tell_cron_from_bots_but_by_the_bots_origin(cron: CronofyGateway) -> None:
    cronofy_calendar = new_id("cal_same")
    cron_calendar = cron.linked_calendar(cronofy_calendar)
    bots_calendar = cron.calendar("bots")
    event_id, start = new_id("same"), from_now(days=2)
    later = start + timedelta(days=1, minutes=15)
    steps: list[tuple[str, datetime | None, str, str]] = [
        ("create", start, "", "scheduled"),
        ("reschedule", later, "", "scheduled"),
        ("none", later, "none", "cancelled"),
        ("re-enable", later, "", "scheduled"),
        ("delete", None, "", "cancelled"),
    ]
    for step, when, profile_override, status in steps:
        for calendar_id, profile_id in ((bots_calendar, BOTS), (cron_calendar, PROFILE)):
            if when is None:
                cron.delete(calendar_id, event_id)
            else:
                cron.upsert(calendar_id, cron_body(event_id, when, profile_id=profile_override or profile_id))
        cron.settle()
        bots_view = app_view(cron, bots_calendar, event_id)
        cron_view = app_view(cron, cron_calendar, event_id)
        assert cron_view == bots_view, step
        assert bots_view["status"] == status, (step, bots_view)
        live = cron.live_bots()
        if status == "scheduled":
            [by_bots] = [
                b
                for b in live
                if "meetbridge_event" in b["metadata"] and b["id"] == cron.bot_id(bots_calendar, event_id)
            ]
            [by_cronofy] = cron.live_bots(cronofy_calendar)
            assert cron.bot_id(cron_calendar, event_id) == by_cronofy["id"]
            assert instant(by_bots["join_at"]) == instant(by_cronofy["join_at"]) == when
        else:
            assert not cron.live_bots(cronofy_calendar), step


# --- tokens ---------------------------------------------------------------------------------------


def test_a_revoked_refresh_token_disconnects_the_link_until_it_is_renewed(cron: CronofyGateway) -> None:
    cronofy_calendar = new_id("cal_revoked")
    account_id, access, refresh = cron.account([cronofy_calendar])
    calendar_id = cron.calendar("revoked")
    body = {"cronofy_calendar_id": cronofy_calendar, "access_token": access, "refresh_token": refresh}
    cron.link(calendar_id, PROFILE, body)
    cron.settle()
    cron.revoke(account_id)  # entirely: its access tokens answer 401, its refresh token invalid_grant

    mark = len(cron.cronofy_calls())
    event_id = new_id("revoked")
    cron.upsert(calendar_id, cron_body(event_id, from_now(days=2)))
    cron.eventually(lambda: cron.extension(calendar_id, event_id)["status"] == "failed", "the event to fail")
    cron.settle()
    extension = cron.extension(calendar_id, event_id)
    error = (extension["last_error"] or "").lower()
    assert "link" in error, extension
    assert any(word in error for word in ("again", "renew", "relink", "re-link")), extension
    link = cron.get_link(calendar_id)
    assert link["status"] == "disconnected", link
    calls = cron.cronofy_calls(mark)
    assert calls == [
        ("POST", events_path(cronofy_calendar), 401),
        ("POST", "/oauth/token", 400),
    ], calls

    # No retry loop: the worker handles another event and goes idle; Cronofy heard nothing more.
    seen = len(cron.cronofy_calls())
    bots_calendar, other = cron.calendar("bots meanwhile"), new_id("meanwhile")
    cron.upsert(bots_calendar, cron_body(other, from_now(days=2), profile_id=BOTS))
    cron.eventually(lambda: cron.extension(bots_calendar, other)["status"] == "scheduled", "the bots event")
    cron.settle()
    assert cron.cronofy_calls(seen) == []
    assert cron.extension(calendar_id, event_id)["status"] == "failed"
    assert cron.get_link(calendar_id)["status"] == "disconnected"

    # The user authorizes again: the same calendar, new tokens. The failed event is forwarded again.
    access, refresh = cron.reauthorize(account_id)
    renewed = {"cronofy_calendar_id": cronofy_calendar, "access_token": access, "refresh_token": refresh}
    relinked = cron.link(calendar_id, PROFILE, renewed, expect=200)["link"]
    assert (relinked["status"], relinked["cronofy_calendar_id"]) == ("connected", cronofy_calendar), relinked
    scheduled_with_its_bot(cron, calendar_id, event_id, cronofy_calendar)
    assert cron.get_link(calendar_id)["status"] == "connected"


def last_token_time(gateway: CronofyGateway, since: datetime) -> datetime:
    """When the gateway last got an access token: its latest refresh, or ``since`` (the link)."""
    refreshed = [
        datetime.fromisoformat(c["time"].replace("Z", "+00:00"))
        for c in gateway.cronofy_call_records()
        if c["path"].endswith("/oauth/token") and c["status"] == 200
    ]
    return max([since, *refreshed])


def test_tokens_near_expiry_are_refreshed_first_and_rotate(short_tokens: CronofyGateway) -> None:
    gateway = short_tokens.fresh()
    cronofy_calendar = new_id("cal_short")
    calendar_id = gateway.calendar("short tokens")
    body = gateway.link_body(cronofy_calendar)
    body["expires_in"] = SHORT_LIFETIME
    gateway.link(calendar_id, PROFILE, body)
    linked_at = datetime.now(UTC)
    gateway.settle()

    for n in (1, 2):
        # Once the token is within the gateway's 60 s margin of its end, the next call refreshes first.
        wait_until(
            lambda: datetime.now(UTC) > last_token_time(gateway, linked_at) + timedelta(seconds=1.5),
            timeout=10,
            what="the gateway's access token to be due for a refresh",
        )
        mark = len(gateway.cronofy_calls())
        event_id = new_id(f"short{n}")
        gateway.upsert(calendar_id, cron_body(event_id, from_now(days=2, hours=n)))
        event = gateway.wait_for_bot(calendar_id, event_id)
        gateway.settle()
        calls = gateway.cronofy_calls(mark)
        forward = calls.index(("POST", events_path(cronofy_calendar), 202))
        assert [c for c in calls[:forward] if c[1] == "/oauth/token"] == [("POST", "/oauth/token", 200)], (
            calls
        )
        assert calls[forward - 1] == ("POST", "/oauth/token", 200), calls
        assert all(status < 400 for _, _, status in calls), calls
        [bot] = [
            b for b in gateway.live_bots(cronofy_calendar) if b["metadata"]["cronofy_event_id"] == event_id
        ]
        assert recall_metadata(event) == {"bot_id": bot["id"]}
    assert gateway.get_link(calendar_id)["status"] == "connected"


# --- push notifications ---------------------------------------------------------------------------


def test_a_forged_push_is_refused_and_reads_nothing(cron: CronofyGateway) -> None:
    cronofy_calendar = new_id("cal_forged")
    _, access, refresh = cron.account([cronofy_calendar])
    calendar_id = cron.calendar("forged")
    body = {"cronofy_calendar_id": cronofy_calendar, "access_token": access, "refresh_token": refresh}
    cron.link(calendar_id, PROFILE, body)
    cron.settle()
    [channel] = cron.channels(access)
    since = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    push = json.dumps(
        {"notification": {"type": "change", "changes_since": since}, "channel": channel}
    ).encode()

    mark = len(cron.cronofy_calls())
    for signature in (
        None,
        "",
        sign(push, "not-the-client-secret"),
        sign(push + b" "),
        "bm90IGEgc2lnbmF0dXJl",
    ):
        refused = cron.push(push, signature)
        assert refused.status_code == 401, (signature, refused.status_code, refused.text)
        assert cron.pending_jobs() == 0, f"a forged push ({signature!r}) queued work"
    cron.settle()
    assert cron.cronofy_calls(mark) == []

    # The same push signed with the client secret is taken: it makes the gateway read.
    accepted = cron.push(push, sign(push))
    assert accepted.is_success, accepted.text
    cron.eventually(
        lambda: any(m == "GET" and p.startswith("/v1/events") for m, p, _ in cron.cronofy_calls(mark)),
        "a read after the genuine push",
    )
    cron.settle()


def test_a_missed_push_is_made_up_for_by_the_poll(polling: CronofyGateway) -> None:
    gateway = polling.fresh()
    cronofy_calendar = new_id("cal_poll")
    calendar_id = gateway.linked_calendar(cronofy_calendar)
    delivered = len(gateway.push_deliveries())
    gateway.suppress_push(2)  # the upsert's change and the one announcing the bot two seconds later

    event_id = new_id("polled")
    gateway.upsert(calendar_id, cron_body(event_id, from_now(days=2)))
    # Forwarded, and Cronofy has made the bot but shows no id yet: the event is pending, without one.
    gateway.eventually(
        lambda: (
            [e["bot_id"] is not None for e in gateway.cronofy_events() if e["event_id"] == event_id] == [True]
        ),
        "the event forwarded and its bot made",
    )
    extension = gateway.extension(calendar_id, event_id)
    assert gateway.cronofy_event(cronofy_calendar, event_id)["shown_bot_id"] is None
    assert (extension["status"], extension["bot_id"]) == ("pending", None), extension
    assert recall_metadata(gateway.managed(calendar_id, event_id)) is None

    event = gateway.wait_for_bot(calendar_id, event_id, timeout=20)
    pushes = gateway.push_deliveries()[delivered:]
    assert [(p["type"], p["suppressed"]) for p in pushes] == [("change", True), ("change", True)], pushes
    [bot] = gateway.live_bots(cronofy_calendar)
    assert recall_metadata(event) == {"bot_id": bot["id"]}
    gateway.settle()
    assert gateway.extension(calendar_id, event_id)["status"] == "scheduled"


# --- upstream refusals ----------------------------------------------------------------------------


def test_a_cronofy_422_fails_the_event_with_its_field_errors_and_is_not_retried(cron: CronofyGateway) -> None:
    cronofy_calendar = new_id("cal_422")
    calendar_id = cron.linked_calendar(cronofy_calendar)
    errors = {"errors": {"summary": [{"key": "errors.too_long", "description": "summary is too long"}]}}
    cron.cronofy_fault(endpoint="api", status=422, body=errors)

    mark = len(cron.cronofy_calls())
    event_id = new_id("refused")
    cron.upsert(calendar_id, cron_body(event_id, from_now(days=2)))
    cron.eventually(lambda: cron.extension(calendar_id, event_id)["status"] == "failed", "the event to fail")
    cron.settle()
    extension = cron.extension(calendar_id, event_id)
    assert "summary" in extension["last_error"], extension
    assert "summary is too long" in extension["last_error"], extension
    assert extension["bot_id"] is None
    assert upserts(cron, cronofy_calendar, mark) == [422], cron.cronofy_calls(mark)
    assert not cron.live_bots(cronofy_calendar)
    assert recall_metadata(cron.managed(calendar_id, event_id)) is None


# --- last: moves the Cronofy stand-in's clock, which expires every access token it issued ------------


def test_a_401_earns_one_refresh_and_the_rotated_refresh_token_works_next_time(cron: CronofyGateway) -> None:
    cronofy_calendar = new_id("cal_rotate")
    calendar_id = cron.linked_calendar(cronofy_calendar)
    for n in (1, 2):
        cron.advance_cronofy_clock(2 * 3600)  # the gateway still thinks its token has an hour left
        mark = len(cron.cronofy_calls())
        event_id = new_id(f"rotate{n}")
        cron.upsert(calendar_id, cron_body(event_id, from_now(days=2, hours=n)))
        event = cron.wait_for_bot(calendar_id, event_id)
        cron.settle()
        calls = cron.cronofy_calls(mark)
        forward = calls.index(("POST", events_path(cronofy_calendar), 202))
        assert calls[: forward + 1] == [
            ("POST", events_path(cronofy_calendar), 401),
            ("POST", "/oauth/token", 200),
            ("POST", events_path(cronofy_calendar), 202),
        ], calls
        assert [c for c in calls if c[1] == "/oauth/token"] == [("POST", "/oauth/token", 200)], calls
        [bot] = [b for b in cron.live_bots(cronofy_calendar) if b["metadata"]["cronofy_event_id"] == event_id]
        assert recall_metadata(event) == {"bot_id": bot["id"]}
    assert cron.get_link(calendar_id)["status"] == "connected"
