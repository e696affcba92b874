"""Memory: the gateway's resident set after storing 100k and 1M events, and while paging through them.

    python benchmarks/memory.py [--api-events 100000] [--total 1000000] [--pages 200] [--quick]

One ``meetbridge serve`` (SQLite file, worker included) whose RSS (``/proc/<pid>/status`` VmRSS) is
read: after a warm-up (a few upserts and reads: the baseline); after ``--api-events`` events upserted
through the API by 32 keep-alive clients (every one a new event, no extension); after the calendar
is filled up to ``--total`` events with SQL in bulk (not through the API: a million upserts would
take longer than the benchmark may); then, sampled after every page, while ``GET /v1/events`` pages
through ``--pages`` pages of 100 by their ``next_page`` links (the last ``--pages`` pages: each page
counts the events after it, so the first pages of a million cost a second each). With ``--quick``
the growth per 100k is extrapolated from 5k upserts, which overstates it (the allocator's and the
caches' first growth, not a cost per event): only the full size measures it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from datetime import timedelta
from pathlib import Path

from harness import (
    FIRST_START,
    Gateway,
    machine,
    page_mark,
    page_token,
    rss_mib,
    seed_events,
    upsert_body,
    upsert_many,
)
from rawhttp import Connection


async def page_through(gateway: Gateway, first_path: str, pages: int) -> list[float]:
    """RSS after each page, following next_page links."""
    connection = await Connection.open("127.0.0.1", gateway.port)
    headers = f"Authorization: Bearer {gateway.token}\r\n"
    samples = []
    path: str | None = first_path
    try:
        for _ in range(pages):
            if path is None:
                break
            status, body = await connection.request("GET", path, headers=headers)
            if status != 200:
                raise RuntimeError(f"{path} answered {status}: {body[:200]!r}")
            samples.append(rss_mib(gateway.process.pid))
            next_page = json.loads(body)["pages"].get("next_page")
            path = next_page.removeprefix(gateway.url) if next_page else None
    finally:
        await connection.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api-events", type=int, default=100_000)
    parser.add_argument("--total", type=int, default=1_000_000)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument(
        "--quick", action="store_true", help="5k events through the API, 50k in all, 20 pages"
    )
    options = parser.parse_args()
    if options.quick:
        options.api_events, options.total, options.pages = 5_000, 50_000, 20
    print(f"memory: {options.api_events:,} events through the API, {options.total:,} in all; {machine()}")
    with (
        tempfile.TemporaryDirectory(prefix="meetbridge-bench-") as folder,
        Gateway(Path(folder), "") as gateway,
    ):
        warm = [upsert_body(f"warm-{n}", FIRST_START) for n in range(200)]
        asyncio.run(upsert_many(gateway, warm))
        first = f"/v1/events?include_managed=true&calendar_ids[]={gateway.calendar_id}"
        asyncio.run(page_through(gateway, first, 3))
        baseline = rss_mib(gateway.process.pid)
        bodies = [
            upsert_body(f"api-{n}", FIRST_START + timedelta(days=400, minutes=n))
            for n in range(options.api_events)
        ]
        asyncio.run(upsert_many(gateway, bodies, clients=32))
        after_api = rss_mib(gateway.process.pid)
        stored = gateway.count("SELECT count(*) FROM events")
        seed_events(gateway, max(0, options.total - stored))
        after_seed = rss_mib(gateway.process.pid)
        visible, after, pk = page_mark(gateway, options.pages * 100 + 1)
        token = page_token(gateway, visible // 100 - options.pages, after, pk)
        samples = asyncio.run(page_through(gateway, f"/v1/events/pages/{token}", options.pages))
        stored = gateway.count("SELECT count(*) FROM events")
    growth = (after_api - baseline) * 100_000 / options.api_events
    print(f"\n{'RSS':<52}{'MiB':>8}")
    print(f"{'after warm-up (baseline)':<52}{baseline:>8.1f}")
    print(f"{f'after {options.api_events:,} upserts through the API':<52}{after_api:>8.1f}")
    print(f"{f'after filling to {stored:,} events with SQL':<52}{after_seed:>8.1f}")
    print(f"{f'while paging {len(samples)} pages at {stored:,} (max)':<52}{max(samples):>8.1f}")
    print(
        f"\nRSS growth per 100k events stored through the API (target <= 50 MiB): {growth:.1f} MiB; "
        f"at {stored:,} while paging: {max(samples) - baseline:+.1f} MiB over the baseline"
    )


if __name__ == "__main__":
    main()
