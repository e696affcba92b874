"""The ``meetbridge`` command as an operator runs it: real processes, real files, a real server."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import PROFILES_TOML, TEST_ENV
from tests.e2e.server import ServerProcess, wait_until

pytestmark = pytest.mark.e2e

PROFILE = "int_sales_0000"


def meetbridge(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meetbridge", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- --help -------------------------------------------------------------------------------------

HELP = {
    "": ["serve", "check-config", "token", "db", "openapi", "audit", "--version"],
    "serve": ["--host", "--port", "--config", "--database-url", "--sandbox"],
    "check-config": ["--config"],
    "token create": ["APPLICATION", "--database-url"],
    "db upgrade": ["--database-url"],
    "openapi": ["--output"],
    "webhooks listen": ["--port", "--gateway", "--token", "--secret"],
    "audit": ["PROFILE_IDS", "--repair", "--json", "--config", "--database-url"],
}


@pytest.fixture(scope="module")
def help_texts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, str]]:
    """Every ``--help`` at once (one process each, run in parallel to keep the suite quick)."""
    cwd = tmp_path_factory.mktemp("help")
    running = {
        command: subprocess.Popen(
            [sys.executable, "-m", "meetbridge", *command.split(), "--help"],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in HELP
    }
    results: dict[str, tuple[int, str, str]] = {}
    try:
        for command, process in running.items():
            stdout, stderr = process.communicate(timeout=60)
            results[command] = (process.returncode, stdout, stderr)
    finally:
        for process in running.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return results


@pytest.mark.parametrize("command", list(HELP), ids=lambda c: c or "meetbridge")
def test_help_names_the_options(help_texts: dict[str, tuple[int, str, str]], command: str) -> None:
    code, stdout, stderr = help_texts[command]
    assert code == 0, stderr
    assert stdout.startswith(f"Usage: python -m meetbridge {command}".rstrip())
    for word in HELP[command]:
        assert word in stdout, f"`meetbridge {command} --help` does not mention {word}:\n{stdout}"
    assert "Traceback" not in stderr


# --- tokens -------------------------------------------------------------------------------------


def database_bytes(workdir: Path) -> bytes:
    """The SQLite file with its WAL and shared-memory files: wherever a row may sit right now."""
    return b"".join(p.read_bytes() for p in sorted(workdir.glob("meetbridge.db*")))


def test_token_create_on_a_fresh_database_authenticates_a_live_server(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path)
    assert not (tmp_path / "meetbridge.db").exists()

    stdout = server.cli("token", "create", "acme")  # no `db upgrade` first
    lines = stdout.strip().splitlines()
    token = lines[-1]
    assert re.fullmatch(r"mbt_[A-Za-z0-9_-]{40,}", token), stdout
    assert "acme" in lines[0]
    assert token not in "\n".join(lines[:-1])
    digest = hashlib.sha256(token.encode()).hexdigest().encode()
    stored = database_bytes(tmp_path)
    assert token.encode() not in stored, "the token is stored in clear"
    assert digest in stored, "the token's hash should be what is stored"

    server.start()
    try:
        calendars = httpx.get(f"{server.url}/v1/calendars", headers=auth(token))
        assert calendars.status_code == 200, calendars.text
        assert calendars.json() == {"calendars": []}
        created = httpx.post(f"{server.url}/v1/calendars", json={"name": "Acme"}, headers=auth(token))
        assert created.status_code == 200, created.text
        calendar_id = created.json()["calendar"]["calendar_id"]

        # A second token of the same application sees the same calendars; another application does not.
        again = server.token("acme")
        assert again != token
        other = server.token("globex")
        same = httpx.get(f"{server.url}/v1/calendars", headers=auth(again)).json()["calendars"]
        assert [c["calendar_id"] for c in same] == [calendar_id]
        assert httpx.get(f"{server.url}/v1/calendars", headers=auth(other)).json() == {"calendars": []}

        for headers in (
            auth("mbt_" + uuid.uuid4().hex * 2),
            {"Authorization": "Bearer"},
            {},
            {"Authorization": f"Basic {token}"},
        ):
            refused = httpx.get(f"{server.url}/v1/calendars", headers=headers)
            assert refused.status_code == 401, (headers, refused.text)
            body = refused.json()
            assert body["error"] == "unauthorized"
            assert "token" in body["message"]
            assert token not in refused.text
    finally:
        server.stop()

    stored = database_bytes(tmp_path)
    for secret in (token, again, other):
        assert secret.encode() not in stored, "a token is stored in clear"


# --- db upgrade -----------------------------------------------------------------------------------


def schema_of(path: Path) -> tuple[list[tuple[str, str, str]], list[str], int]:
    with sqlite3.connect(path) as connection:
        objects = connection.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
        ).fetchall()
        versions = [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]
        tokens = connection.execute("SELECT count(*) FROM api_tokens").fetchone()[0]
    connection.close()
    return objects, versions, tokens


def test_db_upgrade_is_idempotent(tmp_path: Path) -> None:
    database = tmp_path / "data" / "gateway.db"
    database.parent.mkdir()
    url = f"sqlite+aiosqlite:///{database}"

    first = meetbridge("db", "upgrade", "--database-url", url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "database is at the newest schema"
    created = meetbridge("token", "create", "acme", "--database-url", url, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    before = schema_of(database)
    assert len(before[1]) == 1, "one alembic head"
    assert before[2] == 1
    assert {name for kind, name, _ in before[0] if kind == "table"} >= {"applications", "api_tokens"}

    second = meetbridge("db", "upgrade", cwd=tmp_path, env={"MEETBRIDGE_DATABASE_URL": url})
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "database is at the newest schema"
    assert schema_of(database) == before, "a second upgrade changed the schema or the data"
    assert not (tmp_path / "meetbridge.db").exists(), "--database-url / MEETBRIDGE_DATABASE_URL were ignored"


# --- configuration errors -------------------------------------------------------------------------

BAD_TOML = textwrap.dedent(
    """
    [profiles.int_typo]
    adapter = "recall-bot"
    base_url = "http://127.0.0.1:9"
    api_key = "env:MEETBRIDGE_TEST_RECALL_KEY"
    bot_nam = "Sales Notetaker"

    [profiles.int_literal]
    adapter = "recall-bot"
    base_url = "http://127.0.0.1:9"
    api_key = "sk_literal_key_in_a_file"
    """
)


def test_serve_with_a_bad_config_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(BAD_TOML)
    env = {**TEST_ENV, "MEETBRIDGE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'meetbridge.db'}"}

    began = time.monotonic()
    result = meetbridge("serve", "--port", "0", "--config", str(config), cwd=tmp_path, env=env, timeout=30)
    elapsed = time.monotonic() - began

    assert result.returncode == 2, (result.stdout, result.stderr)
    assert elapsed < 15, f"took {elapsed:.1f}s to refuse a bad configuration"
    problems = [line for line in result.stderr.splitlines() if line.startswith("profile ")]
    assert len(problems) == 2, result.stderr
    assert any(line.startswith("profile int_typo: bot_nam:") for line in problems), problems
    assert any(line.startswith("profile int_literal: api_key:") for line in problems), problems
    assert "sk_literal_key_in_a_file" not in result.stdout + result.stderr, "a secret was echoed"
    assert "Traceback" not in result.stderr
    assert "Uvicorn running" not in result.stdout + result.stderr

    check = meetbridge("check-config", "--config", str(config), cwd=tmp_path, env=env)
    assert check.returncode == 2
    assert [line for line in check.stderr.splitlines() if line.startswith("profile ")] == problems

    good = tmp_path / "good.toml"
    good.write_text(PROFILES_TOML)
    ok = meetbridge("check-config", "--config", str(good), cwd=tmp_path, env=env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"configuration ok: {PROFILE} (recall-bot)"


# --- serve --sandbox ------------------------------------------------------------------------------


def banner_commands(log: str) -> tuple[str, str, list[list[str]]]:
    """(token, calendar_id, curl commands as argv lists) from the last banner in the server's log."""
    banner = log[log.rindex("meetbridge is serving on") :]
    token = re.search(r"bearer token: (\S+)", banner)
    calendar = re.search(r"calendar:\s+(\S+)", banner)
    assert token, banner
    assert calendar, banner
    joined = banner.replace("\\\n", " ")
    commands = [shlex.split(line.strip()) for line in joined.splitlines() if line.strip().startswith("curl ")]
    return token.group(1), calendar.group(1), commands


