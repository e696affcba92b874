"""What the workload benchmarks share: a Recall stand-in and a gateway as real processes, bulk seeding.

``Sandbox`` is ``meetbridge sandbox`` in its own process (so the provider's CPU is not ours), with an
added latency on every provider call (a ``/_sandbox/faults`` entry with ``latency_ms`` and no status,
which the stand-in already offers). ``Gateway`` is ``meetbridge serve`` (or, with ``api_only``, the API
without its worker, for ``meetbridge worker`` to be started apart) on a SQLite file, or on a database
of its own on ``MEETBRIDGE_BENCH_POSTGRES``'s server (databases.py), with a ``bench-bot`` profile on
that stand-in whose rate limits are lifted. ``seed_events`` writes stored events straight into the
database in bulk (a million upserts through the API would take longer than the whole suite may); each
row is a copy of one the API stored, so it reads back alike.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from databases import Database, Sql, as_utc, engine_name
from rawhttp import Connection
from upsert_throughput import answers, free_port, wait_until

API_KEY = "bench-recall-key"
PROFILE = "bench-bot"


def machine() -> str:
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return f"{os.cpu_count()} cores, load average {load}; Python {platform.python_version()}; {engine_name()}"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def profiled(command: str) -> list[str]:
    """``BENCH_PROFILE=/some/folder``: run the gateway's processes under pyinstrument (installed apart:
    a profiling tool, not a dependency), one text report per process in that folder."""
    folder = os.environ.get("BENCH_PROFILE")
    if not folder:
        return ["-m", "meetbridge"]
    report = f"{folder}/{command}-{time.time_ns()}.txt"
    return ["-m", "pyinstrument", "-r", "text", "-o", report, str(Path(__file__).parent / "profiled_main.py")]


class Process:
    def __init__(self, args: list[str], log: Path, env: dict[str, str], cwd: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.popen = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(timeout=120 if os.environ.get("BENCH_PROFILE") else 15)  # reports take time
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


class Sandbox:
    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "meetbridge", "sandbox", "--port", str(self.port), "--api-key", API_KEY]
        self.process = Process(args, work / f"sandbox-{self.port}.log", dict(os.environ), work)
        wait_until(answers(f"{self.url}/_sandbox/faults", self.process.popen, self.process.log), "sandbox")
        self.admin = httpx.Client(base_url=self.url, timeout=30)

    def set_latency(self, milliseconds: int) -> None:
        """Every provider call waits ``milliseconds`` first (a latency-only fault that never runs out)."""
        self.admin.delete("/_sandbox/faults").raise_for_status()
        if milliseconds:
            fault = {"endpoint": "*", "latency_ms": milliseconds, "count": 2**31}
            self.admin.post("/_sandbox/faults", json=fault).raise_for_status()

    def close(self) -> None:
        self.admin.close()
        self.process.stop()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def bot_profile(sandbox_url: str) -> str:
    # Recall's documented create-bot limit is 120/min; lifted so the figures measure us, not pacing.
    return f"""
