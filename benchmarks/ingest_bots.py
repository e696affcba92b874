"""Ingest with bots: upserts/s against a bare Litestar app when every upsert asks for a bot, the
upsert → bot_id lag under that load, and bots created/s; the Recall stand-in in its own process.

    python benchmarks/ingest_bots.py [--latencies 0,50,150] [--duration 8] [--clients 32] [--quick]

Real processes on loopback: ``bare_app.py`` (decodes the upsert body, answers 202), the Recall
stand-in (``meetbridge sandbox``, every provider call delayed by the phase's latency, no rate limit)
and, per phase, a fresh ``meetbridge serve`` (SQLite file, API and worker in one process as
deployed by default) whose ``bench-bot`` profile has Recall's create-bot limit lifted. Phases:
``plain`` (bodies without the extension, each client cycling through 100 event ids as in
``upsert_throughput.py``), then one per latency where every upsert is a new event asking for a bot,
and the first latency once more with the worker in its own process (``MEETBRIDGE_WORKER=0`` and
``meetbridge worker``, the documented split deployment) instead of on the API's event loop.
Each meetbridge phase is preceded by the bare app measured for as long with the same clients and
bodies, and its ratio is against that measurement (interleaved, so the machine's load falls on both).

While the load runs, ``--lag-rate`` further new events a second ask for a bot and each is polled
(``GET`` the event every ``--lag-poll-ms``, or every 10% of the time waited so far if that is longer)
until ``metadata.recall.bot_id`` shows: the lag runs from just before its upsert to the read that
shows the id (so it overstates by up to one poll: ``--lag-poll-ms``, or 10%). An event
still without an id 10 s after its upsert counts as 10 s (shown as ≥ 10000). Bots created/s: bot ids stored
during the measured window, read from the database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import msgspec
from harness import Gateway, Process, Sandbox, bot_profile, machine
from rawhttp import Connection
from upsert_throughput import HERE, Result, answers, body, drive, free_port, percentile, wait_until

# A probe still without a bot id after this long counts as this long (the report marks it "≥"):
# once the backlog grows, waiting longer only makes the run longer.
LAG_CAP = 10.0


async def follow(gateway: Gateway, event_id: str, poll: float, lags: list[float]) -> None:
    headers = f"Authorization: Bearer {gateway.token}\r\nContent-Type: application/json\r\n"
    path = f"/v1/calendars/{gateway.calendar_id}/events"
    connection = await Connection.open("127.0.0.1", gateway.port)
    try:
        sent = time.perf_counter()
        status, answer = await connection.request(
            "POST", path, headers=headers, body=body(event_id, "Lag", True)
        )
        if status != 202:
            raise RuntimeError(f"lag upsert answered {status}: {answer[:200]!r}")
        while time.perf_counter() < sent + LAG_CAP:
            try:
                _, answer = await connection.request("GET", f"{path}/{event_id}", headers=headers)
            except (asyncio.IncompleteReadError, ConnectionError):
                # uvicorn closes a keep-alive connection idle for 5 s: a slow probe opens another.
                with contextlib.suppress(OSError):
                    await connection.close()
                connection = await Connection.open("127.0.0.1", gateway.port)
                continue
            if (msgspec.json.decode(answer)["event"]["metadata"].get("recall") or {}).get("bot_id"):
                lags.append(time.perf_counter() - sent)
                return
            # Back off as the wait grows (10% of it): hundreds of probes polling every few ms while a
            # backlog drains would be load of the benchmark's own making.
            await asyncio.sleep(max(poll, 0.1 * (time.perf_counter() - sent)))
        lags.append(LAG_CAP)
    finally:
        await connection.close()


async def probe_lag(gateway: Gateway, *, rate: float, seconds: float, poll: float, tag: str) -> list[float]:
    lags: list[float] = []
    started = time.perf_counter()
    followers = []
    for number in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, started + number / rate - time.perf_counter()))
        followers.append(asyncio.create_task(follow(gateway, f"lag-{tag}-{number}", poll, lags)))
    await asyncio.gather(*followers)
    return lags


class Phase(msgspec.Struct):
    name: str
    bare: Result
    ours: Result
    lags: list[float]
    bots_per_second: float


def bots_stored(gateway: Gateway) -> int:
    return gateway.count("SELECT count(*) FROM event_extensions WHERE bot_id IS NOT NULL")


async def load_with_lag(
    gateway: Gateway, options: argparse.Namespace, latency: int
) -> tuple[Result, list[float], float]:
    load = {
        "clients": options.clients,
        "keys": 2**40,  # every upsert a new event, so every one asks for a new bot
        "warmup": options.warmup,
        "duration": options.duration,
        "extension": True,
    }
    auth = f"Authorization: Bearer {gateway.token}\r\n"
    path = f"/v1/calendars/{gateway.calendar_id}/events"
    bots: dict[str, tuple[int, float]] = {}

    async def count_bots() -> None:
        await asyncio.sleep(options.warmup)
        bots["from"] = (bots_stored(gateway), time.perf_counter())
        await asyncio.sleep(options.duration)
        bots["to"] = (bots_stored(gateway), time.perf_counter())

    async def lag_after_warmup() -> list[float]:
        await asyncio.sleep(options.warmup)
        poll = options.lag_poll_ms / 1e3
        return await probe_lag(
            gateway, rate=options.lag_rate, seconds=options.duration, poll=poll, tag=str(latency)
        )

    ours, lags, _ = await asyncio.gather(
        drive("meetbridge", gateway.port, path, auth, gateway.process.pid, **load),
        lag_after_warmup(),
        count_bots(),
    )
    (made_from, at_from), (made_to, at_to) = bots["from"], bots["to"]
    return ours, lags, (made_to - made_from) / (at_to - at_from)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latencies", default="0,50,150", help="provider latencies in ms, one phase each")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--lag-rate", type=float, default=10.0, help="lag probes per second under the load")
    parser.add_argument("--lag-poll-ms", type=float, default=10.0)
    parser.add_argument(
        "--no-split",
        dest="split",
        action="store_false",
        help="skip the last phase: the first latency again, with MEETBRIDGE_WORKER=0 and `meetbridge worker`",
    )
    parser.add_argument("--quick", action="store_true", help="2 s phases, latencies 0 and 50 ms")
    options = parser.parse_args()
    if options.quick:
        options.duration, options.warmup, options.latencies = 2.0, 1.0, "0,50"
    latencies = [int(value) for value in options.latencies.split(",")]
    print(f"ingest with bots: {options.clients} clients, {options.duration:.0f} s per phase; {machine()}")
    phases: list[Phase] = []
    with tempfile.TemporaryDirectory(prefix="meetbridge-bench-") as folder:
        work = Path(folder)
        port = free_port()
        bare = Process(
            [sys.executable, str(HERE / "bare_app.py"), str(port)], work / "bare.log", dict(os.environ), work
        )
        bare_load = {"clients": options.clients, "warmup": options.warmup, "duration": options.duration}
        try:
            wait_until(answers(f"http://127.0.0.1:{port}/", bare.popen, bare.log), "the bare app")
            with Sandbox(work) as sandbox:
                phases_to_run = [("plain", None, False), *((f"bots, {ms} ms", ms, False) for ms in latencies)]
                if options.split:
                    phases_to_run.append((f"bots, {latencies[0]} ms, worker apart", latencies[0], True))
                for name, latency, split in phases_to_run:
                    with_bots = latency is not None
                    keys = 2**40 if with_bots else 100
                    path = "/v1/calendars/cal_bench/events"
                    baseline = asyncio.run(
                        drive("bare", port, path, "", bare.pid, keys=keys, extension=with_bots, **bare_load)
                    )
                    sandbox.set_latency(latency or 0)
                    (work / name).mkdir()
                    with Gateway(work / name, bot_profile(sandbox.url), api_only=split) as gateway:
                        if split:
                            gateway.start_worker()
                        if with_bots:
                            ours, lags, made = asyncio.run(load_with_lag(gateway, options, latency or 0))
                        else:
                            auth = f"Authorization: Bearer {gateway.token}\r\n"
                            path = f"/v1/calendars/{gateway.calendar_id}/events"
                            pid = gateway.process.pid
                            plain = {"keys": keys, "extension": False, **bare_load}
                            ours = asyncio.run(drive("meetbridge", gateway.port, path, auth, pid, **plain))
                            lags, made = [], 0.0
                    phases.append(Phase(name, baseline, ours, lags, made))
                    print(f"  {name}: done")
        finally:
            bare.stop()
    report(phases)


def capped(milliseconds: float) -> str:
    return f"≥{milliseconds:.0f}" if milliseconds >= LAG_CAP * 1e3 else f"{milliseconds:.0f}"


def report(phases: list[Phase]) -> None:
    print(
        f"\n{'phase':<30}{'bare/s':>8}{'ours/s':>8}{'ratio':>7}{'p99 ms':>8}{'errors':>7}{'CPU':>6}"
        f"{'lag p50 ms':>12}{'lag p99 ms':>12}{'bots/s':>8}"
    )
    for phase in phases:
        ours = phase.ours
        lag50 = percentile(phase.lags, 0.5) * 1e3 if phase.lags else float("nan")
        lag99 = percentile(phase.lags, 0.99) * 1e3 if phase.lags else float("nan")
        print(
            f"{phase.name:<30}{phase.bare.rps:>8.0f}{ours.rps:>8.0f}{ours.rps / phase.bare.rps:>7.2f}"
            f"{percentile(ours.latencies, 0.99) * 1e3:>8.1f}{ours.errors:>7}{ours.server_cpu:>6.0%}"
            f"{capped(lag50):>12}{capped(lag99):>12}{phase.bots_per_second:>8.0f}"
        )
    print("\ntargets: plain >= 0.5 of bare; bots at 0 ms >= 0.25 of bare; bot_id lag p99 <= 100 ms")


if __name__ == "__main__":
    main()
