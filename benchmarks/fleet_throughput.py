"""Upsert throughput and job drain of a meetbridge fleet on PostgreSQL, against a bare Litestar app.

    python benchmarks/fleet_throughput.py [--duration 15] [--clients 32] [--creates 500]

One run, on a fresh PostgreSQL database (``MEETBRIDGE_BENCH_POSTGRES``, default the local
``postgresql://postgres@127.0.0.1:5432/test`` server; a database is created and dropped), measures:

- upserts/s of the bare app (``bare_app.py``), then of 1 and of 3 ``meetbridge serve`` replicas
  (``MEETBRIDGE_WORKER=0``: API only, so the load measures the API), ``--clients`` keep-alive
  connections spread evenly over the replicas (``upsert_throughput.drive``: closed loop, every
  request creates or changes an event). Ratios are against the bare app of the same run.
- job drain, jobs/s, by 1 and by 3 ``meetbridge worker`` processes: ``--noops`` jobs whose event is
  gone (claim, look, nothing to do, finish: the outbox's own cost), then ``--creates`` jobs that each
  make a bot on a Recall stand-in in its own process (``meetbridge sandbox``, rate limits lifted).
  Jobs are made first and held back (``run_at`` an hour ahead); once every worker is listening (its
  LISTEN connection shows in ``pg_stat_activity``) one UPDATE makes them all due, and the clock runs
  until the outbox is empty, so process start-up is not counted.

Everything runs on this machine: on 2 cores, three replicas share the cores with PostgreSQL and the
load generator, so the figures say what coordination costs, not what three machines would do.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import asyncpg
import httpx
from databases import Database
from upsert_throughput import HERE, Result, answers, body, drive, free_port, percentile, server, wait_until

SERVER = os.environ.get("MEETBRIDGE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
API_KEY = "bench-recall-key"
PROFILE = "bench-bot"
# Jobs for events that do not exist: the worker claims each, finds nothing to keep in step, finishes.
NOOP_JOBS = """
INSERT INTO jobs (kind, subject, run_at, generation, attempts)
SELECT 'event', 1000000000 + n, now(), 1, 0 FROM generate_series(1, $1::int) AS n
"""


def config(stand_in: str) -> str:
    return f"""
