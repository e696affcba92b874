"""The drift audit end to end: a real gateway, the Recall stand-in as a process, things changed at
Recall behind meetbridge's back, and ``meetbridge audit`` run beside the server (same database and
file). The scheduled audit has its own test; the others turn the schedule off."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.e2e.audit import RecallBehindTheBack, audit_cli, audited_gateway, rows
from tests.e2e.recall import BotGateway, Json, call_summary, event_body, from_now, instant, zoom
from tests.e2e.receiver import Receiver, register
from tests.e2e.server import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[BotGateway]:
    with audited_gateway(tmp_path) as gateway:
        yield gateway


@pytest.fixture
def recall(gateway: BotGateway) -> Iterator[RecallBehindTheBack]:
    client = RecallBehindTheBack(gateway.sandbox)
    yield client
    client.close()


def scheduled_events(gateway: BotGateway, count: int, *, days: int = 2) -> list[Json]:
    """``count`` events with a bot each, in step; returns their sandbox bots (event order)."""
    start = from_now(days=days)
    ids = [f"audit-{uuid.uuid4().hex[:8]}" for _ in range(count)]
    gateway.upsert_all(
        [
            event_body(e, start + timedelta(hours=i), join_url=zoom(5_000_000_000 + i))
            for i, e in enumerate(ids)
        ]
    )
    gateway.settle()
    bots = []
    for event_id in ids:
        extension = gateway.extension(event_id)
        assert extension["status"] == "scheduled", extension
        [bot] = [b for b in gateway.sandbox.bots_of(gateway.event(event_id)["event_uid"]) if not b["deleted"]]
        assert bot["id"] == extension["bot_id"]
        bots.append({**bot, "event_id": event_id})
    gateway.sandbox.clear_calls()
    return bots


def live(gateway: BotGateway) -> dict[str, list[Json]]:
    return gateway.sandbox.live_bots_by_event()


def writes(gateway: BotGateway) -> list[tuple[str, str, int]]:
    return [c for c in call_summary(gateway.sandbox.calls()) if c[0] != "GET"]


def last_audit(gateway: BotGateway) -> Json:
    response = gateway.client.get("/v1/profiles/bots/audit")
    assert response.status_code == 200, response.text
    found: Json = response.json()["audit"]
    return found


def test_a_bot_deleted_behind_meetbridges_back_is_reported_then_made_again_with_its_new_id(
    gateway: BotGateway, recall: RecallBehindTheBack
) -> None:
    gone, kept = scheduled_events(gateway, 2)
    recall.delete(gone["id"])
    gateway.sandbox.clear_calls()
    before = rows(gateway)

    code, out = audit_cli(gateway)
    calendar = gateway.calendar_id
    assert code == 1
    assert out.splitlines() == [
        f"missing profile=bots calendar={calendar} event={gone['event_id']} bot={gone['id']}: "
        "the provider no longer has the bot meetbridge scheduled"
    ]
    # Looking changes nothing: only reads at Recall (the listings, then the one bot confirmed gone)
    # and not a row written.
    assert {c[:2] for c in call_summary(gateway.sandbox.calls())} == {("GET", "list_bots"), ("GET", "bot")}
    assert rows(gateway) == before
    assert last_audit(gateway) is None

    code, out = audit_cli(gateway, "--repair")
    assert code == 1
    assert f"bot={gone['id']} [repaired]" in out
    gateway.settle()
    event = gateway.event(gone["event_id"])
    [bot] = live(gateway)[event["event_uid"]]
    assert bot["id"] != gone["id"]
    assert event["extensions"][0]["status"] == "scheduled"
    assert event["extensions"][0]["bot_id"] == event["metadata"]["recall"]["bot_id"] == bot["id"]
    assert instant(bot["join_at"]) == instant(gone["join_at"])
    [entry] = event["audit"]
    assert (entry["kind"], entry["bot_id"], entry["action"]) == ("missing", gone["id"], "repaired")
    assert [b["id"] for b in live(gateway)[gateway.event(kept["event_id"])["event_uid"]]] == [kept["id"]]
    report = last_audit(gateway)
    assert report["counts"] == {"missing": 1, "orphan": 0, "stale": 0, "foreign": 0}
    assert [(e["kind"], e["event_id"], e["bot_id"]) for e in report["examples"]] == [
        ("missing", gone["event_id"], gone["id"])
    ]

    gateway.sandbox.clear_calls()
    assert audit_cli(gateway, "--repair") == (0, "")


def test_a_bot_meetbridge_made_for_an_event_that_no_longer_wants_one_is_cancelled(
    gateway: BotGateway, recall: RecallBehindTheBack
) -> None:
    [bot] = scheduled_events(gateway, 1)
    # The cancel is answered 404 without deleting anything: meetbridge believes the bot gone.
    gateway.sandbox.add_fault(endpoint="bot", status=404)
    gateway.upsert(
        {"event_id": bot["event_id"], "extensions": [{"provider": "recall", "profile_id": "none"}]}
    )
    gateway.settle()
    assert gateway.extension(bot["event_id"])["status"] == "cancelled"
    assert [b["id"] for b in gateway.sandbox.bots() if not b["deleted"]] == [bot["id"]]
    gateway.sandbox.clear_calls()

    code, out = audit_cli(gateway, "--repair")
    assert code == 1
    assert out.startswith(
        f"orphan profile=bots calendar={gateway.calendar_id} event={bot['event_id']} bot={bot['id']}"
    )
    assert writes(gateway) == [("DELETE", "bot", 204)]
    assert live(gateway) == {}
    [entry] = gateway.event(bot["event_id"])["audit"]
    assert (entry["kind"], entry["action"]) == ("orphan", "repaired")
    assert audit_cli(gateway) == (0, "")


def test_a_bot_whose_join_time_was_changed_at_recall_is_put_back(
    gateway: BotGateway, recall: RecallBehindTheBack
) -> None:
    [bot] = scheduled_events(gateway, 1)
    recall.move(bot["id"], instant(bot["join_at"]) + timedelta(hours=3))
    gateway.sandbox.clear_calls()

    code, out = audit_cli(gateway, "--repair")
    assert code == 1
    assert out.startswith(
        f"stale profile=bots calendar={gateway.calendar_id} event={bot['event_id']} bot={bot['id']}"
    )
    gateway.settle()
    assert writes(gateway) == [("PATCH", "bot", 200)]
    [now] = live(gateway)[gateway.event(bot["event_id"])["event_uid"]]
    assert (now["id"], instant(now["join_at"])) == (bot["id"], instant(bot["join_at"]))
    assert gateway.extension(bot["event_id"])["bot_id"] == bot["id"]
    assert audit_cli(gateway) == (0, "")


def test_a_bot_meetbridge_did_not_make_is_reported_and_left_alone(
    gateway: BotGateway, recall: RecallBehindTheBack
) -> None:
    [bot] = scheduled_events(gateway, 1)
    stranger = recall.create(zoom(5_000_000_000), instant(bot["join_at"]))
    elsewhere = recall.create(zoom(7_777_777_777), instant(bot["join_at"]))  # not a meeting we manage
    gateway.sandbox.clear_calls()

    code, out = audit_cli(gateway, "--repair", "--json")
    assert code == 1
    [report] = json.loads(out)
    assert [(d["kind"], d["bot_id"], d["event_id"], d["action"]) for d in report["differences"]] == [
        ("foreign", stranger, bot["event_id"], "reported")
    ]
    assert writes(gateway) == []
    assert {b["id"] for b in gateway.sandbox.bots() if not b["deleted"]} == {bot["id"], stranger, elsewhere}
    assert "audit" not in gateway.event(bot["event_id"])  # reported, not a repair of the event
    audit = last_audit(gateway)
    assert audit["counts"] == {"missing": 0, "orphan": 0, "stale": 0, "foreign": 1}
    assert audit["examples"][0]["bot_id"] == stranger
    missing_profile = gateway.client.get("/v1/profiles/nope/audit")
    assert (missing_profile.status_code, missing_profile.json()["error"]) == (404, "not_found")
    # Another application sees the run, but nothing of this application's events.
    other = gateway.server.token("another-app")
    theirs = gateway.client.get("/v1/profiles/bots/audit", headers={"Authorization": f"Bearer {other}"})
    assert theirs.status_code == 200, theirs.text
    assert theirs.json()["audit"]["counts"] == {"missing": 0, "orphan": 0, "stale": 0, "foreign": 0}
    assert theirs.json()["audit"]["examples"] == []


def test_an_audit_with_nothing_to_repair_makes_only_the_listing_calls(gateway: BotGateway) -> None:
    scheduled_events(gateway, 3)
    assert audit_cli(gateway, "--repair") == (0, "")
    assert call_summary(gateway.sandbox.calls()) == [("GET", "list_bots", 200)] * 2
    assert last_audit(gateway)["counts"] == {"missing": 0, "orphan": 0, "stale": 0, "foreign": 0}


def test_the_scheduled_audit_repairs_on_its_own_and_tells_the_app(tmp_path: Path) -> None:
    with audited_gateway(tmp_path, interval=2) as gateway:
        recall = RecallBehindTheBack(gateway.sandbox)
        receiver = Receiver().start()
        try:
            register(gateway.server.url, gateway.token, receiver.url)
            [bot] = scheduled_events(gateway, 1)
            event_uid = gateway.event(bot["event_id"])["event_uid"]
            receiver.wait_for(event_uid, "bot.scheduled")
            recall.delete(bot["id"])

            def remade() -> bool:
                extension = gateway.extension(bot["event_id"])
                return extension["status"] == "scheduled" and extension["bot_id"] not in (None, bot["id"])

            wait_until(remade, timeout=30, what="the scheduled audit to make the bot again")
            event = gateway.event(bot["event_id"])
            assert [b["id"] for b in live(gateway)[event["event_uid"]]] == [event["extensions"][0]["bot_id"]]
            assert [(e["kind"], e["bot_id"]) for e in event["audit"]] == [("missing", bot["id"])]
            [updated] = receiver.wait_for(event_uid, "bot.updated")
            assert (updated.data["bot_id"], updated.data["previous_bot_id"]) == (
                event["extensions"][0]["bot_id"],
                bot["id"],
            )
            assert [m.type for m in receiver.of(event_uid)] == ["bot.scheduled", "bot.updated"]
        finally:
            receiver.stop()
            recall.close()


REMADE = 40


@pytest.mark.slow
def test_a_crash_mid_repair_still_ends_with_exactly_one_bot_per_meeting(
    gateway: BotGateway, recall: RecallBehindTheBack
) -> None:
    bots = scheduled_events(gateway, REMADE)
    for bot in bots:
        recall.delete(bot["id"])
    # Creates are slowed, so that some are under way when the gateway dies.
    gateway.sandbox.add_fault(endpoint="create_bot", latency_ms=1500, count=REMADE)
    code, out = audit_cli(gateway, "--repair")
    assert code == 1
    assert len(out.splitlines()) == REMADE
    wait_until(
        lambda: len(gateway.interrupted_creates()) >= 4,
        timeout=30,
        what="some of the repairs' creates under way",
    )
    gateway.server.kill()
    assert gateway.interrupted_creates(), "no create was in flight at the kill; the test proves nothing"
    gateway.sandbox.clear_faults()
    gateway.server.start()
    gateway.settle(timeout=75)  # jobs the dead process held wait for their 30 s lease

    by_event = live(gateway)
    for bot in bots:
        event = gateway.event(bot["event_id"])
        extension = event["extensions"][0]
        assert extension["status"] == "scheduled", extension
        [made] = by_event.pop(event["event_uid"])
        assert extension["bot_id"] == event["metadata"]["recall"]["bot_id"] == made["id"] != bot["id"]
    assert by_event == {}  # no other bot anywhere
    gateway.sandbox.clear_calls()
    assert audit_cli(gateway) == (0, "")
