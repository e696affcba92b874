"""Reload on an in-process gateway: refusal of a bad file, the Reloader, SIGHUP in the running loop, and
`meetbridge reload` against a stand-in server process (the log line, the --sandbox merge and the pid
file are tests/unit/test_reload.py)."""

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
from meetbridge.config.profiles import GatewayConfig, ServerConfig
from meetbridge.errors import ConfigError
from meetbridge.runtime.gateway import Gateway
from meetbridge.runtime.reload import NOT_RELOADED, Reloader, ReloadOnSignal, write_pid_file
from meetbridge.serve import load_checked_config
from meetbridge.settings import Settings
from tests.e2e.server import wait_until
from tests.unit.test_reload import bot_profile, config

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


# --- `meetbridge reload` --------------------------------------------------------------------------


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
