"""The Cronofy sandbox's Recall integration (seed 000): extensions make, move and cancel Recall bots."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from meetbridge.sandbox import (
    DEFAULT_RECALL_PROFILE,
    BotQuery,
    CronofySandbox,
    RecallSandbox,
    SandboxClock,
    create_cronofy_sandbox_app,
)
from meetbridge.sandbox.cronofy import generated_join_url
from meetbridge.sandbox.recall import AdminBotOut
from tests.sandbox.common import START, later

CAL = "cal_upstream_1"
ZOOM = "https://zoom.us/j/1234567890?pwd=secret"
RECALL = [{"provider": "recall", "profile_id": DEFAULT_RECALL_PROFILE}]
NO_BOT = [{"provider": "recall", "profile_id": "none"}]
MANAGED = {"tzid": "Etc/UTC", "include_managed": "true"}


def event(event_id: str = "e1", **fields: Any) -> dict[str, Any]:
    """The body of seed 000's example, starting four hours from the sandbox's now."""
    return {
        "event_id": event_id,
        "summary": "Recall test",
        "start": later(hours=4),
        "end": later(hours=5),
        "tzid": "Europe/Berlin",
        "conferencing": {"profile_id": "default"},
        "extensions": RECALL,
    } | fields


@pytest.fixture
def clock() -> SandboxClock:
    return SandboxClock(start=START, frozen=True)


@pytest.fixture
async def recall(clock: SandboxClock) -> AsyncIterator[RecallSandbox]:
    sandbox = RecallSandbox(api_keys=["recall-key"], clock=clock)
    yield sandbox
    await sandbox.aclose()


async def serve(sandbox: CronofySandbox) -> tuple[httpx.AsyncClient, dict[str, str]]:
    access, _ = sandbox.add_account(calendar_ids=[CAL])
    transport = httpx.ASGITransport(app=create_cronofy_sandbox_app(sandbox))
    return httpx.AsyncClient(transport=transport, base_url="http://cronofy.test"), {
        "Authorization": f"Bearer {access}"
    }


class Api:
    def __init__(self, http: httpx.AsyncClient, auth: dict[str, str], recall: RecallSandbox) -> None:
        self.http, self.auth, self.recall = http, auth, recall

    async def upsert(self, body: dict[str, Any]) -> None:
        response = await self.http.post(f"/v1/calendars/{CAL}/events", json=body, headers=self.auth)
        assert response.status_code == 202, response.text

    async def delete(self, event_id: str = "e1") -> None:
        response = await self.http.request(
            "DELETE", f"/v1/calendars/{CAL}/events", json={"event_id": event_id}, headers=self.auth
        )
        assert response.status_code == 202

    async def read(self, event_id: str = "e1", **params: str) -> dict[str, Any]:
        response = await self.http.get("/v1/events", params=MANAGED | params, headers=self.auth)
        assert response.status_code == 200
        found: list[dict[str, Any]] = [e for e in response.json()["events"] if e["event_id"] == event_id]
        assert len(found) == 1
        return found[0]

    async def bots(self) -> list[AdminBotOut]:
        return await self.recall.admin_bots(BotQuery())

    async def advance(self, seconds: float) -> None:
        response = await self.http.post("/_sandbox/clock", json={"advance_seconds": seconds})
        assert response.status_code == 200


@pytest.fixture
async def api(clock: SandboxClock, recall: RecallSandbox) -> AsyncIterator[Api]:
    sandbox = CronofySandbox(client_id="cid", client_secret="secret", recall=recall, clock=clock)
    http, auth = await serve(sandbox)
    async with http:
        yield Api(http, auth, recall)
    await sandbox.aclose()


async def test_extension_creates_a_bot_and_reads_carry_its_id(api: Api) -> None:
    await api.upsert(event())
    [bot] = await api.bots()
    read = await api.read()
    join_url = generated_join_url(read["event_uid"])
    assert bot.meeting_url.__struct_config__.tag == "google_meet"
    assert (bot.join_at, bot.bot_name, bot.scheduled, bot.deleted) == (
        START + timedelta(hours=4),
        "Meeting Notetaker",
        True,
        False,
    )
    assert bot.metadata == {
        "cronofy_calendar_id": CAL,
        "cronofy_event_id": "e1",
        "cronofy_event_uid": read["event_uid"],
    }
    assert read["metadata"] == {"recall": {"bot_id": bot.id}}
    assert read["conferencing"] == {"provider_name": "Google Meet", "join_url": join_url}
    assert read["meeting_url"] == join_url
    retrieved = await api.recall.get_bot(bot.id)
    assert retrieved.meeting_url == bot.meeting_url


async def test_link_in_the_description_or_location_is_joined_and_no_link_means_no_bot(api: Api) -> None:
    await api.upsert(event(conferencing=None))
    assert await api.bots() == []
    assert "metadata" not in await api.read()

    await api.upsert(event(conferencing=None, description=f"Join: {ZOOM}."))
    [bot] = await api.bots()
    assert (await api.recall.get_bot(bot.id)).meeting_url.__struct_config__.tag == "zoom"
    assert (await api.read())["metadata"] == {"recall": {"bot_id": bot.id}}

    other = "https://meet.google.com/abc-defg-hij"
    await api.upsert(event("e2", conferencing=None, location={"description": other}))
    bots = await api.bots()
    assert len(bots) == 2
    assert (await api.read("e2"))["meeting_url"] == other


async def test_reschedule_moves_the_bot(api: Api) -> None:
    await api.upsert(event())
    [bot] = await api.bots()
    await api.upsert(event(start=later(hours=6), end=later(hours=7)))
    [moved] = await api.bots()
    assert (moved.id, moved.join_at) == (bot.id, START + timedelta(hours=6))
    assert (await api.read())["metadata"] == {"recall": {"bot_id": bot.id}}

    # An upsert without the extension leaves the bot alone; an identical one changes nothing.
    before = await api.read()
    await api.advance(60)
    await api.upsert(event(start=later(hours=6), end=later(hours=7)))
    assert (await api.read())["updated"] == before["updated"]
    await api.upsert(
        {k: v for k, v in event(start=later(hours=6), end=later(hours=7)).items() if k != "extensions"}
    )
    assert [(b.id, b.deleted) for b in await api.bots()] == [(bot.id, False)]


async def test_reschedule_too_late_to_patch_replaces_the_bot(api: Api) -> None:
    await api.upsert(event())
    [old] = await api.bots()
    # A scheduled bot cannot be moved inside Recall's 10-minute window: delete + create instead.
    await api.upsert(event(start=later(minutes=5), end=later(hours=1)))
    old_after, new = await api.bots()
    assert (old_after.id, old_after.deleted) == (old.id, True)
    assert (new.deleted, new.join_at) == (False, START + timedelta(minutes=5))
    assert (await api.read())["metadata"] == {"recall": {"bot_id": new.id}}


async def test_reschedule_after_dispatch_tells_the_old_bot_to_leave(api: Api) -> None:
    await api.upsert(event(start=later(minutes=30), end=later(hours=1)))
    [old] = await api.bots()
    await api.advance(29 * 60)  # the bot is dispatched a minute ahead of join_at
    await api.upsert(event(start=later(hours=3), end=later(hours=4)))
    old_after, new = await api.bots()
    assert old_after.id == old.id
    assert (old_after.status_changes[-1].code, old_after.status_changes[-1].sub_code) == (
        "call_ended",
        "bot_received_leave_call",
    )
    assert (new.join_at, new.deleted) == (START + timedelta(hours=3), False)
    assert (await api.read())["metadata"] == {"recall": {"bot_id": new.id}}


async def test_profile_none_cancels_and_a_later_extension_makes_a_new_bot(api: Api) -> None:
    await api.upsert(event())
    [bot] = await api.bots()
    await api.upsert(event(extensions=NO_BOT))
    [cancelled] = await api.bots()
    assert (cancelled.id, cancelled.deleted) == (bot.id, True)
    read = await api.read()
    assert "metadata" not in read
    assert read["deleted"] is False
    await api.upsert(event(extensions=NO_BOT, summary="Still no bot"))
    assert len(await api.bots()) == 1

    await api.upsert(event())
    _, fresh = await api.bots()
    assert fresh.id != bot.id
    assert (await api.read())["metadata"] == {"recall": {"bot_id": fresh.id}}


async def test_deleting_the_event_removes_its_bot(api: Api) -> None:
    await api.upsert(event())
    await api.delete()
    [bot] = await api.bots()
    assert bot.deleted is True
    deleted = await api.read(include_deleted="true")
    assert (deleted["deleted"], "metadata" in deleted) == (True, False)
    # Re-created without the extension: no bot comes back with it.
    await api.upsert({k: v for k, v in event().items() if k != "extensions"})
    assert len(await api.bots()) == 1


async def test_bot_id_appears_after_the_configured_delay(clock: SandboxClock, recall: RecallSandbox) -> None:
    sandbox = CronofySandbox(
        client_id="cid", client_secret="secret", recall=recall, clock=clock, bot_id_delay=30
    )
    http, auth = await serve(sandbox)
    async with http:
        api = Api(http, auth, recall)
        await api.upsert(event())
        [bot] = await api.bots()
        assert "metadata" not in await api.read()
        await api.advance(29)
        assert "metadata" not in await api.read()
        await api.advance(1)
        read = await api.read()
        assert read["metadata"] == {"recall": {"bot_id": bot.id}}
        assert read["updated"] == later(seconds=30)  # so `last_modified` polling finds the change
        polled = await api.read(last_modified=later(seconds=30))
        assert polled["metadata"] == {"recall": {"bot_id": bot.id}}

        # A replacement bot: the previous id stays on reads until the new one is revealed.
        await api.upsert(event(start=later(minutes=5), end=later(hours=1)))
        _, new = await api.bots()
        assert (await api.read())["metadata"] == {"recall": {"bot_id": bot.id}}
        clock.advance(30)  # straight on the clock: the read itself notices
        assert (await api.read())["metadata"] == {"recall": {"bot_id": new.id}}
        events = (await http.get("/_sandbox/events")).json()
        assert [(e["bot_id"], e["shown_bot_id"], e["recall_profile_id"]) for e in events] == [
            (new.id, new.id, DEFAULT_RECALL_PROFILE)
        ]
    await sandbox.aclose()


async def test_without_recall_no_profile_is_known(clock: SandboxClock) -> None:
    sandbox = CronofySandbox(client_id="cid", client_secret="secret", clock=clock)
    http, auth = await serve(sandbox)
    async with http:
        refused = await http.post(f"/v1/calendars/{CAL}/events", json=event(), headers=auth)
        assert refused.status_code == 422
        assert refused.json() == {
            "errors": {
                "extensions": [
                    {
                        "key": "errors.invalid",
                        "description": f"unknown recall profile_id {DEFAULT_RECALL_PROFILE!r}",
                    }
                ]
            }
        }
        accepted = await http.post(f"/v1/calendars/{CAL}/events", json=event(extensions=NO_BOT), headers=auth)
        assert accepted.status_code == 202
    await sandbox.aclose()


@pytest.mark.parametrize(
    ("extensions", "description"),
    [
        ([{"provider": "zoom", "profile_id": "x"}], "unknown extension provider 'zoom'"),
        ([*RECALL, *NO_BOT], "at most one recall extension per event"),
        ("recall", "extensions must be a list of objects"),
    ],
)
async def test_malformed_extensions_are_422(api: Api, extensions: Any, description: str) -> None:
    response = await api.http.post(
        f"/v1/calendars/{CAL}/events", json=event(extensions=extensions), headers=api.auth
    )
    assert response.status_code == 422
    assert response.json() == {
        "errors": {"extensions": [{"key": "errors.invalid", "description": description}]}
    }
    assert await api.bots() == []
