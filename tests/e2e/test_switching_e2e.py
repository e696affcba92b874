"""Switching a profile's mechanism end to end: one real ``meetbridge serve`` whose profile ``notes`` is
switched between ``recall-bot``, ``recall-calendar-v2`` and ``cronofy`` by rewriting its file and running
``meetbridge reload``.

One ``meetbridge sandbox`` process serves every stand-in: the Recall one (where recall-bot makes its
bots, with its Calendar V2 calendars, whose webhooks go to ``/v1/webhooks/recall/notes``) and the Cronofy
one (whose Recall integration makes its bots in that same Recall stand-in), so a meeting's bots can be
compared whoever made them. Bots are told apart by their metadata and name: recall-bot's carry
``meetbridge_event``, the Cronofy integration's ``cronofy_calendar_id`` and ``cronofy_event_id``, Calendar
V2's the V2 profile's ``bot_name``. Each test has its own calendar and meeting ids; all but the last
delete their events at the end, so the switches of a later test move only its own bots.

After the SIGKILL of the crash test, the restarted server resumes the moves once the dead process's
job leases (30 s) expire: that test takes about 35 s of the module's minute and a half.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.e2e.cronofy import (
    ENV_CLIENT_ID,
    ENV_CLIENT_SECRET,
    ENV_SECRET_KEY,
    PREFIX,
    UNPACED,
    UPSTREAM_PROFILE,
    CronofyGateway,
    Json,
    running_on_both_stand_ins,
)
from tests.e2e.recall import API_KEY as RECALL_API_KEY
from tests.e2e.recall import ENV_KEY, ENV_SECRET, event_body, from_now, wire, zoom
from tests.e2e.server import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NOTES = "notes"
RECALL_BOT, CRONOFY, V2 = "recall-bot", "cronofy", "recall-calendar-v2"
V2_BOT_NAME = "Switched to V2"  # the V2 profile's bot_config bot_name: how its bots are told apart
POLL_INTERVAL = 2  # seconds: the cronofy profile's poll for missed push notifications
MOVE_DEADLINE = 120.0  # seconds for a whole switch's moves
LEG_DEADLINE = 60.0  # seconds for one leg of the issue's sequence (they take about 5)
NOT_RELOADED = "configuration NOT reloaded; still running the previous one"
RELOADED = "configuration reloaded"
KEPT = "starts within the 15-minute safety window: keeps its bot"


def notes_profile(adapter: str, sandbox_url: str) -> str:
    """The file as the operator writes it: ``[server]`` and one profile, ``notes``, on ``adapter``."""
    server = f'[server]\nsecret_key = "env:{ENV_SECRET_KEY}"\n'
    if adapter == CRONOFY:
        profile = f"""
            [profiles.{NOTES}]
            adapter = "cronofy"
            base_url = "{sandbox_url}{PREFIX}"
            client_id = "env:{ENV_CLIENT_ID}"
            client_secret = "env:{ENV_CLIENT_SECRET}"
            upstream_profile_id = "{UPSTREAM_PROFILE}"
            poll_interval_seconds = {POLL_INTERVAL}
            rate_limits = {{ api = {UNPACED} }}
            """
    elif adapter == V2:
        v2_limits = ", ".join(
            f"{endpoint} = {UNPACED}"
            for endpoint in ("calendars", "calendar_events_list", "calendar_event", "calendar_event_bot")
        )
        profile = f"""
            [profiles.{NOTES}]
            adapter = "recall-calendar-v2"
            base_url = "{sandbox_url}"
            api_key = "env:{ENV_KEY}"
            webhook_secret = "env:{ENV_SECRET}"
            deduplication = "none"
            bot_config = {{ bot_name = "{V2_BOT_NAME}" }}
            rate_limits = {{ {v2_limits} }}
            """
    else:  # recall-bot, or any other adapter name (an invalid one for the refusal test)
        profile = f"""
            [profiles.{NOTES}]
            adapter = "{adapter}"
            base_url = "{sandbox_url}"
            api_key = "env:{ENV_KEY}"
            webhook_secret = "env:{ENV_SECRET}"
            bot_name = "Switching Notetaker"
            rate_limits = {{ create_bot = {UNPACED}, list_bots = {UNPACED}, bot = {UNPACED} }}
            """
    return server + textwrap.dedent(profile)


def meeting_key(bot: Json) -> tuple[str, str]:
    url = bot["meeting_url"]
    return str(url.get("platform")), str(url.get("meeting_id"))


def zoom_key(meeting_id: int) -> tuple[str, str]:
    return "zoom", str(meeting_id)


class SwitchGateway(CronofyGateway):
    """The Cronofy e2e harness plus what switching needs: the server's own file, reloads, the
    ``profiles diff`` command, a SIGKILL and a restart, and reads of many events at once."""

    @property
    def config(self) -> Path:
        assert self.server.config is not None
        return self.server.config

    # --- the operator's side ----------------------------------------------------------------------

    def write_adapter(self, adapter: str) -> None:
        self.config.write_text(notes_profile(adapter, self.sandbox.url))

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``meetbridge ARGS`` as the operator runs it next to the server: same environment (its
        MEETBRIDGE_DATABASE_URL and secrets) and working directory (its pid file)."""
        return subprocess.run(
            [sys.executable, "-m", "meetbridge", *args],
            env=self.server.env,
            cwd=self.server.workdir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def reload(self) -> subprocess.CompletedProcess[str]:
        return self.command("reload", "--config", str(self.config))

    def diff(self) -> list[str]:
        result = self.command("profiles", "diff", NOTES, "--dry-run", "--config", str(self.config))
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout.splitlines()

    def switch_to(self, adapter: str) -> None:
        """Rewrite the file, ``meetbridge reload`` (exit 0), and wait until the server runs it."""
        reloads = len(self.log_lines(RELOADED))
        self.write_adapter(adapter)
        result = self.reload()
        assert result.returncode == 0, result.stdout + result.stderr
        wait_until(
            lambda: self.adapter_of_notes() == adapter and len(self.log_lines(RELOADED)) > reloads,
            timeout=15,
            what=f"the server to run {NOTES} as {adapter}",
        )

    def adapter_of_notes(self) -> str:
        response = self.client.get("/v1/profiles")
        assert response.status_code == 200, response.text
        [profile] = [p for p in response.json()["profiles"] if p["profile_id"] == NOTES]
        adapter: str = profile["adapter"]
        return adapter

    def migration_plan(self) -> Json:
        response = self.client.get(f"/v1/profiles/{NOTES}/migration")
        assert response.status_code == 200, response.text
        plan: Json = response.json()["migration"]
        return plan

    def log_lines(self, text: str) -> list[str]:
        return [line for line in self.server.log().splitlines() if text in line]

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.server.log().splitlines()[-lines:])

    def pid(self) -> int:
        assert self.server.process is not None
        return self.server.process.pid

    # --- the app's side ---------------------------------------------------------------------------

    def upsert_all(self, calendar_id: str, bodies: list[Json]) -> None:
        async def one(client: httpx.AsyncClient, limit: asyncio.Semaphore, body: Json) -> None:
            async with limit:
                response = await client.post(f"/v1/calendars/{calendar_id}/events", json=body)
            assert response.status_code == 202, response.text

        async def run() -> None:
            limit = asyncio.Semaphore(16)
            async with httpx.AsyncClient(
                base_url=self.server.url, headers=self.client.headers, timeout=60
            ) as client:
                await asyncio.gather(*(one(client, limit, body) for body in bodies))

        asyncio.run(run())

    def delete_all(self, calendar_id: str, event_ids: list[str]) -> None:
        async def one(client: httpx.AsyncClient, limit: asyncio.Semaphore, event_id: str) -> None:
            async with limit:
                response = await client.request(
                    "DELETE", f"/v1/calendars/{calendar_id}/events", json={"event_id": event_id}
                )
            assert response.status_code == 202, response.text

        async def run() -> None:
            limit = asyncio.Semaphore(16)
            async with httpx.AsyncClient(
                base_url=self.server.url, headers=self.client.headers, timeout=60
            ) as client:
                await asyncio.gather(*(one(client, limit, event_id) for event_id in event_ids))

        asyncio.run(run())

    def read_all(self, calendar_id: str, event_ids: list[str]) -> dict[str, Json]:
        """The single-event read (with ``migrations``) of each event, 16 requests in flight."""

        async def one(client: httpx.AsyncClient, limit: asyncio.Semaphore, event_id: str) -> Json:
            async with limit:
                response = await client.get(f"/v1/calendars/{calendar_id}/events/{event_id}")
            assert response.status_code == 200, f"GET {event_id}: {response.status_code} {response.text}"
            found: Json = response.json()["event"]
            return found

        async def run() -> list[Json]:
            limit = asyncio.Semaphore(16)
            async with httpx.AsyncClient(
                base_url=self.server.url, headers=self.client.headers, timeout=60
            ) as client:
                return await asyncio.gather(*(one(client, limit, event_id) for event_id in event_ids))

        return dict(zip(event_ids, asyncio.run(run()), strict=True))

    # --- the Recall stand-in's bots ---------------------------------------------------------------

    def bots_by_id(self) -> dict[str, Json]:
        return {bot["id"]: bot for bot in self.sandbox.bots()}

    def live_by_meeting(self, meetings: set[tuple[str, str]]) -> dict[tuple[str, str], list[Json]]:
        """Undeleted bots of these meetings, whoever made them."""
        grouped: dict[tuple[str, str], list[Json]] = defaultdict(list)
        for bot in self.sandbox.bots():
            if not bot["deleted"] and meeting_key(bot) in meetings:
                grouped[meeting_key(bot)].append(bot)
        return grouped

    # --- the database, read only ------------------------------------------------------------------

    def steps_in_database(self, calendar_id: str | None = None) -> list[tuple[str, str, str]]:
        """(event_id, to_adapter, outcome) of every migration step (of one calendar's events)."""
        query = (
            "SELECT e.event_id, s.to_adapter, s.outcome FROM migration_steps s"
            " JOIN events e ON e.pk = s.event_pk"
        )
        params: tuple[str, ...] = ()
        if calendar_id is not None:
            query += " WHERE e.calendar_id = ?"
            params = (calendar_id,)
        with contextlib.closing(sqlite3.connect(self.database, timeout=10)) as connection:
            rows = connection.execute(query + " ORDER BY s.id", params).fetchall()
        return [(str(a), str(b), str(c)) for a, b, c in rows]

    def idle_worker(self) -> bool:
        return self.pending_jobs() == 0

    # --- the user's calendar at Recall (Calendar V2) ----------------------------------------------

    def recall_calendar(self) -> str:
        """A Recall Calendar V2 calendar made with the API key, as an app that has one would have."""
        response = httpx.post(
            f"{self.sandbox.url}/api/v2/calendars/",
            headers={"Authorization": f"Token {RECALL_API_KEY}"},
            json={
                "platform": "google_calendar",
                "oauth_client_id": "client",
                "oauth_client_secret": "secret",
                "oauth_refresh_token": f"refresh-{secrets.token_hex(4)}",
                "oauth_email": "owner@example.com",
            },
            timeout=30,
        )
        assert response.status_code == 201, response.text
        recall_calendar_id: str = response.json()["id"]
        return recall_calendar_id

    def seed_meetings(self, recall_calendar_id: str, meetings: Meetings) -> None:
        """The provider's copy of each event: same meeting link and start, as Recall syncs it."""
        for event_id in meetings.ids:
            start = meetings.start[event_id]
            body = {
                "start_time": wire(start),
                "end_time": wire(start + timedelta(minutes=30)),
                "raw": {"summary": f"e2e {event_id}", "location": zoom(meetings.meeting[event_id])},
            }
            response = self.sandbox.admin.post(f"/_sandbox/calendars/{recall_calendar_id}/events", json=body)
            assert response.status_code == 201, response.text

    def put_link(self, calendar_id: str, body: Json, *, expect: int) -> Json:
        """``PUT …/links/notes``, answered ``expect``: 201 for a new link, 200 for one replacing another."""
        response = self.client.put(f"/v1/calendars/{calendar_id}/links/{NOTES}", json=body)
        assert response.status_code == expect, f"{response.status_code} {response.text}"
        link: Json = response.json()["link"]
        return link


