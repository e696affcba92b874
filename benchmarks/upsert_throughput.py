"""Upsert throughput of meetbridge against a bare Litestar app, and the upsert → bot_id lag.

    python benchmarks/upsert_throughput.py [--duration 15] [--clients 32]

One run starts two real server processes on loopback, one after the other, each alone on the machine
while it is measured: ``bare_app.py`` (decodes the same upsert body, answers 202) and ``meetbridge
serve --sandbox`` (SQLite file in a temporary folder, the in-process Recall stand-in, no added
latency). Both go through ``uvicorn.run`` with the same arguments. This process generates the load:
``--clients`` keep-alive connections (``rawhttp``; httpx was the bottleneck), each sending its next
upsert as soon as the previous one is answered. Every request creates or changes an event: each client
cycles through ``--keys`` event ids with a new summary each time, so every meetbridge request writes.
The bodies carry no extension unless ``--extension`` is given (then meetbridge's worker also runs a
job per changed event while it is measured).

Bot-id lag is measured afterwards, without the throughput load: new events with a Recall extension
arrive at ``--lag-rate`` per second (open loop), and each is followed by polling the single-event
read every ``--lag-poll-ms`` until ``metadata.recall.bot_id`` appears. The lag runs from just before
the upsert is sent to the read that shows the id, so it overstates the true lag by up to one poll
interval plus one read. Ten events first warm the path up (the adapter's HTTP client) and are not
counted.

CPU columns are process CPU time over wall time (100% = one core): a load generator well below 100%
while the server is near it says the server, not the client, is what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import itertools
import os
import platform
import re
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import msgspec
import uvicorn
from rawhttp import Connection

from meetbridge.runtime.sandbox_profiles import RECALL_PATH, SANDBOX_RECALL_KEY, SANDBOX_WEBHOOK_SECRET

HERE = Path(__file__).resolve().parent
START = "2030-01-01T16:00:00Z"
END = "2030-01-01T17:00:00Z"
JOIN_URL = "https://zoom.us/j/1234567890"
PROFILE = "bench-bot"


class BenchmarkError(Exception):
    pass


class Result(msgspec.Struct):
    name: str
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    server_cpu: float
    client_cpu: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


@contextmanager
def server(args: list[str], log: Path, env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def answers(url: str, process: subprocess.Popen[bytes], log: Path) -> Callable[[], bool]:
    def check() -> bool:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            httpx.get(url, timeout=1)
        except httpx.TransportError:
            return False
        return True

    return check


def bench_profile(base: str) -> str:
    """``sandbox-bot`` with Recall's create-bot limit (120/min, which meetbridge paces to) lifted.

    The stand-in has no limit; at the documented one (2 a second) the lag would measure the pacing.
    """
    return f"""
