"""Outbound webhooks: the upsert → ``bot.scheduled`` arrival lag, and what delivery costs the upserts.

    python benchmarks/webhook_lag.py [--bots 1000] [--rate 50] [--duration 15] [--clients 32]

Real processes on loopback: ``meetbridge serve --sandbox`` (SQLite file in a temporary folder, the
in-process Recall stand-in, Recall's create-bot pacing lifted as in ``upsert_throughput.py``), and in
this process a minimal keep-alive HTTP receiver (asyncio streams; answers 204) registered as the
application's endpoint for ``bot.scheduled``.

Lag: ``--bots`` new events, each asking for a bot, are upserted open loop at ``--rate`` per second; the
lag of one runs from just before its upsert is sent to the arrival of its ``bot.scheduled`` at the
receiver (meetbridge's worker makes the bot, the write-back writes the message in the same
transaction, the sender posts it). Ten events first warm the path up and are not counted.

Cost: ``--clients`` closed-loop clients upsert events with the extension for ``--duration`` seconds
(after ``--warmup``) against a fresh gateway without an endpoint, then against another fresh gateway
with one; the ratio of their upserts/s is the cost of delivery on the upsert path (the worker and the
sender run in the same process while it is measured).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import httpx
import msgspec
from rawhttp import Connection
from upsert_throughput import (
    BenchmarkError,
    Result,
    answers,
    bench_profile,
    body,
    drive,
    free_port,
    percentile,
    server,
    wait_for_outbox,
    wait_until,
)

from meetbridge.runtime.sandbox_profiles import SANDBOX_RECALL_KEY, SANDBOX_WEBHOOK_SECRET


class Receiver:
    """Keeps the arrival time of each ``bot.scheduled`` by event id; one request at a time per connection."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.port = free_port()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line[15:])
                        for line in head.lower().split(b"\r\n")
                        if line.startswith(b"content-length:")
                    ),
                    0,
                )
                message = msgspec.json.decode(await reader.readexactly(length))
                if message.get("type") == "bot.scheduled":
                    self.arrived.setdefault(str(message["data"]["event_id"]), time.perf_counter())
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()


