"""State a fleet shares in PostgreSQL: webhook delivery ids (the SQLite twin is in tests/service) and
provider rate limits."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from meetbridge.db.database import Database
from meetbridge.db.migrate import upgrade
from meetbridge.db.rate_pacers import DatabasePacing, gcra
from meetbridge.providers.http import ProviderHttp
from meetbridge.providers.registry import account_id
from tests.service.test_shared_webhook_ids import SECRET, check_replicas_share_delivery_ids

pytestmark = pytest.mark.postgres


async def test_two_replicas_on_postgres_share_delivery_ids(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLEET_RECALL_KEY", "fleet-recall-key")
    monkeypatch.setenv("FLEET_RECALL_SECRET", SECRET)
    await asyncio.to_thread(upgrade, postgres_url)
    await check_replicas_share_delivery_ids(postgres_url, tmp_path)


# --- provider rate limits shared in the database ----------------------------------------------------


def most_in_any_window(times: list[float], window: float) -> int:
    most, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] > window + 1e-9:
            start += 1
        most = max(most, end - start + 1)
    return most


@pytest.mark.parametrize("per_minute", [1, 2, 10, 20, 59, 60, 120, 300, 600, 1000, 100_000])
def test_the_shared_pacers_parameters_keep_any_minute_under_the_limit(per_minute: int) -> None:
    interval, tolerance = gcra(per_minute)
    burst = round(tolerance / interval) + 1
    assert burst + int(60 / interval + 1e-9) <= per_minute  # any 60 s: the burst, then the rate
    assert 60 / interval >= 0.85 * per_minute


async def test_two_replicas_share_an_accounts_limit_and_only_that_accounts(postgres_url: str) -> None:
    """Two processes' worth of clients (each its own engine) on one account, 600 calls a minute:
    together they burst 54 calls, then go at 9 a second; per process pacing would let 108 through
    at once. Another account (or pace key) is not held up by it."""
    await asyncio.to_thread(upgrade, postgres_url)
    sent: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(time.monotonic())
        return httpx.Response(201, json={})

    databases = [Database(postgres_url), Database(postgres_url)]
    replicas = [
        ProviderHttp(
            "recall-bot at test",
            httpx.AsyncClient(base_url="https://recall.test", transport=httpx.MockTransport(handler)),
            {"create_bot": 600},
            pacing=DatabasePacing(database).for_account(account_id("https://recall.test", "key-1")),
        )
        for database in databases
    ]
    try:
        await asyncio.gather(
            *(replicas[n % 2].request("create_bot", "POST", "/api/v1/bot/") for n in range(70))
        )
        times = sorted(sent)
        interval, tolerance = gcra(600)
        burst = round(tolerance / interval) + 1
        assert (burst, round(interval, 3)) == (54, 0.111)
        for window in (0.25, 0.5, 1.0):
            assert most_in_any_window(times, window) <= burst + window / interval + 1, window
        assert times[-1] - times[0] >= (70 - burst - 1) * interval * 0.9  # paced, not all at once

        others = DatabasePacing(databases[0])
        other_account = others.for_account(account_id("https://recall.test", "key-2"))
        same_account = others.for_account(account_id("https://recall.test", "key-1"))
        assert await others.reserve(f"{account_id('https://recall.test', 'key-2')}:create_bot", 600) == 0
        await asyncio.wait_for(other_account.acquire("create_bot", 600, None), 0.5)
        await asyncio.wait_for(same_account.acquire("create_bot", 600, "a-user"), 0.5)
        # The account's slot is one row every replica books: at 6 a minute (no burst) a call books it
        # for 11 s, so the other replica's next call must wait however slowly this machine runs (at
        # 600 a minute the bucket refills within a tenth of a second of the burst's end).
        first, second = (DatabasePacing(database) for database in databases)
        slow = f"{account_id('https://recall.test', 'key-1')}:list_bots"
        assert await first.reserve(slow, 6) == 0
        assert await second.reserve(slow, 6) > 0
        assert await second.reserve(f"{account_id('https://recall.test', 'key-2')}:list_bots", 6) == 0
    finally:
        for replica in replicas:
            await replica.aclose()
        for database in databases:
            await database.dispose()
