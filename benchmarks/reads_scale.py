"""Reads at scale: ``GET /v1/events`` first and last page (100 events) at a small and a large calendar.

    python benchmarks/reads_scale.py [--small 10000] [--large 1000000] [--repeat 10] [--quick]

Two gateways run side by side (``meetbridge serve``, SQLite file each), one holding ``--small`` and
one ``--large`` stored events in one calendar. The events are written straight into the database with
SQL in bulk (copies of one event the API stored, a minute apart), not through the API: a million
upserts would take longer than the benchmark may. Each read is timed on a keep-alive connection, the
two gateways' reads interleaved (small first, large first, small last, large last, ``--repeat``
times) so that the machine's load falls on both alike; the figures are medians. The last page is
reached with the token meetbridge itself would hand out for it (keyset cursor: start and pk).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from pathlib import Path

from harness import FIRST_PAGE, Gateway, last_page_token, machine, seed_events, timed, timed_reads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="1k against 20k events, 5 reads each")
    options = parser.parse_args()
    if options.quick:
        options.small, options.large, options.repeat = 1_000, 20_000, 5
    print(f"reads at scale: {options.small:,} against {options.large:,} stored events; {machine()}")
    with tempfile.TemporaryDirectory(prefix="meetbridge-bench-") as folder:
        work = Path(folder)
        (work / "small").mkdir()
        (work / "large").mkdir()
        with Gateway(work / "small", "") as small, Gateway(work / "large", "") as large:
            for gateway, count in ((small, options.small), (large, options.large)):
                with timed() as seconds:
                    seed_events(gateway, count)
                print(f"  seeded {count:,} events with SQL in {seconds[0]:.1f} s")
            paths = [
                FIRST_PAGE.format(calendar=small.calendar_id),
                f"/v1/events/pages/{last_page_token(small)}",
            ]
            large_paths = [
                FIRST_PAGE.format(calendar=large.calendar_id),
                f"/v1/events/pages/{last_page_token(large)}",
            ]
            times = asyncio.run(interleaved(small, paths, large, large_paths, options.repeat))
    report(options, times)


async def interleaved(
    small: Gateway, paths: list[str], large: Gateway, large_paths: list[str], repeat: int
) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {"small": [], "large": []}
    for _ in range(repeat):
        found["small"].append(await timed_reads(small, paths, 1))
        found["large"].append(await timed_reads(large, large_paths, 1))
    return found


def report(options: argparse.Namespace, times: dict[str, list[float]]) -> None:
    print(f"\n{'page':<8}{f'{options.small:,} ms':>14}{f'{options.large:,} ms':>14}{'ratio':>8}")
    ratios = {}
    for number, name in enumerate(("first", "last")):
        small = statistics.median(t[number] for t in times["small"]) * 1e3
        large = statistics.median(t[number] for t in times["large"]) * 1e3
        ratios[name] = large / small
        print(f"{name:<8}{small:>14.1f}{large:>14.1f}{large / small:>8.2f}")
    print(f"\nread page ratio (target <= 1.5): first {ratios['first']:.2f}, last {ratios['last']:.2f}")


if __name__ == "__main__":
    main()
