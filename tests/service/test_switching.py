"""Switching a profile's mechanism in-process: recall-bot ⇄ cronofy on the sandboxes, jobs run by hand.

Make before break (the new bot confirmed before the old one goes), the safety window, the plan and
its dry-run calls, the audit trail on the single-event read, and a move interrupted half-way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from meetbridge.config.profiles import GatewayConfig, load_config
from meetbridge.db.jobs import EVENT, enqueue
from meetbridge.db.tables import events, jobs
from meetbridge.engine.reconcile import Reconciler
from meetbridge.engine.switching.plan import Planner, plan_lines
from meetbridge.engine.sync import SyncRunner
from meetbridge.runtime.gateway import Gateway
from meetbridge.sandbox import (
    DEFAULT_RECALL_PROFILE,
    BotQuery,
    CalendarV2Sandbox,
    CronofySandbox,
    FaultIn,
    RecallSandbox,
    create_recall_sandbox_app,
    cronofy_sandbox_router,
)
from meetbridge.sandbox.recall.calendar_v2 import NewCalendar, SeedEventIn
from meetbridge.settings import Settings
from tests.conftest import Api, app_api
from tests.service.conftest import gateway_on

KEY, CRONOFY_ID, CRONOFY_SECRET = "switch-recall-key", "switch-cronofy-id", "switch-cronofy-secret"
SERVER = '[server]\nsecret_key = "env:SWITCH_SECRET_KEY"\npublic_url = "https://meetbridge.example.test"\n'
AS_BOT = """
[profiles.notes]
adapter = "recall-bot"
base_url = "http://sandbox.test"
api_key = "env:SWITCH_RECALL_KEY"
"""
AS_CRONOFY = f"""
[profiles.notes]
adapter = "cronofy"
base_url = "http://sandbox.test/cronofy"
client_id = "env:SWITCH_CRONOFY_ID"
client_secret = "env:SWITCH_CRONOFY_SECRET"
upstream_profile_id = "{DEFAULT_RECALL_PROFILE}"
"""
AS_V2 = """
[profiles.notes]
adapter = "recall-calendar-v2"
base_url = "http://sandbox.test"
api_key = "env:SWITCH_RECALL_KEY"
deduplication = "none"
bot_config = { bot_name = "Switched to V2" }
"""
V2_BOT_NAME = "Switched to V2"
ZOOM = "https://zoom.us/j/{}"


@dataclass
class Switch:
    api: Api
    recall: RecallSandbox
    cronofy: CronofySandbox
    v2: CalendarV2Sandbox
    config_path: Path
    calendar_id: str = ""
    seen: list[str] = field(default_factory=list)  # event ids upserted: each gets its own meeting

    @property
    def gateway(self) -> Gateway:
        return self.api.gateway

    async def switch_to(self, profile_toml: str, server: str = SERVER) -> list[str]:
        self.config_path.write_text(server + profile_toml)
        config: GatewayConfig = load_config(self.config_path, self.gateway.catalogue)
        return await self.gateway.apply_config(config)

    def meeting(self, event_id: str) -> str:
        return ZOOM.format(5_550_000_000 + self.seen.index(event_id))

    async def upsert(self, event_id: str, start: datetime) -> None:
        self.seen.append(event_id)
        body = {
            "event_id": event_id,
            "summary": event_id,
            "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "conferencing": {
                "profile_id": "explicit",
                "join_url": self.meeting(event_id),
            },
            "extensions": [{"provider": "recall", "profile_id": "notes"}],
        }
        response = await self.api.client.post(
            f"/v1/calendars/{self.calendar_id}/events", json=body, headers=self.api.auth
        )
        assert response.status_code == 202, response.text

    async def run_jobs(self) -> None:
        """Run due jobs until none is left, then read bot ids back once more (the push notifications
        that would ask for it have nowhere to go in-process) and run what that re-plans."""
        await self._drain()
        link = await self.gateway.links.find(self.calendar_id, "notes")
        if link is not None and link.credentials:
            await self.gateway.links.request_sync(link, None)
            await self._drain()

    async def _drain(self) -> None:
        """Run due jobs as the worker would: a job that fails stays due (retried), the rest run."""
        reconciler = Reconciler(self.gateway.database, self.gateway.live, self.gateway.registry)
        syncs = SyncRunner(self.gateway.database, self.gateway.live, self.gateway.registry)
        failure: Exception | None = None
        for _ in range(20):
            async with self.gateway.database.read() as connection:
                due = (
                    await connection.execute(
                        sa.select(jobs.c.kind, jobs.c.subject, jobs.c.generation).where(
                            jobs.c.run_at <= datetime.now(UTC)
                        )
                    )
                ).all()
            if not due or failure is not None:
                break
            for kind, subject, generation in due:
                try:
                    await (reconciler.run(subject) if kind == EVENT else syncs.run(subject))
                except Exception as exc:  # reported after the others ran, as the worker does
                    failure = failure or exc
                    continue
                async with self.gateway.database.write() as connection:
                    await connection.execute(
                        jobs.delete().where(
                            jobs.c.kind == kind, jobs.c.subject == subject, jobs.c.generation == generation
                        )
                    )
        if failure is not None:
            raise failure

    async def pk(self, event_id: str) -> int:
        async with self.gateway.database.read() as connection:
            found: int = await connection.scalar(
                sa.select(events.c.pk).where(
                    events.c.calendar_id == self.calendar_id, events.c.event_id == event_id
                )
            )
        return found

    async def event(self, event_id: str) -> dict[str, Any]:
        response = await self.api.client.get(
            f"/v1/calendars/{self.calendar_id}/events/{event_id}", headers=self.api.auth
        )
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()["event"]
        return found

    async def live_bots(self) -> dict[str, str]:
        """bot id → who made it: recall-bot (its bots name their event), Calendar V2 (the profile's
        bot_name) or Cronofy's integration."""
        made = {}
        for bot in await self.recall.admin_bots(BotQuery()):
            if bot.deleted:
                continue
            if "meetbridge_event" in (bot.metadata or {}):
                made[bot.id] = "recall-bot"
            else:
                made[bot.id] = "recall-calendar-v2" if bot.bot_name == V2_BOT_NAME else "cronofy"
        return made

    async def link_v2(self, starts: dict[str, datetime], *, expect: int = 201) -> None:
        """A Recall calendar holding the same meetings (as the user's calendar would), linked."""
        calendar = await self.v2.create_calendar(
            NewCalendar("google_calendar", "client", "secret", "refresh-switch", "owner@example.com")
        )
        for event_id, start in starts.items():
            raw = {"summary": event_id, "location": self.meeting(event_id)}
            await self.v2.seed_event(calendar.id, SeedEventIn(start, start + timedelta(minutes=30), raw=raw))
        response = await self.api.client.put(
            f"/v1/calendars/{self.calendar_id}/links/notes",
            json={"recall_calendar_id": calendar.id},
            headers=self.api.auth,
        )
        assert response.status_code == expect, response.text

    async def link_cronofy(self, *, expect: int = 201) -> None:
        """Link the calendar for Cronofy: 201 a new link, 200 one replacing another mechanism's."""
        access_token, refresh_token = self.cronofy.add_account(calendar_ids=["cal_up"])
        response = await self.api.client.put(
            f"/v1/calendars/{self.calendar_id}/links/notes",
            json={
                "cronofy_calendar_id": "cal_up",
                "access_token": access_token,
                "refresh_token": refresh_token,
            },
            headers=self.api.auth,
        )
        assert response.status_code == expect, response.text


