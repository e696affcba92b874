"""Outbound webhooks end to end with a recall-bot profile: real gateway and Recall stand-in processes,
and the app's receiver (tests.e2e.receiver) a real HTTP server on a loopback port.

Every type a recall-bot bot can cause arrives with the right data and verifies with Svix's verifier;
another application's endpoint hears nothing; a receiver answering 500 twice gets the third attempt
with the same webhook-id on the (short) schedule; a deleted endpoint gets nothing more; a receiver
that was down while bots were made, with the gateway SIGKILLed and restarted, still gets every
message; a private URL is refused without allow_private_urls.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.e2e.recall import (
    API_KEY,
    ENV_KEY,
    ENV_SECRET,
    PROFILE,
    BotGateway,
    SandboxProcess,
    event_body,
    from_now,
    gateway_config,
    instant,
    zoom,
)
from tests.e2e.receiver import SHORT_RETRIES, Receiver, only, register, verify_all
from tests.e2e.server import ServerProcess, free_port, running_gateway, wait_until, webhook_secret
from tests.e2e.test_cli import banner_commands, run_curl


def bot_gateway(
    workdir: Path, webhooks: str = SHORT_RETRIES
) -> contextlib.AbstractContextManager[BotGateway]:
    """``running_bot_gateway`` with a ``[webhooks]`` table added to its configuration."""
    secret = webhook_secret()
    server = ServerProcess(
        workdir, config=workdir / "meetbridge.toml", env={ENV_KEY: API_KEY, ENV_SECRET: secret}
    )
    sandbox = SandboxProcess(
        workdir, webhook_url=f"{server.url}/v1/webhooks/recall/{PROFILE}", webhook_secret=secret
    )
    make = functools.partial(BotGateway, webhook_secret=secret)
    return running_gateway(server, sandbox, lambda url: gateway_config(url) + webhooks, make)


@pytest.fixture(scope="module")
def bots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotGateway]:
    with bot_gateway(Path(tmp_path_factory.mktemp("outbound-webhooks"))) as gateway:
        yield gateway


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


def uid(bots: BotGateway, event_id: str) -> str:
    return str(bots.event(event_id)["event_uid"])


def test_every_recall_bot_type_arrives_signed_with_its_data(bots: BotGateway, receiver: Receiver) -> None:
    endpoint = register(bots.server.url, bots.token, receiver.url, description="the app")
    stranger = Receiver().start()
    try:
        register(bots.server.url, bots.server.token("another-app"), stranger.url)
        start = from_now(hours=3)
        bots.upsert(event_body("wh-1", start, join_url=zoom(9_100_001_001)))
        bots.wait_status("wh-1", "scheduled")
        event_uid = uid(bots, "wh-1")
        bot_id = bots.extension("wh-1")["bot_id"]
        scheduled = only(receiver.wait_for(event_uid, "bot.scheduled"))
        assert scheduled.data == {
            "calendar_id": bots.calendar_id,
            "event_id": "wh-1",
            "event_uid": event_uid,
            "profile_id": PROFILE,
            "adapter": "recall-bot",
            "bot_id": bot_id,
            "join_at": scheduled.data["join_at"],
            "meeting_url": zoom(9_100_001_001),
            "status": "scheduled",
            "provider_status": None,
            "sub_code": None,
            "reason": None,
            "previous_bot_id": None,
            "sequence": 1,
        }
        assert instant(scheduled.data["join_at"]) == start

        bots.upsert(event_body("wh-1", start + timedelta(hours=1), join_url=zoom(9_100_001_001)))
        updated = only(receiver.wait_for(event_uid, "bot.updated"))
        assert (updated.data["bot_id"], instant(updated.data["join_at"])) == (
            bot_id,
            start + timedelta(hours=1),
        )

        bots.sandbox.force_status(bot_id, "in_call_recording", hold=True)
        recording = only(receiver.wait_for(event_uid, "bot.status"))
        assert (recording.data["provider_status"], recording.data["status"]) == (
            "in_call_recording",
            "scheduled",
        )
        bots.sandbox.force_status(bot_id, "fatal", sub_code="meeting_not_found")
        fatal = receiver.wait_for(event_uid, "bot.status", count=2)[1]
        assert (fatal.data["provider_status"], fatal.data["sub_code"]) == ("fatal", "meeting_not_found")
        failed = only(receiver.wait_for(event_uid, "bot.failed"))
        assert failed.data["reason"]["code"] == "meeting_not_found"
        assert failed.data["status"] == "failed"

        bots.upsert(event_body("wh-2", start))  # no meeting link anywhere
        no_link = only(receiver.wait_for(uid(bots, "wh-2"), "bot.failed"))
        assert no_link.data["reason"]["code"] == "no_meeting_url"
        assert no_link.data["bot_id"] is None

        bots.upsert(event_body("wh-3", start, join_url=zoom(9_100_003_001)))
        bots.upsert(event_body("wh-4", start, join_url=zoom(9_100_004_001)))
        bots.wait_status("wh-3", "scheduled")
        bots.wait_status("wh-4", "scheduled")
        bot_3, bot_4 = bots.extension("wh-3")["bot_id"], bots.extension("wh-4")["bot_id"]
        bots.upsert(event_body("wh-3", start, join_url=zoom(9_100_003_001), profile_id="none"))
        bots.delete("wh-4")
        for event_id, cancelled_bot in (("wh-3", bot_3), ("wh-4", bot_4)):
            cancelled = only(receiver.wait_for(uid(bots, event_id), "bot.cancelled"))
            assert (cancelled.data["status"], cancelled.data["previous_bot_id"]) == (
                "cancelled",
                cancelled_bot,
            )

        # Messages go out concurrently, so they may arrive out of order: the sequence orders them.
        told = sorted(receiver.of(event_uid), key=lambda m: int(m.data["sequence"]))
        assert [m.data["sequence"] for m in told] == [1, 2, 3, 4, 5]
        assert [m.type for m in told] == [
            "bot.scheduled",
            "bot.updated",
            "bot.status",
            "bot.status",
            "bot.failed",
        ]
        assert len({m.headers["webhook-id"] for m in receiver.delivered()}) == len(receiver.delivered())
        verify_all(receiver.delivered(), endpoint["secret"])
        bots.settle()
        assert stranger.received == []  # another application's endpoint hears nothing of these
        log = bots.client.get(f"/v1/webhook_endpoints/{endpoint['endpoint_id']}/deliveries?limit=100").json()
        by_id = {d["message_id"]: d for d in log["deliveries"]}
        for message in receiver.delivered():
            delivery = by_id[message.headers["webhook-id"]]
            assert (delivery["state"], [a["status_code"] for a in delivery["attempts"]]) == (
                "delivered",
                [200],
            )
    finally:
        stranger.stop()


def test_a_failing_receiver_gets_the_same_message_again_on_schedule(
    bots: BotGateway, receiver: Receiver
) -> None:
    endpoint = register(bots.server.url, bots.token, receiver.url, event_types=["bot.scheduled"])
    receiver.script = [500, 500]
    bots.upsert(event_body("wh-retry", from_now(hours=3), join_url=zoom(9_100_101_001)))
    event_uid = uid(bots, "wh-retry")
    wait_until(lambda: receiver.of(event_uid), timeout=30, what="the third attempt")
    attempts = [r for r in receiver.received if r.data["event_uid"] == event_uid]
    assert [a.answered for a in attempts] == [500, 500, 200]
    assert len({a.headers["webhook-id"] for a in attempts}) == 1
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(attempts)]
    assert 1.0 <= gaps[0] < 4.0  # retry_schedule_seconds = [1, 2]
    assert 2.0 <= gaps[1] < 5.0
    verify_all(attempts, endpoint["secret"])
    log = bots.client.get(f"/v1/webhook_endpoints/{endpoint['endpoint_id']}/deliveries").json()
    [delivery] = [d for d in log["deliveries"] if d["event_uid"] == event_uid]
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 200]
    assert delivery["state"] == "delivered"


def test_a_deleted_endpoint_gets_nothing_more(bots: BotGateway, receiver: Receiver) -> None:
    endpoint = register(bots.server.url, bots.token, receiver.url)
    start = from_now(hours=3)
    bots.upsert(event_body("wh-del", start, join_url=zoom(9_100_201_001)))
    event_uid = uid(bots, "wh-del")
    receiver.wait_for(event_uid, "bot.scheduled")
    response = bots.client.delete(f"/v1/webhook_endpoints/{endpoint['endpoint_id']}")
    assert response.status_code == 204
    watcher = Receiver().start()  # a second endpoint shows when the next message has gone out
    try:
        register(bots.server.url, bots.token, watcher.url)
        bots.upsert(event_body("wh-del", start + timedelta(hours=1), join_url=zoom(9_100_201_001)))
        watcher.wait_for(event_uid, "bot.updated")
        bots.settle()
        assert [m.type for m in receiver.received if m.data["event_uid"] == event_uid] == ["bot.scheduled"]
    finally:
        watcher.stop()


def outstanding(database: Path) -> tuple[int, int]:
    """(messages not yet delivered, of those leased by a sender now)."""
    with contextlib.closing(sqlite3.connect(database, timeout=10)) as connection:
        rows = connection.execute(
            "SELECT count(*), count(lease_owner) FROM webhook_messages WHERE next_attempt_at IS NOT NULL"
        ).fetchone()
    return int(rows[0]), int(rows[1])


def seconds_to_next_attempt(database: Path) -> float:
    """How long until the earliest outstanding message is due (SQLite keeps UTC without the offset)."""
    with contextlib.closing(sqlite3.connect(database, timeout=10)) as connection:
        [earliest] = connection.execute(
            "SELECT min(next_attempt_at) FROM webhook_messages WHERE next_attempt_at IS NOT NULL"
        ).fetchone()
    due = datetime.fromisoformat(earliest).replace(tzinfo=UTC)
    return (due - datetime.now(UTC)).total_seconds()


def test_a_receiver_down_and_a_killed_gateway_lose_no_message(tmp_path: Path) -> None:
    webhooks = (
        "\n[webhooks]\nallow_private_urls = true\nretry_schedule_seconds = [6, 1, 1, 2, 2, 2, 2, 2, 2, 2]\n"
    )
    receiver = Receiver()  # not started: down while the bots are made
    with bot_gateway(tmp_path, webhooks) as bots:
        endpoint = register(bots.server.url, bots.token, receiver.url, event_types=["bot.scheduled"])
        start = from_now(hours=3)
        bots.upsert_all([event_body(f"crash-{n}", start, join_url=zoom(9_100_300_000 + n)) for n in range(6)])
        bots.settle()
        # Every message tried once and refused, none in flight and none due for 2 s: SIGKILL falls
        # between attempts. (Killed inside one, its 60 s lease would outlast the wait below.)
        wait_until(
            lambda: outstanding(bots.database) == (6, 0) and seconds_to_next_attempt(bots.database) > 2,
            timeout=20,
            what="six failing messages, none due soon",
        )
        bots.server.kill()
        assert outstanding(bots.database) == (6, 0)
        receiver.start()
        try:
            bots.server.start()
            uids = {uid(bots, f"crash-{n}") for n in range(6)}
            wait_until(
                lambda: {m.data["event_uid"] for m in receiver.delivered()} == uids,
                timeout=30,
                what="every bot.scheduled after the restart",
            )
            assert len(receiver.delivered()) == 6
            verify_all(receiver.delivered(), endpoint["secret"])
            # The sender records a delivery after the receiver's answer: wait for the last record.
            wait_until(lambda: outstanding(bots.database) == (0, 0), timeout=10, what="deliveries recorded")
        finally:
            receiver.stop()


def test_a_private_url_is_refused_without_allow_private_urls(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, config=tmp_path / "meetbridge.toml")
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.closing(httpx.Client(timeout=10)))
        (tmp_path / "meetbridge.toml").write_text("")
        server.cli("db", "upgrade")
        server.start()
        stack.callback(server.stop)
        token = server.token()
        for url in (
            "http://127.0.0.1:9/hook",
            "https://127.0.0.1/hook",
            "https://10.0.0.7/hook",
            "https://localhost/",
        ):
            response = httpx.post(
                f"{server.url}/v1/webhook_endpoints",
                json={"url": url},
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            assert response.status_code == 422, (url, response.text)
            assert list(response.json()["errors"]) == ["url"]
        listed = httpx.get(f"{server.url}/v1/webhook_endpoints", headers={"Authorization": f"Bearer {token}"})
        assert listed.json() == {"endpoints": []}


def test_the_sandbox_banner_shows_how_to_watch_the_messages_arrive(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path)  # no configuration: --sandbox brings the profiles
    server.start("--sandbox")
    listener: subprocess.Popen[str] | None = None
    try:
        wait_until(lambda: "webhooks listen" in server.log(), timeout=10, what="the sandbox banner")
        banner = server.log()[server.log().rindex("meetbridge is serving on") :]
        command = next(line for line in banner.splitlines() if "meetbridge webhooks listen" in line).split()
        assert command[:3] == ["meetbridge", "webhooks", "listen"]
        listen_port = free_port()
        listener = subprocess.Popen(
            [sys.executable, "-m", "meetbridge", *command[1:], "--port", str(listen_port)],
            cwd=tmp_path,
            env=server.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        output: list[str] = []
        stdout = listener.stdout
        assert stdout is not None
        threading.Thread(target=lambda: output.extend(iter(stdout.readline, "")), daemon=True).start()
        wait_until(lambda: any("listening on" in line for line in output), timeout=15, what="the listener")
        _, calendar_id, commands = banner_commands(server.log())
        upsert = commands[0]
        assert run_curl(upsert).status_code == 202
        wait_until(
            lambda: any("bot.scheduled" in line and "signature verified" in line for line in output),
            timeout=20,
            what="the listener to print a verified bot.scheduled",
        )
        assert any(f'"calendar_id": "{calendar_id}"' in line for line in output)
        listener.send_signal(signal.SIGINT)
        listener.wait(timeout=15)
        assert any("deleted endpoint" in line for line in output), output
        token = command[command.index("--token") + 1]
        listed = httpx.get(f"{server.url}/v1/webhook_endpoints", headers={"Authorization": f"Bearer {token}"})
        assert listed.json() == {"endpoints": []}
    finally:
        if listener is not None and listener.poll() is None:
            listener.kill()
        server.stop()
