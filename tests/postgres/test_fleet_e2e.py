"""Issue 15, proven with real processes: three ``meetbridge serve`` replicas on one fresh PostgreSQL
database and Recall stand-ins of their own (``tests/postgres/fleet.py``). One fleet serves the
module (starting it is the cold-start test); a test that kills or pauses a replica restores it."""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from meetbridge.db.migrate import scripts
from meetbridge.db.rate_pacers import gcra
from tests.e2e.recall import event_body, from_now, zoom
from tests.e2e.server import wait_until
from tests.postgres.fleet import LEASE_SECONDS, PACED_LIMIT, Fleet, Json, running_fleet

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with running_fleet(tmp_path_factory.mktemp("fleet")) as made:
        yield made


def bodies(prefix: str, count: int, first_meeting: int, profile_id: str = "bots") -> list[Json]:
    start = from_now(days=3)
    return [
        event_body(
            f"{prefix}-{n:03d}",
            start + timedelta(minutes=n),
            join_url=zoom(first_meeting + n),
            profile_id=profile_id,
        )
        for n in range(count)
    ]


def creates(calls: list[Json]) -> list[Json]:
    return [c for c in calls if c["endpoint"] == "create_bot"]


def bots_by_event(fleet: Fleet, event_uids: set[str]) -> dict[str, list[Json]]:
    """Every bot the `bots` stand-in ever made (deleted ones too) for these events."""
    grouped: dict[str, list[Json]] = {uid: [] for uid in event_uids}
    for bot in fleet.bots.bots():
        uid = bot["metadata"].get("meetbridge_event")
        if uid in grouped:
            grouped[uid].append(bot)
    return grouped


def test_three_replicas_started_together_on_an_empty_database_come_up_healthy(fleet: Fleet) -> None:
    # The fixture launched all three at once with no `db upgrade` first and waited for each /healthz.
    print(f"cold start of three replicas: {fleet.cold_start_seconds:.1f} s")
    [(revision,)] = fleet.query("SELECT version_num FROM alembic_version")
    assert (revision,) == tuple(scripts().get_heads())
    for replica in fleet.replicas:
        log = replica.log()
        assert "Traceback" not in log, log
        assert "IntegrityError" not in log, log
    fleet.fresh()
    for replica in fleet.replicas:
        ready = httpx.get(f"{replica.url}/readyz", timeout=5)
        answer = ready.json()
        assert (ready.status_code, answer["status"], answer["schema"]) == (200, "ready", "current")


def test_ninety_events_round_robin_get_exactly_ninety_bots_that_every_replica_shows(fleet: Fleet) -> None:
    fleet.fresh()
    sent = bodies("burst", 90, 5_100_000_000)

    acknowledged = fleet.upsert_round_robin(sent)
    assert sorted(acknowledged) == [b["event_id"] for b in sent]
    fleet.settle()

    views = fleet.events_everywhere(acknowledged)
    uids = {views[0][event_id]["event_uid"] for event_id in acknowledged}
    made = bots_by_event(fleet, uids)
    assert len(creates(fleet.bots.calls())) == 90  # never a second Create Bot for a meeting
    assert sorted(len(found) for found in made.values()) == [1] * 90
    for event_id in acknowledged:
        [bot] = made[views[0][event_id]["event_uid"]]
        assert not bot["deleted"]
        for view in views:  # every replica shows the same bot
            event = view[event_id]
            [extension] = event["extensions"]
            assert (extension["status"], extension["bot_id"]) == ("scheduled", bot["id"]), event_id
            assert event["metadata"]["recall"]["bot_id"] == bot["id"]