@pytest.fixture
async def switch(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Switch]:
    for name, value in {
        "SWITCH_SECRET_KEY": "switching-secret-key-0123456789abcdef",
        "SWITCH_RECALL_KEY": KEY,
        "SWITCH_CRONOFY_ID": CRONOFY_ID,
        "SWITCH_CRONOFY_SECRET": CRONOFY_SECRET,
    }.items():
        monkeypatch.setenv(name, value)
    config_path = tmp_path / "switch.toml"
    recall = RecallSandbox(api_keys={KEY})
    cronofy = CronofySandbox(
        client_id=CRONOFY_ID, client_secret=CRONOFY_SECRET, recall=recall, clock=recall.clock
    )
    v2 = CalendarV2Sandbox(recall)
    app = create_recall_sandbox_app(
        recall, calendar_v2=v2, extra_routes=[cronofy_sandbox_router(cronofy, path_prefix="/cronofy")]
    )
    gateway = gateway_on(settings, config_path, SERVER + AS_BOT, app)
    await gateway.begin()
    async with app_api(gateway, "switching") as api:
        made = Switch(api, recall, cronofy, v2, config_path)
        made.calendar_id = await made.api.calendar()
        yield made
    await cronofy.aclose()
    await v2.aclose()
    await recall.aclose()


