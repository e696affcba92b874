"""A Recall sandbox process wired to a real meetbridge gateway, and what the bot e2e tests share.

``running_bot_gateway(workdir)`` starts ``meetbridge sandbox`` (signing webhooks to the gateway) and a
``meetbridge serve`` whose ``[profiles.bots]`` is a recall-bot profile pointing at it, makes a token
and a calendar, and stops both processes on exit. Assertions read three places: the sandbox's
``/_sandbox/bots`` and ``/_sandbox/calls``, the gateway's single-event read, and (to know the worker
is idle) the number of rows in the gateway's ``jobs`` table.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.server import (
    ServerProcess,
    free_port,
    running_gateway,
    terminate,
    wait_until,
    webhook_secret,
)

PROFILE = "bots"
BOT_NAME = "E2E Notetaker"
API_KEY = "sandbox-e2e-recall-key"
ENV_KEY, ENV_SECRET = "TEST_RECALL_KEY", "TEST_RECALL_WEBHOOK_SECRET"

Json = dict[str, Any]


def zoom(meeting_id: int = 1234567890) -> str:
    return f"https://zoom.us/j/{meeting_id}"


def from_now(**delta: float) -> datetime:
    return (datetime.now(UTC) + timedelta(**delta)).replace(microsecond=0)


def wire(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def event_body(
    event_id: str,
    start: datetime,
    *,
    join_url: str | None = None,
    profile_id: str = PROFILE,
    **fields: Any,
) -> Json:
    """An upsert with a bot extension; ``join_url`` None means no meeting link at all."""
    body: Json = {
        "event_id": event_id,
        "summary": f"e2e {event_id}",
        "start": wire(start),
        "end": wire(start + timedelta(minutes=30)),
        "tzid": "Etc/UTC",
        "extensions": [{"provider": "recall", "profile_id": profile_id}],
    }
    if join_url is not None:
        body["conferencing"] = {"profile_id": "explicit", "join_url": join_url}
    return {**body, **fields}


class SandboxProcess:
    """``meetbridge sandbox`` on a free port, plus its ``/_sandbox/`` admin API."""

    def __init__(
        self, workdir: Path, *, webhook_url: str, webhook_secret: str, extra_args: Sequence[str] = ()
    ) -> None:
        """``extra_args`` go on the command line as given (the Cronofy stand-in's options)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"sandbox-{self.port}.log"
        self.args = [
            sys.executable,
            "-m",
            "meetbridge",
            "sandbox",
            "--port",
            str(self.port),
            "--api-key",
            API_KEY,
            "--webhook-url",
            webhook_url,
            "--webhook-secret",
            webhook_secret,
            *extra_args,
        ]
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.admin = httpx.Client(base_url=self.url, timeout=10)

    def start(self) -> SandboxProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.args, cwd=self.workdir, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT
            )
        wait_until(self._answers, timeout=30, what=f"Recall sandbox on {self.url} (log: {self.log_path})")
        return self

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"sandbox exited with {self.process.returncode}: {self.log_path.read_text()}"
            )
        try:
            return self.admin.get("/_sandbox/clock", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.admin.close()
        if self.process is not None:
            terminate(self.process, timeout=10)
        self.process = None

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.admin.request(method, path, **kwargs)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def bots(self) -> list[Json]:
        """Every bot ever created, deleted ones included."""
        found: list[Json] = self._json("GET", "/_sandbox/bots")
        return found

    def bots_of(self, event_uid: str) -> list[Json]:
        return [b for b in self.bots() if b["metadata"].get("meetbridge_event") == event_uid]

    def live_bots_by_event(self) -> dict[str, list[Json]]:
        grouped: dict[str, list[Json]] = defaultdict(list)
        for bot in self.bots():
            if not bot["deleted"]:
                grouped[bot["metadata"].get("meetbridge_event", "")].append(bot)
        return grouped

    def calls(self) -> list[Json]:
        found: list[Json] = self._json("GET", "/_sandbox/calls")
        return found

    def clear_calls(self) -> None:
        self._json("DELETE", "/_sandbox/calls")

    def add_fault(self, **spec: Any) -> Json:
        fault: Json = self._json("POST", "/_sandbox/faults", json=spec)
        return fault

    def faults(self) -> list[Json]:
        found: list[Json] = self._json("GET", "/_sandbox/faults")
        return found

    def clear_faults(self) -> None:
        self._json("DELETE", "/_sandbox/faults")

    def force_status(self, bot_id: str, code: str, **extra: Any) -> Json:
        bot: Json = self._json("POST", f"/_sandbox/bots/{bot_id}/status", json={"code": code, **extra})
        return bot

    def set_webhook(self, url: str, secret: str, header_family: str) -> None:
        body = {"url": url, "secret": secret, "header_family": header_family}
        config = self._json("POST", "/_sandbox/webhook", json=body)
        assert config == {"url": url, "header_family": header_family, "signed": True}

    def deliveries(self) -> list[Json]:
        found: list[Json] = self._json("GET", "/_sandbox/webhook/deliveries")
        return found


def call_summary(calls: list[Json]) -> list[tuple[str, str, int]]:
    """(method, endpoint, status) per call: what the tests compare whole call logs with."""
    return [(c["method"], c["endpoint"], c["status"]) for c in calls]


class BotGateway:
    """The gateway under test, its sandbox, an authorised client and one calendar."""

    def __init__(self, server: ServerProcess, sandbox: SandboxProcess, webhook_secret: str) -> None:
        self.server = server
        self.sandbox = sandbox
        self.webhook_secret = webhook_secret
        self.webhook_url = f"{server.url}/v1/webhooks/recall/{PROFILE}"
        self.token = server.token()
        self.client = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )
        response = self.client.post("/v1/calendars", json={"name": "bots e2e"})
        assert response.status_code == 200, response.text
        self.calendar_id: str = response.json()["calendar"]["calendar_id"]
        self.database = server.workdir / "meetbridge.db"

    # --- the app's side --------------------------------------------------------------------------

    def upsert(self, body: Json) -> None:
        response = self.client.post(f"/v1/calendars/{self.calendar_id}/events", json=body)
        assert response.status_code == 202, response.text

    def upsert_all(self, bodies: list[Json], *, in_flight: int = 16) -> None:
        """Upsert concurrently, ``in_flight`` requests at a time, as a busy app would."""

        async def run() -> None:
            limit = asyncio.Semaphore(in_flight)
            async with httpx.AsyncClient(
                base_url=self.server.url, headers=self.client.headers, timeout=60
            ) as client:

                async def one(body: Json) -> None:
                    async with limit:
                        response = await client.post(f"/v1/calendars/{self.calendar_id}/events", json=body)
                    assert response.status_code == 202, response.text

                await asyncio.gather(*(one(body) for body in bodies))

        asyncio.run(run())

    def delete(self, event_id: str) -> None:
        response = self.client.request(
            "DELETE", f"/v1/calendars/{self.calendar_id}/events", json={"event_id": event_id}
        )
        assert response.status_code == 202, response.text

    def event(self, event_id: str) -> Json:
        response = self.client.get(f"/v1/calendars/{self.calendar_id}/events/{event_id}")
        assert response.status_code == 200, response.text
        found: Json = response.json()["event"]
        return found

    def extension(self, event_id: str) -> Json:
        extensions: list[Json] = self.event(event_id)["extensions"]
        assert len(extensions) == 1, extensions
        return extensions[0]

    # --- waiting ---------------------------------------------------------------------------------

    def pending_jobs(self) -> int:
        """Outbox rows: a job is deleted when it finished, so zero means the worker is idle."""
        with contextlib.closing(sqlite3.connect(self.database, timeout=10)) as connection:
            count: int = connection.execute("SELECT count(*) FROM jobs").fetchone()[0]
        return count

    def interrupted_creates(self) -> set[str]:
        """Nonces of creates the gateway recorded as under way and has no bot id for yet."""
        with contextlib.closing(sqlite3.connect(self.database, timeout=10)) as connection:
            rows = connection.execute(
                "SELECT provider_state FROM event_extensions"
                " WHERE bot_id IS NULL AND provider_state IS NOT NULL"
            ).fetchall()
        states = [json.loads(row[0]) for row in rows]  # a cleared state reads back as JSON null
        return {
            str(s["meetbridge_create"]) for s in states if isinstance(s, dict) and s.get("meetbridge_create")
        }

    def fresh(self) -> BotGateway:
        """For the next test of a module: the worker idle, no faults queued, an empty call log."""
        self.settle()
        self.sandbox.clear_faults()
        self.sandbox.clear_calls()
        return self

    def settle(self, timeout: float = 20) -> None:
        wait_until(
            lambda: self.pending_jobs() == 0, timeout=timeout, what="the outbox to drain", interval=0.1
        )

    def wait_status(self, event_id: str, status: str, timeout: float = 20) -> Json:
        """Once the worker is idle, the event's extension must be in ``status``; returns it."""
        self.settle(timeout)
        extension = self.extension(event_id)
        assert extension["status"] == status, extension
        return extension

    def close(self) -> None:
        self.client.close()


def gateway_config(sandbox_url: str) -> str:
    return textwrap.dedent(
        f"""
        [profiles.{PROFILE}]
        adapter = "recall-bot"
        base_url = "{sandbox_url}"
        api_key = "env:{ENV_KEY}"
        webhook_secret = "env:{ENV_SECRET}"
        bot_name = "{BOT_NAME}"
        rate_limits = {{ create_bot = 6000, list_bots = 6000, bot = 6000 }}
        """
    )


def running_bot_gateway(workdir: Path) -> contextlib.AbstractContextManager[BotGateway]:
    """Sandbox and gateway processes for one test module; both are stopped whatever happens."""
    secret = webhook_secret()
    server = ServerProcess(
        workdir, config=workdir / "meetbridge.toml", env={ENV_KEY: API_KEY, ENV_SECRET: secret}
    )
    sandbox = SandboxProcess(
        workdir, webhook_url=f"{server.url}/v1/webhooks/recall/{PROFILE}", webhook_secret=secret
    )
    make = functools.partial(BotGateway, webhook_secret=secret)
    return running_gateway(server, sandbox, gateway_config, make)
