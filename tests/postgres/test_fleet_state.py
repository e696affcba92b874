"""State a fleet shares in PostgreSQL: webhook delivery ids (the SQLite twin is in tests/service)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from meetbridge.db.migrate import upgrade
from tests.service.test_shared_webhook_ids import SECRET, check_replicas_share_delivery_ids

pytestmark = pytest.mark.postgres


async def test_two_replicas_on_postgres_share_delivery_ids(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLEET_RECALL_KEY", "fleet-recall-key")
    monkeypatch.setenv("FLEET_RECALL_SECRET", SECRET)
    await asyncio.to_thread(upgrade, postgres_url)
    await check_replicas_share_delivery_ids(postgres_url, tmp_path)
