"""The retry strategy: capped exponential backoff with equal jitter, Retry-After as a floor, and which
errors give up at once."""

from __future__ import annotations

import pytest

from meetbridge.config.catalogue import RetryBudget
from meetbridge.engine.retry import GiveUp, Retry, RetryStrategy
from meetbridge.errors import ProviderAuthExpired, ProviderNotFound, ProviderRejected, ProviderUnavailable

BUDGET = RetryBudget(max_attempts=12, base_delay_seconds=1.0, max_delay_seconds=300.0)


@pytest.mark.parametrize(
    ("attempts", "ceiling"),
    [(0, 1.0), (1, 2.0), (3, 8.0), (8, 256.0), (9, 300.0), (11, 300.0), (64, 300.0), (10_000, 300.0)],
)
@pytest.mark.parametrize("jitter", [0.0, 0.25, 0.999999, 1.0])
def test_backoff_is_capped_exponential_with_equal_jitter(
    attempts: int, ceiling: float, jitter: float
) -> None:
    delay = RetryStrategy(BUDGET, jitter=lambda: jitter).backoff(attempts)
    assert delay == pytest.approx(ceiling / 2 + jitter * ceiling / 2)
    assert ceiling / 2 <= delay <= ceiling


def test_backoff_with_real_jitter_stays_within_half_the_ceiling_and_the_ceiling() -> None:
    strategy = RetryStrategy(BUDGET)
    for attempts in range(15):
        ceiling = min(300.0, 2.0**attempts)
        delays = [strategy.backoff(attempts) for _ in range(200)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 1  # jittered, not a constant


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        pytest.param(120.0, 120.0, id="retry-after-above-backoff-wins"),
        pytest.param(1.0, 8.0, id="backoff-above-retry-after-wins"),
        pytest.param(0.0, 8.0, id="zero-retry-after"),
        pytest.param(None, 8.0, id="no-retry-after"),
        # An adapter's own value is capped like a header, and a non-finite one ignored.
        pytest.param(10.0**12, 3600.0, id="years-capped-at-an-hour"),
        pytest.param(float("inf"), 8.0, id="inf-ignored"),
        pytest.param(float("nan"), 8.0, id="nan-ignored"),
    ],
)
def test_retry_after_is_a_floor_under_the_backoff(retry_after: float | None, expected: float) -> None:
    strategy = RetryStrategy(BUDGET, jitter=lambda: 1.0)
    error = ProviderUnavailable("busy", retry_after=retry_after, status=429)
    assert strategy.decide(3, error) == Retry(expected)


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(ProviderRejected("bad meeting_url", status=400, code="invalid"), id="rejected"),
        pytest.param(ProviderRejected("blocked by WAF", status=403), id="forbidden"),
        pytest.param(ProviderAuthExpired("Invalid token."), id="auth-expired"),
        # Adapters handle "the bot is gone"; a 404 that escapes means a missing endpoint (bad base_url).
        pytest.param(ProviderNotFound("no such endpoint"), id="not-found"),
    ],
)
def test_permanent_errors_give_up_at_once_with_the_error_as_reason(error: Exception) -> None:
    assert RetryStrategy(BUDGET).decide(0, error) == GiveUp(str(error))


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(ProviderUnavailable("503"), id="unavailable"),
        pytest.param(RuntimeError("a bug"), id="unexpected"),
    ],
)
def test_other_errors_retry_until_the_budget_is_spent(error: Exception) -> None:
    strategy = RetryStrategy(
        RetryBudget(max_attempts=3, base_delay_seconds=1.0, max_delay_seconds=10.0), jitter=lambda: 0.0
    )
    assert strategy.decide(0, error) == Retry(0.5)
    assert strategy.decide(1, error) == Retry(1.0)
    assert strategy.decide(2, error) == GiveUp(f"gave up after 3 attempts: {error}")
    assert strategy.decide(7, error) == GiveUp(f"gave up after 8 attempts: {error}")
