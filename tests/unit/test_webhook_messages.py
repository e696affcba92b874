"""What an extension's change tells the app, the [webhooks] table's checks, and the URL guard."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from meetbridge.config.catalogue import load_catalogue
from meetbridge.config.profiles import parse_config
from meetbridge.config.webhooks import DEFAULT_RETRY_SCHEDULE
from meetbridge.domain.webhook_messages import Announced, Told, messages_for, reason_of
from meetbridge.engine.webhooks_out.guard import UnsafeURL, resolve, url_problem
from meetbridge.errors import ConfigError
from meetbridge.settings import default_catalogue_dir

T = datetime(2030, 1, 2, 16, 0, tzinfo=UTC)


def state(status: str | None, bot_id: str | None = None, **more: object) -> Announced:
    return Announced(status=status, bot_id=bot_id, **more)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("before", "now", "told"),
    [
        (None, state("pending"), []),
        (None, state("scheduled", "b1"), [Told("bot.scheduled")]),
        (state("pending", "b1"), state("scheduled", "b1"), [Told("bot.scheduled")]),
        (state("scheduled", "b1"), state("scheduled", "b2"), [Told("bot.updated", "b1")]),
        (
            state("scheduled", "b1", adapter="recall-bot"),
            state("scheduled", "b2", adapter="cronofy"),
            [Told("bot.moved", "b1")],
        ),
        (
            state("scheduled", "b1", join_at=T),
            state("scheduled", "b1", join_at=T.replace(hour=17)),
            [Told("bot.updated")],
        ),
        (state("scheduled", "b1", join_at=T), state("scheduled", "b1", join_at=T), []),
        (state("scheduled", "b1"), state("cancelled"), [Told("bot.cancelled", "b1")]),
        (state("cancelled"), state("cancelled"), []),
        (None, state("cancelled"), []),
        (state("scheduled", "b1"), state("failed", "b1"), [Told("bot.failed")]),
        (state("failed"), state("failed"), []),
        (state("scheduled", "b1"), state("pending", "b1"), []),
    ],
)
def test_the_message_types_a_change_owes(before: Announced | None, now: Announced, told: list[Told]) -> None:
    assert messages_for(before, now) == told


def test_a_report_is_a_status_message_and_fatal_also_a_failure() -> None:
    assert messages_for(state("scheduled", "b1"), state("scheduled", "b1"), report=True) == [
        Told("bot.status")
    ]
    assert messages_for(state("scheduled", "b1"), state("failed", "b1"), report=True) == [
        Told("bot.status"),
        Told("bot.failed"),
    ]


def test_reasons_carry_a_code_and_the_sentence() -> None:
    assert reason_of("no link (reason: no_meeting_url)") == {
        "code": "no_meeting_url",
        "message": "no link (reason: no_meeting_url)",
    }
    assert (
        reason_of("the linked calendar c1 is disconnected at the provider")["code"] == "calendar_disconnected"
    )  # type: ignore[index]
    assert reason_of(None) is None


def parse(document: dict[str, object]) -> object:
    return parse_config(document, load_catalogue(default_catalogue_dir()), {})


def test_the_webhooks_table_defaults_and_short_schedules() -> None:
    assert parse({}).webhooks.retry_schedule_seconds == DEFAULT_RETRY_SCHEDULE  # type: ignore[attr-defined]
    config = parse({"webhooks": {"retry_schedule_seconds": [0.5, 1], "allow_private_urls": True}})
    assert config.webhooks.retry_schedule_seconds == (0.5, 1.0)  # type: ignore[attr-defined]
    assert config.webhooks.allow_private_urls is True  # type: ignore[attr-defined]


def test_every_problem_of_the_webhooks_table_is_its_own_line() -> None:
    with pytest.raises(ConfigError) as raised:
        parse(
            {
                "webhooks": {
                    "retry_schedule_seconds": [5, -1],
                    "allow_private_urls": "yes",
                    "concurrency": 0,
                    "retries": 3,
                }
            }
        )
    problems = raised.value.problems
    assert len(problems) == 4
    assert problems[0].startswith("webhooks: retry_schedule_seconds: each delay must be from 0")
    assert problems[1] == "webhooks: allow_private_urls: must be true or false"
    assert problems[2] == "webhooks: concurrency: must be a whole number from 1 to 1024"
    assert problems[3].startswith("webhooks: retries: unknown key")


@pytest.mark.parametrize(
    ("url", "allow_private", "refused"),
    [
        ("https://93.184.216.34/x", False, False),
        ("http://93.184.216.34/x", False, True),
        ("http://127.0.0.1:8000/x", True, False),
        ("https://169.254.169.254/latest", False, True),
        ("https://[::ffff:10.0.0.1]/", False, True),
        ("ftp://93.184.216.34/", True, True),
        ("https:///nohost", False, True),
    ],
)
def test_url_problems_before_any_lookup(url: str, allow_private: bool, refused: bool) -> None:
    assert (url_problem(url, allow_private=allow_private) is not None) is refused


def test_a_name_resolving_to_loopback_is_refused_unless_allowed() -> None:
    with pytest.raises(UnsafeURL, match="not a public address"):
        asyncio.run(resolve("localhost", 443, allow_private=False))
    assert asyncio.run(resolve("localhost", 443, allow_private=True))
