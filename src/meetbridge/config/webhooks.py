"""``[webhooks]`` in ``meetbridge.toml``: how outbound webhooks to the apps are delivered.

Checked key by key like the profiles, so every problem is its own line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import msgspec

# Standard Webhooks' / Svix's schedule: after the immediate first attempt, retry after each delay.
DEFAULT_RETRY_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
MAX_RETRIES = 50
MAX_DELAY = 7 * 86_400.0


class WebhooksConfig(msgspec.Struct, frozen=True):
    retry_schedule_seconds: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    # http and loopback/private addresses allowed (local development, tests); never in production.
    allow_private_urls: bool = False
    concurrency: int = 32  # attempts in flight at once, over every endpoint
    per_endpoint_concurrency: int = 4  # ... of which at most this many to one endpoint


def _schedule(value: Any) -> tuple[tuple[float, ...] | None, str | None]:
    if not isinstance(value, list) or isinstance(value, str):
        return None, "must be a list of seconds, e.g. [5, 300, 1800]"
    if len(value) > MAX_RETRIES:
        return None, f"at most {MAX_RETRIES} retries"
    delays: list[float] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            return None, f"{item!r} is not a number of seconds"
        if not 0 <= item <= MAX_DELAY:
            return None, f"each delay must be from 0 to {MAX_DELAY:.0f} seconds (got {item})"
        delays.append(float(item))
    return tuple(delays), None


def _whole(value: Any, low: int, high: int) -> tuple[int | None, str | None]:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return None, f"must be a whole number from {low} to {high}"
    return value, None


def parse_webhooks(table: Any) -> tuple[WebhooksConfig, list[str]]:
    """The ``[webhooks]`` table, and one line per problem (``webhooks: <key>: …``)."""
    if not isinstance(table, Mapping):
        return WebhooksConfig(), ["webhooks: must be a table [webhooks]"]
    clean: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in table.items():
        found: Any
        problem: str | None
        if key == "retry_schedule_seconds":
            found, problem = _schedule(value)
        elif key == "allow_private_urls":
            found, problem = (value, None) if isinstance(value, bool) else (None, "must be true or false")
        elif key == "concurrency":
            found, problem = _whole(value, 1, 1024)
        elif key == "per_endpoint_concurrency":
            found, problem = _whole(value, 1, 64)
        else:
            known = ", ".join(f.name for f in msgspec.structs.fields(WebhooksConfig))
            found, problem = None, f"unknown key (one of {known})"
        if problem:
            problems.append(f"webhooks: {key}: {problem}")
        else:
            clean[key] = found
    return WebhooksConfig(**clean), problems