def hours(n: float) -> datetime:
    return (datetime.now(UTC) + timedelta(hours=n)).replace(microsecond=0)


async def test_switching_moves_each_bot_make_before_break_and_keeps_the_one_about_to_start(
    switch: Switch,
) -> None:
    for n in range(4):
        await switch.upsert(f"later-{n}", hours(2 + n))
    await switch.upsert("soon", hours(0.1))  # 6 minutes: inside the 15-minute window
    await switch.run_jobs()
    before = await switch.live_bots()
    assert sorted(before.values()) == ["recall-bot"] * 5

    changed = await switch.switch_to(AS_CRONOFY)
    assert changed == ["notes"]
    await switch.run_jobs()  # no link yet: nothing can move, every bot stays
    assert await switch.live_bots() == before
    plan = await Planner(switch.gateway.database, switch.gateway.registry).plan(
        switch.gateway.config, "notes"
    )
    assert {e.event_id: e.action for e in plan.events} == {
        "soon": "keep",
        **{f"later-{n}": "cannot_move" for n in range(4)},
    }
    waiting = await switch.event("later-0")
    assert "not linked" in (waiting["migrations"][-1]["detail"] or "")
    assert waiting["extensions"][0]["status"] == "scheduled"

    await switch.link_cronofy()
    plan = await Planner(switch.gateway.database, switch.gateway.registry).plan(
        switch.gateway.config, "notes"
    )
    moving = next(e for e in plan.events if e.event_id == "later-0")
    assert moving.action == "move"
    assert moving.calls == [
        "POST http://sandbox.test/cronofy/v1/calendars/cal_up/events "
        f"(event_id later-0, extension {DEFAULT_RECALL_PROFILE})",
        f"DELETE http://sandbox.test/api/v1/bot/{moving.old_bot_id}/",
    ]
    printed = plan_lines(plan, dry_run=True)
    assert printed[0] == "profile notes → cronofy: 4 to move, 1 kept (safety window), 0 cannot move"
    assert f"      DELETE http://sandbox.test/api/v1/bot/{moving.old_bot_id}/" in printed
    assert not any("DELETE" in line for line in plan_lines(plan, dry_run=False))
    await switch.run_jobs()

    after = await switch.live_bots()
    assert sorted(after.values()) == ["cronofy"] * 4 + ["recall-bot"]
    for n in range(4):
        event = await switch.event(f"later-{n}")
        [step] = [s for s in event["migrations"] if s["outcome"] == "moved"]
        assert (step["from_adapter"], step["to_adapter"]) == ("recall-bot", "cronofy")
        assert step["old_bot_id"] in before
        assert step["new_bot_id"] in after
        assert event["metadata"]["recall"]["bot_id"] == step["new_bot_id"]
        assert after[step["new_bot_id"]] == "cronofy"
    soon = await switch.event("soon")
    assert soon["metadata"]["recall"]["bot_id"] in before
    assert soon["migrations"][-1]["outcome"] == "kept"


async def test_switching_back_moves_the_bots_home_and_an_interrupted_move_makes_no_double(
    switch: Switch,
) -> None:
    for n in range(3):
        await switch.upsert(f"weekly-{n}", hours(3 + n))
    await switch.switch_to(AS_CRONOFY)
    await switch.link_cronofy()
    await switch.run_jobs()
    on_cronofy = await switch.live_bots()
    assert sorted(on_cronofy.values()) == ["cronofy"] * 3

    await switch.switch_to(AS_BOT)
    # Cronofy refuses the first cancel: the new recall-bot bot is made, the old one cannot go yet.
    switch.cronofy.faults.add(FaultIn(endpoint="api", status=503, count=1))
    with pytest.raises(Exception, match="503"):
        await switch.run_jobs()
    await switch.run_jobs()  # the retry finds the new bot saved: it makes none again

    bots = await switch.live_bots()
    assert sorted(bots.values()) == ["recall-bot"] * 3
    made = [b for b in await switch.recall.admin_bots(BotQuery()) if "meetbridge_event" in (b.metadata or {})]
    assert len(made) == 3  # one Create Bot per event in all: no doubles, also across the interruption
    for n in range(3):
        event = await switch.event(f"weekly-{n}")
        last = event["migrations"][-1]
        assert (last["outcome"], last["from_adapter"], last["to_adapter"]) == (
            "moved",
            "cronofy",
            "recall-bot",
        )
        assert last["old_bot_id"] in on_cronofy
        assert event["metadata"]["recall"]["bot_id"] == last["new_bot_id"]
        assert last["new_bot_id"] in bots
    forwarded = await switch.cronofy.admin_events()
    assert [e.deleted for e in forwarded] == [True, True, True]  # the copies went with their bots


