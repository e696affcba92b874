"""The drift audit's cost: time and provider calls to audit N future events on one recall-bot profile.

    python benchmarks/audit.py [--events 10000] [--days 30]

Real processes on loopback: ``meetbridge sandbox`` (the Recall stand-in, 50 bots a List Bots page) and
``meetbridge serve`` with one recall-bot profile on it whose List Bots limit is Recall's documented 60
a minute (the catalogue's; creates are lifted so that seeding is quick). ``--events`` events spread
over ``--days`` each get a bot through the gateway; once all are scheduled the call log is cleared and
``meetbridge audit --json`` runs beside the server, in step (nothing to repair). Reported: the audit's
wall time, its List Bots calls (pages), calls a minute overall, and the most List Bots calls in any
sliding 60-second window of the stand-in's call log, which must stay within the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

PROFILE = "bench"
API_KEY = "bench-recall-key"
LIST_BOTS_LIMIT = 60  # calls a minute (reference: "List Bots 60/min")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(check: object, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


@contextlib.contextmanager
def process(args: list[str], log: Path, env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        running = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    try:
        yield running
    finally:
        running.terminate()
        try:
            running.wait(timeout=15)
        except subprocess.TimeoutExpired:
            running.kill()
            running.wait()


def answering(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.TransportError:
        return False
    return True


def meetbridge(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meetbridge", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


async def seed(gateway: str, token: str, calendar_id: str, events: int, days: int) -> None:
    first = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    step = timedelta(days=days) / events
    limit = asyncio.Semaphore(32)
    async with httpx.AsyncClient(base_url=gateway, headers={"Authorization": f"Bearer {token}"}) as client:

        async def one(index: int) -> None:
            start = first + step * index
            body = {
                "event_id": f"bench-{index:06d}",
                "summary": "audit benchmark",
                "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "end": (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "tzid": "Etc/UTC",
                "conferencing": {
                    "profile_id": "explicit",
                    "join_url": f"https://zoom.us/j/{3_000_000_000 + index}",
                },
                "extensions": [{"provider": "recall", "profile_id": PROFILE}],
            }
            async with limit:
                response = await client.post(f"/v1/calendars/{calendar_id}/events", json=body, timeout=60)
            if response.status_code != 202:
                raise SystemExit(f"upsert answered {response.status_code}: {response.text}")

        await asyncio.gather(*(one(i) for i in range(events)))


def scheduled(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
        count: int = connection.execute(
            "SELECT count(*) FROM event_extensions WHERE status = 'scheduled' AND bot_id IS NOT NULL"
        ).fetchone()[0]
        return count


def busiest_minute(times: list[datetime]) -> int:
    """The most calls in any 60-second window (each window starting at a call)."""
    ordered, best, start = sorted(times), 0, 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= timedelta(seconds=60):
            start += 1
        best = max(best, end - start + 1)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="meetbridge-audit-bench-") as folder:
        work = Path(folder)
        sandbox_port, gateway_port = free_port(), free_port()
        sandbox, gateway = f"http://127.0.0.1:{sandbox_port}", f"http://127.0.0.1:{gateway_port}"
        database = work / "meetbridge.db"
        config = work / "meetbridge.toml"
        config.write_text(
            f"""
[server]
audit_interval_seconds = 0

[profiles.{PROFILE}]
adapter = "recall-bot"
base_url = "{sandbox}"
api_key = "env:BENCH_RECALL_KEY"
webhook_secret = "env:BENCH_RECALL_SECRET"
rate_limits = {{ create_bot = 100000, bot = 100000 }}
"""
        )
        env = {
            **os.environ,
            "BENCH_RECALL_KEY": API_KEY,
            "BENCH_RECALL_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
            "MEETBRIDGE_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "MEETBRIDGE_LOG_LEVEL": "WARNING",
        }
        python = [sys.executable, "-m", "meetbridge"]
        sandbox_args = [*python, "sandbox", "--port", str(sandbox_port), "--api-key", API_KEY]
        serve_args = [*python, "serve", "--port", str(gateway_port), "--config", str(config)]
        with process(sandbox_args, work / "sandbox.log", env, work):
            wait_until(lambda: answering(f"{sandbox}/_sandbox/clock"), "the stand-in", 30)
            meetbridge("db", "upgrade", env=env, cwd=work)
            with process(serve_args, work / "serve.log", env, work):
                wait_until(lambda: answering(f"{gateway}/healthz"), "the gateway", 30)
                token = (
                    meetbridge("token", "create", "bench", env=env, cwd=work).stdout.strip().splitlines()[-1]
                )
                calendar = httpx.post(
                    f"{gateway}/v1/calendars",
                    json={"name": "bench"},
                    headers={"Authorization": f"Bearer {token}"},
                ).json()["calendar"]["calendar_id"]
                began = time.monotonic()
                asyncio.run(seed(gateway, token, calendar, options.events, options.days))
                wait_until(lambda: scheduled(database) == options.events, "every bot scheduled", 3600)
                seeded = time.monotonic() - began
                httpx.delete(f"{sandbox}/_sandbox/calls")
                began = time.monotonic()
                audit = meetbridge("audit", "--json", "--config", str(config), PROFILE, env=env, cwd=work)
                took = time.monotonic() - began
                if audit.returncode != 0:
                    raise SystemExit(f"audit exited {audit.returncode}: {audit.stdout}{audit.stderr}")
                [report] = json.loads(audit.stdout)
                calls = httpx.get(f"{sandbox}/_sandbox/calls").json()
        lists = [datetime.fromisoformat(c["time"]) for c in calls if c["endpoint"] == "list_bots"]
        others = [c for c in calls if c["endpoint"] != "list_bots"]
        print(f"events and bots: {options.events} over {options.days} days (seeded in {seeded:.0f} s)")
        print(f"audit: {took:.1f} s wall (process start included), {len(report['differences'])} differences")
        print(f"List Bots calls (pages of 50): {len(lists)}; other provider calls: {len(others)}")
        print(f"calls a minute overall: {len(lists) / (took / 60):.1f}")
        print(f"most List Bots calls in any 60 s: {busiest_minute(lists)} (limit {LIST_BOTS_LIMIT})")
        if busiest_minute(lists) > LIST_BOTS_LIMIT:
            raise SystemExit("the audit went over the documented List Bots limit")


if __name__ == "__main__":
    main()
