"""Alembic environment: async engines, the same URL the gateway uses.

On PostgreSQL the upgrade holds ``MIGRATION_LOCK_KEY`` (a session advisory lock, on a connection of
its own) from before it reads the database's revision until it is done: replicas that start together
queue on the lock, and each reads the revision only once the one before it has committed.
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from meetbridge.db.migrate import MIGRATION_LOCK_KEY, state_of
from meetbridge.db.tables import metadata
from meetbridge.errors import SchemaAhead

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
    )
    state = state_of(tuple(context.get_context().get_current_heads()))
    if state.unknown:
        raise SchemaAhead(state.refusal())
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=pool.NullPool)
    try:
        if engine.dialect.name != "postgresql":
            async with engine.connect() as connection:
                await connection.run_sync(_run)
            return
        async with engine.connect() as lock:
            await lock.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            await lock.commit()  # the lock is the session's: no transaction stays open while we wait
            try:
                async with engine.connect() as connection:
                    await connection.run_sync(_run)
            finally:
                await lock.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                await lock.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