@contextlib.contextmanager
def running_switch_gateway(workdir: Path) -> Iterator[SwitchGateway]:
    """``meetbridge sandbox`` (Recall + Cronofy stand-ins) and ``meetbridge serve`` with ``notes`` as
    recall-bot on it; both stopped on exit."""
    with running_on_both_stand_ins(
        workdir,
        SwitchGateway,
        config_text=lambda url: notes_profile(RECALL_BOT, url),
        webhook_profile=NOTES,
    ) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def switching(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwitchGateway]:
    with running_switch_gateway(tmp_path_factory.mktemp("switching")) as gateway:
        yield gateway


@pytest.fixture
def gateway(switching: SwitchGateway) -> Iterator[SwitchGateway]:
    """Each test starts with ``notes`` as recall-bot, no Cronofy faults queued, the server running."""
    if switching.server.process is None:
        switching.server.start()
    switching.clear_cronofy_faults()
    if switching.adapter_of_notes() != RECALL_BOT:
        switching.switch_to(RECALL_BOT)
    else:
        # The file as the server runs it: a test that failed half-way may have left another.
        switching.write_adapter(RECALL_BOT)
    yield switching
    switching.clear_cronofy_faults()


# --- helpers for the assertions ---------------------------------------------------------------------


class Meetings:
    """One test's events: event id → meeting (zoom id) and start, each meeting its own."""

    def __init__(self, base: int) -> None:
        self.base = base
        self.meeting: dict[str, int] = {}
        self.start: dict[str, datetime] = {}

    def add(self, event_id: str, start: datetime) -> Json:
        self.meeting[event_id] = self.base + len(self.meeting)
        self.start[event_id] = start
        return event_body(event_id, start, join_url=zoom(self.meeting[event_id]), profile_id=NOTES)

    def key(self, event_id: str) -> tuple[str, str]:
        return zoom_key(self.meeting[event_id])

    def all_keys(self) -> set[tuple[str, str]]:
        return {zoom_key(m) for m in self.meeting.values()}

    @property
    def ids(self) -> list[str]:
        return list(self.meeting)