def test_sigkill_of_one_replica_mid_burst_still_gives_one_bot_per_acknowledged_event(fleet: Fleet) -> None:
    fleet.fresh()
    fleet.bots.add_fault(endpoint="create_bot", latency_ms=300, count=60)  # creates in flight at the kill
    victim = fleet.replicas[2]
    victim_pid = victim.pid
    sent = bodies("kill", 60, 5_200_000_000)
    acknowledged: list[str] = []
    burst = threading.Thread(target=lambda: acknowledged.extend(fleet.upsert_round_robin(sent)))
    burst.start()

    def victim_leases() -> int:
        rows = fleet.query("SELECT count(*) FROM jobs WHERE lease_owner LIKE $1", f"%:{victim_pid}:%")
        count: int = rows[0][0]
        return count

    try:
        wait_until(lambda: victim_leases() >= 2, timeout=30, what="the victim to hold several jobs")
        victim.kill()
        killed_at = time.monotonic()
    finally:
        burst.join(timeout=60)
    orphaned = victim_leases()
    # Recovery: the dead replica's jobs are taken over once their leases (3 s, renewed every 0.5 s)
    # run out, and run to the end by the others.
    wait_until(
        lambda: victim_leases() == 0, timeout=LEASE_SECONDS + 20, what="the dead replica's jobs taken over"
    )
    taken_over = time.monotonic() - killed_at
    fleet.settle(timeout=30)
    print(f"SIGKILL: {orphaned} job(s) of the dead replica taken over {taken_over:.1f} s after the kill")

    assert acknowledged, "no upsert was acknowledged"
    assert len(acknowledged) < len(sent)  # the victim's share after the kill went unanswered
    stored = {
        row["event_id"]: row["event_uid"]
        for row in fleet.query("SELECT event_id, event_uid FROM events WHERE event_id LIKE 'kill-%'")
    }
    made = bots_by_event(fleet, set(stored.values()))
    assert len(creates(fleet.bots.calls())) == sum(len(found) for found in made.values())
    assert max(len(found) for found in made.values()) == 1  # never two bots for one meeting
    for event_id in acknowledged:
        [bot] = made[stored[event_id]]
        event = fleet.event(0, event_id)
        [extension] = event["extensions"]
        assert (extension["status"], extension["bot_id"]) == ("scheduled", bot["id"]), event_id
        assert not bot["deleted"]


def test_sigterm_hands_a_replicas_jobs_back_and_every_event_still_gets_one_bot(fleet: Fleet) -> None:
    fleet.fresh()
    fleet.bots.add_fault(endpoint="create_bot", latency_ms=2500, count=30)  # creates under way at the stop
    victim = fleet.replicas[1]
    sent = bodies("term", 30, 5_500_000_000)
    assert len(fleet.upsert_round_robin(sent)) == 30
    wait_until(lambda: fleet.leases_of(victim) >= 2, timeout=30, what="the victim to hold several jobs")

    victim.signal(signal.SIGTERM)
    signalled = time.monotonic()
    assert victim.process is not None
    # uvicorn shuts down, then raises the signal it caught again: a clean stop ends "killed by SIGTERM".
    assert victim.process.wait(timeout=30) == -signal.SIGTERM
    exited = time.monotonic() - signalled
    handed = re.search(r"handed (\d+) running job\(s\) back", victim.log())
    assert handed, victim.log()[-2000:]
    assert int(handed.group(1)) >= 1
    assert fleet.leases_of(victim) == 0  # released as it stopped, not left to expire
    fleet.settle(timeout=30)
    print(f"SIGTERM: exited {exited:.1f} s after the signal, handing back {handed.group(1)} job(s)")

    stored = {
        row["event_id"]: row["event_uid"]
        for row in fleet.query("SELECT event_id, event_uid FROM events WHERE event_id LIKE 'term-%'")
    }
    made = bots_by_event(fleet, set(stored.values()))
    assert sorted(len(found) for found in made.values()) == [1] * 30  # a cut-short create found, not repeated
    for event_id, uid in stored.items():
        [bot] = made[uid]
        [extension] = fleet.event(0, event_id)["extensions"]
        assert (extension["status"], extension["bot_id"]) == ("scheduled", bot["id"]), event_id


JITTER = 3  # calls a window may hold beyond the pacer's law: the stand-in stamps them as it answers