async def lag_run(
    port: int, calendar_id: str, token: str, receiver: Receiver, *, bots: int, rate: float, prefix: str
) -> list[float]:
    """Open loop: an upsert every ``1 / rate`` s; then wait for every event's bot.scheduled."""
    headers = f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
    sent: dict[str, float] = {}
    connections = [await Connection.open("127.0.0.1", port) for _ in range(8)]
    free: asyncio.Queue[Connection] = asyncio.Queue()
    for connection in connections:
        free.put_nowait(connection)

    async def upsert(event_id: str) -> None:
        connection = await free.get()
        try:
            sent[event_id] = time.perf_counter()
            status, answer = await connection.request(
                "POST",
                f"/v1/calendars/{calendar_id}/events",
                headers=headers,
                body=body(event_id, "Lag probe", True),
            )
            if status != 202:
                raise BenchmarkError(f"upsert answered {status}: {answer!r}")
        finally:
            free.put_nowait(connection)

    started = time.perf_counter()
    tasks = []
    for number in range(bots):
        await asyncio.sleep(max(0.0, started + number / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(upsert(f"{prefix}{number}")))
    await asyncio.gather(*tasks)
    deadline = time.perf_counter() + 120
    while not set(sent) <= set(receiver.arrived):
        if time.perf_counter() > deadline:
            missing = len(set(sent) - set(receiver.arrived))
            raise BenchmarkError(f"{missing} bot.scheduled messages had not arrived after 120 s")
        await asyncio.sleep(0.05)
    for connection in connections:
        await connection.close()
    return [receiver.arrived[event_id] - at for event_id, at in sent.items()]


def gateway(work: Path) -> tuple[list[str], dict[str, str], int]:
    work.mkdir()
    port = free_port()
    (work / "meetbridge.toml").write_text(bench_profile(f"http://127.0.0.1:{port}"))
    env = {
        **os.environ,
        "MEETBRIDGE_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'meetbridge.db'}",
        "MEETBRIDGE_LOG_LEVEL": "WARNING",
        "MEETBRIDGE_CONFIG": str(work / "meetbridge.toml"),
        "MEETBRIDGE_SANDBOX_RECALL_KEY": SANDBOX_RECALL_KEY,
        "MEETBRIDGE_SANDBOX_WEBHOOK_SECRET": SANDBOX_WEBHOOK_SECRET,
    }
    return [sys.executable, "-m", "meetbridge", "serve", "--sandbox", "--port", str(port)], env, port


def credentials(log: Path) -> tuple[str, str]:
    banner = log.read_text()
    token, calendar = re.search(r"bearer token: (\S+)", banner), re.search(r"calendar: +(\S+)", banner)
    if token is None or calendar is None:
        raise BenchmarkError(f"no demo credentials in the banner:\n{banner}")
    return token[1], calendar[1]


def measure(work: Path, options: argparse.Namespace, *, with_endpoint: bool) -> tuple[Result, list[float]]:
    args, env, port = gateway(work)
    log = work / "meetbridge.log"
    load = {"clients": options.clients, "keys": 100, "warmup": options.warmup, "duration": options.duration}
    with server(args, log, env, work) as process:
        wait_until(answers(f"http://127.0.0.1:{port}/healthz", process, log), "meetbridge")
        token, calendar_id = credentials(log)

        async def run() -> tuple[Result, list[float]]:
            receiver = Receiver()
            await receiver.start()
            try:
                if with_endpoint:
                    async with httpx.AsyncClient() as client:
                        created = await client.post(
                            f"http://127.0.0.1:{port}/v1/webhook_endpoints",
                            json={
                                "url": f"http://127.0.0.1:{receiver.port}/",
                                "event_types": ["bot.scheduled"],
                            },
                            headers={"Authorization": f"Bearer {token}"},
                        )
                    if created.status_code != 201:
                        raise BenchmarkError(
                            f"registering the endpoint: {created.status_code} {created.text}"
                        )
                path, auth = f"/v1/calendars/{calendar_id}/events", f"Authorization: Bearer {token}\r\n"
                name = "with endpoint" if with_endpoint else "no endpoint"
                result = await drive(name, port, path, auth, process.pid, extension=True, **load)
                lags: list[float] = []
                # The lag is measured on an idle gateway: the load's bots made and their messages sent.
                await asyncio.to_thread(wait_for_outbox, work / "meetbridge.db")
                if with_endpoint:
                    await lag_run(
                        port, calendar_id, token, receiver, bots=10, rate=options.rate, prefix="warm-"
                    )
                    lags = await lag_run(
                        port,
                        calendar_id,
                        token,
                        receiver,
                        bots=options.bots,
                        rate=options.rate,
                        prefix="lag-",
                    )
                return result, lags
            finally:
                await receiver.stop()

        return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bots", type=int, default=1000, help="events (bots) for the lag")
    parser.add_argument("--rate", type=float, default=50.0, help="new events per second for the lag")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per gateway")
    parser.add_argument("--warmup", type=float, default=3.0)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="meetbridge-webhook-bench-") as folder:
        without, _ = measure(Path(folder) / "without", options, with_endpoint=False)
        with_one, lags = measure(Path(folder) / "with", options, with_endpoint=True)
    print(
        f"\n{os.cpu_count()} cores; Python {platform.python_version()}; {options.clients} clients, "
        f"{options.duration:.0f} s measured after {options.warmup:.0f} s warm-up per gateway; "
        "every upsert asks for a bot"
    )
    for result in (without, with_one):
        print(
            f"  {result.name:<14}{result.rps:>8.0f} upserts/s"
            f"  p50 {percentile(result.latencies, 0.5) * 1e3:.1f} ms"
            f"  p99 {percentile(result.latencies, 0.99) * 1e3:.1f} ms  errors {result.errors}"
        )
    print(f"ratio with / without an endpoint: {with_one.rps / without.rps:.2f}")
    print(
        f"upsert → bot.scheduled arrival lag ({len(lags)} bots at {options.rate:.0f}/s): "
        f"p50 {percentile(lags, 0.5) * 1e3:.1f} ms, p99 {percentile(lags, 0.99) * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    try:
        main()
    except BenchmarkError as exc:
        raise SystemExit(f"benchmark failed: {exc}") from None