def bot_id_of(event: Json) -> str | None:
    recall = event.get("metadata", {}).get("recall")
    found = recall.get("bot_id") if isinstance(recall, dict) else None
    return found if isinstance(found, str) else None


def last_step(event: Json) -> Json | None:
    steps: list[Json] = event.get("migrations", [])
    return steps[-1] if steps else None


def made_by(bot: Json) -> str:
    """recall-bot's bots name their event, Calendar V2's carry the V2 profile's bot_name, the rest are
    the Cronofy integration's."""
    if "meetbridge_event" in bot["metadata"]:
        return RECALL_BOT
    return V2 if bot.get("bot_name") == V2_BOT_NAME else CRONOFY


def wait_for_bots(gateway: SwitchGateway, calendar_id: str, meetings: Meetings) -> dict[str, str]:
    """Every event has ``metadata.recall.bot_id`` and its meeting exactly that one live recall-bot
    bot; returns event id → bot id."""
    seen: dict[str, str] = {}

    def ready() -> bool:
        events = gateway.read_all(calendar_id, meetings.ids)
        ids = {event_id: bot_id_of(event) for event_id, event in events.items()}
        if None in ids.values():
            return False
        live = gateway.live_by_meeting(meetings.all_keys())
        for event_id, bot_id in ids.items():
            bots = live.get(meetings.key(event_id), [])
            if [(b["id"], made_by(b)) for b in bots] != [(bot_id, RECALL_BOT)]:
                return False
        seen.update({k: v for k, v in ids.items() if v is not None})
        return True

    wait_until(
        ready, timeout=60, what=f"a recall-bot bot on each of {len(meetings.ids)} events", interval=0.25
    )
    return seen


