"""The five workload benchmarks in one go: 373-439 s at full size on an idle 2-core machine (469 s loaded).

    python benchmarks/all.py [--quick]    (--quick: small sizes, a few minutes)

Runs ``ingest_bots``, ``job_drain``, ``reads_scale``, ``sync_scale`` and ``memory`` one after the
other, each in its own Python process with the same interpreter, and prints each one's report as it
finishes, then the wall time of each. A failing benchmark is reported and the others still run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("ingest_bots", "job_drain", "reads_scale", "sync_scale", "memory")


def main() -> int:
    extra = sys.argv[1:]
    took: dict[str, tuple[float, int]] = {}
    for name in BENCHMARKS:
        print(f"\n=== {name} {' '.join(extra)}", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(HERE / f"{name}.py"), *extra])
        took[name] = (time.monotonic() - started, code)
    print("\n=== wall time")
    for name, (seconds, code) in took.items():
        print(f"{name:<14}{seconds:>7.0f} s{'' if code == 0 else f'  FAILED (exit {code})'}")
    print(f"{'all':<14}{sum(seconds for seconds, _ in took.values()):>7.0f} s")
    return max(code for _, code in took.values())


if __name__ == "__main__":
    sys.exit(main())
