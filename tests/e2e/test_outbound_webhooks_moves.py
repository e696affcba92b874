"""Outbound webhooks for a switch of mechanism: the operator switches profile ``notes`` from recall-bot
to cronofy (rewriting the file, ``meetbridge reload``); once the calendar is linked for Cronofy the bot
moves, make before break, and the app is told ``bot.moved`` with the new bot, the old one and the new
mechanism. Real processes: the switching e2e harness (tests/e2e/test_switching_e2e.py) with a
``[webhooks]`` table kept in the operator's file across reloads.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cronofy import running_on_both_stand_ins
from tests.e2e.recall import event_body, from_now, zoom
from tests.e2e.receiver import SHORT_RETRIES, Receiver, only, register, verify_all
from tests.e2e.test_switching_e2e import CRONOFY, NOTES, RECALL_BOT, SwitchGateway, notes_profile


class WebhooksSwitchGateway(SwitchGateway):
    def write_adapter(self, adapter: str) -> None:
        self.config.write_text(notes_profile(adapter, self.sandbox.url) + SHORT_RETRIES)


@pytest.fixture
def switching(tmp_path: Path) -> Iterator[WebhooksSwitchGateway]:
    with running_on_both_stand_ins(
        tmp_path,
        WebhooksSwitchGateway,
        config_text=lambda url: notes_profile(RECALL_BOT, url) + SHORT_RETRIES,
        webhook_profile=NOTES,
    ) as gateway:
        yield gateway


def test_a_switch_tells_the_app_its_bot_moved(switching: WebhooksSwitchGateway) -> None:
    receiver = Receiver().start()
    try:
        token = str(switching.client.headers["Authorization"]).split(" ", 1)[1]
        endpoint = register(switching.server.url, token, receiver.url)
        calendar_id = switching.calendar("moving")
        switching.upsert(
            calendar_id,
            event_body("move-1", from_now(hours=3), join_url=zoom(9_400_000_001), profile_id=NOTES),
        )
        event_uid = switching.managed(calendar_id, "move-1")["event_uid"]
        scheduled = only(receiver.wait_for(event_uid, "bot.scheduled"))
        assert scheduled.data["adapter"] == RECALL_BOT

        switching.switch_to(CRONOFY)
        cronofy_calendar_id = f"cal_moves_{uuid.uuid4().hex[:10]}"
        link = switching.link(calendar_id, NOTES, switching.link_body(cronofy_calendar_id))["link"]
        assert link["status"] == "connected", link
        moved = only(receiver.wait_for(event_uid, "bot.moved", timeout=60))
        assert moved.data["adapter"] == CRONOFY
        assert moved.data["previous_bot_id"] == scheduled.data["bot_id"]
        assert moved.data["bot_id"] not in (None, scheduled.data["bot_id"])
        assert moved.data["profile_id"] == NOTES
        switching.eventually(
            lambda: (
                switching.managed(calendar_id, "move-1")["extensions"][0]["bot_id"] == moved.data["bot_id"]
            ),
            "the event to carry the moved bot",
        )
        told = sorted(receiver.of(event_uid), key=lambda m: int(m.data["sequence"]))
        assert [m.type for m in told] == ["bot.scheduled", "bot.moved"]
        verify_all(receiver.delivered(), endpoint["secret"])
    finally:
        receiver.stop()