def wait_moved(
    gateway: SwitchGateway, calendar_id: str, event_ids: list[str], to_adapter: str, timeout: float
) -> float:
    """Until the last migration step of every event is ``moved`` to ``to_adapter``, then the worker
    idle; returns the seconds it took."""
    began = time.monotonic()
    stuck: dict[str, Json | None] = {}  # event id → last step, of the events not moved yet

    def moved() -> bool:
        events = gateway.read_all(calendar_id, event_ids)
        stuck.clear()
        for event_id, event in events.items():
            step = last_step(event)
            if step is None or (step["outcome"], step["to_adapter"]) != ("moved", to_adapter):
                stuck[event_id] = step
        return not stuck

    try:
        wait_until(moved, timeout=timeout, what=f"{len(event_ids)} moves to {to_adapter}", interval=0.5)
    except AssertionError as exc:
        last_steps = Counter(
            (s["from_adapter"], s["to_adapter"], s["outcome"], s["detail"]) if s else None
            for s in stuck.values()
        )
        raise AssertionError(
            f"{exc}: {len(event_ids) - len(stuck)} of {len(event_ids)} moved; the others' last steps"
            f" (from, to, outcome, detail): {dict(last_steps)}; not moved: {sorted(stuck)[:10]}; pending"
            f" jobs: {gateway.pending_jobs()}; server log tail:\n{gateway.log_tail()}"
        ) from None
    took = time.monotonic() - began
    wait_until(gateway.idle_worker, timeout=30, what="the worker idle after the moves", interval=0.05)
    return took


def assert_one_bot_per_meeting(gateway: SwitchGateway, meetings: Meetings, when: str) -> None:
    """No double at join time: no two live bots share a meeting URL, and every meeting has one."""
    live = gateway.live_by_meeting(meetings.all_keys())
    doubles = {k: [(b["id"], made_by(b)) for b in bots] for k, bots in live.items() if len(bots) > 1}
    missing = sorted(meetings.all_keys() - set(live))
    assert not doubles, f"{when}: meetings with more than one live bot: {doubles}"
    assert not missing, f"{when}: meetings with no live bot: {missing}"


def assert_moved(
    gateway: SwitchGateway,
    calendar_id: str,
    meetings: Meetings,
    event_ids: list[str],
    *,
    before: dict[str, str],
    from_adapter: str,
    to_adapter: str,
    cronofy_calendar_id: str,
) -> dict[str, str]:
    """Each event's bot moved make before break: its meeting's one live bot is the new mechanism's,
    the event shows it, its ``moved`` step names old and new bot, the old bot is deleted. Returns
    event id → new bot id."""
    events = gateway.read_all(calendar_id, event_ids)
    bots = gateway.bots_by_id()
    live = gateway.live_by_meeting(meetings.all_keys())
    now: dict[str, str] = {}
    for event_id in event_ids:
        event = events[event_id]
        step = last_step(event)
        assert step is not None, (event_id, event)
        expected_step = (NOTES, from_adapter, to_adapter, before[event_id], "moved")
        got_step = (
            step["profile_id"],
            step["from_adapter"],
            step["to_adapter"],
            step["old_bot_id"],
            step["outcome"],
        )
        assert got_step == expected_step, (event_id, step)
        new_bot = step["new_bot_id"]
        assert new_bot, (event_id, step)
        assert new_bot != before[event_id], (event_id, step)
        assert bot_id_of(event) == new_bot, (event_id, event.get("metadata"), step)
        [extension] = event["extensions"]
        assert (extension["status"], extension["bot_id"], extension["last_error"]) == (
            "scheduled",
            new_bot,
            None,
        ), (event_id, extension)
        [bot] = live[meetings.key(event_id)]
        assert bot["id"] == new_bot, (event_id, bot["id"], new_bot)
        assert made_by(bot) == to_adapter, (event_id, bot["metadata"])
        if to_adapter == CRONOFY:
            assert bot["metadata"].get("cronofy_calendar_id") == cronofy_calendar_id, bot["metadata"]
            assert bot["metadata"].get("cronofy_event_id") == event_id, bot["metadata"]
        elif to_adapter == V2:
            assert "cronofy_event_id" not in bot["metadata"], bot["metadata"]
        else:
            assert bot["metadata"]["meetbridge_event"] == event["event_uid"], bot["metadata"]
        old = bots[before[event_id]]
        assert old["deleted"], f"{event_id}: the old {from_adapter} bot {old['id']} is not deleted"
        now[event_id] = new_bot
    return now


ENDED = frozenset({"call_ended", "done", "fatal", "recording_done", "media_expired", "analysis_done"})


def still_coming(bot: Json) -> bool:
    """A bot that will (or still does) sit in the meeting: not deleted, and not told to leave."""
    changes: list[Json] = bot.get("status_changes") or []
    return not bot["deleted"] and not (changes and changes[-1]["code"] in ENDED)


