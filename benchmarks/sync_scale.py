"""Calendar V2 incremental sync of 100 changed events in a small and a large synced calendar.

    python benchmarks/sync_scale.py [--small 1000] [--large 100000] [--changed 100] [--rounds 5] [--quick]

Real processes: one Recall stand-in (``meetbridge sandbox``, no added latency) holding two Recall
calendars of ``--changed`` events each, and two gateways (``meetbridge serve``, SQLite file each),
each with a Calendar V2 profile and one calendar linked to one of them (``record = "none"``, so no
bot is involved). The link's full sync stores the ``--changed`` events; the rest of each calendar
(``--small`` or ``--large`` synced events in all) is written straight into the database with SQL in
bulk, as external events of that link. Each round changes all ``--changed`` events at the stand-in
(a new summary), sends each gateway a signed ``calendar.sync_events`` webhook as Recall would, and
times from that webhook to the link's ``last_synced_at`` moving on, the two gateways one after the
other in alternating order. The figures are medians over ``--rounds``.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from harness import Gateway, Sandbox, machine, seed_events

from meetbridge.providers.recall.webhooks import sign_recall_webhook

PROFILE = "bench-v2"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def v2_profile(sandbox_url: str) -> str:
    return f"""
[server]
secret_key = "env:BENCH_SECRET_KEY"

[profiles.{PROFILE}]
adapter = "recall-calendar-v2"
base_url = "{sandbox_url}"
api_key = "env:BENCH_RECALL_KEY"
webhook_secret = "env:BENCH_WEBHOOK_SECRET"
rate_limits = {{ calendars = 100000, calendar_events_list = 100000, calendar_event_bot = 100000 }}
"""


def wire(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Synced:
    """One gateway with one calendar linked to a Recall calendar in the stand-in."""

    def __init__(self, work: Path, sandbox: Sandbox, *, size: int, changed: int) -> None:
        self.sandbox = sandbox
        secrets_env = {"BENCH_SECRET_KEY": secrets.token_urlsafe(32), "BENCH_WEBHOOK_SECRET": WEBHOOK_SECRET}
        self.gateway = Gateway(work, v2_profile(sandbox.url), extra_env=secrets_env)
        try:
            self._link(size, changed)
        except BaseException:
            self.gateway.close()
            raise

    def _link(self, size: int, changed: int) -> None:
        sandbox = self.sandbox
        recall = httpx.Client(base_url=sandbox.url, headers={"Authorization": "Token bench-recall-key"})
        with recall:
            answer = recall.post(
                "/api/v2/calendars/",
                json={
                    "platform": "google_calendar",
                    "oauth_client_id": "client",
                    "oauth_client_secret": "secret",
                    "oauth_refresh_token": f"refresh-{secrets.token_hex(4)}",
                    "oauth_email": "owner@example.com",
                },
            )
        answer.raise_for_status()
        self.recall_calendar: str = answer.json()["id"]
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
        self.recall_events: list[str] = []
        for number in range(changed):
            body = {
                "start_time": wire(start + timedelta(hours=number)),
                "end_time": wire(start + timedelta(hours=number, minutes=30)),
                "raw": {
                    "summary": f"Meeting {number}",
                    "attendees": [],
                    "location": "https://zoom.us/j/12345",
                },
            }
            seeded = sandbox.admin.post(f"/_sandbox/calendars/{self.recall_calendar}/events", json=body)
            seeded.raise_for_status()
            self.recall_events.append(seeded.json()["id"])
        link_path = f"/v1/calendars/{self.gateway.calendar_id}/links/{PROFILE}"
        self.gateway.client.put(
            link_path, json={"recall_calendar_id": self.recall_calendar, "record": "none"}
        ).raise_for_status()
        deadline = time.monotonic() + 120
        while self.synced_at() is None:
            if time.monotonic() > deadline:
                raise RuntimeError("the full sync did not finish")
            time.sleep(0.05)
        self.link_id = self.gateway.sql.one("SELECT id FROM calendar_links")[0]
        seed_events(self.gateway, size - changed, event_id=None, link_id=self.link_id, source_id="seeded")

    def synced_at(self) -> str | None:
        found = self.gateway.sql.rows("SELECT last_synced_at FROM calendar_links")
        return str(found[0][0]) if found and found[0][0] is not None else None

    def change_all(self, round_number: int) -> None:
        for event_id in self.recall_events:
            body = {
                "raw": {"summary": f"Changed in round {round_number}", "location": "https://zoom.us/j/12345"}
            }
            self.sandbox.admin.patch(f"/_sandbox/calendar-events/{event_id}", json=body).raise_for_status()

    def sync(self) -> float:
        """Seconds from Recall's calendar.sync_events webhook to the link's sync being done."""
        before = self.synced_at()
        body = json.dumps(
            {
                "event": "calendar.sync_events",
                "data": {
                    "calendar_id": self.recall_calendar,
                    "last_updated_ts": wire(datetime.now(UTC) - timedelta(minutes=1)),
                },
            }
        ).encode()
        message_id, stamp = f"msg_{secrets.token_hex(8)}", int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign_recall_webhook(WEBHOOK_SECRET, message_id, stamp, body),
        }
        started = time.perf_counter()
        answer = httpx.post(f"{self.gateway.url}/v1/webhooks/recall/{PROFILE}", content=body, headers=headers)
        answer.raise_for_status()
        while self.synced_at() == before:
            if time.perf_counter() > started + 120:
                raise RuntimeError("the incremental sync did not finish")
            time.sleep(0.002)
        return time.perf_counter() - started

    def changed_rows(self, round_number: int) -> int:
        pattern = f'%Changed in round {round_number}"%'
        return self.gateway.count("SELECT count(*) FROM events WHERE CAST(fields AS TEXT) LIKE ?", pattern)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--changed", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="1k against 10k synced events, 3 rounds")
    options = parser.parse_args()
    if options.quick:
        options.large, options.rounds = 10_000, 3
    print(
        f"V2 incremental sync of {options.changed} changes: {options.small:,} against {options.large:,} "
        f"synced events; {machine()}"
    )
    times: dict[str, list[float]] = {"small": [], "large": []}
    with tempfile.TemporaryDirectory(prefix="meetbridge-bench-") as folder:
        work = Path(folder)
        (work / "small").mkdir()
        (work / "large").mkdir()
        with Sandbox(work) as sandbox:
            sizes = {"small": options.small, "large": options.large}
            calendars = {
                name: Synced(work / name, sandbox, size=size, changed=options.changed)
                for name, size in sizes.items()
            }
            try:
                for round_number in range(options.rounds):
                    order = ["small", "large"] if round_number % 2 == 0 else ["large", "small"]
                    for name in order:
                        calendars[name].change_all(round_number)
                        times[name].append(calendars[name].sync())
                        stored = calendars[name].changed_rows(round_number)
                        if stored != options.changed:
                            raise RuntimeError(
                                f"{name}: {stored} changed events stored, not {options.changed}"
                            )
            finally:
                for synced in calendars.values():
                    synced.gateway.close()
    small, large = statistics.median(times["small"]) * 1e3, statistics.median(times["large"]) * 1e3
    print(f"\n{'synced events':<16}{'sync ms (median)':>18}")
    print(f"{options.small:<16,}{small:>18.0f}\n{options.large:<16,}{large:>18.0f}")
    print(f"\nsync ratio (target <= 1.5): {large / small:.2f}")


if __name__ == "__main__":
    main()
