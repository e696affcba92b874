"""The scheduled drift audit on PostgreSQL: replicas racing to claim a profile's run get one run."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import sqlalchemy as sa

from meetbridge.app import build_gateway
from meetbridge.db.audit import AuditStore
from meetbridge.db.audit_tables import audit_runs
from meetbridge.db.tables import utcnow
from meetbridge.runtime.gateway import Gateway


async def test_replicas_racing_for_a_profiles_audit_make_one_run(pg_gateway: Gateway) -> None:
    # Each "replica" has its own engine (its own connections), as separate processes would.
    replicas = [build_gateway(pg_gateway.settings, pg_gateway.config) for _ in range(6)]
    try:
        not_since = utcnow() - timedelta(hours=1)
        claimed = await asyncio.gather(
            *(AuditStore(r.database).claim("bots", not_since=not_since) for r in replicas for _ in range(3))
        )
        assert len([c for c in claimed if c is not None]) == 1
        async with pg_gateway.database.read() as connection:
            assert await connection.scalar(sa.select(sa.func.count()).select_from(audit_runs)) == 1
        # The next interval's claim goes through again.
        later = await AuditStore(pg_gateway.database).claim("bots", not_since=utcnow())
        assert later is not None
        assert later not in claimed
    finally:
        for replica in replicas:
            await replica.aclose()
        await pg_gateway.aclose()


async def test_an_on_demand_claim_always_gets_its_run(pg_gateway: Gateway) -> None:
    store = AuditStore(pg_gateway.database)
    try:
        runs = await asyncio.gather(*(store.claim("bots", not_since=None) for _ in range(4)))
        assert None not in runs
        assert len(set(runs)) == 4
    finally:
        await pg_gateway.aclose()
