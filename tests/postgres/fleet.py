"""Three real ``meetbridge serve`` replicas on one fresh PostgreSQL database, with Recall stand-ins
in processes of their own: what tests/postgres/test_fleet_e2e.py drives.

Every replica gets the same configuration and token; ``bots`` (calls paced far above what the tests
send) is served by one stand-in, ``paced`` (``rate_limits = { create_bot = PACED_LIMIT }``) by
another, so each profile's calls are logged apart. Leases are short (``LEASE_SECONDS``) so that a
killed or paused replica's jobs are taken over within seconds. Assertions read the stand-ins'
``/_sandbox/`` call logs and bots, each replica's API, and the shared ``jobs`` table.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.e2e.recall import API_KEY, ENV_KEY, ENV_SECRET, SandboxProcess
from tests.e2e.server import ServerProcess, wait_until, webhook_secret
from tests.postgres.conftest import SERVER

Json = dict[str, Any]
LEASE_SECONDS = 3.0
PACED_LIMIT = 300  # create_bot calls a minute for the `paced` profile
# Small pools: other suites use the same server (max_connections = 100) at the same time.
ENV = {
    "MEETBRIDGE_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
    "MEETBRIDGE_JOB_HEARTBEAT_SECONDS": "0.5",
    "MEETBRIDGE_WORKER_STOP_GRACE_SECONDS": "0.5",
    "MEETBRIDGE_DB_POOL_SIZE": "4",
    "MEETBRIDGE_DB_MAX_OVERFLOW": "4",
    "MEETBRIDGE_LOG_LEVEL": "INFO",
}


def config_text(bots_url: str, paced_url: str) -> str:
    return textwrap.dedent(
        f"""
        [profiles.bots]
        adapter = "recall-bot"
        base_url = "{bots_url}"
        api_key = "env:{ENV_KEY}"
        webhook_secret = "env:{ENV_SECRET}"
        bot_name = "Fleet Notetaker"
        rate_limits = {{ create_bot = 6000, list_bots = 6000, bot = 6000 }}

        [profiles.paced]
        adapter = "recall-bot"
        base_url = "{paced_url}"
        api_key = "env:{ENV_KEY}"
        webhook_secret = "env:{ENV_SECRET}"
        bot_name = "Paced Notetaker"
        rate_limits = {{ create_bot = {PACED_LIMIT}, list_bots = 6000, bot = 6000 }}
        """
    )


class Replica(ServerProcess):
    """``ServerProcess`` on the shared PostgreSQL database, which can be launched without waiting."""

    def __init__(self, workdir: Path, database_url: str, config: Path, env: dict[str, str]) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(workdir, config=config, env=env)
        self.database_url = database_url
        self.env["MEETBRIDGE_DATABASE_URL"] = database_url

    def launch(self) -> None:
        assert self.config is not None
        args = [
            sys.executable,
            "-m",
            "meetbridge",
            "serve",
            "--port",
            str(self.port),
            "--config",
            str(self.config),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                args, env=self.env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_healthy(self, timeout: float = 60) -> None:
        wait_until(self._healthy, timeout=timeout, what=f"replica on {self.url} (log: {self.log_path})")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(signum)


@dataclass
class Fleet:
    replicas: list[Replica]
    bots: SandboxProcess  # the `bots` profile's stand-in
    paced: SandboxProcess  # the `paced` profile's stand-in
    dsn: str  # asyncpg's view of the shared database
    cold_start_seconds: float
    token: str = ""
    calendar_id: str = ""
    clients: list[httpx.Client] = field(default_factory=list)

    def connect(self) -> None:
        self.token = self.replicas[0].token("fleet-app")
        self.clients = [
            httpx.Client(base_url=r.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)
            for r in self.replicas
        ]
        made = self.clients[0].post("/v1/calendars", json={"name": "fleet"})
        assert made.status_code == 200, made.text
        self.calendar_id = made.json()["calendar"]["calendar_id"]

    def fresh(self) -> None:
        """What each test starts from: every replica serving (a test that killed one leaves it for the
        next to restart), the outbox drained, and both stand-ins with no fault queued and an empty
        call log. A fault an earlier test did not use up would answer this test's calls first: the
        SIGKILL test's unused 300 ms latencies made the SIGTERM test's first creates quick, so the
        replica it stopped had nothing left to hand back (1 run in 11, then once in a full run)."""
        self.ensure_running()
        self.settle()
        for stand_in in (self.bots, self.paced):
            stand_in.clear_faults()
            stand_in.clear_calls()

    def ensure_running(self) -> None:
        """Every replica serving (a test that killed one leaves it for the next to restart)."""
        for index, replica in enumerate(self.replicas):
            if not replica.running():
                replica.start()
                self.clients[index].close()
                self.clients[index] = httpx.Client(
                    base_url=replica.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
                )

    # --- the app's side ------------------------------------------------------------------------

    def upsert_round_robin(
        self, bodies: Sequence[Json], *, in_flight: int = 12, on_answer: Any = None
    ) -> list[str]:
        """Body n to replica n % 3, ``in_flight`` at a time; the event ids answered 202 (a replica
        killed meanwhile answers nothing: those events were never acknowledged)."""
        acknowledged: list[str] = []

        async def run() -> None:
            limit = asyncio.Semaphore(in_flight)
            async with contextlib.AsyncExitStack() as stack:
                clients = [
                    await stack.enter_async_context(
                        httpx.AsyncClient(
                            base_url=r.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
                        )
                    )
                    for r in self.replicas
                ]

                async def one(n: int, body: Json) -> None:
                    async with limit:
                        try:
                            answer = await clients[n % 3].post(
                                f"/v1/calendars/{self.calendar_id}/events", json=body
                            )
                        except httpx.HTTPError:
                            return
                        if answer.status_code == 202:
                            acknowledged.append(body["event_id"])
                        else:
                            assert answer.status_code >= 500, answer.text  # never a 4xx for a good body
                        if on_answer is not None:
                            on_answer(len(acknowledged))

                await asyncio.gather(*(one(n, body) for n, body in enumerate(bodies)))

        asyncio.run(run())
        return acknowledged

    def event(self, replica: int, event_id: str) -> Json:
        answer = self.clients[replica].get(f"/v1/calendars/{self.calendar_id}/events/{event_id}")
        assert answer.status_code == 200, answer.text
        found: Json = answer.json()["event"]
        return found

    def events_everywhere(self, event_ids: Sequence[str]) -> list[dict[str, Json]]:
        """Each replica's single-event read of every event, 12 requests in flight per replica."""

        async def run() -> list[dict[str, Json]]:
            async def read_all(replica: Replica) -> dict[str, Json]:
                limit = asyncio.Semaphore(12)
                async with httpx.AsyncClient(
                    base_url=replica.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
                ) as client:

                    async def one(event_id: str) -> tuple[str, Json]:
                        async with limit:
                            answer = await client.get(f"/v1/calendars/{self.calendar_id}/events/{event_id}")
                        assert answer.status_code == 200, answer.text
                        return event_id, answer.json()["event"]

                    return dict(await asyncio.gather(*(one(e) for e in event_ids)))

            return list(await asyncio.gather(*(read_all(r) for r in self.replicas)))

        return asyncio.run(run())

    # --- the shared database -------------------------------------------------------------------

    def query(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async def run() -> list[asyncpg.Record]:
            connection = await asyncpg.connect(self.dsn)
            try:
                return list(await connection.fetch(sql, *args))
            finally:
                await connection.close()

        return asyncio.run(run())

    def leases_of(self, replica: Replica) -> int:
        """Jobs leased to ``replica``'s worker (its owner id is host:pid:random)."""
        count: int = self.query("SELECT count(*) FROM jobs WHERE lease_owner LIKE $1", f"%:{replica.pid}:%")[
            0
        ][0]
        return count

    def pending_jobs(self) -> int:
        count: int = self.query("SELECT count(*) FROM jobs")[0][0]
        return count

    def settle(self, timeout: float = 60) -> None:
        wait_until(
            lambda: self.pending_jobs() == 0,
            timeout=timeout,
            what="the fleet's outbox to drain",
            interval=0.1,
        )

    def close(self) -> None:
        for client in self.clients:
            client.close()


def _admin(statement: str) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(SERVER)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run())