[profiles.{PROFILE}]
adapter = "recall-bot"
base_url = "{sandbox_url}"
api_key = "env:BENCH_RECALL_KEY"
bot_name = "meetbridge benchmark bot"
rate_limits = {{ create_bot = 100000, list_bots = 100000, bot = 100000 }}
"""


class Gateway:
    def __init__(
        self, work: Path, config: str, *, api_only: bool = False, extra_env: dict[str, str] | None = None
    ) -> None:
        self.work = work
        self.database = Database(work)
        self._sql: Sql | None = None
        (work / "meetbridge.toml").write_text(config)
        self.env = {
            **os.environ,
            "MEETBRIDGE_DATABASE_URL": self.database.url,
            "MEETBRIDGE_LOG_LEVEL": "WARNING",
            "MEETBRIDGE_CONFIG": str(work / "meetbridge.toml"),
            "MEETBRIDGE_PID_FILE": str(work / "meetbridge.pid"),
            "BENCH_RECALL_KEY": API_KEY,
            **({"MEETBRIDGE_WORKER": "0"} if api_only else {}),
            **(extra_env or {}),
        }
        self.cli("db", "upgrade")
        self.token = self.cli("token", "create", "bench-app").strip().splitlines()[-1]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, *profiled("serve"), "serve", "--port", str(self.port)]
        self.process = Process(args, work / f"gateway-{self.port}.log", self.env, work)
        wait_until(answers(f"{self.url}/healthz", self.process.popen, self.process.log), "meetbridge")
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=120
        )
        answer = self.client.post("/v1/calendars", json={"name": "Benchmark"})
        answer.raise_for_status()
        self.calendar_id: str = answer.json()["calendar"]["calendar_id"]
        self.worker: Process | None = None

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "meetbridge", *args],
            env=self.env,
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return result.stdout

    def start_worker(self, concurrency: int = 16) -> Process:
        args = [
            sys.executable,
            *profiled("worker"),
            "worker",
            "--concurrency",
            str(concurrency),
        ]
        self.worker = Process(args, self.work / "worker.log", self.env, self.work)
        worker = self.worker

        def running() -> bool:
            if worker.popen.poll() is not None:
                raise SystemExit(f"the worker exited:\n{worker.log.read_text()}")
            return "worker running" in worker.log.read_text()

        # Its start-up (imports, migrations) is seconds on a loaded machine: not part of a measurement.
        wait_until(running, "meetbridge worker")
        return worker

    @property
    def sql(self) -> Sql:
        """One connection for the benchmark's own statements (polls included), kept until ``close``."""
        if self._sql is None:
            self._sql = self.database.sql()
        return self._sql

    def count(self, query: str, *args: object) -> int:
        found: int = self.sql.one(query, *args)[0]
        return found

    def close(self) -> None:
        self.client.close()
        if self.worker is not None:
            self.worker.stop()
        self.process.stop()
        if self._sql is not None:
            self._sql.close()
        self.database.drop()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def upsert_body(event_id: str, start: datetime, summary: str = "Planning") -> dict[str, object]:
    return {
        "event_id": event_id,
        "summary": summary,
        "description": "Quarterly planning with the sales team",
        "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tzid": "Europe/London",
        "location": {"description": "Room 4"},
        "conferencing": {
            "profile_id": "explicit",
            "provider_description": "Zoom",
            "join_url": "https://zoom.us/j/1234567890",
        },
    }


FIRST_START = datetime(2030, 1, 1, tzinfo=UTC)


def seed_events(gateway: Gateway, count: int, **columns: object) -> None:
    """``count`` more events in the gateway's calendar, one a minute from FIRST_START, copied from a
    template the API stored; ``columns`` override the copy's (e.g. ``link_id``, ``event_id`` None)."""
    sql = gateway.sql
    found = sql.rows("SELECT * FROM events WHERE event_id = 'template'")
    if not found:
        gateway.client.post(
            f"/v1/calendars/{gateway.calendar_id}/events", json=upsert_body("template", FIRST_START)
        ).raise_for_status()
        sql.rows("UPDATE events SET deleted = true WHERE event_id = 'template'")
        found = sql.rows("SELECT * FROM events WHERE event_id = 'template'")
    template = dict(zip(sql.columns("events"), found[0], strict=True))
    template.update(deleted=False, **columns)
    template.pop("pk")
    offset = sql.one("SELECT count(*) FROM events")[0]
    names = list(template)

    def copies() -> Iterator[list[object]]:
        for number in range(offset, offset + count):
            start = FIRST_START + timedelta(minutes=number)
            row = {
                **template,
                "event_id": f"seed-{number}" if template["event_id"] is not None else None,
                "event_uid": f"evt_seed_{number:012d}",
                "start_at": start,
                "end_at": start + timedelta(minutes=30),
                "source_id": f"src-{number}" if template.get("source_id") is not None else None,
            }
            yield [row[name] for name in names]

    sql.copy_in("events", names, copies())


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    """Yields a list that holds the elapsed seconds once the block ends."""
    elapsed: list[float] = []
    started = time.perf_counter()
    yield elapsed
    elapsed.append(time.perf_counter() - started)


