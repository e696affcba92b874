"""Opt-in rate limits, enforced like Recall enforces its own: per workspace (the caller's credential)
and endpoint, N calls per window (reference §1.3: Create Bot 120/min, List Bots 60/min, ...).

Recall is a Django REST Framework service (its 429 body is DRF's "Request was throttled. Expected
available in N seconds."), so this is DRF's SimpleRateThrottle: a sliding log of the accepted calls'
times; a call is refused while the last `window` seconds already hold `calls` of them, and a refused
call does not count. Off until limits are set (`meetbridge sandbox --rate-limit`, or
`PUT /_sandbox/rate-limits`); time is the stand-in's clock, so tests can move it; `/_sandbox/reset`
forgets the calls counted, not the limits. Endpoints are named as faults are, after the gateway's
catalogue: `bot` counts retrieve, update, delete and leave_call together, as the catalogue does.
"""

from __future__ import annotations

import math
import re
from collections import deque
from datetime import datetime, timedelta

import msgspec

_LIMIT = re.compile(r"^(\d+)(?:/(?:(\d+)s|min))?$")


class RateLimit(msgspec.Struct, forbid_unknown_fields=True):
    calls: int
    window_seconds: float = 60.0


class RateLimitsIn(msgspec.Struct, forbid_unknown_fields=True):
    """`PUT /_sandbox/rate-limits`: the limits to enforce from now on, replacing any before (`{}`: off)."""

    limits: dict[str, RateLimit]


class RateLimitError(ValueError):
    """Limits the stand-in cannot enforce; the admin API answers 400 and the CLI a usage error."""


def parse_rate_limit(text: str) -> tuple[str, RateLimit]:
    """`create_bot=120` (per minute, as Recall documents them), `create_bot=120/min`, `create_bot=40/2s`."""
    endpoint, _, spec = text.partition("=")
    match = _LIMIT.match(spec.strip())
    if not endpoint.strip() or match is None:
        raise RateLimitError(f"{text!r}: expected ENDPOINT=CALLS, ENDPOINT=CALLS/min or ENDPOINT=CALLS/<n>s")
    window = float(match.group(2)) if match.group(2) else 60.0
    return endpoint.strip(), RateLimit(calls=int(match.group(1)), window_seconds=window)


class Throttle:
    def __init__(self, endpoints: frozenset[str]) -> None:
        self._endpoints = endpoints
        self._limits: dict[str, RateLimit] = {}
        self._history: dict[tuple[str, str], deque[datetime]] = {}

    @property
    def limits(self) -> dict[str, RateLimit]:
        return dict(self._limits)

    def configure(self, limits: dict[str, RateLimit]) -> None:
        for endpoint, limit in limits.items():
            if endpoint not in self._endpoints:
                raise RateLimitError(f"limits: {endpoint!r} is not one of {sorted(self._endpoints)}")
            if limit.calls < 1 or not 0 < limit.window_seconds <= 86_400:
                raise RateLimitError(f"limits.{endpoint}: calls must be >= 1, window_seconds in (0, 86400]")
        self._limits = dict(limits)
        self._history.clear()

    def clear_history(self) -> None:
        self._history.clear()

    def check(self, credential: str, endpoint: str, now: datetime) -> int | None:
        """Count this call and return None, or return the whole seconds to wait (Retry-After)."""
        limit = self._limits.get(endpoint)
        if limit is None:
            return None
        window = timedelta(seconds=limit.window_seconds)
        history = self._history.setdefault((credential, endpoint), deque())
        while history and history[0] <= now - window:
            history.popleft()
        if len(history) >= limit.calls:
            # Free when the oldest call leaves the window; at least 1, as a Retry-After of 0 invites a spin.
            return max(1, math.ceil((history[0] + window - now).total_seconds()))
        history.append(now)
        return None
