"""Reload end to end: a real ``meetbridge serve`` re-reads its file on SIGHUP and ``meetbridge reload``,
refuses a bad one while the old one keeps serving, and drops no request while it switches."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.recall import (
    ENV_KEY,
    PROFILE,
    BotGateway,
    event_body,
    from_now,
    running_bot_gateway,
    zoom,
)
from tests.e2e.server import ServerProcess, wait_until

pytestmark = pytest.mark.e2e

NOT_RELOADED = "configuration NOT reloaded; still running the previous one"


@pytest.fixture(scope="module")
def gateway_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotGateway]:
    with running_bot_gateway(tmp_path_factory.mktemp("reload")) as gateway:
        yield gateway


@pytest.fixture
def gateway(gateway_process: BotGateway) -> Iterator[BotGateway]:
    """Each test starts from the fixture's file, and leaves it (and the server) that way."""
    config = config_path(gateway_process.server)
    original = config.read_text()
    yield gateway_process
    if config.read_text() != original:
        config.write_text(original)
        os.kill(server_pid(gateway_process.server), signal.SIGHUP)
        wait_until(
            lambda: profile_ids(gateway_process) == [PROFILE], timeout=10, what="the original profiles"
        )


def config_path(server: ServerProcess) -> Path:
    assert server.config is not None
    return server.config


def extra_profile(profile_id: str, sandbox_url: str, *, adapter: str = "recall-bot") -> str:
    """The rate limits are the fixture profile's: profiles on one Recall account share its paced
    client, and the catalogue's 120 creates a minute would slow the other tests' bots down."""
    return textwrap.dedent(
        f"""
        [profiles.{profile_id}]
        adapter = "{adapter}"
        base_url = "{sandbox_url}"
        api_key = "env:{ENV_KEY}"
        rate_limits = {{ create_bot = 6000, list_bots = 6000, bot = 6000 }}
        """
    )