def cleanup(gateway: SwitchGateway, calendar_id: str, meetings: Meetings) -> None:
    """Delete the test's events and wait until no bot is coming to their meetings any more (a bot
    already dispatched is told to leave: it stays undeleted, with ``call_ended``)."""
    gateway.delete_all(calendar_id, meetings.ids)
    coming: list[Json] = []

    def gone() -> bool:
        coming[:] = [b for bots in gateway.live_by_meeting(meetings.all_keys()).values() for b in bots]
        coming[:] = [b for b in coming if still_coming(b)]
        return not coming and gateway.idle_worker()

    try:
        wait_until(gone, timeout=60, what="the test's bots cancelled", interval=0.25)
    except AssertionError as exc:
        shown = [(b["id"], made_by(b), (b.get("status_changes") or [{}])[-1]) for b in coming]
        raise AssertionError(
            f"{exc}: still coming: {shown}; pending jobs: {gateway.pending_jobs()}"
        ) from None


# --- the tests --------------------------------------------------------------------------------------


def test_a_live_switch_moves_every_bot_with_no_gap_or_double(gateway: SwitchGateway) -> None:
    calendar_id = gateway.calendar("switching")
    cronofy_calendar_id = f"cal_switch_{uuid.uuid4().hex[:10]}"
    meetings = Meetings(7_100_000_000)
    bodies = [meetings.add(f"move-{n:03d}", from_now(hours=1 + n)) for n in range(100)]
    bodies += [meetings.add(f"soon-{n}", from_now(minutes=5)) for n in range(3)]
    movable = [e for e in meetings.ids if e.startswith("move-")]
    soon = [e for e in meetings.ids if e.startswith("soon-")]
    gateway.upsert_all(calendar_id, bodies)
    on_bot = wait_for_bots(gateway, calendar_id, meetings)
    assert_one_bot_per_meeting(gateway, meetings, "before switching")
    assert len(set(on_bot.values())) == 103

    # --- recall-bot → cronofy ------------------------------------------------------------------------
    gateway.switch_to(CRONOFY)
    wait_until(gateway.idle_worker, timeout=30, what="the re-planned events handled", interval=0.05)

    # Not linked yet: nothing can move, nothing changed, and the plan says why.
    plan = gateway.migration_plan()
    assert (plan["profile_id"], plan["adapter"]) == (NOTES, CRONOFY)
    planned = {e["event_id"]: e for e in plan["events"] if e["calendar_id"] == calendar_id}
    assert set(planned) == set(meetings.ids)
    not_linked = (
        f"calendar {calendar_id} is not linked for profile {NOTES} under cronofy: "
        f"PUT /v1/calendars/{calendar_id}/links/{NOTES} first"
    )
    for event_id in movable:
        entry = planned[event_id]
        assert (entry["action"], entry["reason"]) == ("cannot_move", not_linked), entry
        assert (entry["from_adapter"], entry["to_adapter"], entry["old_bot_id"]) == (
            RECALL_BOT,
            CRONOFY,
            on_bot[event_id],
        ), entry
        assert entry["calls"] == [], entry
    for event_id in soon:
        entry = planned[event_id]
        assert entry["action"] == "keep", entry
        assert entry["reason"] == KEPT, entry
        assert entry["old_bot_id"] == on_bot[event_id], entry
    assert (plan["move"], plan["keep"], plan["cannot_move"]) == (0, 3, 100), {
        k: plan[k] for k in ("move", "keep", "cannot_move")
    }

    # The operator's command, against the server's database: the same plan, line by line.
    lines = gateway.diff()
    assert lines[0] == f"profile {NOTES} → cronofy: 0 to move, 3 kept (safety window), 100 cannot move", (
        lines[:3]
    )
    body = lines[1:]
    assert len(body) == 103, body
    for event_id in movable:
        expected = (
            f"  cannot_move {calendar_id}/{event_id} at {meetings.start[event_id].isoformat()} "
            f"recall-bot bot {on_bot[event_id]} → cronofy: {not_linked}"
        )
        assert expected in body, (expected, [line for line in body if event_id in line])
    for event_id in soon:
        expected = (
            f"  keep        {calendar_id}/{event_id} at {meetings.start[event_id].isoformat()} "
            f"recall-bot bot {on_bot[event_id]} → cronofy: {KEPT}"
        )
        assert expected in body, (expected, [line for line in body if event_id in line])

    events = gateway.read_all(calendar_id, meetings.ids)
    for event_id, event in events.items():
        assert bot_id_of(event) == on_bot[event_id], (event_id, event.get("metadata"))
        step = last_step(event)
        assert step is not None, (event_id, event)
        if event_id in soon:
            assert step["outcome"] == "kept", (event_id, step)
        else:
            assert step["outcome"] in ("waiting", "failed"), (event_id, step)
            assert "not linked" in (step["detail"] or ""), (event_id, step)
            assert step["new_bot_id"] is None, (event_id, step)
        # The old bot stays and the extension says why (README: "the extension's last_error says why").
        [extension] = event["extensions"]
        assert (extension["status"], extension["bot_id"]) == ("scheduled", on_bot[event_id]), extension
        reason = "safety window" if event_id in soon else "not linked"
        assert reason in (extension["last_error"] or ""), (event_id, extension)
    assert {b["id"] for bots in gateway.live_by_meeting(meetings.all_keys()).values() for b in bots} == set(
        on_bot.values()
    )
    assert [e for e in gateway.cronofy_events() if e["calendar_id"] == cronofy_calendar_id] == []

    # Linking the calendar for the new mechanism lets the waiting events move.
    link = gateway.link(calendar_id, NOTES, gateway.link_body(cronofy_calendar_id))["link"]
    assert (link["status"], link["cronofy_calendar_id"]) == ("connected", cronofy_calendar_id), link
    took = wait_moved(gateway, calendar_id, movable, CRONOFY, MOVE_DEADLINE)
    print(f"\n100 moves recall-bot → cronofy after linking: {took:.1f}s")

    assert_one_bot_per_meeting(gateway, meetings, "after switching to cronofy")
    on_cronofy = assert_moved(
        gateway,
        calendar_id,
        meetings,
        movable,
        before=on_bot,
        from_adapter=RECALL_BOT,
        to_adapter=CRONOFY,
        cronofy_calendar_id=cronofy_calendar_id,
    )
    events = gateway.read_all(calendar_id, soon)
    live = gateway.live_by_meeting(meetings.all_keys())
    for event_id in soon:
        event = events[event_id]
        assert bot_id_of(event) == on_bot[event_id], (event_id, event.get("metadata"))
        step = last_step(event)
        assert step is not None, event_id
        assert step["outcome"] == "kept", (event_id, step)
        assert [(b["id"], made_by(b)) for b in live[meetings.key(event_id)]] == [
            (on_bot[event_id], RECALL_BOT)
        ]
    forwarded = {
        e["event_id"]: e for e in gateway.cronofy_events() if e["calendar_id"] == cronofy_calendar_id
    }
    assert set(forwarded) == set(movable), sorted(set(forwarded) ^ set(movable))
    for event_id in movable:
        copy = forwarded[event_id]
        assert not copy["deleted"], copy
        assert (copy["recall_profile_id"], copy["bot_id"]) == (UPSTREAM_PROFILE, on_cronofy[event_id]), copy

    # --- cronofy → recall-bot ------------------------------------------------------------------------
    gateway.write_adapter(RECALL_BOT)
    lines = gateway.diff()  # the edited file, not loaded yet: all 100 move, with their exact calls
    assert lines[0] == f"profile {NOTES} → recall-bot: 100 to move, 0 kept (safety window), 0 cannot move", (
        lines[:3]
    )
    assert len(lines) == 1 + 100 * 3, lines[:10]
    recall_url, cronofy_url = gateway.sandbox.url, gateway.cronofy_url
    for event_id in movable:
        start = meetings.start[event_id].isoformat()
        head = (
            f"  move        {calendar_id}/{event_id} at {start} "
            f"cronofy bot {on_cronofy[event_id]} → recall-bot"
        )
        assert head in lines, (head, [line for line in lines if event_id in line])
        at = lines.index(head)
        assert lines[at + 1 : at + 3] == [
            f"      POST {recall_url}/api/v1/bot/ (meeting_url, join_at {start})",
            f"      DELETE {cronofy_url}/v1/calendars/{cronofy_calendar_id}/events (event_id {event_id})",
        ], lines[at : at + 3]

    gateway.switch_to(RECALL_BOT)
    took = wait_moved(gateway, calendar_id, movable, RECALL_BOT, MOVE_DEADLINE)
    print(f"100 moves cronofy → recall-bot: {took:.1f}s")

    assert_one_bot_per_meeting(gateway, meetings, "after switching back to recall-bot")
    assert_moved(
        gateway,
        calendar_id,
        meetings,
        movable,
        before=on_cronofy,
        from_adapter=CRONOFY,
        to_adapter=RECALL_BOT,
        cronofy_calendar_id=cronofy_calendar_id,
    )
    forwarded = {
        e["event_id"]: e for e in gateway.cronofy_events() if e["calendar_id"] == cronofy_calendar_id
    }
    assert set(forwarded) == set(movable)
    assert [e for e in movable if not forwarded[e]["deleted"]] == [], "Cronofy copies not deleted"
    events = gateway.read_all(calendar_id, soon)
    live = gateway.live_by_meeting(meetings.all_keys())
    for event_id in soon:
        assert bot_id_of(events[event_id]) == on_bot[event_id], events[event_id].get("metadata")
        assert [b["id"] for b in live[meetings.key(event_id)]] == [on_bot[event_id]]

    cleanup(gateway, calendar_id, meetings)


