"""Reload without a server: the log line, the --sandbox merge, refusal of a bad file, the pid file."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from meetbridge.cli import main
from meetbridge.config.catalogue import load_catalogue
from meetbridge.config.profiles import GatewayConfig, ServerConfig, parse_config
from meetbridge.config.secrets import Secret
from meetbridge.errors import ConfigError
from meetbridge.runtime.gateway import Gateway
from meetbridge.runtime.reload import (
    NOT_RELOADED,
    Reloader,
    ReloadOnSignal,
    ServerNotRunning,
    describe_change,
    remove_pid_file,
    signal_server,
    write_pid_file,
)
from meetbridge.runtime.sandbox_profiles import (
    SANDBOX_BOT_PROFILE,
    SANDBOX_CALENDAR_PROFILE,
    sandbox_profiles,
)
from meetbridge.serve import SandboxAdditions, load_checked_config
from meetbridge.settings import Settings, default_catalogue_dir
from tests.conftest import TEST_ENV
from tests.e2e.server import wait_until

CATALOGUE = load_catalogue(default_catalogue_dir())


def bot_profile(base_url: str = "http://127.0.0.1:9", bot_name: str = "Notetaker") -> dict[str, object]:
    return {
        "adapter": "recall-bot",
        "base_url": base_url,
        "api_key": "env:MEETBRIDGE_TEST_RECALL_KEY",
        "bot_name": bot_name,
    }


def config(server: dict[str, object] | None = None, **profiles: dict[str, object]) -> GatewayConfig:
    document: dict[str, object] = {"profiles": profiles}
    if server is not None:
        document["server"] = server
    return parse_config(document, CATALOGUE, {**TEST_ENV, "SERVER_KEY": "a-server-key"})


# --- the log line -------------------------------------------------------------------------------


def test_the_line_names_what_was_added_removed_and_changed() -> None:
    old = config(a=bot_profile(), b=bot_profile(), c=bot_profile())
    new = config(a=bot_profile(), c=bot_profile(bot_name="Renamed"), d=bot_profile(), e=bot_profile())

    assert describe_change(old, new) == (
        "configuration reloaded: 4 profiles (added: d e, removed: b, changed: c)"
    )


def test_the_line_of_an_unchanged_configuration() -> None:
    assert describe_change(config(a=bot_profile()), config(a=bot_profile())) == (
        "configuration reloaded: 1 profile (no changes)"
    )
    assert describe_change(config(), config()) == "configuration reloaded: 0 profiles (no changes)"


def test_the_line_says_when_only_the_server_table_changed() -> None:
    old = config(a=bot_profile())
    new = config({"public_url": "https://meetbridge.example.com"}, a=bot_profile())

    assert describe_change(old, new) == (
        "configuration reloaded: 1 profile (added: none, removed: none, changed: none); [server] changed"
    )


# --- the --sandbox additions --------------------------------------------------------------------


def test_sandbox_additions_survive_a_reload_and_keep_their_generated_key() -> None:
    additions = SandboxAdditions(sandbox_profiles("http://127.0.0.1:8000", CATALOGUE))
    at_start = additions.apply(config(a=bot_profile()))
    reloaded = additions.apply(config(a=bot_profile(), b=bot_profile()))

    assert {SANDBOX_BOT_PROFILE, SANDBOX_CALENDAR_PROFILE, "a"} <= set(at_start.profiles)
    assert set(reloaded.profiles) == set(at_start.profiles) | {"b"}
    assert at_start.server.secret_key is not None
    assert reloaded.server.secret_key == at_start.server.secret_key  # the same key, not a new one
    assert describe_change(at_start, reloaded).endswith("(added: b, removed: none, changed: none)")
    # The same file again is the same configuration: a reload changes nothing.
    assert additions.apply(config(a=bot_profile())) == at_start


def test_sandbox_additions_yield_to_the_file() -> None:
    additions = SandboxAdditions(sandbox_profiles("http://127.0.0.1:8000", CATALOGUE))
    mine = bot_profile("http://127.0.0.1:7777")
    merged = additions.apply(config({"secret_key": "env:SERVER_KEY"}, **{SANDBOX_BOT_PROFILE: mine}))

    assert merged.profiles[SANDBOX_BOT_PROFILE].base_url == "http://127.0.0.1:7777"
    assert merged.server.secret_key == Secret("a-server-key", "env:SERVER_KEY")


# --- the reload itself --------------------------------------------------------------------------

INVALID_TOML = textwrap.dedent(
    """
    [profiles.int_sales_0000]
    adapter = "recall-bot"
    base_url = "http://127.0.0.1:9"
    api_key = "env:MEETBRIDGE_TEST_NOT_SET"

    [profiles.int_new]
    adapter = "recall-bot-v9"
    """
)
PROBLEMS = [
    "profile int_sales_0000: api_key: environment variable MEETBRIDGE_TEST_NOT_SET is not set",
    "profile int_new: adapter: 'recall-bot-v9' is not an adapter",
]


def assert_problems(lines: list[str]) -> None:
    """Each expected problem is one whole line (the adapter line goes on to list the known ones)."""
    assert len(lines) == len(PROBLEMS), lines
    for line, expected in zip(sorted(lines), sorted(PROBLEMS), strict=True):
        assert line.startswith(expected), lines


def test_an_invalid_file_is_refused_with_one_line_per_problem(settings: Settings) -> None:
    assert settings.config_path is not None
    settings.config_path.write_text(INVALID_TOML)

    with pytest.raises(ConfigError) as refused:
        load_checked_config(settings)
    assert_problems(refused.value.problems)


async def test_reload_swaps_a_valid_configuration_in(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    new = msgspec.structs.replace(
        gateway.config, profiles={**gateway.config.profiles, **config(int_new=bot_profile()).profiles}
    )
    caplog.set_level(logging.INFO, "meetbridge.reload")

    assert await Reloader(gateway, lambda: new).reload()
    assert gateway.config is new
    assert caplog.messages == [
        "configuration reloaded: 2 profiles (added: int_new, removed: none, changed: none)"
    ]
    await gateway.aclose()


async def test_reload_of_an_invalid_file_keeps_the_old_configuration(
    gateway: Gateway, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    assert settings.config_path is not None
    settings.config_path.write_text(INVALID_TOML)
    old, generation = gateway.config, gateway.live.generation
    caplog.set_level(logging.INFO, "meetbridge.reload")

    assert not await Reloader(gateway, lambda: load_checked_config(settings)).reload()
    assert gateway.config is old
    assert gateway.live.generation == generation
    assert_problems(caplog.messages[:-1])
    assert caplog.messages[-1] == NOT_RELOADED
    assert all(r.levelno == logging.ERROR for r in caplog.records)
    await gateway.aclose()


async def test_reload_of_the_same_configuration_changes_nothing(
    gateway: Gateway, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    generation = gateway.live.generation
    caplog.set_level(logging.INFO, "meetbridge.reload")

    assert await Reloader(gateway, lambda: load_checked_config(settings)).reload()
    assert gateway.live.generation == generation  # apply_config was not called
    assert caplog.messages == ["configuration reloaded: 1 profile (no changes)"]
    await gateway.aclose()


async def test_an_unexpected_failure_is_logged_and_keeps_the_old_configuration(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> GatewayConfig:
        raise PermissionError("meetbridge.toml: permission denied")

    old = gateway.config
    assert not await Reloader(gateway, broken).reload()
    assert gateway.config is old
    assert caplog.messages[-1] == NOT_RELOADED
    await gateway.aclose()


async def test_sighup_in_the_running_loop_reloads_and_the_pid_file_comes_and_goes(
    gateway: Gateway, tmp_path: Path
) -> None:
    new = GatewayConfig(ServerConfig(), config(int_new=bot_profile()).profiles)
    reloaded = asyncio.Event()

    def load() -> GatewayConfig:
        reloaded.set()
        return new

    pid_file = tmp_path / "meetbridge.pid"
    hooks = ReloadOnSignal(Reloader(gateway, load), pid_file)
    await hooks.start()
    try:
        assert pid_file.read_text() == f"{os.getpid()}\n"
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.wait_for(reloaded.wait(), timeout=5)
        for _ in range(100):
            if gateway.config is new:
                break
            await asyncio.sleep(0.01)
        assert gateway.config is new
    finally:
        await hooks.stop()
    assert not pid_file.exists()
    await gateway.aclose()


# --- the pid file and `meetbridge reload` ----------------------------------------------------------


def test_a_pid_file_is_removed_only_by_its_own_server(tmp_path: Path) -> None:
    pid_file = tmp_path / "meetbridge.pid"
    write_pid_file(pid_file, 1234)
    remove_pid_file(pid_file, 999)  # another server's: left alone
    assert pid_file.read_text() == "1234\n"
    remove_pid_file(pid_file, 1234)
    assert not pid_file.exists()
    remove_pid_file(pid_file, 1234)  # gone already: fine
    assert list(tmp_path.iterdir()) == []


def test_no_server_to_signal(tmp_path: Path) -> None:
    pid_file = tmp_path / "meetbridge.pid"
    with pytest.raises(ServerNotRunning, match="no pid file at"):
        signal_server(pid_file)
    pid_file.write_text("not a pid\n")
    with pytest.raises(ServerNotRunning, match="holds no pid"):
        signal_server(pid_file)
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    pid_file.write_text(finished.stdout.decode())
    with pytest.raises(ServerNotRunning, match="no meetbridge server with pid"):
        signal_server(pid_file)


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_a_pid_reused_by_another_program_is_not_signalled(tmp_path: Path) -> None:
    # Run from a checkout named meetbridge, as every program in a clone of this repository is.
    other = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)", "/srv/meetbridge/.venv/bin/python"]
    )
    try:
        pid_file = tmp_path / "meetbridge.pid"
        write_pid_file(pid_file, other.pid)
        with pytest.raises(ServerNotRunning, match="stale pid file"):
            signal_server(pid_file)
        assert other.poll() is None  # SIGHUP would have ended it
    finally:
        other.kill()
        other.wait()


@pytest.fixture
def fake_server(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A process that says "meetbridge" on its command line and notes each SIGHUP in a file; its pid
    file. SIGHUP's default action would end it."""
    noted, pid_file = tmp_path / "sighup", tmp_path / "meetbridge.pid"
    code = (
        "import pathlib, signal, sys, time\n"
        "signal.signal(signal.SIGHUP, lambda *_: pathlib.Path(sys.argv[1]).write_text('hup'))\n"
        "pathlib.Path(sys.argv[1] + '.ready').touch()\n"
        "time.sleep(30)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code, str(noted), "meetbridge"])
    try:
        wait_until(lambda: Path(f"{noted}.ready").exists(), timeout=10, what="the fake server")
        write_pid_file(pid_file, process.pid)
        yield pid_file, noted
        assert process.poll() is None  # still alive: it was never signalled before its handler was in
    finally:
        process.kill()
        process.wait()


def test_reload_command_signals_the_server(settings: Settings, fake_server: tuple[Path, Path]) -> None:
    pid_file, noted = fake_server
    assert settings.config_path is not None

    result = CliRunner().invoke(
        main, ["reload", "--config", str(settings.config_path), "--pid-file", str(pid_file)]
    )

    assert result.exit_code == 0, result.output
    pid = pid_file.read_text().strip()
    assert result.stdout == (
        f"configuration ok (1 profile); sent SIGHUP to the server (pid {pid}, from {pid_file}):"
        f" it reloads {settings.config_path} and logs the outcome\n"
    )
    wait_until(noted.exists, timeout=10, what="the SIGHUP")


def test_reload_command_refuses_an_invalid_file_without_signalling(
    settings: Settings, fake_server: tuple[Path, Path]
) -> None:
    pid_file, noted = fake_server
    assert settings.config_path is not None
    settings.config_path.write_text(INVALID_TOML)

    result = CliRunner().invoke(
        main, ["reload", "--config", str(settings.config_path), "--pid-file", str(pid_file)]
    )

    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert_problems(lines[:-1])
    assert lines[-1] == "meetbridge: not reloading; the server keeps its previous configuration"
    assert not noted.exists()


def test_reload_command_without_a_server(settings: Settings, tmp_path: Path) -> None:
    assert settings.config_path is not None
    pid_file = tmp_path / "meetbridge.pid"
    result = CliRunner().invoke(
        main, ["reload", "--config", str(settings.config_path), "--pid-file", str(pid_file)]
    )

    assert result.exit_code == 1, result.output
    assert result.stderr == (
        f"meetbridge: no pid file at {pid_file}: is `meetbridge serve` running from this directory?"
        " (else pass --pid-file or set MEETBRIDGE_PID_FILE as the server has it)\n"
    )


def test_the_pid_file_setting(tmp_path: Path) -> None:
    assert Settings.from_env({}).pid_file == Path("meetbridge.pid")
    assert Settings.from_env({"MEETBRIDGE_PID_FILE": "/run/meetbridge.pid"}).pid_file == Path(
        "/run/meetbridge.pid"
    )


def test_reload_dry_run_prints_the_plan_and_signals_nothing(
    settings: Settings, fake_server: tuple[Path, Path]
) -> None:
    pid_file, noted = fake_server
    assert settings.config_path is not None

    result = CliRunner().invoke(
        main,
        ["reload", "--dry-run", "--config", str(settings.config_path), "--pid-file", str(pid_file)],
        env={"MEETBRIDGE_DATABASE_URL": settings.database_url},
    )

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "dry run: the server was not signalled"
    assert "profile int_sales_0000 → recall-bot: nothing to move" in result.stdout
    assert not noted.exists()