@contextlib.contextmanager
def running_fleet(workdir: Path, size: int = 3) -> Iterator[Fleet]:
    """Two stand-ins, then ``size`` replicas launched at the same moment on an empty database (no
    ``db upgrade`` first: each migrates at start-up, as a first deploy does)."""
    name = f"meetbridge_fleet_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    base = SERVER.rsplit("/", 1)[0]
    secret = webhook_secret()
    config = workdir / "meetbridge.toml"
    env = {**ENV, ENV_KEY: API_KEY, ENV_SECRET: secret}
    url = f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"
    replicas = [Replica(workdir / f"replica-{n}", url, config, env) for n in range(size)]
    sandboxes = [
        SandboxProcess(
            workdir, webhook_url=f"{replicas[0].url}/v1/webhooks/recall/{profile}", webhook_secret=secret
        )
        for profile in ("bots", "paced")
    ]
    fleet: Fleet | None = None
    try:
        for sandbox in sandboxes:
            sandbox.start()
        config.write_text(config_text(sandboxes[0].url, sandboxes[1].url))
        started = time.monotonic()
        for replica in replicas:
            replica.launch()
        for replica in replicas:
            replica.wait_healthy()
        fleet = Fleet(replicas, sandboxes[0], sandboxes[1], f"{base}/{name}", time.monotonic() - started)
        fleet.connect()
        yield fleet
    finally:
        if fleet is not None:
            fleet.close()
        for replica in replicas:
            replica.stop()
        for sandbox in sandboxes:
            sandbox.stop()
        _admin(f'DROP DATABASE "{name}" WITH (FORCE)')
