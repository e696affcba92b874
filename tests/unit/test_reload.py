"""Reload without a gateway: the log line, the --sandbox merge, the pid file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from meetbridge.config.catalogue import load_catalogue
from meetbridge.config.profiles import GatewayConfig, parse_config
from meetbridge.config.secrets import Secret
from meetbridge.runtime.reload import (
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
from meetbridge.serve import SandboxAdditions
from meetbridge.settings import Settings, default_catalogue_dir
from tests.conftest import TEST_ENV

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


# --- the pid file ------------------------------------------------------------------------------


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


def test_the_pid_file_setting(tmp_path: Path) -> None:
    assert Settings.from_env({}).pid_file == Path("meetbridge.pid")
    assert Settings.from_env({"MEETBRIDGE_PID_FILE": "/run/meetbridge.pid"}).pid_file == Path(
        "/run/meetbridge.pid"
    )