def run_curl(argv: list[str]) -> httpx.Response:
    """Do what a printed ``curl`` line does, with httpx: -X, -H, -d and the URL."""
    assert argv[0] == "curl"
    method, url, headers, data = "GET", None, {}, None
    args = iter(argv[1:])
    for arg in args:
        if arg == "-X":
            method = next(args)
        elif arg == "-H":
            name, _, value = next(args).partition(":")
            headers[name.strip()] = value.strip()
        elif arg in ("-d", "--data"):
            data = next(args)
            method = "POST" if method == "GET" else method
        elif arg.startswith("http"):
            url = arg
        else:
            assert arg.startswith("-"), f"unexpected curl argument {arg!r}"
    assert url is not None
    return httpx.request(method, url, headers=headers, content=data, timeout=10)


def test_serve_sandbox_prints_a_working_curl_example(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path)  # no configuration at all: the sandbox brings its own profile
    server.start("--sandbox")
    try:
        wait_until(lambda: "Try it:" in server.log(), timeout=10, what="the sandbox banner")
        token, calendar_id, commands = banner_commands(server.log())
        assert token.startswith("mbt_")
        assert len(commands) == 2, commands
        upsert, read = commands
        assert f"{server.url}/v1/calendars/{calendar_id}/events" in upsert
        assert f"Authorization: Bearer {token}" in upsert
        sent = json.loads(upsert[upsert.index("-d") + 1])
        [extension] = sent["extensions"]

        accepted = run_curl(upsert)
        assert accepted.status_code == 202, accepted.text
        shown = run_curl(read)
        assert shown.status_code == 200, shown.text
        event = shown.json()["event"]
        assert (event["event_id"], event["calendar_id"], event["summary"]) == (
            sent["event_id"],
            calendar_id,
            sent["summary"],
        )
        assert (event["start"], event["end"]) == (sent["start"], sent["end"])
        assert event["meeting_url"] == sent["conferencing"]["join_url"]
        assert [(x["provider"], x["profile_id"]) for x in event["extensions"]] == [
            (extension["provider"], extension["profile_id"])
        ]
        assert event["extensions"][0]["status"] != "failed", event["extensions"][0]
        profiles = httpx.get(f"{server.url}/v1/profiles", headers=auth(token)).json()["profiles"]
        assert extension["profile_id"] in [p["profile_id"] for p in profiles]
        listed = httpx.get(f"{server.url}/v1/calendars", headers=auth(token)).json()["calendars"]
        assert [(c["calendar_id"], c["calendar_name"]) for c in listed] == [(calendar_id, "Demo calendar")]

        # A restart prints a new token for the same demo calendar; the event is still there.
        server.stop()
        server.start("--sandbox")
        wait_until(lambda: server.log().count("Try it:") == 2, timeout=10, what="the second banner")
        new_token, same_calendar, new_commands = banner_commands(server.log())
        assert new_token != token
        assert same_calendar == calendar_id
        again = run_curl(new_commands[1])
        assert again.status_code == 200, again.text
        assert again.json()["event"]["summary"] == sent["summary"]
    finally:
        server.stop()


# --- health ---------------------------------------------------------------------------------------


def test_healthz_and_readyz_on_the_live_server(live_server: ServerProcess) -> None:
    for path, status in (("/healthz", "ok"), ("/readyz", "ready")):
        response = httpx.get(f"{live_server.url}{path}", timeout=5)  # no Authorization: probes are open
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["status"] == status  # /readyz says more: see tests/e2e/test_operations_logs.py
    metrics_or_api = httpx.get(f"{live_server.url}/v1/calendars", timeout=5)
    assert metrics_or_api.status_code == 401, "the API itself must still need a token"