[profiles.{PROFILE}]
adapter = "recall-bot"
base_url = "{stand_in}"
api_key = "env:BENCH_RECALL_KEY"
bot_name = "meetbridge benchmark bot"
rate_limits = {{ create_bot = 100000, list_bots = 100000, bot = 100000 }}
"""


async def sql(dsn: str, statement: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn)
    try:
        return list(await connection.fetch(statement, *args))
    finally:
        await connection.close()


def query(dsn: str, statement: str, *args: object) -> list[asyncpg.Record]:
    return asyncio.run(sql(dsn, statement, *args))


@contextmanager
def fresh_database(work: Path) -> Iterator[Database]:
    """A new database on SERVER, dropped afterwards."""
    database = Database(work, server=SERVER)
    try:
        yield database
    finally:
        database.drop()


def run_cli(env: dict[str, str], work: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "meetbridge", *args],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"meetbridge {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def replicas(count: int, env: dict[str, str], work: Path, stack: ExitStack) -> list[tuple[int, int]]:
    """``count`` API-only ``serve`` processes: (port, pid) each, answering."""
    started = []
    for number in range(count):
        port = free_port()
        log = work / f"replica-{count}-{number}.log"
        cwd = work / f"replica-{count}-{number}"
        cwd.mkdir()
        args = [sys.executable, "-m", "meetbridge", "serve", "--port", str(port)]
        process = stack.enter_context(server(args, log, {**env, "MEETBRIDGE_WORKER": "0"}, cwd))
        started.append((port, process, log))
    for port, process, log in started:
        wait_until(
            answers(f"http://127.0.0.1:{port}/healthz", process, log), f"replica on {port}", timeout=60
        )
    return [(port, process.pid) for port, process, _ in started]


async def fleet_drive(
    name: str,
    targets: list[tuple[int, int]],
    path: str,
    auth: str,
    options: argparse.Namespace,
    *,
    extension: bool,
) -> Result:
    per = max(1, options.clients // len(targets))
    results = await asyncio.gather(
        *(
            drive(
                f"{name}-{port}",
                port,
                path,
                auth,
                pid,
                clients=per,
                keys=options.keys,
                warmup=options.warmup,
                duration=options.duration,
                extension=extension,
            )
            for port, pid in targets
        )
    )
    return Result(
        name,
        sum(r.requests for r in results),
        sum(r.errors for r in results),
        options.duration,
        [latency for r in results for latency in r.latencies],
        sum(r.server_cpu for r in results),
        results[0].client_cpu,
    )


def drain(dsn: str, workers: int, env: dict[str, str], work: Path, kind: str) -> tuple[int, float]:
    """Start ``workers`` worker processes, then make every held job due; (jobs, seconds to empty)."""
    query(dsn, "UPDATE jobs SET run_at = now() + interval '1 hour'")
    jobs = int(query(dsn, "SELECT count(*) FROM jobs")[0][0])
    with ExitStack() as stack:
        for number in range(workers):
            cwd = work / f"worker-{kind}-{workers}-{number}"
            cwd.mkdir()
            log = cwd / "worker.log"
            stack.enter_context(server([sys.executable, "-m", "meetbridge", "worker"], log, env, cwd))
        listening = (
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        )
        wait_until(lambda: int(query(dsn, listening)[0][0]) >= workers, f"{workers} workers listening", 60)
        started = time.perf_counter()
        query(dsn, "UPDATE jobs SET run_at = now()")
        deadline = started + 600
        while int(query(dsn, "SELECT count(*) FROM jobs")[0][0]):
            if time.perf_counter() > deadline:
                raise SystemExit(f"{kind} jobs still pending after 600 s")
            time.sleep(0.05)
        return jobs, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per setup")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--keys", type=int, default=100, help="event ids each client cycles through")
    parser.add_argument("--noops", type=int, default=2000, help="no-op jobs drained per worker count")
    parser.add_argument("--creates", type=int, default=500, help="bot-making jobs drained per worker count")
    options = parser.parse_args()
    upserts: dict[str, Result] = {}
    drains: dict[str, tuple[int, float]] = {}

    with tempfile.TemporaryDirectory(prefix="meetbridge-fleet-bench-") as folder:
        work = Path(folder)
        port = free_port()
        log = work / "bare.log"
        with server(
            [sys.executable, str(HERE / "bare_app.py"), str(port)], log, dict(os.environ), work
        ) as bare:
            wait_until(answers(f"http://127.0.0.1:{port}/", bare, log), "the bare app")
            upserts["bare"] = asyncio.run(
                fleet_drive(
                    "bare Litestar",
                    [(port, bare.pid)],
                    "/v1/calendars/cal_bench/events",
                    "",
                    options,
                    extension=False,
                )
            )
        stand_in_port = free_port()
        stand_in = [
            sys.executable,
            "-m",
            "meetbridge",
            "sandbox",
            "--port",
            str(stand_in_port),
            "--api-key",
            API_KEY,
        ]
        with server(stand_in, work / "stand-in.log", dict(os.environ), work) as recall:
            wait_until(
                answers(f"http://127.0.0.1:{stand_in_port}/_sandbox/clock", recall, work / "stand-in.log"),
                "the stand-in",
            )
            (work / "meetbridge.toml").write_text(config(f"http://127.0.0.1:{stand_in_port}"))
            for count in (1, 3):
                with fresh_database(work) as database, ExitStack() as stack:
                    dsn = database.dsn
                    env = {
                        **os.environ,
                        "MEETBRIDGE_DATABASE_URL": database.url,
                        "MEETBRIDGE_CONFIG": str(work / "meetbridge.toml"),
                        "MEETBRIDGE_LOG_LEVEL": "WARNING",
                        "BENCH_RECALL_KEY": API_KEY,
                        "MEETBRIDGE_DB_POOL_SIZE": "10",
                        "MEETBRIDGE_DB_MAX_OVERFLOW": "5",
                    }
                    run_cli(env, work, "db", "upgrade")
                    token = run_cli(env, work, "token", "create", "bench").strip().splitlines()[-1]
                    targets = replicas(count, env, work, stack)
                    made = httpx.post(
                        f"http://127.0.0.1:{targets[0][0]}/v1/calendars",
                        json={"name": "bench"},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    calendar = made.json()["calendar"]["calendar_id"]
                    path, auth = f"/v1/calendars/{calendar}/events", f"Authorization: Bearer {token}\r\n"
                    name = f"{count} replica{'s' if count > 1 else ''}"
                    upserts[name] = asyncio.run(
                        fleet_drive(name, targets, path, auth, options, extension=False)
                    )
                    query(dsn, NOOP_JOBS, options.noops)
                    drains[f"no-op, {count} worker{'s' if count > 1 else ''}"] = drain(
                        dsn, count, env, work, "noop"
                    )
                    asyncio.run(create_jobs(targets[0][0], path, auth, options.creates))
                    drains[f"create, {count} worker{'s' if count > 1 else ''}"] = drain(
                        dsn, count, env, work, "create"
                    )
    report(upserts, drains, options)


async def create_jobs(port: int, path: str, auth: str, count: int) -> None:
    """``count`` new events asking for a bot (no worker runs yet: each leaves a job)."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        limit = asyncio.Semaphore(16)
        headers = {"Authorization": auth.split(": ", 1)[1].strip(), "Content-Type": "application/json"}

        async def one(number: int) -> None:
            async with limit:
                answer = await client.post(
                    path, content=body(f"create-{number}", "Bot", extension=True), headers=headers
                )
            if answer.status_code != 202:
                raise SystemExit(f"upsert answered {answer.status_code}: {answer.text}")

        await asyncio.gather(*(one(n) for n in range(count)))


def report(
    upserts: dict[str, Result], drains: dict[str, tuple[int, float]], options: argparse.Namespace
) -> None:
    bare = upserts["bare"]
    print(
        f"\n{os.cpu_count()} cores; Python {platform.python_version()}; PostgreSQL; "
        f"{options.clients} clients; {options.duration:.0f} s measured after {options.warmup:.0f} s "
        "warm-up per setup\n"
    )
    print(
        f"{'upserts':<16}{'req/s':>9}{'of bare':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'server CPU':>12}"
    )
    for result in upserts.values():
        print(
            f"{result.name:<16}{result.rps:>9.0f}{result.rps / bare.rps:>9.2f}"
            f"{percentile(result.latencies, 0.5) * 1e3:>9.1f}{percentile(result.latencies, 0.99) * 1e3:>9.1f}"
            f"{result.errors:>8}{result.server_cpu:>11.0%}"
        )
    print(f"\n{'job drain':<20}{'jobs':>7}{'seconds':>9}{'jobs/s':>9}")
    for name, (jobs, seconds) in drains.items():
        print(f"{name:<20}{jobs:>7}{seconds:>9.2f}{jobs / seconds:>9.0f}")


if __name__ == "__main__":
    main()
