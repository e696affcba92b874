"""CPU per upsert inside the process: meetbridge's ASGI app against the bare app, called directly.

    python benchmarks/upsert_cpu.py [--upserts 2000] [--profile]

No HTTP server and no client: each app is called as an ASGI callable with the upsert body, one after
the other, and the process's CPU time per upsert is printed (the ratio of the two is what HTTP
benchmarks cannot separate from uvicorn's and the client's cost). The gateway runs its migrations
and a token on a SQLite file, or with ``MEETBRIDGE_BENCH_POSTGRES`` on a fresh PostgreSQL database
(databases.py); its worker is off (plain upserts make no job). ``--profile`` prints cProfile's top
functions of meetbridge's run by internal time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from databases import Database, engine_name
from harness import FIRST_START, upsert_body

Message = dict[str, Any]


async def call(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> Message:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    received = False
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal received
        if received:
            await asyncio.Event().wait()  # the client never disconnects
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return {"status": sent[0]["status"], "body": b"".join(m.get("body", b"") for m in sent[1:])}


async def cpu_per_upsert(
    app: Any, path: str, headers: list[tuple[bytes, bytes]], count: int, profile: cProfile.Profile | None
) -> float:
    bodies = [
        json.dumps(upsert_body(f"cpu-{n % 100}", FIRST_START, summary=f"Planning #{n}")).encode()
        for n in range(count + 200)
    ]
    for body in bodies[:200]:  # warm-up: caches, prepared statements, the first rows
        await call(app, "POST", path, headers, body)
    started = time.process_time()
    if profile is not None:
        profile.enable()
    for body in bodies[200:]:
        answer = await call(app, "POST", path, headers, body)
        if answer["status"] != 202:
            raise SystemExit(f"upsert answered {answer['status']}: {answer['body'][:200]!r}")
    if profile is not None:
        profile.disable()
    return (time.process_time() - started) / count


async def measure(count: int, token: str, profile: cProfile.Profile | None) -> tuple[float, float]:
    import bare_app  # noqa: PLC0415 - after the environment is set

    from meetbridge.app import create_app  # noqa: PLC0415 - reads the environment's settings

    json_type = [(b"content-type", b"application/json")]
    bare = await cpu_per_upsert(bare_app.app, "/v1/calendars/cal_bench/events", json_type, count, None)
    app = create_app()
    lifespan_in: asyncio.Queue[Message] = asyncio.Queue()
    lifespan_out: asyncio.Queue[Message] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    running = asyncio.create_task(app(scope, lifespan_in.get, lifespan_out.put))
    await lifespan_in.put({"type": "lifespan.startup"})
    if (await lifespan_out.get())["type"] != "lifespan.startup.complete":
        raise SystemExit("meetbridge did not start")
    auth = [(b"authorization", f"Bearer {token}".encode()), *json_type]
    made = await call(app, "POST", "/v1/calendars", auth, b'{"name": "cpu"}')
    calendar_id = json.loads(made["body"])["calendar"]["calendar_id"]
    ours = await cpu_per_upsert(app, f"/v1/calendars/{calendar_id}/events", auth, count, profile)
    await lifespan_in.put({"type": "lifespan.shutdown"})
    await lifespan_out.get()
    await running
    return bare, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upserts", type=int, default=2_000)
    parser.add_argument("--profile", action="store_true")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="meetbridge-bench-") as folder:
        work = Path(folder)
        database = Database(work)
        (work / "meetbridge.toml").write_text("")
        os.environ.update(
            MEETBRIDGE_DATABASE_URL=database.url,
            MEETBRIDGE_CONFIG=str(work / "meetbridge.toml"),
            MEETBRIDGE_LOG_LEVEL="WARNING",
            MEETBRIDGE_WORKER="0",
        )
        try:
            cli = [sys.executable, "-m", "meetbridge"]
            subprocess.run([*cli, "db", "upgrade"], check=True, capture_output=True)
            made = subprocess.run([*cli, "token", "create", "bench"], check=True, capture_output=True)
            token = made.stdout.decode().strip().splitlines()[-1]
            profile = cProfile.Profile() if options.profile else None
            bare, ours = asyncio.run(measure(options.upserts, token, profile))
        finally:
            database.drop()
    print(f"CPU per upsert, {options.upserts:,} upserts each, in process ({engine_name()}):")
    print(f"  bare Litestar  {bare * 1e6:8.0f} µs")
    print(f"  meetbridge     {ours * 1e6:8.0f} µs   ({bare / ours:.2f} of bare)")
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
