"""Job drain: how fast ``meetbridge worker`` empties a queue, with and without a provider call per job.

    python benchmarks/job_drain.py [--noop 5000] [--bots 2000] [--latency-ms 50] [--concurrency 16] [--quick]

Real processes: the Recall stand-in (``meetbridge sandbox``, every call delayed by ``--latency-ms``),
``meetbridge serve`` without its worker (``MEETBRIDGE_WORKER=0``) to queue the jobs, and then
``meetbridge worker --concurrency N`` on the same SQLite file, started once the queue is full and
timed from its first finished job until the jobs table is empty.

- no-op: ``--noop`` stored events without extensions (seeded with SQL in bulk), each with a queued
  job (also SQL): the job reads the event, finds nothing to keep in step and is done, so this is the
  worker's own cost per job (claim, lease, run, finish).
- bots: ``--bots`` events upserted through the API, each asking for a bot: each job creates one at
  the stand-in. With the provider's limits lifted the bound is ``concurrency / latency`` creates/s
  (16 / 50 ms = 320/s); with Recall's real limit (120/min) the pacing, not the concurrency, bounds it.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness import (
    FIRST_START,
    Gateway,
    Sandbox,
    bot_profile,
    drain,
    machine,
    seed_events,
    upsert_body,
    upsert_many,
    with_bot,
)


def queue_noop_jobs(gateway: Gateway) -> int:
    gateway.sql.rows(
        "INSERT INTO jobs (kind, subject, run_at, generation, attempts) "
        "SELECT 'event', pk, ?, 1, 0 FROM events WHERE deleted = false",
        datetime.now(UTC),
    )
    return gateway.count("SELECT count(*) FROM jobs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--noop", type=int, default=5_000)
    parser.add_argument("--bots", type=int, default=2_000)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="1,000 no-op jobs and 200 bots")
    options = parser.parse_args()
    if options.quick:
        options.noop, options.bots = 1_000, 200
    print(f"job drain: worker concurrency {options.concurrency}; {machine()}")
    with tempfile.TemporaryDirectory(prefix="meetbridge-bench-") as folder:
        work = Path(folder)
        (work / "noop").mkdir()
        (work / "bots").mkdir()
        with Sandbox(work) as sandbox:
            with Gateway(work / "noop", bot_profile(sandbox.url), api_only=True) as gateway:
                seed_events(gateway, options.noop)
                queued = queue_noop_jobs(gateway)
                gateway.start_worker(options.concurrency)
                noop_done, noop_seconds = drain(gateway)
            print(f"  no-op: {queued:,} queued")
            sandbox.set_latency(options.latency_ms)
            with Gateway(work / "bots", bot_profile(sandbox.url), api_only=True) as gateway:
                bodies = [
                    with_bot(upsert_body(f"bot-{n}", FIRST_START + timedelta(minutes=n)))
                    for n in range(options.bots)
                ]
                asyncio.run(upsert_many(gateway, bodies))
                queued = gateway.count("SELECT count(*) FROM jobs")
                gateway.start_worker(options.concurrency)
                bots_done, bots_seconds = drain(gateway)
                made = gateway.count("SELECT count(*) FROM event_extensions WHERE bot_id IS NOT NULL")
            print(f"  bots: {queued:,} queued, {made:,} bot ids stored")
    bound = options.concurrency / (options.latency_ms / 1e3) if options.latency_ms else float("inf")
    print(f"\n{'queue':<36}{'jobs':>8}{'seconds':>9}{'jobs/s':>9}")
    print(
        f"{'no-op (no provider call)':<36}{noop_done:>8,}{noop_seconds:>9.2f}{noop_done / noop_seconds:>9.0f}"
    )
    label = f"create a bot at {options.latency_ms} ms"
    print(f"{label:<36}{bots_done:>8,}{bots_seconds:>9.2f}{bots_done / bots_seconds:>9.0f}")
    print(
        f"\nno-op drain (target >= 2,000 jobs/s): {noop_done / noop_seconds:.0f}; bot creates "
        f"{bots_done / bots_seconds:.0f}/s against the concurrency bound {options.concurrency} / "
        f"{options.latency_ms} ms = {bound:.0f}/s ({bots_done / bots_seconds / bound:.0%} of it)"
    )


if __name__ == "__main__":
    main()