def test_an_invalid_config_is_refused_without_disturbing_anything(gateway: SwitchGateway) -> None:
    calendar_id = gateway.calendar("refusal")
    meetings = Meetings(7_200_000_000)
    gateway.upsert_all(calendar_id, [meetings.add(f"keep-{n}", from_now(hours=2 + n)) for n in range(10)])
    bots = wait_for_bots(gateway, calendar_id, meetings)
    wait_until(gateway.idle_worker, timeout=30, what="the worker idle", interval=0.05)
    original = gateway.config.read_text()
    live_before = sorted(b["id"] for b in gateway.sandbox.bots() if not b["deleted"])
    made_before = len(gateway.sandbox.bots())
    steps_before = gateway.steps_in_database()
    reloads, refusals = len(gateway.log_lines(RELOADED)), len(gateway.log_lines(NOT_RELOADED))

    gateway.write_adapter("recall-bot-v9")
    result = gateway.reload()

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    *problems, last = result.stderr.splitlines()
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"profile {NOTES}: adapter: 'recall-bot-v9' is not an adapter"), problems
    assert last == "meetbridge: not reloading; the server keeps its previous configuration"

    # The same file sent straight to the server (kill -HUP): it refuses it itself and keeps running.
    os.kill(gateway.pid(), signal.SIGHUP)
    wait_until(
        lambda: len(gateway.log_lines(NOT_RELOADED)) > refusals,
        timeout=10,
        what="the server to refuse the file",
    )
    assert gateway.adapter_of_notes() == RECALL_BOT
    assert len(gateway.log_lines(RELOADED)) == reloads

    # Restored, and reloaded: nothing changed, so nothing is re-planned.
    gateway.config.write_text(original)
    result = gateway.reload()
    assert result.returncode == 0, result.stdout + result.stderr
    wait_until(
        lambda: len(gateway.log_lines(RELOADED)) > reloads, timeout=10, what="the restored file reloaded"
    )
    assert gateway.log_lines(RELOADED)[-1].endswith(f"{RELOADED}: 1 profile (no changes)"), gateway.log_lines(
        RELOADED
    )[-1]
    wait_until(gateway.idle_worker, timeout=30, what="the worker idle", interval=0.05)

    assert sorted(b["id"] for b in gateway.sandbox.bots() if not b["deleted"]) == live_before
    assert len(gateway.sandbox.bots()) == made_before  # no bot made, none deleted
    assert gateway.steps_in_database() == steps_before
    events = gateway.read_all(calendar_id, meetings.ids)
    for event_id, event in events.items():
        assert bot_id_of(event) == bots[event_id], (event_id, event.get("metadata"))
        assert event.get("migrations", []) == [], (event_id, event["migrations"])
        [extension] = event["extensions"]
        assert (extension["status"], extension["last_error"]) == ("scheduled", None), extension

    cleanup(gateway, calendar_id, meetings)