[profiles.{PROFILE}]
adapter = "recall-bot"
base_url = "{base}{RECALL_PATH}"
api_key = "env:MEETBRIDGE_SANDBOX_RECALL_KEY"
webhook_secret = "env:MEETBRIDGE_SANDBOX_WEBHOOK_SECRET"
bot_name = "meetbridge benchmark bot"
rate_limits = {{ create_bot = 100000, list_bots = 100000, bot = 100000 }}
"""


def body(event_id: str, summary: str, extension: bool = False) -> bytes:
    document: dict[str, object] = {
        "event_id": event_id,
        "summary": summary,
        "description": "Quarterly planning with the sales team",
        "start": START,
        "end": END,
        "tzid": "Europe/London",
        "location": {"description": "Room 4"},
        "conferencing": {"profile_id": "explicit", "provider_description": "Zoom", "join_url": JOIN_URL},
    }
    if extension:
        document["extensions"] = [{"provider": "recall", "profile_id": PROFILE}]
    return msgspec.json.encode(document)


async def drive(
    name: str,
    port: int,
    path: str,
    headers: str,
    pid: int,
    *,
    clients: int,
    keys: int,
    warmup: float,
    duration: float,
    extension: bool,
) -> Result:
    """``clients`` closed-loop clients; counts only what completes inside the measured window."""
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    measure_from = started + warmup
    stop_at = measure_from + duration
    headers += "Content-Type: application/json\r\n"
    marks: dict[str, float] = {}

    async def client(number: int) -> None:
        nonlocal errors
        connection = await Connection.open("127.0.0.1", port)
        try:
            for sequence in itertools.count():
                sent = time.perf_counter()
                if sent >= stop_at:
                    return
                payload = body(f"bench-{number}-{sequence % keys}", f"Planning #{sequence}", extension)
                status, _ = await connection.request("POST", path, headers=headers, body=payload)
                done = time.perf_counter()
                if sent >= measure_from and done <= stop_at:
                    latencies.append(done - sent)
                    errors += status != 202
        finally:
            await connection.close()

    async def mark() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        marks.update(server=process_cpu(pid), client=own_cpu(), at=time.perf_counter())
        await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
        wall = time.perf_counter() - marks["at"]
        marks["server"] = (process_cpu(pid) - marks["server"]) / wall
        marks["client"] = (own_cpu() - marks["client"]) / wall

    await asyncio.gather(mark(), *(client(n) for n in range(clients)))
    return Result(name, len(latencies), errors, duration, latencies, marks["server"], marks["client"])


async def bot_id_lag(
    port: int, calendar_id: str, token: str, *, events: int, rate: float, poll: float, prefix: str = "lag-"
) -> list[float]:
    """Open loop: a new event every ``1 / rate`` s, each followed on a connection of its own."""
    headers = f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
    lags: list[float] = []

    async def follow(event_id: str) -> None:
        connection = await Connection.open("127.0.0.1", port)
        try:
            sent = time.perf_counter()
            status, answer = await connection.request(
                "POST",
                f"/v1/calendars/{calendar_id}/events",
                headers=headers,
                body=body(event_id, "Lag probe", extension=True),
            )
            if status != 202:
                raise BenchmarkError(f"lag upsert answered {status}: {answer!r}")
            while time.perf_counter() < sent + 10:
                _, answer = await connection.request(
                    "GET", f"/v1/calendars/{calendar_id}/events/{event_id}", headers=headers
                )
                if (msgspec.json.decode(answer)["event"]["metadata"].get("recall") or {}).get("bot_id"):
                    lags.append(time.perf_counter() - sent)
                    return
                await asyncio.sleep(poll)
            raise BenchmarkError(f"{event_id}: no bot_id after 10 s")
        finally:
            await connection.close()

    started = time.perf_counter()
    followers = []
    for number in range(events):
        await asyncio.sleep(max(0.0, started + number / rate - time.perf_counter()))
        followers.append(asyncio.create_task(follow(f"{prefix}{number}")))
    await asyncio.gather(*followers)
    return lags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per app")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--keys", type=int, default=100, help="event ids each client cycles through")
    parser.add_argument(
        "--extension",
        action="store_true",
        help="throughput bodies carry the Recall extension too (meetbridge's worker then makes bots)",
    )
    parser.add_argument("--lag-events", type=int, default=200)
    parser.add_argument("--lag-rate", type=float, default=25.0, help="new events per second")
    parser.add_argument("--lag-poll-ms", type=float, default=5.0)
    options = parser.parse_args()
    load = {
        "clients": options.clients,
        "keys": options.keys,
        "warmup": options.warmup,
        "duration": options.duration,
        "extension": options.extension,
    }

    with tempfile.TemporaryDirectory(prefix="meetbridge-bench-") as folder:
        work = Path(folder)
        env = {
            **os.environ,
            "MEETBRIDGE_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'meetbridge.db'}",
            "MEETBRIDGE_LOG_LEVEL": "WARNING",
            "MEETBRIDGE_CONFIG": str(work / "meetbridge.toml"),
            "MEETBRIDGE_SANDBOX_RECALL_KEY": SANDBOX_RECALL_KEY,
            "MEETBRIDGE_SANDBOX_WEBHOOK_SECRET": SANDBOX_WEBHOOK_SECRET,
        }
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = work / "bare.log"
        with server([sys.executable, str(HERE / "bare_app.py"), str(port)], log, env, work) as bare:
            wait_until(answers(f"{base}/", bare, log), "the bare app")
            path = "/v1/calendars/cal_bench/events"
            bare_result = asyncio.run(drive("bare Litestar", port, path, "", bare.pid, **load))

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = work / "meetbridge.log"
        (work / "meetbridge.toml").write_text(bench_profile(base))
        args = [sys.executable, "-m", "meetbridge", "serve", "--sandbox", "--port", str(port)]
        with server(args, log, env, work) as gateway:
            wait_until(answers(f"{base}/healthz", gateway, log), "meetbridge")
            banner = log.read_text()
            token = re.search(r"bearer token: (\S+)", banner)
            calendar = re.search(r"calendar: +(\S+)", banner)
            if token is None or calendar is None:
                raise SystemExit(f"no demo credentials in the banner:\n{banner}")
            path = f"/v1/calendars/{calendar[1]}/events"
            auth = f"Authorization: Bearer {token[1]}\r\n"
            ours = asyncio.run(drive("meetbridge", port, path, auth, gateway.pid, **load))
            drained = wait_for_outbox(work / "meetbridge.db")
            # The first events pay for one-time set-up (the adapter's HTTP client): not counted.
            lag = {"rate": options.lag_rate, "poll": options.lag_poll_ms / 1e3}
            asyncio.run(bot_id_lag(port, calendar[1], token[1], events=10, prefix="warm-", **lag))
            lags = asyncio.run(bot_id_lag(port, calendar[1], token[1], events=options.lag_events, **lag))

    report(bare_result, ours, lags, drained, options)


def wait_for_outbox(database: Path, timeout: float = 300.0) -> float:
    """Seconds until the worker has no job left (jobs the throughput phase made, with --extension)."""
    started = time.monotonic()
    with contextlib.closing(sqlite3.connect(database, timeout=10)) as connection:
        while connection.execute("SELECT count(*) FROM jobs").fetchone()[0]:
            if time.monotonic() - started > timeout:
                raise BenchmarkError(f"the worker still has jobs after {timeout:.0f} s")
            time.sleep(0.1)
    return time.monotonic() - started


def report(
    bare: Result, ours: Result, lags: list[float], drained: float, options: argparse.Namespace
) -> None:
    fast = [name for name in ("uvloop", "httptools") if importlib.util.find_spec(name) is not None]
    print(
        f"\n{os.cpu_count()} cores; Python {platform.python_version()}; uvicorn {uvicorn.__version__} "
        f"({', '.join(fast) or 'h11, asyncio loop'}); {options.clients} clients; "
        f"{options.duration:.0f} s measured after {options.warmup:.0f} s warm-up per app"
        f"{'; bodies with the Recall extension' if options.extension else ''}\n"
    )
    print(f"{'':<14}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'server CPU':>12}{'client CPU':>12}")
    for result in (bare, ours):
        print(
            f"{result.name:<14}{result.rps:>9.0f}{percentile(result.latencies, 0.5) * 1e3:>9.1f}"
            f"{percentile(result.latencies, 0.99) * 1e3:>9.1f}{result.errors:>8}"
            f"{result.server_cpu:>11.0%}{result.client_cpu:>12.0%}"
        )
    print(f"\nratio meetbridge / bare: {ours.rps / bare.rps:.2f}")
    if options.extension:
        print(f"worker backlog after the load drained in {drained:.1f} s")
    print(
        f"bot_id lag ({len(lags)} new events at {options.lag_rate:.0f}/s, polled every "
        f"{options.lag_poll_ms:.0f} ms): "
        f"p50 {percentile(lags, 0.5) * 1e3:.1f} ms, p99 {percentile(lags, 0.99) * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    try:
        main()
    except BenchmarkError as exc:
        raise SystemExit(f"benchmark failed: {exc}") from None
