"""Provider rate limits shared by every replica on PostgreSQL: one GCRA row per (account, endpoint
[, pace key]), moved forward atomically in one statement, on the database's clock.

GCRA (the generic cell rate algorithm) keeps one number per limit, the theoretical arrival time
``tat`` of the next call. A call reserves its slot: the row's ``tat`` becomes ``max(tat, now) +
interval``, and the call may go at ``old tat - tolerance`` (at once if that has passed). The rate and
burst are the in-process pacer's (``providers.http.pacer``: 90 % of the limit, bursts of a tenth), so
that no 60-second window sees more than the limit however many replicas share it.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools

import sqlalchemy as sa

from meetbridge.db.database import Database
from meetbridge.providers.http import PACE_SHARE, Pacer

# tat in seconds since the epoch on the server's clock (every replica reads the same one).
_RESERVE = sa.text(
    """
    INSERT INTO rate_pacers (key, tat)
    VALUES (:key, extract(epoch FROM clock_timestamp()) + :interval)
    ON CONFLICT (key) DO UPDATE
        SET tat = greatest(rate_pacers.tat, extract(epoch FROM clock_timestamp())) + :interval
    RETURNING tat, extract(epoch FROM clock_timestamp()) AS now
    """
)
# Rows of keys unused for an hour have long drained: swept now and then, a few at a time.
_SWEEP = sa.text(
    """
    DELETE FROM rate_pacers WHERE key IN (
        SELECT key FROM rate_pacers WHERE tat < extract(epoch FROM clock_timestamp()) - 3600 LIMIT 500
    )
    """
)
SWEEP_EVERY = 1000  # reservations per process between sweeps


def gcra(per_minute: int) -> tuple[float, float]:
    """(seconds between calls, how far ahead of its slot a call may go) for a limit per minute."""
    rate = PACE_SHARE * per_minute / 60.0
    burst = max(1, int(PACE_SHARE * per_minute / 10))
    interval = 1.0 / rate
    return interval, interval * (burst - 1)


class DatabasePacing:
    """One per process; ``for_account`` is the registry's ``PacingFactory``."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._reservations = itertools.count(1)

    def for_account(self, account: str) -> Pacer:
        return AccountPacer(self, account)

    async def reserve(self, key: str, per_minute: int) -> float:
        """Reserve the next call under ``key``; the seconds to wait before making it."""
        interval, tolerance = gcra(per_minute)
        async with self.database.write() as connection:
            row = (await connection.execute(_RESERVE, {"key": key, "interval": interval})).one()
            if next(self._reservations) % SWEEP_EVERY == 0:
                await connection.execute(_SWEEP)
        return max(0.0, float(row.tat) - interval - tolerance - float(row.now))


class AccountPacer:
    def __init__(self, pacing: DatabasePacing, account: str) -> None:
        self.pacing = pacing
        self.account = account

    async def acquire(self, endpoint: str, per_minute: int, pace_key: str | None) -> None:
        key = f"{self.account}:{endpoint}"
        if pace_key is not None:
            key += ":" + hashlib.sha256(pace_key.encode()).hexdigest()[:32]
        wait = await self.pacing.reserve(key, per_minute)
        if wait > 0:
            await asyncio.sleep(wait)
