"""The retry strategy: given an attempt count and what went wrong, decide to retry (when) or give up."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import msgspec

from meetbridge.config.catalogue import RetryBudget
from meetbridge.errors import ProviderAuthExpired, ProviderNotFound, ProviderRejected, ProviderUnavailable
from meetbridge.providers.http import MAX_RETRY_AFTER


class Retry(msgspec.Struct, frozen=True):
    delay: float


class GiveUp(msgspec.Struct, frozen=True):
    reason: str


Decision = Retry | GiveUp


class RetryStrategy:
    """Capped exponential backoff with jitter; ``Retry-After`` from the provider is a floor."""

    def __init__(self, budget: RetryBudget, *, jitter: Callable[[], float] = random.random) -> None:
        self.budget = budget
        self._jitter = jitter

    def backoff(self, attempts: int) -> float:
        ceiling = min(
            self.budget.max_delay_seconds, self.budget.base_delay_seconds * 2.0 ** min(attempts, 32)
        )
        # "Equal jitter": never less than half the ceiling, so a storm of failures spreads out but
        # does not collapse to immediate retries.
        return ceiling / 2 + self._jitter() * ceiling / 2

    def decide(self, attempts: int, error: BaseException) -> Decision:
        """``attempts`` counts the failures before this one."""
        # A 404 that escapes an adapter is not "the bot is gone" (adapters handle that); it means the
        # endpoint itself is missing, as with a wrong base_url: permanent, like a rejection.
        if isinstance(error, ProviderRejected | ProviderAuthExpired | ProviderNotFound):
            return GiveUp(str(error))
        if attempts + 1 >= self.budget.max_attempts:
            return GiveUp(f"gave up after {attempts + 1} attempts: {error}")
        delay = self.backoff(attempts)
        if isinstance(error, ProviderUnavailable) and error.retry_after is not None:
            asked = error.retry_after
            if math.isfinite(asked):  # an adapter's own value; the HTTP layer already caps headers
                delay = max(delay, min(asked, MAX_RETRY_AFTER))
        # Transient provider and storage errors retry; so does an unexpected error (a bug, or a
        # cause we did not foresee): the budget still ends it, and the event shows the message.
        return Retry(delay)