def page_token(gateway: Gateway, page: int, after_start: str, after_pk: int) -> str:
    """The ``next_page`` token meetbridge would give for the page after (after_start, after_pk): tokens
    are plain base64 JSON (api/events.py), so a benchmark can jump to the last page without 10k reads."""
    params = {
        "include_managed": True,
        "calendar_ids": [gateway.calendar_id],
        "page": page,
        "after_start": after_start,
        "after_pk": after_pk,
    }
    return base64.urlsafe_b64encode(json.dumps(params).encode()).decode().rstrip("=")


def last_page_token(gateway: Gateway, page_size: int = 100) -> str:
    visible, after, pk = page_mark(gateway, page_size + 1)
    return page_token(gateway, visible // page_size, after, pk)


def page_mark(gateway: Gateway, from_end: int) -> tuple[int, str, int]:
    """(visible events, start and pk of the event ``from_end`` places before the last): where a page
    token after it starts."""
    visible = gateway.count("SELECT count(*) FROM events WHERE deleted = false")
    start, pk = gateway.sql.one(
        "SELECT start_at, pk FROM events WHERE deleted = false ORDER BY start_at, pk LIMIT 1 OFFSET ?",
        visible - from_end,
    )
    return visible, as_utc(start).isoformat(), pk


FIRST_PAGE = "/v1/events?include_managed=true&calendar_ids[]={calendar}"


async def timed_reads(gateway: Gateway, paths: list[str], repeat: int) -> list[float]:
    """Seconds per read of each path (the median of ``repeat``), on one keep-alive connection."""
    connection = await Connection.open("127.0.0.1", gateway.port)
    headers = f"Authorization: Bearer {gateway.token}\r\n"
    times: list[list[float]] = [[] for _ in paths]
    try:
        for _ in range(repeat):
            for number, path in enumerate(paths):
                started = time.perf_counter()
                status, body = await connection.request("GET", path, headers=headers)
                times[number].append(time.perf_counter() - started)
                if status != 200 or len(json.loads(body)["events"]) == 0:
                    raise RuntimeError(f"{path} answered {status}: {body[:200]!r}")
    finally:
        await connection.close()
    return [statistics.median(found) for found in times]


async def upsert_many(gateway: Gateway, bodies: list[dict[str, object]], clients: int = 16) -> None:
    """Every body upserted into the gateway's calendar, ``clients`` keep-alive connections at a time."""
    headers = f"Authorization: Bearer {gateway.token}\r\nContent-Type: application/json\r\n"
    path = f"/v1/calendars/{gateway.calendar_id}/events"
    queue = iter(bodies)

    async def client() -> None:
        connection = await Connection.open("127.0.0.1", gateway.port)
        try:
            for body in queue:
                status, answer = await connection.request(
                    "POST", path, headers=headers, body=json.dumps(body).encode()
                )
                if status != 202:
                    raise RuntimeError(f"upsert answered {status}: {answer[:200]!r}")
        finally:
            await connection.close()

    await asyncio.gather(*(client() for _ in range(clients)))


def with_bot(body: dict[str, object]) -> dict[str, object]:
    return {**body, "extensions": [{"provider": "recall", "profile_id": PROFILE}]}


def drain(gateway: Gateway, timeout: float = 600.0) -> tuple[int, float]:
    """Waits for the worker to empty the jobs table; (jobs done, seconds) counted from the first one
    done, so the worker process's start-up is not in the rate."""
    total = gateway.count("SELECT count(*) FROM jobs")
    deadline = time.monotonic() + timeout
    while (left := gateway.count("SELECT count(*) FROM jobs")) == total:
        if time.monotonic() > deadline:
            raise RuntimeError("the worker did not start on the jobs")
        time.sleep(0.005)
    started, from_count = time.perf_counter(), left
    while gateway.count("SELECT count(*) FROM jobs"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the worker still has jobs after {timeout:.0f} s")
        time.sleep(0.01)
    return from_count, time.perf_counter() - started