def most_in_any_window(times: list[float], window: float) -> int:
    most, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] > window + 1e-9:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_a_create_bot_limit_is_shared_by_the_fleet(fleet: Fleet) -> None:
    """The issue's case, create_bot = 20 and 60 events, would take three minutes to watch; the same
    law is checked in seconds at a limit of 300 a minute. The fleet shares one pacer: a burst of at
    most 27 Create Bot calls, then 4.5 a second (so at most 297 in any minute, test_fleet_state
    checks the parameters for every limit). Three pacers of their own would have let 81 through at
    once: all 60 within a couple of seconds. The stand-in stamps a call as it answers, and a busy one
    answers several at once: each window allows a few calls of jitter, and the spread less a second."""
    fleet.fresh()
    sent = bodies("paced", 60, 5_300_000_000, profile_id="paced")

    assert len(fleet.upsert_round_robin(sent)) == 60
    fleet.settle(timeout=60)

    calls = fleet.paced.calls()
    made = creates(calls)
    assert len(made) == 60
    assert all(c["status"] == 201 for c in made)  # no 429 the fleet brought on itself
    times = sorted(datetime.fromisoformat(c["time"].replace("Z", "+00:00")).timestamp() for c in made)
    interval, tolerance = gcra(PACED_LIMIT)
    burst = round(tolerance / interval) + 1
    assert burst == 27
    assert times[-1] - times[0] >= (60 - burst - 4) * interval  # 6.4 s (7.3 less jitter); per process: 2.8
    for window in (0.5, 1.0, 2.0, 4.0):
        assert most_in_any_window(times, window) <= burst + window / interval + JITTER, window
    print(f"60 creates over {times[-1] - times[0]:.1f} s; most in any 1 s: {most_in_any_window(times, 1.0)}")


def test_a_replica_paused_past_its_lease_does_not_overwrite_the_new_owner(fleet: Fleet) -> None:
    fleet.fresh()
    event_id = "paused-1"
    body = bodies("unused", 1, 5_400_000_000)[0] | {"event_id": event_id}
    assert fleet.upsert_round_robin([body]) == [event_id]
    fleet.settle()
    first_bot = fleet.event(0, event_id)["extensions"][0]["bot_id"]
    assert first_bot
    [(pk,)] = fleet.query("SELECT pk FROM events WHERE event_id = $1", event_id)

    # Cancelling the bot is slow at Recall: the replica that takes the job is paused mid-job.
    fleet.bots.add_fault(endpoint="bot", latency_ms=1500, count=1)
    cancel = fleet.clients[1].post(
        f"/v1/calendars/{fleet.calendar_id}/events",
        json=body | {"extensions": [{"provider": "recall", "profile_id": "none"}]},
    )
    assert cancel.status_code == 202, cancel.text

    def owner() -> str | None:
        rows = fleet.query("SELECT lease_owner FROM jobs WHERE kind = 'event' AND subject = $1", pk)
        return rows[0][0] if rows else None

    wait_until(owner, timeout=20, what="a replica to claim the cancel", interval=0.01)
    pid = int(str(owner()).split(":")[1])
    [paused] = [r for r in fleet.replicas if r.pid == pid]
    others = [n for n, r in enumerate(fleet.replicas) if r is not paused]
    paused.signal(signal.SIGSTOP)
    try:
        # The lease runs out; another replica cancels the bot, then the app wants one again.
        def status(expected: str) -> bool:
            [extension] = fleet.event(others[0], event_id)["extensions"]
            return bool(extension["status"] == expected)

        wait_until(lambda: status("cancelled"), timeout=LEASE_SECONDS + 20, what="the new owner to cancel")
        again = fleet.clients[others[1]].post(f"/v1/calendars/{fleet.calendar_id}/events", json=body)
        assert again.status_code == 202, again.text
        wait_until(lambda: status("scheduled"), timeout=20, what="the new bot")
        fleet.settle()
        second_bot = fleet.event(others[0], event_id)["extensions"][0]["bot_id"]
        assert second_bot not in (None, first_bot)
    finally:
        paused.signal(signal.SIGCONT)

    # The resumed replica finishes its stale job: its write-back is refused (or, unfenced, it would
    # put back what it saw, no bot, over the new owner's bot; the wait ends on either).
    def fenced_or_overwritten() -> bool:
        fenced = "its lease passed to another worker" in paused.log()
        return fenced or fleet.event(others[0], event_id)["extensions"][0]["bot_id"] != second_bot

    wait_until(fenced_or_overwritten, timeout=20, what="the paused replica's write-back")
    fleet.settle()
    for replica in range(3):
        event = fleet.event(replica, event_id)
        [extension] = event["extensions"]
        assert (extension["status"], extension["bot_id"]) == ("scheduled", second_bot)
        assert event["metadata"]["recall"]["bot_id"] == second_bot
    made = {
        bot["id"]: bot["deleted"] for bot in bots_by_event(fleet, {event["event_uid"]})[event["event_uid"]]
    }
    assert made == {first_bot: True, second_bot: False}