async def test_switching_back_before_a_move_is_confirmed_withdraws_what_it_made(switch: Switch) -> None:
    for n in range(2):
        await switch.upsert(f"review-{n}", hours(5 + n))
    await switch.run_jobs()
    on_bot = await switch.live_bots()
    switch.cronofy.bot_id_delay = timedelta(days=1)  # Cronofy makes the bots but never reports them

    await switch.switch_to(AS_CRONOFY)
    await switch.link_cronofy()
    await switch.run_jobs()
    assert len(await switch.live_bots()) == 4  # the make half of make before break, unconfirmed
    waiting = await switch.event("review-0")
    assert waiting["migrations"][-1]["outcome"] == "waiting"
    assert waiting["metadata"]["recall"]["bot_id"] in on_bot

    await switch.switch_to(AS_BOT)
    await switch.run_jobs()

    assert await switch.live_bots() == on_bot  # Cronofy's bots withdrawn, the first ones kept
    assert [e.deleted for e in await switch.cronofy.admin_events()] == [True, True]
    for n in range(2):
        event = await switch.event(f"review-{n}")
        assert event["metadata"]["recall"]["bot_id"] in on_bot
        assert "switched back" in event["migrations"][-1]["detail"]


async def test_a_move_unfinished_when_the_meeting_enters_the_window_keeps_only_the_old_bot(
    switch: Switch,
) -> None:
    await switch.upsert("standup", hours(3))
    await switch.run_jobs()
    [old_bot] = await switch.live_bots()
    switch.cronofy.bot_id_delay = timedelta(days=1)  # Cronofy's bot is made but never confirmed
    await switch.switch_to(AS_CRONOFY)
    await switch.link_cronofy()
    await switch.run_jobs()
    assert len(await switch.live_bots()) == 2  # mid-move: made, not confirmed

    # The meeting is now within the window (widened to 4 hours): the move must not finish, and what
    # it made must not join beside the old bot.
    await switch.switch_to(AS_CRONOFY, server=SERVER + "migration_window_seconds = 14400\n")
    async with switch.gateway.database.write() as connection:
        await enqueue(connection, await switch.pk("standup"), datetime.now(UTC))
    await switch.run_jobs()

    assert list(await switch.live_bots()) == [old_bot]
    event = await switch.event("standup")
    assert event["metadata"]["recall"]["bot_id"] == old_bot
    assert event["migrations"][-1]["outcome"] == "kept"


async def test_the_issues_sequence_recall_bot_to_v2_to_cronofy_and_back(switch: Switch) -> None:
    starts = {f"sync-{n}": hours(4 + n) for n in range(3)}
    for event_id, start in starts.items():
        await switch.upsert(event_id, start)
    await switch.run_jobs()
    assert sorted((await switch.live_bots()).values()) == ["recall-bot"] * 3

    async def after_each_switch(adapter: str) -> None:
        bots = await switch.live_bots()
        for event_id in starts:
            event = await switch.event(event_id)
            last = event["migrations"][-1]
            assert (last["outcome"], last["to_adapter"]) == ("moved", adapter), event["migrations"]
            assert event["metadata"]["recall"]["bot_id"] == last["new_bot_id"]
            assert bots[last["new_bot_id"]] == adapter

    await switch.switch_to(AS_V2)
    await switch.link_v2(starts)
    await switch.run_jobs()
    await after_each_switch("recall-calendar-v2")

    await switch.switch_to(AS_CRONOFY)
    await switch.run_jobs()  # not linked for cronofy yet: every event waits, keeping its V2 bot
    assert sorted((await switch.live_bots()).values()) == ["recall-calendar-v2"] * 3
    await switch.link_cronofy(expect=200)  # replaces the calendar's Calendar V2 link, now stale
    await switch.run_jobs()
    await after_each_switch("cronofy")

    await switch.switch_to(AS_BOT)
    await switch.run_jobs()
    await after_each_switch("recall-bot")
    assert [e.deleted for e in await switch.cronofy.admin_events()] == [True] * 3
