"""A Recall sandbox process serving the Cronofy stand-in too, and a gateway with a ``cronofy`` profile.

``running_cronofy_gateway(workdir)`` starts ``meetbridge sandbox`` with the Cronofy options (the
stand-in under ``/cronofy``, its Recall integration making bots in the same process's Recall
stand-in) and a ``meetbridge serve`` with two profiles on that one sandbox: ``cron`` (adapter
``cronofy``: the gateway forwards events to a linked Cronofy account, Cronofy makes the bot) and
``bots`` (adapter ``recall-bot``: the gateway makes the bot itself), so tests can compare the two.

Tests act as the Cronofy account's owner (admin accounts, revocations, faults, suppressed pushes) and
as the app (links, upserts), and read the Cronofy stand-in's events, call log and push deliveries,
the Recall stand-in's bots, and (to know the worker is idle) the gateway's ``jobs`` table.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import secrets
import sqlite3
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.e2e.calendar_app import CalendarApp
from tests.e2e.recall import API_KEY as RECALL_API_KEY
from tests.e2e.recall import ENV_KEY, ENV_SECRET, SandboxProcess
from tests.e2e.recall import PROFILE as BOTS_PROFILE
from tests.e2e.recall import gateway_config as bots_profile_config
from tests.e2e.server import ServerProcess, running_gateway, wait_until, webhook_secret

Json = dict[str, Any]
G = TypeVar("G", bound="CronofyGateway")

PROFILE = "cron"
BOTS = BOTS_PROFILE  # "bots": recall-bot on the same Recall stand-in
# Cronofy's "Extension Profile ID" of its Recall integration, deliberately unlike ours: the gateway must
# rewrite `cron` to it (the stand-in refuses any other profile with a 422).
UPSTREAM_PROFILE = "int_e2e_upstream_0000000000"
CLIENT_ID = "e2e-cronofy-client"
CLIENT_SECRET = "e2e-cronofy-secret-" + secrets.token_hex(8)
ENV_CLIENT_ID, ENV_CLIENT_SECRET = "TEST_CRONOFY_CLIENT_ID", "TEST_CRONOFY_CLIENT_SECRET"
ENV_SECRET_KEY = "TEST_SECRET_KEY"
PREFIX = "/cronofy"
SIGNATURE_HEADER = "Cronofy-HMAC-SHA256"
PUSH_ATTEMPTS = 3  # the stand-in's first try plus its two retry delays
UNPACED = 6000  # calls/minute: the stand-in has no rate limit to respect


def sign(body: bytes, secret: str = CLIENT_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class CronofyGateway(CalendarApp):
    """The gateway under test, its sandbox process (Recall + Cronofy stand-ins) and an app client."""

    def __init__(self, server: ServerProcess, sandbox: SandboxProcess) -> None:
        super().__init__(server, sandbox)
        self.cronofy_url = f"{sandbox.url}{PREFIX}"
        self.cronofy = httpx.Client(base_url=self.cronofy_url, timeout=10)
        self.webhook_url = f"{server.url}/v1/webhooks/cronofy/{PROFILE}"

    def close(self) -> None:
        super().close()
        self.cronofy.close()

    def _admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.cronofy.request(method, f"/_sandbox{path}", **kwargs)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    # --- the account owner's side (Cronofy) -------------------------------------------------------

    def account(self, calendar_ids: list[str]) -> tuple[str, str, str]:
        """A new connected Cronofy account owning ``calendar_ids`` (unused ones):
        (account_id, access_token, refresh_token)."""
        made: Json = self._admin("POST", "/accounts", json={"calendar_ids": calendar_ids})
        return made["account_id"], made["access_token"], made["refresh_token"]

    def link_body(self, cronofy_calendar_id: str, *, calendar_ids: list[str] | None = None) -> Json:
        """A new account owning ``cronofy_calendar_id`` and the PUT body that links it."""
        _, access, refresh = self.account(calendar_ids or [cronofy_calendar_id])
        return {
            "cronofy_calendar_id": cronofy_calendar_id,
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": 3600,
        }

    def accounts(self) -> list[Json]:
        found: list[Json] = self._admin("GET", "/accounts")
        return found

    def revoke(self, account_id: str, *, access_tokens: bool = True) -> None:
        """The refresh token dies (``invalid_grant``); with ``access_tokens`` the account is revoked
        entirely, so its access tokens answer 401 too."""
        self._admin("POST", f"/accounts/{account_id}/revoke", json={"access_tokens": access_tokens})

    def reauthorize(self, account_id: str) -> tuple[str, str]:
        """The user authorizes the app again (after a revoke): the account is live once more, with
        new (access_token, refresh_token)."""
        made: Json = self._admin("POST", f"/accounts/{account_id}/reauthorize")
        return made["access_token"], made["refresh_token"]

    def refresh(self, refresh_token: str) -> tuple[str, str]:
        """Refresh as another client of the same account would (a logged call): the new
        (access_token, refresh_token); ``refresh_token`` stops working (Cronofy rotates it)."""
        body = {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        }
        response = self.cronofy.post("/oauth/token", json=body)
        assert response.status_code == 200, response.text
        answer: Json = response.json()
        return answer["access_token"], answer["refresh_token"]

    def revoke_token(self, token: str) -> None:
        """``/oauth/token/revoke`` (a logged call): an access token alone dies (401 from then on); a
        refresh token takes its whole account with it."""
        body = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "token": token}
        response = self.cronofy.post("/oauth/token/revoke", json=body)
        assert response.status_code == 200, response.text

    def cronofy_events(self) -> list[Json]:
        """Every event the stand-in holds, with the bot it made and the upstream profile it stored."""
        found: list[Json] = self._admin("GET", "/events")
        return found

    def cronofy_event(self, cronofy_calendar_id: str, event_id: str) -> Json:
        [found] = [
            e
            for e in self.cronofy_events()
            if (e["calendar_id"], e["event_id"]) == (cronofy_calendar_id, event_id)
        ]
        return found

    def cronofy_call_records(self) -> list[Json]:
        found: list[Json] = self._admin("GET", "/calls")
        return found

    def cronofy_calls(self, since: int = 0) -> list[tuple[str, str, int]]:
        """(method, path without the /cronofy mount, status) of each Cronofy call, in order;
        ``since`` skips the first entries (a mark taken with ``len(cronofy_calls())``)."""
        return [
            (c["method"], c["path"].removeprefix(PREFIX), c["status"])
            for c in self.cronofy_call_records()[since:]
        ]

    def clear_cronofy_calls(self) -> None:
        self._admin("DELETE", "/calls")

    def push_deliveries(self) -> list[Json]:
        found: list[Json] = self._admin("GET", "/push/deliveries")
        return found

    def suppress_push(self, count: int) -> None:
        """The next ``count`` push notifications are recorded as suppressed and never sent."""
        self._admin("POST", "/push/suppress", json={"count": count})

    def cronofy_fault(self, **spec: Any) -> Json:
        """e.g. ``cronofy_fault(endpoint="api", status=422, body={...})``; endpoints ``api``, ``oauth``."""
        fault: Json = self._admin("POST", "/faults", json=spec)
        return fault

    def clear_cronofy_faults(self) -> None:
        self._admin("DELETE", "/faults")

    def advance_cronofy_clock(self, seconds: float) -> None:
        """Moves only the Cronofy stand-in's clock: its access tokens expire, the gateway's clock and
        the Recall stand-in's do not move."""
        self._admin("POST", "/clock", json={"advance_seconds": seconds})

    def channels(self, access_token: str) -> list[Json]:
        """The account's push channels, read with its own access token (a logged API call)."""
        response = self.cronofy.get("/v1/channels", headers={"Authorization": f"Bearer {access_token}"})
        assert response.status_code == 200, response.text
        found: list[Json] = response.json()["channels"]
        return found

    def live_bots(self, cronofy_calendar_id: str | None = None) -> list[Json]:
        """Undeleted Recall stand-in bots; with ``cronofy_calendar_id``, only those Cronofy made for it."""
        return [
            bot
            for bot in self.sandbox.bots()
            if not bot["deleted"]
            and (
                cronofy_calendar_id is None
                or bot["metadata"].get("cronofy_calendar_id") == cronofy_calendar_id
            )
        ]

    # --- the app's side ---------------------------------------------------------------------------

    def link(self, calendar_id: str, profile_id: str, body: Json, *, expect: int = 201) -> Json:
        response = self.client.put(f"/v1/calendars/{calendar_id}/links/{profile_id}", json=body)
        assert response.status_code == expect, response.text
        found: Json = response.json()
        return found

    def get_link(self, calendar_id: str, profile_id: str = PROFILE) -> Json:
        response = self.client.get(f"/v1/calendars/{calendar_id}/links/{profile_id}")
        assert response.status_code == 200, response.text
        found: Json = response.json()["link"]
        return found

    def unlink(self, calendar_id: str, profile_id: str = PROFILE, *, expect: int = 200) -> Json:
        response = self.client.delete(f"/v1/calendars/{calendar_id}/links/{profile_id}")
        assert response.status_code == expect, response.text
        found: Json = response.json()
        return found

    def linked_calendar(self, cronofy_calendar_id: str, name: str = "cronofy e2e") -> str:
        """A new meetbridge calendar linked (``cron``) to a new account owning ``cronofy_calendar_id``;
        returns once the link's set-up (channel, verification push) is done."""
        calendar_id = self.calendar(name)
        link = self.link(calendar_id, PROFILE, self.link_body(cronofy_calendar_id))["link"]
        assert (link["status"], link["cronofy_calendar_id"]) == ("connected", cronofy_calendar_id), link
        self.settle()
        return calendar_id

    def delete(self, calendar_id: str, event_id: str) -> None:
        response = self.client.request(
            "DELETE", f"/v1/calendars/{calendar_id}/events", json={"event_id": event_id}
        )
        assert response.status_code == 202, response.text

    def extension(self, calendar_id: str, event_id: str) -> Json:
        extensions: list[Json] = self.managed(calendar_id, event_id)["extensions"]
        assert len(extensions) == 1, extensions
        return extensions[0]

    def push(self, body: bytes, signature: str | None) -> httpx.Response:
        """POST a push notification to the gateway as Cronofy would, signed with ``signature``."""
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if signature is not None:
            headers[SIGNATURE_HEADER] = signature
        return httpx.post(self.webhook_url, content=body, headers=headers, timeout=10)

    # --- waiting ----------------------------------------------------------------------------------

    def pending_jobs(self) -> int:
        """Jobs the worker has to do now: event jobs (due or waiting to retry), and any job that is
        due or leased. A link's next poll waits in ``jobs`` with a future ``run_at``: not counted."""
        now = datetime.now(UTC).replace(tzinfo=None)  # SQLite holds UTC without the offset
        with contextlib.closing(sqlite3.connect(self.database, timeout=10)) as connection:
            rows = connection.execute("SELECT kind, run_at, lease_owner FROM jobs").fetchall()
        return sum(
            1
            for kind, run_at, owner in rows
            if kind == "event" or owner is not None or datetime.fromisoformat(run_at) <= now
        )

    def deliveries_in_flight(self) -> int:
        """Cronofy pushes and Recall webhooks not yet delivered nor given up on."""
        pushes = [d for d in self.push_deliveries() if not d["suppressed"]]
        webhooks = self.sandbox.deliveries()
        return sum(1 for d in pushes + webhooks if not d["delivered"] and d["attempts"] < PUSH_ATTEMPTS)

    def idle(self) -> bool:
        # Jobs, deliveries, jobs again. One look at each sees a gap: the deliveries read empty, then
        # a job forwards the event (the stand-in queues its push at once) and ends before the jobs
        # are read. Here a job that ended before the first look queued its push before the
        # deliveries are read, and a push delivered by then made its job before the last look.
        return self.pending_jobs() == 0 and self.deliveries_in_flight() == 0 and self.pending_jobs() == 0

    def settle(self, timeout: float = 20) -> None:
        """Push notifications (and Recall webhooks) delivered, and no job due or running."""
        wait_until(self.idle, timeout=timeout, what="pushes delivered and the gateway idle", interval=0.05)

    def eventually(self, condition: Callable[[], Any], what: str, timeout: float = 20) -> None:
        wait_until(condition, timeout=timeout, what=what, interval=0.1)

    def bot_id(self, calendar_id: str, event_id: str) -> str | None:
        recall = self.managed(calendar_id, event_id).get("metadata", {}).get("recall")
        bot_id = recall.get("bot_id") if isinstance(recall, dict) else None
        return bot_id if isinstance(bot_id, str) else None

    def wait_for_bot(self, calendar_id: str, event_id: str, timeout: float = 20) -> Json:
        """The event once its ``metadata.recall.bot_id`` is set (read back from Cronofy)."""
        self.eventually(
            lambda: self.bot_id(calendar_id, event_id) is not None,
            f"metadata.recall.bot_id on {event_id}",
            timeout,
        )
        return self.managed(calendar_id, event_id)

    def fresh(self) -> CronofyGateway:
        """For the next test of a module: idle, no faults queued, pushes not suppressed."""
        self.settle()
        self.clear_cronofy_faults()
        self.suppress_push(0)
        return self


