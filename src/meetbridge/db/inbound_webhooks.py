"""Inbound webhook ids every replica sees: a delivery retried to another replica is still recognised.

An id counts as handled only once its effect is applied: a delivery answered with an error (a 503
asks the provider to retry) is handled again when the provider retries it. While one is being
handled, the same id arriving again (here or at another replica) is answered as a duplicate. A row
stands until ``expires_at``: handled ids for ``HANDLED_FOR`` (the providers' retries and a replay
within the signatures' 5-minute tolerance fall inside it); an id being handled for ``HANDLING_FOR``,
so a replica that died mid-delivery does not make the provider's retry a duplicate forever.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from meetbridge.db.database import Database
from meetbridge.db.tables import inbound_webhook_ids, utcnow

HANDLED_FOR = timedelta(minutes=10)
HANDLING_FOR = timedelta(minutes=2)
KEY_LENGTH = 400  # inbound_webhook_ids.key


def stored_key(key: str) -> str:
    """``key`` as stored: a longer one (a provider's id is the sender's choice) by its digest."""
    return key if len(key) <= KEY_LENGTH else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


class InboundWebhookIds:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def start(self, key: str) -> bool:
        """True if ``key`` is neither handled nor being handled; it is then being handled (by us)."""
        now, key = utcnow(), stored_key(key)
        table = inbound_webhook_ids
        insert: Any = sqlite.insert if self.database.is_sqlite else postgresql.insert
        statement = (
            insert(table)
            .values(key=key, handled=False, expires_at=now + HANDLING_FOR)
            .on_conflict_do_update(
                index_elements=[table.c.key],
                set_={"handled": False, "expires_at": now + HANDLING_FOR},
                where=table.c.expires_at <= now,  # only a row that has run out is taken over
            )
            .returning(table.c.key)
        )
        async with self.database.write() as connection:
            return (await connection.execute(statement)).first() is not None

    async def finish(self, key: str, *, handled: bool) -> None:
        """``handled``: remember it for ``HANDLED_FOR``; otherwise forget it, so a retry is handled."""
        now, key = utcnow(), stored_key(key)
        table = inbound_webhook_ids
        async with self.database.write() as connection:
            if handled:
                await connection.execute(
                    table.update()
                    .where(table.c.key == key)
                    .values(handled=True, expires_at=now + HANDLED_FOR)
                )
                # Old rows go here, a few at a time, on an index: no sweeper process to run.
                expired = sa.select(table.c.key).where(table.c.expires_at < now).limit(100)
                await connection.execute(table.delete().where(table.c.key.in_(expired.scalar_subquery())))
            else:
                await connection.execute(table.delete().where(table.c.key == key))
