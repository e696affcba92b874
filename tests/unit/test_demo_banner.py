"""The `serve --sandbox` banner's curl example books a meeting that is ahead whenever it is run."""

from __future__ import annotations

import json
import shlex
from datetime import date

from meetbridge.serve import demo_banner


def upsert_body(banner: str) -> dict[str, object]:
    line = next(line for line in banner.splitlines() if line.strip().startswith("-H 'Content-Type"))
    body: dict[str, object] = json.loads(shlex.split(line)[-1])
    return body


def test_the_example_meeting_is_tomorrow_afternoon_utc() -> None:
    banner = demo_banner("http://127.0.0.1:8000", "tok", "cal_1", "sandbox-bot", today=date(2031, 2, 28))
    body = upsert_body(banner)
    assert (body["start"], body["end"]) == ("2031-03-01T16:00:00Z", "2031-03-01T17:00:00Z")
    assert body["extensions"] == [{"provider": "recall", "profile_id": "sandbox-bot"}]


def test_without_a_profile_the_example_asks_for_no_bot() -> None:
    body = upsert_body(demo_banner("http://h", "tok", "cal_1", None, today=date(2040, 12, 31)))
    assert (body["start"], "extensions" in body) == ("2041-01-01T16:00:00Z", False)