def gateway_config(sandbox_url: str, *, poll_interval_seconds: int) -> str:
    cron = textwrap.dedent(
        f"""
        [profiles.{PROFILE}]
        adapter = "cronofy"
        base_url = "{sandbox_url}{PREFIX}"
        client_id = "env:{ENV_CLIENT_ID}"
        client_secret = "env:{ENV_CLIENT_SECRET}"
        upstream_profile_id = "{UPSTREAM_PROFILE}"
        poll_interval_seconds = {poll_interval_seconds}
        rate_limits = {{ api = {UNPACED} }}
        """
    )
    return f'[server]\nsecret_key = "env:{ENV_SECRET_KEY}"\n' + cron + bots_profile_config(sandbox_url)


def cronofy_sandbox_process(
    workdir: Path,
    *,
    webhook_url: str,
    webhook_secret: str,
    token_lifetime: int = 3600,
    bot_id_delay: float = 0.0,
) -> SandboxProcess:
    """``meetbridge sandbox`` (not started) serving the Cronofy stand-in under ``/cronofy`` too."""
    return SandboxProcess(
        workdir,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        extra_args=[
            "--cronofy-client-id",
            CLIENT_ID,
            "--cronofy-client-secret",
            CLIENT_SECRET,
            "--cronofy-recall-profile",
            UPSTREAM_PROFILE,
            "--cronofy-token-lifetime",
            str(token_lifetime),
            "--cronofy-bot-id-delay",
            str(bot_id_delay),
        ],
    )


