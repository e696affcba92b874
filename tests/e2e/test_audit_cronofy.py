"""The drift audit of cronofy end to end: a real gateway forwarding to the Cronofy stand-in (its Recall
integration making the bots), forwarded copies changed behind meetbridge's back through Cronofy's own
API with the linked account's token (the user in their calendar, the app writing to Cronofy directly),
and ``meetbridge audit cron`` run beside the server. Each test has its own gateway and calendars, so
one test's leftovers are never another's findings; the link's slow poll is an hour away, so what
meetbridge knows is only what the pushes that were not suppressed told it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.audit import audit_cli, rows
from tests.e2e.cronofy import PROFILE, UPSTREAM_PROFILE, CronofyGateway, Json, running_cronofy_gateway
from tests.e2e.recall import event_body, from_now, instant, wire, zoom

pytestmark = pytest.mark.e2e

MEETING = zoom(6_100_000_001)


@pytest.fixture
def cron(tmp_path: Path) -> Iterator[CronofyGateway]:
    with running_cronofy_gateway(tmp_path, poll_interval_seconds=3600) as gateway:
        yield gateway


@dataclass
class Copy:
    """One event meetbridge forwarded, and the Cronofy account's owner acting on its copy directly."""

    calendar_id: str
    upstream: str  # the Cronofy calendar
    event_id: str
    start: datetime
    bot_id: str
    owner: httpx.Client

    @property
    def path(self) -> str:
        return f"/v1/calendars/{self.upstream}/events"

    def write(self, **changes: Any) -> None:
        """Upsert the copy as someone else would, with Cronofy's Recall extension unless changed."""
        body = {
            "event_id": self.event_id,
            "summary": "changed upstream",
            "start": wire(self.start),
            "end": wire(self.start + timedelta(minutes=30)),
            "conferencing": {"profile_id": "explicit", "join_url": MEETING},
            "extensions": [{"provider": "recall", "profile_id": UPSTREAM_PROFILE}],
            **changes,
        }
        response = self.owner.post(self.path, json=body)
        assert response.status_code == 202, response.text

    def delete(self) -> None:
        response = self.owner.request("DELETE", self.path, json={"event_id": self.event_id})
        assert response.status_code == 202, response.text


def forwarded(cron: CronofyGateway, owner_clients: list[httpx.Client]) -> Copy:
    """A linked calendar and one event on it, forwarded, its bot made by Cronofy and read back."""
    upstream = f"cal_audit_{uuid.uuid4().hex[:8]}"
    calendar_id = cron.calendar("audited")
    body = cron.link_body(upstream)
    cron.link(calendar_id, PROFILE, body)
    cron.settle()
    event_id, start = f"audit-{uuid.uuid4().hex[:8]}", from_now(days=2)
    cron.upsert(calendar_id, event_body(event_id, start, join_url=MEETING, profile_id=PROFILE))
    event = cron.wait_for_bot(calendar_id, event_id)
    cron.settle()
    [bot] = cron.live_bots(upstream)
    assert event["metadata"]["recall"]["bot_id"] == bot["id"]
    assert cron.extension(calendar_id, event_id)["status"] == "scheduled"
    owner = httpx.Client(
        base_url=cron.cronofy_url, headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=10
    )
    owner_clients.append(owner)
    return Copy(calendar_id, upstream, event_id, start, bot["id"], owner)


@pytest.fixture
def owners() -> Iterator[list[httpx.Client]]:
    clients: list[httpx.Client] = []
    yield clients
    for client in clients:
        client.close()


def writes(cron: CronofyGateway, since: int = 0) -> list[tuple[str, str, int]]:
    return [c for c in cron.cronofy_calls(since) if c[0] != "GET"]


def remade(cron: CronofyGateway, copy: Copy) -> bool:
    """The copy's event is scheduled again, with a bot other than the one it lost."""
    extension = cron.extension(copy.calendar_id, copy.event_id)
    return extension["status"] == "scheduled" and extension["bot_id"] not in (None, copy.bot_id)


