"""What the drift audit's e2e tests share: a recall-bot gateway whose file has a ``[server]`` table,
``meetbridge audit`` run beside it, and the Recall API called behind meetbridge's back."""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.recall import (
    API_KEY,
    ENV_KEY,
    ENV_SECRET,
    PROFILE,
    BotGateway,
    Json,
    SandboxProcess,
    gateway_config,
    wire,
)
from tests.e2e.server import ServerProcess, running_gateway, webhook_secret


@contextlib.contextmanager
def audited_gateway(workdir: Path, *, interval: int = 0) -> Iterator[BotGateway]:
    """The bot gateway of tests/e2e/recall.py with ``[server] audit_interval_seconds = interval``,
    outbound webhooks allowed to a loopback receiver."""
    secret = webhook_secret()
    server = ServerProcess(
        workdir, config=workdir / "meetbridge.toml", env={ENV_KEY: API_KEY, ENV_SECRET: secret}
    )
    sandbox = SandboxProcess(
        workdir, webhook_url=f"{server.url}/v1/webhooks/recall/{PROFILE}", webhook_secret=secret
    )

    def config(url: str) -> str:
        server = f"\n[server]\naudit_interval_seconds = {interval}\n"
        return gateway_config(url) + server + "\n[webhooks]\nallow_private_urls = true\n"

    make = functools.partial(BotGateway, webhook_secret=secret)
    with running_gateway(server, sandbox, config, make) as gateway:
        yield gateway


def audit_cli(gateway: BotGateway, *args: str) -> tuple[int, str]:
    """``meetbridge audit ARGS`` beside the running server: (exit code, stdout)."""
    server = gateway.server
    assert server.config is not None
    result = subprocess.run(
        [sys.executable, "-m", "meetbridge", "audit", "--config", str(server.config), *args],
        env=server.env,
        cwd=server.workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, result.stdout


class RecallBehindTheBack:
    """The Recall API called directly (someone in Recall's dashboard, another integration)."""

    def __init__(self, sandbox: SandboxProcess) -> None:
        self.client = httpx.Client(
            base_url=sandbox.url, headers={"Authorization": f"Token {API_KEY}"}, timeout=10
        )

    def delete(self, bot_id: str) -> None:
        response = self.client.delete(f"/api/v1/bot/{bot_id}/")
        assert response.status_code == 204, response.text

    def move(self, bot_id: str, join_at: Any) -> None:
        response = self.client.patch(f"/api/v1/bot/{bot_id}/", json={"join_at": wire(join_at)})
        assert response.status_code == 200, response.text

    def create(self, meeting_url: str, join_at: Any, metadata: dict[str, str] | None = None) -> str:
        body: Json = {"meeting_url": meeting_url, "join_at": wire(join_at), "bot_name": "Someone else"}
        if metadata is not None:
            body["metadata"] = metadata
        response = self.client.post("/api/v1/bot/", json=body)
        assert response.status_code == 201, response.text
        bot_id: str = response.json()["id"]
        return bot_id

    def close(self) -> None:
        self.client.close()


def rows(gateway: BotGateway) -> dict[str, list[str]]:
    """Every row of the tables an audit could write, to show that one did not."""
    tables = ("events", "event_extensions", "jobs", "audit_runs", "audit_findings", "webhook_messages")
    with contextlib.closing(sqlite3.connect(gateway.database, timeout=10)) as connection:
        return {
            table: sorted(
                (json.dumps(row, default=str) for row in connection.execute(f"SELECT * FROM {table}")),  # noqa: S608  # fixed table names
            )
            for table in tables
        }