def running_on_both_stand_ins(
    workdir: Path,
    make: Callable[[ServerProcess, SandboxProcess], G],
    *,
    config_text: Callable[[str], str],
    webhook_profile: str,
    token_lifetime: int = 3600,
    bot_id_delay: float = 0.0,
) -> contextlib.AbstractContextManager[G]:
    """Sandbox and gateway processes, the gateway configured by ``config_text(sandbox url)`` and
    receiving the sandbox's Recall webhooks as ``webhook_profile``; both stopped on exit.

    ``token_lifetime`` is the Cronofy stand-in's access token lifetime in seconds, ``bot_id_delay`` how
    long after making a bot it shows the id on reads.
    """
    recall_secret = webhook_secret()
    env = {
        ENV_KEY: RECALL_API_KEY,
        ENV_SECRET: recall_secret,
        ENV_CLIENT_ID: CLIENT_ID,
        ENV_CLIENT_SECRET: CLIENT_SECRET,
        ENV_SECRET_KEY: secrets.token_urlsafe(32),
    }
    server = ServerProcess(workdir, config=workdir / "meetbridge.toml", env=env)
    server.env["MEETBRIDGE_PUBLIC_URL"] = server.url  # Cronofy links register their push callback there
    sandbox = cronofy_sandbox_process(
        workdir,
        webhook_url=f"{server.url}/v1/webhooks/recall/{webhook_profile}",
        webhook_secret=recall_secret,
        token_lifetime=token_lifetime,
        bot_id_delay=bot_id_delay,
    )
    return running_gateway(server, sandbox, config_text, make)


@contextlib.contextmanager
def running_cronofy_gateway(
    workdir: Path,
    *,
    poll_interval_seconds: int = 60,
    token_lifetime: int = 3600,
    bot_id_delay: float = 0.0,
) -> Iterator[CronofyGateway]:
    """The ``cron`` and ``bots`` profiles on one sandbox; ``poll_interval_seconds`` is cron's poll."""
    with running_on_both_stand_ins(
        workdir,
        CronofyGateway,
        config_text=lambda url: gateway_config(url, poll_interval_seconds=poll_interval_seconds),
        webhook_profile=BOTS,
        token_lifetime=token_lifetime,
        bot_id_delay=bot_id_delay,
    ) as gateway:
        yield gateway