def reload_command(server: ServerProcess, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meetbridge", "reload", "--config", str(config_path(server)), *extra],
        env=server.env,
        cwd=server.workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def profile_ids(gateway: BotGateway) -> list[str]:
    response = gateway.client.get("/v1/profiles")
    assert response.status_code == 200, response.text
    return [p["profile_id"] for p in response.json()["profiles"]]


def log_lines(server: ServerProcess, text: str) -> list[str]:
    return [line for line in server.log().splitlines() if text in line]


def server_pid(server: ServerProcess) -> int:
    assert server.process is not None
    return server.process.pid


def test_the_server_writes_its_pid_file(gateway: BotGateway) -> None:
    pid_file = gateway.server.workdir / "meetbridge.pid"
    assert pid_file.read_text() == f"{server_pid(gateway.server)}\n"


def test_reload_command_switches_to_an_added_profile(gateway: BotGateway) -> None:
    server = gateway.server
    config = config_path(server)
    config.write_text(config.read_text() + extra_profile("int_added", gateway.sandbox.url))
    reloads_before = len(log_lines(server, "configuration reloaded"))

    result = reload_command(server)

    assert result.returncode == 0, result.stderr
    assert f"sent SIGHUP to the server (pid {server_pid(server)}" in result.stdout
    wait_until(lambda: profile_ids(gateway) == ["bots", "int_added"], timeout=10, what="the new profile")
    wait_until(
        lambda: len(log_lines(server, "configuration reloaded")) > reloads_before,
        timeout=10,
        what="the reload's log line",
    )
    assert log_lines(server, "configuration reloaded")[-1].endswith(
        "configuration reloaded: 2 profiles (added: int_added, removed: none, changed: none)"
    )
    # The new profile works: an upsert naming it gets its bot.
    event_id = f"added-{uuid.uuid4().hex[:8]}"
    gateway.upsert(event_body(event_id, from_now(days=3), join_url=zoom(5550001111), profile_id="int_added"))
    assert gateway.wait_status(event_id, "scheduled")["bot_id"]


INVALID_PROBLEMS = [
    f"profile {PROFILE}: api_key: environment variable MEETBRIDGE_E2E_NOT_SET is not set",
    "profile int_broken: adapter: 'recall-bot-v9' is not an adapter",
]


def write_invalid_config(gateway: BotGateway) -> None:
    config = config_path(gateway.server)
    config.write_text(
        config.read_text().replace(f"env:{ENV_KEY}", "env:MEETBRIDGE_E2E_NOT_SET")
        + extra_profile("int_broken", gateway.sandbox.url, adapter="recall-bot-v9")
    )


def assert_problem_lines(lines: list[str]) -> None:
    """One line per problem, in any order (the adapter line goes on to list the known adapters)."""
    assert len(lines) == len(INVALID_PROBLEMS), lines
    for expected in INVALID_PROBLEMS:
        assert sum(expected in line for line in lines) == 1, (expected, lines)


def test_invalid_configuration_is_refused_and_the_old_one_keeps_serving(gateway: BotGateway) -> None:
    server = gateway.server
    write_invalid_config(gateway)
    refusals_before = len(log_lines(server, NOT_RELOADED))

    result = reload_command(server)

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    *problems, last = result.stderr.splitlines()
    assert_problem_lines(problems)
    assert last == "meetbridge: not reloading; the server keeps its previous configuration"

    # SIGHUP straight to the server with the same file: it checks for itself, logs, keeps running.
    os.kill(server_pid(server), signal.SIGHUP)
    wait_until(
        lambda: len(log_lines(server, NOT_RELOADED)) > refusals_before,
        timeout=10,
        what="the server to refuse the file",
    )
    # Exactly one refusal: the one for the direct SIGHUP; `meetbridge reload` did not signal.
    assert len(log_lines(server, NOT_RELOADED)) == refusals_before + 1
    log = server.log().splitlines()
    refusal = max(i for i, line in enumerate(log) if NOT_RELOADED in line)
    assert_problem_lines(log[refusal - len(INVALID_PROBLEMS) : refusal])
    assert "ERROR" in log[refusal]

    assert profile_ids(gateway) == [PROFILE]
    event_id = f"kept-{uuid.uuid4().hex[:8]}"
    gateway.upsert(event_body(event_id, from_now(days=3), join_url=zoom(5550002222)))
    extension = gateway.wait_status(event_id, "scheduled")
    assert [b["id"] for b in gateway.sandbox.bots_of(gateway.event(event_id)["event_uid"])] == [
        extension["bot_id"]
    ]


def test_requests_in_flight_are_not_dropped_while_reloading(gateway: BotGateway) -> None:
    server = gateway.server
    config = config_path(server)
    original = config.read_text()
    refusals_before = len(log_lines(server, NOT_RELOADED))
    statuses: list[int] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    async def stream() -> None:
        async with httpx.AsyncClient(
            base_url=server.url, headers=gateway.client.headers, timeout=30
        ) as client:

            async def one(n: int) -> None:
                if n % 3 == 0:
                    body = event_body(f"flight-{uuid.uuid4().hex[:10]}", from_now(days=4), join_url=zoom())
                    response = await client.post(f"/v1/calendars/{gateway.calendar_id}/events", json=body)
                elif n % 3 == 1:
                    response = await client.get("/v1/events", params={"include_managed": "true"})
                else:
                    response = await client.get("/v1/profiles")
                statuses.append(response.status_code)

            n = 0
            while not stop.is_set() or len(statuses) < 200:
                await asyncio.gather(*(one(n + i) for i in range(16)))  # 16 in flight at a time
                n += 16

    def run_stream() -> None:
        try:
            asyncio.run(stream())
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=run_stream, name="request-stream")
    thread.start()
    try:
        wait_until(lambda: len(statuses) >= 16 or failures, timeout=10, what="the request stream")
        for round_ in range(6):
            reloads = len(log_lines(server, "configuration reloaded")) + 1
            added = round_ % 2 == 0
            config.write_text(original + (extra_profile("int_flip", gateway.sandbox.url) if added else ""))
            os.kill(server_pid(server), signal.SIGHUP)
            wait_until(
                lambda n=reloads: len(log_lines(server, "configuration reloaded")) >= n,
                timeout=10,
                what=f"reload {round_}",
            )
            assert ("int_flip" in profile_ids(gateway)) is added
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not failures, failures
    assert len(statuses) >= 200
    assert {s for s in statuses if not 200 <= s < 300} == set(), sorted(set(statuses))
    assert len(log_lines(server, NOT_RELOADED)) == refusals_before


def test_sandbox_profiles_survive_a_reload_and_the_pid_file_goes_on_exit(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    workdir = tmp_path_factory.mktemp("reload-sandbox")
    config = workdir / "meetbridge.toml"
    config.write_text(extra_profile("int_file", "http://127.0.0.1:9"))
    server = ServerProcess(workdir, config=config, env={ENV_KEY: "a-key"})
    pid_file = workdir / "run" / "server.pid"
    pid_file.parent.mkdir()
    server.start("--sandbox", "--pid-file", str(pid_file))
    try:
        assert pid_file.read_text() == f"{server_pid(server)}\n"
        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token()}"})
        with client:

            def ids() -> list[str]:
                response = client.get("/v1/profiles")
                assert response.status_code == 200, response.text
                return [p["profile_id"] for p in response.json()["profiles"]]

            before = ids()
            assert "int_file" in before
            assert "sandbox-bot" in before
            config.write_text(config.read_text() + extra_profile("int_second", "http://127.0.0.1:9"))

            result = reload_command(server, "--pid-file", str(pid_file))

            assert result.returncode == 0, result.stderr
            wait_until(lambda: "int_second" in ids(), timeout=10, what="the new profile")
            assert ids() == sorted([*before, "int_second"])
            assert log_lines(server, "configuration reloaded")[-1].endswith(
                f"configuration reloaded: {len(before) + 1} profiles"
                " (added: int_second, removed: none, changed: none)"
            )
    finally:
        server.stop()
    assert not pid_file.exists()
    result = reload_command(server, "--pid-file", str(pid_file))
    assert result.returncode == 1
    assert result.stderr.startswith(f"meetbridge: no pid file at {pid_file}")
