"""kill -9 while bots are being created: after a restart every event has exactly one bot.

Creates are slowed down in the sandbox so that some are in flight when the gateway dies. Those are
the only ones the gateway cannot know the outcome of; recovery must ask List Bots about exactly
those (by the nonce each create carried) and nothing else.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from tests.e2e.recall import event_body, from_now, running_bot_gateway, zoom
from tests.e2e.server import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EVENTS = 200
CREATE_LATENCY_MS = 1500


def test_kill_9_mid_creates_then_restart_gives_exactly_one_bot_per_event(tmp_path: Path) -> None:
    with running_bot_gateway(tmp_path) as gateway:
        sandbox = gateway.sandbox
        sandbox.add_fault(endpoint="create_bot", latency_ms=CREATE_LATENCY_MS, count=EVENTS)
        first = from_now(days=5)
        ids = [f"crash-{i:03d}" for i in range(EVENTS)]
        gateway.upsert_all(
            [
                event_body(event_id, first + timedelta(minutes=i), join_url=zoom(4_000_000_000 + i))
                for i, event_id in enumerate(ids)
            ]
        )
        wait_until(
            lambda: len(sandbox.calls()) >= 16 and len(gateway.interrupted_creates()) >= 8,
            timeout=30,
            what="some creates done and at least 8 more under way",
        )

        gateway.server.kill()
        interrupted = gateway.interrupted_creates()
        assert interrupted, "no create was in flight at the kill; the test proves nothing"
        assert len(sandbox.calls()) < EVENTS
        sandbox.clear_faults()
        gateway.server.start()

        # Jobs the dead process had claimed wait for their 30 s lease to expire.
        gateway.settle(timeout=75)

        live = sandbox.live_bots_by_event()
        for event_id in ids:
            event = gateway.event(event_id)
            extension = event["extensions"][0]
            assert extension["status"] == "scheduled", (event_id, extension)
            (bot,) = live.pop(event["event_uid"])
            assert extension["bot_id"] == event["metadata"]["recall"]["bot_id"] == bot["id"]
        assert live == {}  # no bot belongs to anything else
        assert len(sandbox.bots()) == EVENTS  # none was made twice and then deleted

        lists = [c for c in sandbox.calls() if c["endpoint"] == "list_bots"]
        asked = [parse_qs(c["query"])["metadata__meetbridge_create"] for c in lists]
        assert sorted(nonce for (nonce,) in asked) == sorted(interrupted)
        # An interrupted create either completed at Recall (and was adopted) or never did (and was
        # made again): one successful create per event either way.
        creates = [c for c in sandbox.calls() if c["endpoint"] == "create_bot" and c["status"] == 201]
        assert len(creates) == EVENTS