def test_a_copy_deleted_upstream_is_reported_then_forwarded_again_with_its_new_bot(
    cron: CronofyGateway, owners: list[httpx.Client]
) -> None:
    copy = forwarded(cron, owners)
    cron.suppress_push(1)  # the push that would tell meetbridge is lost
    copy.delete()
    assert cron.live_bots(copy.upstream) == []
    assert cron.extension(copy.calendar_id, copy.event_id)["bot_id"] == copy.bot_id
    cron.clear_cronofy_calls()
    cron.sandbox.clear_calls()
    before = rows(cron)

    code, out = audit_cli(cron, PROFILE)
    assert code == 1
    assert out.splitlines() == [
        f"missing profile={PROFILE} calendar={copy.calendar_id} event={copy.event_id} bot={copy.bot_id}: "
        "the provider no longer has the bot meetbridge scheduled"
    ]
    # Looking changes nothing: one read of the link's copies, no write anywhere, not a row.
    assert cron.cronofy_calls() == [("GET", "/v1/events", 200)]
    code, out = audit_cli(cron, PROFILE, "--json")
    [report] = json.loads(out)
    assert (code, report["provider_calls"]) == (1, 1)  # confirming the missing bot asked nobody
    assert cron.cronofy_calls() == [("GET", "/v1/events", 200)] * 2
    assert [c for c in cron.sandbox.calls() if c["method"] != "GET"] == []
    assert rows(cron) == before

    code, out = audit_cli(cron, PROFILE, "--repair")
    assert code == 1
    assert f"bot={copy.bot_id} [repaired]" in out
    cron.eventually(lambda: remade(cron, copy), "the event forwarded again and its new bot read back")
    cron.settle()
    [bot] = cron.live_bots(copy.upstream)
    event = cron.managed(copy.calendar_id, copy.event_id)
    assert event["extensions"][0]["bot_id"] == event["metadata"]["recall"]["bot_id"] == bot["id"]
    assert instant(bot["join_at"]) == copy.start
    assert cron.cronofy_event(copy.upstream, copy.event_id)["deleted"] is False
    [entry] = event["audit"]
    assert (entry["kind"], entry["bot_id"], entry["action"]) == ("missing", copy.bot_id, "repaired")
    assert writes(cron) == [("POST", copy.path, 202)]  # the one forward of the event's job

    cron.clear_cronofy_calls()
    assert audit_cli(cron, PROFILE, "--repair") == (0, "")


def test_a_copy_deleted_upstream_with_its_push_heard_is_forwarded_again_without_an_audit(
    cron: CronofyGateway, owners: list[httpx.Client]
) -> None:
    copy = forwarded(cron, owners)
    since = len(cron.cronofy_call_records())
    copy.delete()  # the push is delivered: meetbridge reads the copy back without its bot
    cron.eventually(lambda: remade(cron, copy), "the event forwarded again and its new bot read back")
    cron.settle()
    [bot] = cron.live_bots(copy.upstream)
    event = cron.managed(copy.calendar_id, copy.event_id)
    assert event["extensions"][0]["bot_id"] == event["metadata"]["recall"]["bot_id"] == bot["id"]
    assert cron.cronofy_event(copy.upstream, copy.event_id)["deleted"] is False
    assert writes(cron, since) == [("DELETE", copy.path, 202), ("POST", copy.path, 202)]
    assert "audit" not in event or event["audit"] == []
    assert audit_cli(cron, PROFILE) == (0, "")


def test_a_bot_on_a_copy_whose_event_wants_none_is_cancelled(
    cron: CronofyGateway, owners: list[httpx.Client]
) -> None:
    copy = forwarded(cron, owners)
    none = [{"provider": "recall", "profile_id": "none"}]
    cron.upsert(
        copy.calendar_id, event_body(copy.event_id, copy.start, join_url=MEETING) | {"extensions": none}
    )
    cron.settle()
    assert cron.extension(copy.calendar_id, copy.event_id)["status"] == "cancelled"
    assert cron.live_bots(copy.upstream) == []
    cron.suppress_push(1)
    copy.write()  # someone asks Cronofy for a bot on the copy again
    [orphan] = cron.live_bots(copy.upstream)
    cron.clear_cronofy_calls()

    code, out = audit_cli(cron, PROFILE, "--repair")
    assert code == 1
    [line] = out.splitlines()
    assert line.startswith(
        f"orphan profile={PROFILE} calendar={copy.calendar_id} event={copy.event_id} "
        f"bot={orphan['id']} [repaired]"
    )
    cron.settle()
    # The listing, then the copy written again with the extension "none": Cronofy cancels the bot.
    assert cron.cronofy_calls()[:2] == [("GET", "/v1/events", 200), ("POST", copy.path, 202)]
    assert writes(cron) == [("POST", copy.path, 202)]
    assert cron.live_bots(copy.upstream) == []
    shown = cron.cronofy_event(copy.upstream, copy.event_id)
    assert (shown["deleted"], shown["recall_profile_id"], shown["bot_id"]) == (False, None, None)
    extension = cron.extension(copy.calendar_id, copy.event_id)
    assert (extension["status"], extension["bot_id"]) == ("cancelled", None)
    assert audit_cli(cron, PROFILE) == (0, "")


