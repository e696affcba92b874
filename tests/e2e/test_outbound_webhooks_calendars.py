"""Outbound webhooks end to end for the calendar mechanisms: a Calendar V2 profile (bots Recall
schedules on a linked calendar's events) and a Cronofy profile (bots Cronofy's integration makes),
real gateway and stand-in processes, the app's receiver a real HTTP server on a loopback port.

The app hears the same message types whatever the mechanism, with the mechanism in ``adapter``.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.e2e.calendar_v2 import API_KEY, ENV_KEY, ENV_SECRET, V2Gateway, attendee, google_raw
from tests.e2e.calendar_v2 import WEBHOOK_PROFILE as V2_PROFILE
from tests.e2e.calendar_v2 import gateway_config as v2_config
from tests.e2e.cronofy import BOTS, PROFILE, CronofyGateway, running_on_both_stand_ins
from tests.e2e.cronofy import gateway_config as cronofy_config
from tests.e2e.recall import SandboxProcess, event_body, from_now, instant, zoom
from tests.e2e.receiver import SHORT_RETRIES, Receiver, only, register, verify_all
from tests.e2e.server import ServerProcess, running_gateway, webhook_secret

OWNER = "owner@example.com"


def token_of(app: V2Gateway | CronofyGateway) -> str:
    return str(app.client.headers["Authorization"]).split(" ", 1)[1]


def synced(v2: V2Gateway, calendar_id: str, summary: str) -> bool:
    return any(e["summary"] == summary and e.get("event_id") is None for e in v2.events(calendar_id))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def v2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[V2Gateway]:
    """``running_v2_gateway`` with a ``[webhooks]`` table added to its configuration."""
    workdir = Path(tmp_path_factory.mktemp("outbound-v2"))
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
        workdir, webhook_url=f"{server.url}/v1/webhooks/recall/{V2_PROFILE}", webhook_secret=secret
    )
    with running_gateway(server, sandbox, lambda url: v2_config(url) + SHORT_RETRIES, V2Gateway) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def cron(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CronofyGateway]:
    with running_on_both_stand_ins(
        Path(tmp_path_factory.mktemp("outbound-cronofy")),
        CronofyGateway,
        config_text=lambda url: cronofy_config(url, poll_interval_seconds=60) + SHORT_RETRIES,
        webhook_profile=BOTS,
    ) as gateway:
        yield gateway


def test_calendar_v2_bots_tell_the_app_what_happens(v2: V2Gateway, receiver: Receiver) -> None:
    endpoint = register(v2.server.url, token_of(v2), receiver.url)
    calendar_id = v2.calendar("owner work")
    recall_calendar = v2.recall_calendar(OWNER)
    start = from_now(days=2)
    raw = google_raw("Roadmap", meeting_url=zoom(9_200_000_001), attendees=[attendee(OWNER, self_=True)])
    seeded = v2.seed(recall_calendar, start, raw, ical_uid="roadmap@google.com")
    v2.settle()
    v2.link(calendar_id, V2_PROFILE, {"recall_calendar_id": recall_calendar, "record": "all"})
    v2.eventually(lambda: synced(v2, calendar_id, "Roadmap"), "the synced event")
    event_uid = str(v2.external(calendar_id, "Roadmap")["event_uid"])
    scheduled = only(receiver.wait_for(event_uid, "bot.scheduled"))
    bot_id = v2.by_uid(calendar_id, event_uid)["extensions"][0]["bot_id"]
    assert {k: scheduled.data[k] for k in ("calendar_id", "event_id", "profile_id", "adapter", "bot_id")} == {
        "calendar_id": calendar_id,
        "event_id": None,  # an external event: the app knows it by event_uid
        "profile_id": V2_PROFILE,
        "adapter": "recall-calendar-v2",
        "bot_id": bot_id,
    }
    assert (scheduled.data["meeting_url"], instant(scheduled.data["join_at"])) == (zoom(9_200_000_001), start)

    v2.change(seeded["id"], start_time=(start + timedelta(hours=2)).isoformat().replace("+00:00", "Z"))
    updated = only(receiver.wait_for(event_uid, "bot.updated"))
    assert instant(updated.data["join_at"]) == start + timedelta(hours=2)
    new_bot = updated.data["bot_id"]

    v2.sandbox.force_status(new_bot, "joining_call", hold=True)
    status = only(receiver.wait_for(event_uid, "bot.status"))
    assert (status.data["provider_status"], status.data["adapter"]) == ("joining_call", "recall-calendar-v2")

    v2.upsert(
        calendar_id, {"event_uid": event_uid, "extensions": [{"provider": "recall", "profile_id": "none"}]}
    )
    cancelled = only(receiver.wait_for(event_uid, "bot.cancelled"))
    assert (cancelled.data["status"], cancelled.data["previous_bot_id"]) == ("cancelled", new_bot)

    no_link = google_raw("No link", meeting_url=None, attendees=[attendee(OWNER, self_=True)])
    v2.seed(recall_calendar, start, no_link)
    v2.eventually(lambda: synced(v2, calendar_id, "No link"), "the second event")
    no_link_uid = str(v2.external(calendar_id, "No link")["event_uid"])
    v2.upsert(
        calendar_id,
        {"event_uid": no_link_uid, "extensions": [{"provider": "recall", "profile_id": V2_PROFILE}]},
    )
    failed = only(receiver.wait_for(no_link_uid, "bot.failed"))
    assert failed.data["reason"]["code"] == "no_meeting_url"

    told = sorted(receiver.of(event_uid), key=lambda m: int(m.data["sequence"]))
    assert [m.type for m in told] == ["bot.scheduled", "bot.updated", "bot.status", "bot.cancelled"]
    verify_all(receiver.delivered(), endpoint["secret"])


def test_cronofy_bots_tell_the_app_what_happens(cron: CronofyGateway, receiver: Receiver) -> None:
    endpoint = register(cron.server.url, token_of(cron), receiver.url)
    cronofy_calendar = f"cal_webhooks-{uuid.uuid4().hex[:8]}"
    calendar_id = cron.linked_calendar(cronofy_calendar)
    start = from_now(days=2)
    body = event_body("cron-1", start, join_url=zoom(9_300_000_001), profile_id=PROFILE)
    cron.upsert(calendar_id, body)
    event = cron.wait_for_bot(calendar_id, "cron-1")
    bot_id = event["metadata"]["recall"]["bot_id"]
    scheduled = only(receiver.wait_for(event["event_uid"], "bot.scheduled"))
    assert {k: scheduled.data[k] for k in ("calendar_id", "event_id", "profile_id", "adapter", "bot_id")} == {
        "calendar_id": calendar_id,
        "event_id": "cron-1",
        "profile_id": PROFILE,
        "adapter": "cronofy",
        "bot_id": bot_id,
    }
    assert scheduled.data["meeting_url"] == zoom(9_300_000_001)

    cron.upsert(calendar_id, {**body, "extensions": [{"provider": "recall", "profile_id": "none"}]})
    cancelled = only(receiver.wait_for(event["event_uid"], "bot.cancelled"))
    assert cancelled.data["previous_bot_id"] == bot_id

    errors = {"errors": {"summary": [{"key": "errors.too_long", "description": "summary is too long"}]}}
    # The fault answers the next Cronofy API call, whichever it is: the cancel's push notification and
    # its read-back must be over first, or the read-back takes the 422 and cron-2 is forwarded fine.
    cron.settle()
    cron.cronofy_fault(endpoint="api", status=422, body=errors)
    cron.upsert(calendar_id, event_body("cron-2", start, join_url=zoom(9_300_000_002), profile_id=PROFILE))
    refused_uid = cron.managed(calendar_id, "cron-2")["event_uid"]
    failed = only(receiver.wait_for(refused_uid, "bot.failed"))
    assert "summary is too long" in failed.data["reason"]["message"]
    cron.clear_cronofy_faults()
    verify_all(receiver.delivered(), endpoint["secret"])