@contextlib.contextmanager
def deleted_on_failure(gateway: SwitchGateway, calendar_id: str, meetings: Meetings) -> Iterator[None]:
    """A test that fails half-way still deletes its events (best effort), so that the module's later
    switches move only their own test's bots."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            gateway.delete_all(calendar_id, meetings.ids)
        raise


def test_the_issues_sequence_with_100_live_events(gateway: SwitchGateway) -> None:
    """recall-bot → recall-calendar-v2 → cronofy → recall-bot, 100 live events. Each switch is loaded
    and its re-planned events handled (waiting for a link the new mechanism needs) before the calendar is
    linked for it; then every event's bot is the new mechanism's, one live bot per meeting, the old ones
    deleted."""
    calendar_id = gateway.calendar("sequence")
    cronofy_calendar_id = f"cal_seq_{uuid.uuid4().hex[:10]}"
    meetings = Meetings(7_400_000_000)
    gateway.upsert_all(calendar_id, [meetings.add(f"seq-{n:03d}", from_now(hours=1 + n)) for n in range(100)])
    with deleted_on_failure(gateway, calendar_id, meetings):
        on_bot = wait_for_bots(gateway, calendar_id, meetings)
        assert_one_bot_per_meeting(gateway, meetings, "before switching")
        assert len(set(on_bot.values())) == 100
        # The user's calendar at Recall holds the same meetings (same link and start).
        recall_calendar_id = gateway.recall_calendar()
        gateway.seed_meetings(recall_calendar_id, meetings)
        timings: dict[str, float] = {}

        def switch_unlinked(adapter: str, before: dict[str, str]) -> float:
            """Load ``adapter``; once the re-planned events are handled, nothing has moved (the calendar
            is not linked for it yet). Returns when the switch began."""
            began = time.monotonic()
            gateway.switch_to(adapter)
            wait_until(gateway.idle_worker, timeout=30, what="the re-planned events handled", interval=0.05)
            plan = gateway.migration_plan()
            planned = {e["event_id"]: e for e in plan["events"] if e["calendar_id"] == calendar_id}
            assert set(planned) == set(meetings.ids)
            reason = (
                f"calendar {calendar_id} is not linked for profile {NOTES} under {adapter}: "
                f"PUT /v1/calendars/{calendar_id}/links/{NOTES} first"
            )
            for entry in planned.values():
                assert (entry["action"], entry["reason"]) == ("cannot_move", reason), entry
            events = gateway.read_all(calendar_id, meetings.ids)
            assert {e: bot_id_of(event) for e, event in events.items()} == before
            live = gateway.live_by_meeting(meetings.all_keys())
            assert {b["id"] for bots in live.values() for b in bots} == set(before.values())
            return began

        def moved_to(adapter: str, before: dict[str, str], from_adapter: str, began: float) -> dict[str, str]:
            wait_moved(gateway, calendar_id, meetings.ids, adapter, LEG_DEADLINE)
            timings[f"{from_adapter} → {adapter}"] = took = time.monotonic() - began
            print(f"\n100 moves {from_adapter} → {adapter} (reload to all moved): {took:.1f}s")
            assert_one_bot_per_meeting(gateway, meetings, f"after switching to {adapter}")
            return assert_moved(
                gateway,
                calendar_id,
                meetings,
                meetings.ids,
                before=before,
                from_adapter=from_adapter,
                to_adapter=adapter,
                cronofy_calendar_id=cronofy_calendar_id,
            )

        # --- recall-bot → recall-calendar-v2 ------------------------------------------------------------
        began = switch_unlinked(V2, on_bot)
        link = gateway.put_link(calendar_id, {"recall_calendar_id": recall_calendar_id}, expect=201)
        assert link["status"] == "connected", link
        on_v2 = moved_to(V2, on_bot, RECALL_BOT, began)
        bots = gateway.bots_by_id()
        for event_id in meetings.ids:
            assert bots[on_v2[event_id]]["bot_name"] == V2_BOT_NAME, bots[on_v2[event_id]]

        # --- recall-calendar-v2 → cronofy: the Cronofy link replaces the Calendar V2 one ----------------
        began = switch_unlinked(CRONOFY, on_v2)
        link = gateway.put_link(calendar_id, gateway.link_body(cronofy_calendar_id), expect=200)
        assert (link["status"], link["cronofy_calendar_id"]) == ("connected", cronofy_calendar_id), link
        on_cronofy = moved_to(CRONOFY, on_v2, V2, began)
        forwarded = {
            e["event_id"]: e for e in gateway.cronofy_events() if e["calendar_id"] == cronofy_calendar_id
        }
        assert set(forwarded) == set(meetings.ids), sorted(set(forwarded) ^ set(meetings.ids))
        assert [e for e in meetings.ids if forwarded[e]["deleted"]] == []

        # --- cronofy → recall-bot (no link needed) ------------------------------------------------------
        began = time.monotonic()
        gateway.switch_to(RECALL_BOT)
        moved_to(RECALL_BOT, on_cronofy, CRONOFY, began)
        forwarded = {
            e["event_id"]: e for e in gateway.cronofy_events() if e["calendar_id"] == cronofy_calendar_id
        }
        assert [e for e in meetings.ids if not forwarded[e]["deleted"]] == [], "Cronofy copies not deleted"
        # Every meeting saw exactly one bot of each mechanism's turn, in all: nothing made twice.
        ever: dict[tuple[str, str], list[str]] = defaultdict(list)
        for bot in gateway.sandbox.bots():
            if meeting_key(bot) in meetings.all_keys():
                ever[meeting_key(bot)].append(made_by(bot))
        expected = sorted([RECALL_BOT, V2, CRONOFY, RECALL_BOT])
        twice = {k: v for k, v in ever.items() if sorted(v) != expected}
        assert not twice, twice

        print(f"the sequence's three legs: {sum(timings.values()):.1f}s")
        cleanup(gateway, calendar_id, meetings)


def test_a_crash_in_the_middle_of_a_migration_resumes_without_doubles(gateway: SwitchGateway) -> None:
    calendar_id = gateway.calendar("crash")
    cronofy_calendar_id = f"cal_crash_{uuid.uuid4().hex[:10]}"
    meetings = Meetings(7_300_000_000)
    gateway.upsert_all(
        calendar_id, [meetings.add(f"crash-{n:02d}", from_now(hours=2 + n)) for n in range(30)]
    )
    on_bot = wait_for_bots(gateway, calendar_id, meetings)

    gateway.switch_to(CRONOFY)
    # Every Cronofy call takes 300 ms, so the 30 moves are still going when the server is killed.
    gateway.cronofy_fault(endpoint="api", latency_ms=300, count=1000)
    link = gateway.link(calendar_id, NOTES, gateway.link_body(cronofy_calendar_id))["link"]
    assert link["status"] == "connected", link

    def moved_in_database() -> int:
        return sum(
            1
            for _, to, outcome in gateway.steps_in_database(calendar_id)
            if (to, outcome) == (CRONOFY, "moved")
        )

    wait_until(lambda: moved_in_database() > 0, timeout=60, what="the first move", interval=0.02)
    gateway.server.kill()
    moved_at_crash = moved_in_database()
    live_at_crash = gateway.live_by_meeting(meetings.all_keys())
    doubles_at_crash = sum(1 for bots in live_at_crash.values() if len(bots) > 1)
    print(
        f"\ncrash: {moved_at_crash}/30 moved, "
        f"{doubles_at_crash} meetings with both bots live (made, not yet broken)"
    )
    assert moved_at_crash < 30, "the crash came after every move had finished: nothing was in progress"

    gateway.clear_cronofy_faults()
    gateway.server.start()
    took = wait_moved(gateway, calendar_id, meetings.ids, CRONOFY, MOVE_DEADLINE)
    print(f"the remaining moves after the restart: {took:.1f}s")

    assert_one_bot_per_meeting(gateway, meetings, "after the crash and restart")
    on_cronofy = assert_moved(
        gateway,
        calendar_id,
        meetings,
        meetings.ids,
        before=on_bot,
        from_adapter=RECALL_BOT,
        to_adapter=CRONOFY,
        cronofy_calendar_id=cronofy_calendar_id,
    )
    # Nothing made twice across the crash: one recall-bot bot and one Cronofy bot per meeting, ever.
    ever: dict[tuple[str, str], list[tuple[str, str, bool]]] = defaultdict(list)
    for bot in gateway.sandbox.bots():
        if meeting_key(bot) in meetings.all_keys():
            ever[meeting_key(bot)].append((made_by(bot), bot["id"], bot["deleted"]))
    for event_id in meetings.ids:
        assert sorted(ever[meetings.key(event_id)]) == sorted(
            [(RECALL_BOT, on_bot[event_id], True), (CRONOFY, on_cronofy[event_id], False)]
        ), (event_id, ever[meetings.key(event_id)])
    forwarded = [e for e in gateway.cronofy_events() if e["calendar_id"] == cronofy_calendar_id]
    assert sorted(e["event_id"] for e in forwarded) == meetings.ids
    assert [e["event_id"] for e in forwarded if e["deleted"]] == []