def test_a_copy_moved_upstream_is_put_back(cron: CronofyGateway, owners: list[httpx.Client]) -> None:
    copy = forwarded(cron, owners)
    later = copy.start + timedelta(hours=3)
    copy.write(start=wire(later), end=wire(later + timedelta(minutes=30)))  # the user drags it
    cron.settle()
    [moved] = cron.live_bots(copy.upstream)
    assert (moved["id"], instant(moved["join_at"])) == (copy.bot_id, later)
    cron.clear_cronofy_calls()

    code, out = audit_cli(cron, PROFILE, "--repair")
    assert code == 1
    [line] = out.splitlines()
    assert line.startswith(
        f"stale profile={PROFILE} calendar={copy.calendar_id} event={copy.event_id} "
        f"bot={copy.bot_id} [repaired]"
    )
    cron.settle()
    assert writes(cron) == [("POST", copy.path, 202)]  # the event forwarded again as it is
    [bot] = cron.live_bots(copy.upstream)
    assert (bot["id"], instant(bot["join_at"])) == (copy.bot_id, copy.start)
    assert instant(cron.cronofy_event(copy.upstream, copy.event_id)["start"]) == copy.start
    extension = cron.extension(copy.calendar_id, copy.event_id)
    assert (extension["status"], extension["bot_id"]) == ("scheduled", copy.bot_id)
    assert audit_cli(cron, PROFILE) == (0, "")


def test_a_bot_on_a_copy_meetbridge_did_not_forward_is_reported_and_left_alone(
    cron: CronofyGateway, owners: list[httpx.Client]
) -> None:
    copy = forwarded(cron, owners)
    # The app asks Cronofy directly for a bot on the same meeting, under an event id of its own.
    theirs = Copy(copy.calendar_id, copy.upstream, "their-own", copy.start, "", copy.owner)
    theirs.write()
    cron.settle()
    [stranger] = [b for b in cron.live_bots(copy.upstream) if b["id"] != copy.bot_id]
    cron.clear_cronofy_calls()

    code, out = audit_cli(cron, PROFILE, "--repair")
    assert code == 1
    [line] = out.splitlines()
    assert line.startswith(
        f"foreign profile={PROFILE} calendar={copy.calendar_id} event={copy.event_id} "
        f"bot={stranger['id']} [reported]"
    )
    assert writes(cron) == []
    assert {b["id"] for b in cron.live_bots(copy.upstream)} == {copy.bot_id, stranger["id"]}


def test_an_audit_with_nothing_to_repair_makes_only_the_listing_call(
    cron: CronofyGateway, owners: list[httpx.Client]
) -> None:
    copy = forwarded(cron, owners)
    other = forwarded(cron, owners)  # a second link: one listing each
    cron.clear_cronofy_calls()
    assert audit_cli(cron, PROFILE, "--repair") == (0, "")
    assert cron.cronofy_calls() == [("GET", "/v1/events", 200)] * 2
    assert {b["id"] for b in cron.live_bots()} >= {copy.bot_id, other.bot_id}
    response = cron.client.get(f"/v1/profiles/{PROFILE}/audit")
    assert response.status_code == 200, response.text
    report: Json = response.json()["audit"]
    assert report["counts"] == {"missing": 0, "orphan": 0, "stale": 0, "foreign": 0}
