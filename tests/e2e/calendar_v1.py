"""Recall Calendar V1 ("preset") end to end: a sandbox playing Recall and a gateway with a V1 profile.

``running_v1_gateway(workdir)`` starts ``meetbridge sandbox`` (its Calendar V1 stand-in plays Recall and
the users' calendars) and ``meetbridge serve`` whose ``[profiles.v1]`` is a recall-calendar-v1 profile
pointing at it; ``v1_gateway_on(sandbox, workdir)`` adds another gateway on a sandbox already running.
Tests act as the user (connecting calendars, seeding meetings through ``/_sandbox/calendar-v1/``) and
as the app (links, upserts), and read the sandbox's users, meetings, bots and call log.

Calendar V1 sends no change webhooks: the gateway reads each linked user's meetings every
``sync_interval_seconds``. A sync job therefore always exists for every link, so "idle" here means no
event job at all and no sync due or running, not an empty jobs table.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.calendar_app import CalendarApp
from tests.e2e.recall import API_KEY, ENV_KEY, ENV_SECRET, SandboxProcess, wire
from tests.e2e.server import ServerProcess, serving, wait_until, webhook_secret

Json = dict[str, Any]
PROFILE = "v1"
GOOGLE_CLIENT_ID = "v1-e2e-google.apps.googleusercontent.com"
MICROSOFT_CLIENT_ID = "v1-e2e-microsoft-client"
SYNC_INTERVAL = 5  # seconds: the smallest the profile accepts
UNPACED = 6000  # per minute: high enough that no test waits on pacing unless it means to

AUTH_PATH = "/api/v1/calendar/authenticate/"
USER_PATH = "/api/v1/calendar/user/"
DISCONNECT_PATH = "/api/v1/calendar/user/disconnect/"
MEETINGS_PATH = "/api/v1/calendar/meetings/"
AUTH, USER, MEETINGS = "calendar_v1_auth", "calendar_v1_user", "calendar_v1_meetings"

_meeting_numbers = itertools.count(5_100_000_001)
_user_numbers = itertools.count(1)


def meeting_path(meeting_id: str) -> str:
    return f"{MEETINGS_PATH}{meeting_id}/"


def zoom_number() -> int:
    """A Zoom meeting number no other meeting of the run uses, so bots are told apart by link."""
    return next(_meeting_numbers)


def new_user_id(label: str) -> str:
    """A Recall calendar user id (the app's own stable id) unique to this run."""
    return f"{label}-{next(_user_numbers)}-{secrets.token_hex(3)}"


def person(email: str, *, organizer: bool = False, status: str = "accepted") -> Json:
    return {
        "email": email,
        "name": email.partition("@")[0].title(),
        "is_organizer": organizer,
        "status": status,
    }


def gateway_config(
    sandbox_url: str, *, sync_interval: int = SYNC_INTERVAL, meetings_per_minute: int = UNPACED
) -> str:
    return textwrap.dedent(
        f"""
        [profiles.{PROFILE}]
        adapter = "recall-calendar-v1"
        base_url = "{sandbox_url}"
        api_key = "env:{ENV_KEY}"
        webhook_secret = "env:{ENV_SECRET}"
        google_client_id = "{GOOGLE_CLIENT_ID}"
        microsoft_client_id = "{MICROSOFT_CLIENT_ID}"
        oauth_base_url = "{sandbox_url}/_oauth"
        sync_interval_seconds = {sync_interval}
        rate_limits = {{ calendar_v1_auth = {UNPACED}, calendar_v1_user = {UNPACED}, calendar_v1_meetings = {meetings_per_minute} }}
        """  # noqa: E501 - one TOML line
    )


def run_cli(server: ServerProcess, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``meetbridge <args>`` in the server's environment, whatever it exits with."""
    return subprocess.run(
        [sys.executable, "-m", "meetbridge", *args],
        env=server.env,
        cwd=server.workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class V1Gateway(CalendarApp):
    """The gateway under test with its V1 profile, an authorised client, and the sandbox behind it."""

    # --- the app's side --------------------------------------------------------------------------

    def link_path(self, calendar_id: str) -> str:
        return f"/v1/calendars/{calendar_id}/links/{PROFILE}"

    def put_link(self, calendar_id: str, body: Json) -> httpx.Response:
        return self.client.put(self.link_path(calendar_id), json=body)

    def link(self, calendar_id: str, body: Json, *, expect: int = 201) -> Json:
        response = self.put_link(calendar_id, body)
        assert response.status_code == expect, response.text
        found: Json = response.json()["link"]
        return found

    def get_link(self, calendar_id: str) -> Json:
        response = self.client.get(self.link_path(calendar_id))
        assert response.status_code == 200, response.text
        found: Json = response.json()["link"]
        return found

    def external(self, calendar_id: str, summary: str) -> Json | None:
        """The external event with this summary, as the single-event read shows it (None: not yet)."""
        found = [e for e in self.events(calendar_id) if e["summary"] == summary and e.get("event_id") is None]
        assert len(found) <= 1, found
        return self.by_uid(calendar_id, found[0]["event_uid"]) if found else None

    def detail(self, calendar_id: str, summary: str) -> Json:
        found = self.external(calendar_id, summary)
        assert found is not None, f"no external event {summary!r} in {calendar_id}"
        return found

    def set_extension(self, calendar_id: str, event_uid: str, profile_id: str | None) -> None:
        """What the app wants for an external event: a profile, "none", or (None) no extension at all."""
        extensions = [] if profile_id is None else [{"provider": "recall", "profile_id": profile_id}]
        self.upsert(calendar_id, {"event_uid": event_uid, "extensions": extensions})

    # --- Recall's side: users, their calendars and meetings ----------------------------------------

    def _admin(self, method: str, path: str, *, expect: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        response = self.sandbox.admin.request(method, f"/_sandbox/calendar-v1{path}", **kwargs)
        assert response.status_code in expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def connect(self, user_id: str, email: str, platform: str = "google") -> Json:
        """As if the user had connected a calendar through OAuth (the user is made if absent)."""
        found: Json = self._admin(
            "POST", f"/users/{user_id}/connections", json={"platform": platform, "email": email}
        )
        return found

    def seed(
        self,
        user_id: str,
        title: str,
        start: datetime,
        *,
        zoom: int | None = None,
        attendees: list[Json] | None = None,
        minutes: int = 30,
        **extra: Any,
    ) -> Json:
        body: Json = {
            "title": title,
            "start_time": wire(start),
            "end_time": wire(start + timedelta(minutes=minutes)),
            "attendees": attendees or [],
            **extra,
        }
        if zoom is not None:
            body["zoom_invite"] = {"meeting_id": str(zoom)}
        found: Json = self._admin("POST", f"/users/{user_id}/meetings", json=body, expect=(201,))
        return found

    def meetings(self, user_id: str) -> list[Json]:
        found: list[Json] = self._admin("GET", f"/users/{user_id}/meetings")
        return found

    def meeting(self, user_id: str, meeting_id: str) -> Json:
        [found] = [m for m in self.meetings(user_id) if m["id"] == meeting_id]
        return found

    def users(self) -> list[Json]:
        found: list[Json] = self._admin("GET", "/users")
        return found

    def users_named(self, user_id: str) -> list[Json]:
        return [u for u in self.users() if u["external_id"] == user_id]

    def configure(self, **config: Any) -> Json:
        found: Json = self._admin("POST", "/config", json=config)
        return found

    def expire_tokens(self) -> int:
        expired: int = self._admin("POST", "/tokens/expire")["expired"]
        return expired

    def bot(self, bot_id: str) -> Json:
        [found] = [b for b in self.sandbox.bots() if b["id"] == bot_id]
        return found

    def calls(self, *endpoints: str) -> list[Json]:
        """Calendar V1 calls meetbridge made, in order (all three endpoints unless some are named)."""
        wanted = endpoints or (AUTH, USER, MEETINGS)
        return [c for c in self.sandbox.calls() if c["endpoint"] in wanted]

    def path_calls(self, path: str, method: str | None = None) -> list[tuple[str, str, int]]:
        """(method, path, status) of the calls to one path: what background syncs never touch."""
        return [
            (c["method"], c["path"], c["status"])
            for c in self.calls()
            if c["path"] == path and (method is None or c["method"] == method)
        ]

    # --- waiting ---------------------------------------------------------------------------------

    def busy(self) -> bool:
        """An event job exists (due or retrying), or a sync is due or running."""
        now = datetime.now(UTC).replace(tzinfo=None)  # SQLite holds UTC without the offset
        with contextlib.closing(sqlite3.connect(self.database, timeout=10)) as connection:
            rows = connection.execute("SELECT kind, run_at, lease_owner FROM jobs").fetchall()
        return any(
            kind != "sync" or owner is not None or datetime.fromisoformat(run_at) <= now
            for kind, run_at, owner in rows
        )

    def settle(self, timeout: float = 20) -> None:
        wait_until(lambda: not self.busy(), timeout=timeout, what="the gateway to be idle", interval=0.05)

    def eventually(self, condition: Callable[[], Any], what: str, timeout: float = 15) -> None:
        wait_until(condition, timeout=timeout, what=what, interval=0.1)

    def fresh(self) -> V1Gateway:
        """For each test: idle, no faults, bots assigned at once, an empty call log."""
        self.settle()
        self.sandbox.clear_faults()
        self.configure(bot_assign_delay_seconds=0)
        self.sandbox.clear_calls()
        return self


def new_server(workdir: Path, secret: str) -> ServerProcess:
    """A (not yet started) gateway process with its own work dir and database."""
    return ServerProcess(
        workdir, config=workdir / "meetbridge.toml", env={ENV_KEY: API_KEY, ENV_SECRET: secret}
    )


@contextlib.contextmanager
def running_sandbox(workdir: Path, *, webhook_url: str, secret: str) -> Iterator[SandboxProcess]:
    """``meetbridge sandbox`` whose "dashboard" OAuth clients are the profile's, so the V1 OAuth
    callbacks exchange the codes the stand-in OAuth servers issued for them (a failed exchange would
    connect a default mailbox instead of the account the user chose)."""
    sandbox = SandboxProcess(workdir, webhook_url=webhook_url, webhook_secret=secret)
    try:
        sandbox.start()
        clients = {
            "google_oauth_client_id": GOOGLE_CLIENT_ID,
            "microsoft_oauth_client_id": MICROSOFT_CLIENT_ID,
        }
        response = sandbox.admin.post("/_sandbox/calendar-v1/config", json=clients)
        assert response.status_code == 200, response.text
        yield sandbox
    finally:
        sandbox.stop()


def v1_gateway_on(
    sandbox: SandboxProcess,
    server: ServerProcess,
    *,
    sync_interval: int = SYNC_INTERVAL,
    meetings_per_minute: int = UNPACED,
) -> contextlib.AbstractContextManager[V1Gateway]:
    """``server`` (see ``new_server``) started with the V1 profile on a running sandbox; stopped on exit."""
    config = gateway_config(sandbox.url, sync_interval=sync_interval, meetings_per_minute=meetings_per_minute)
    return serving(server, config, lambda: V1Gateway(server, sandbox))


@contextlib.contextmanager
def running_v1_gateway(
    workdir: Path, *, sync_interval: int = SYNC_INTERVAL, meetings_per_minute: int = UNPACED
) -> Iterator[V1Gateway]:
    """A sandbox and a gateway for one test module, the sandbox's webhooks signed to the gateway."""
    secret = webhook_secret()
    server = new_server(workdir, secret)
    webhook_url = f"{server.url}/v1/webhooks/recall/{PROFILE}"
    with (
        running_sandbox(workdir, webhook_url=webhook_url, secret=secret) as sandbox,
        v1_gateway_on(
            sandbox, server, sync_interval=sync_interval, meetings_per_minute=meetings_per_minute
        ) as gateway,
    ):
        yield gateway
