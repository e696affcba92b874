"""A Recall sandbox process (Calendar V2 + OAuth stand-ins) and a gateway with three V2 profiles.

``running_v2_gateway(workdir)`` starts ``meetbridge sandbox`` signing webhooks to the gateway's
``/v1/webhooks/recall/v2_all`` (one endpoint per Recall workspace: calendar webhooks reach the links
of every profile on that account) and ``meetbridge serve`` with profiles ``v2_all``, ``v2_domain``
and ``v2_none`` (one per deduplication strategy). Tests act as the user's calendar (seeding and
changing sandbox events) and as the app (links, upserts), and read the sandbox's bots and call log.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import textwrap
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.calendar_app import CalendarApp
from tests.e2e.recall import API_KEY, ENV_KEY, ENV_SECRET, SandboxProcess, wire
from tests.e2e.server import ServerProcess, running_gateway, wait_until, webhook_secret

Json = dict[str, Any]
PROFILES = {"v2_all": "all", "v2_domain": "domain", "v2_none": "none"}
WEBHOOK_PROFILE = "v2_all"
BOT_NAME = "E2E V2 Notetaker"


def google_raw(summary: str, *, meeting_url: str | None, attendees: list[Json] | None = None) -> Json:
    raw: Json = {"summary": summary, "attendees": attendees or []}
    if meeting_url is not None:
        raw["location"] = meeting_url
    return raw


def attendee(email: str, status: str = "accepted", *, self_: bool = False) -> Json:
    found: Json = {"email": email, "responseStatus": status}
    if self_:
        found["self"] = True
    return found


class V2Gateway(CalendarApp):
    def __init__(self, server: ServerProcess, sandbox: SandboxProcess) -> None:
        super().__init__(server, sandbox)
        self.recall = httpx.Client(
            base_url=sandbox.url, headers={"Authorization": f"Token {API_KEY}"}, timeout=30
        )

    def close(self) -> None:
        super().close()
        self.recall.close()

    # --- the app's side --------------------------------------------------------------------------

    def link(self, calendar_id: str, profile_id: str, body: Json, *, expect: int = 201) -> Json:
        response = self.client.put(f"/v1/calendars/{calendar_id}/links/{profile_id}", json=body)
        assert response.status_code == expect, response.text
        found: Json = response.json()
        return found

    def get_link(self, calendar_id: str, profile_id: str) -> Json:
        response = self.client.get(f"/v1/calendars/{calendar_id}/links/{profile_id}")
        assert response.status_code == 200, response.text
        found: Json = response.json()["link"]
        return found

    def external(self, calendar_id: str, summary: str) -> Json:
        [found] = [
            e for e in self.events(calendar_id) if e["summary"] == summary and e.get("event_id") is None
        ]
        return found

    # --- the user's calendar (Recall's side) ------------------------------------------------------

    def recall_calendar(self, email: str = "owner@example.com", platform: str = "google_calendar") -> str:
        """A Recall calendar made directly (as an app that already has one would have)."""
        response = self.recall.post(
            "/api/v2/calendars/",
            json={
                "platform": platform,
                "oauth_client_id": "client",
                "oauth_client_secret": "secret",
                "oauth_refresh_token": f"refresh-{secrets.token_hex(4)}",
                "oauth_email": email,
            },
        )
        assert response.status_code == 201, response.text
        calendar_id: str = response.json()["id"]
        return calendar_id

    def seed(self, recall_calendar_id: str, start: datetime, raw: Json, **extra: Any) -> Json:
        body = {
            "start_time": wire(start),
            "end_time": wire(start + timedelta(minutes=30)),
            "raw": raw,
            **extra,
        }
        response = self.sandbox.admin.post(f"/_sandbox/calendars/{recall_calendar_id}/events", json=body)
        assert response.status_code == 201, response.text
        found: Json = response.json()
        return found

    def change(self, recall_event_id: str, **body: Any) -> Json:
        response = self.sandbox.admin.patch(f"/_sandbox/calendar-events/{recall_event_id}", json=body)
        assert response.status_code == 200, response.text
        found: Json = response.json()
        return found

    def remove(self, recall_event_id: str) -> None:
        response = self.sandbox.admin.delete(f"/_sandbox/calendar-events/{recall_event_id}")
        assert response.status_code == 200, response.text

    def recall_event(self, recall_event_id: str) -> Json:
        response = self.recall.get(f"/api/v2/calendar-events/{recall_event_id}/")
        assert response.status_code == 200, response.text
        found: Json = response.json()
        return found

    def live_bots(self) -> list[Json]:
        return [bot for bot in self.sandbox.bots() if not bot["deleted"]]

    def calendar_calls(self) -> list[tuple[str, str, int]]:
        """(method, endpoint, status) of every Calendar V2 call meetbridge made, in order."""
        return [
            (c["method"], c["endpoint"], c["status"])
            for c in self.sandbox.calls()
            if c["endpoint"].startswith("calendar")
        ]

    # --- waiting ---------------------------------------------------------------------------------

    def pending_jobs(self) -> int:
        with contextlib.closing(sqlite3.connect(self.database, timeout=10)) as connection:
            count: int = connection.execute("SELECT count(*) FROM jobs").fetchone()[0]
        return count

    def settle(self, timeout: float = 30) -> None:
        """The sandbox's webhooks delivered and the gateway's outbox drained."""

        def delivering() -> bool:
            # Each delivery is tried three times (the sandbox's retry delays) before it is given up.
            return any(not d["delivered"] and d["attempts"] < 3 for d in self.sandbox.deliveries())

        def idle() -> bool:
            # Jobs, deliveries, jobs again (see tests/e2e/cronofy.py's idle): one look at each can
            # fall between a job's end and the webhook it caused.
            return self.pending_jobs() == 0 and not delivering() and self.pending_jobs() == 0

        wait_until(idle, timeout=timeout, what="webhooks delivered and the outbox drained", interval=0.1)

    def eventually(self, condition: Any, what: str, timeout: float = 30) -> None:
        wait_until(condition, timeout=timeout, what=what, interval=0.1)


def gateway_config(sandbox_url: str) -> str:
    profiles = "\n".join(
        textwrap.dedent(
            f"""
            [profiles.{profile_id}]
            adapter = "recall-calendar-v2"
            base_url = "{sandbox_url}"
            api_key = "env:{ENV_KEY}"
            webhook_secret = "env:{ENV_SECRET}"
            deduplication = "{strategy}"
            bot_config = {{ bot_name = "{BOT_NAME}" }}
            google_client_id = "env:TEST_GOOGLE_ID"
            google_client_secret = "env:TEST_GOOGLE_SECRET"
            microsoft_client_id = "env:TEST_MS_ID"
            microsoft_client_secret = "env:TEST_MS_SECRET"
            oauth_base_url = "{sandbox_url}/_oauth"
            rate_limits = {{ calendars = 6000, calendar_events_list = 6000, calendar_event_bot = 6000 }}
            """
        )
        for profile_id, strategy in PROFILES.items()
    )
    return '[server]\nsecret_key = "env:TEST_SECRET_KEY"\n' + profiles


def running_v2_gateway(workdir: Path) -> contextlib.AbstractContextManager[V2Gateway]:
    secret = webhook_secret()
    env = {
        ENV_KEY: API_KEY,
        ENV_SECRET: secret,
        "TEST_GOOGLE_ID": "google-client-id",
        "TEST_GOOGLE_SECRET": "google-client-secret",
        "TEST_MS_ID": "ms-client-id",
        "TEST_MS_SECRET": "ms-client-secret",
        "TEST_SECRET_KEY": secrets.token_urlsafe(32),
    }
    server = ServerProcess(workdir, config=workdir / "meetbridge.toml", env=env)
    sandbox = SandboxProcess(
        workdir, webhook_url=f"{server.url}/v1/webhooks/recall/{WEBHOOK_PROFILE}", webhook_secret=secret
    )
    return running_gateway(server, sandbox, gateway_config, V2Gateway)
