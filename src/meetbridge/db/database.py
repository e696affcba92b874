"""Engine, sessions and the one place where driver errors become meetbridge errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from meetbridge.errors import Conflict, StorageError


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed while the single writer commits; NORMAL is durable at checkpoints
    # and safe against process crashes, which is the failure this gateway must survive.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Database:
    """One engine per process. Writes on SQLite go through a single writer, one at a time.

    SQLite allows one writer; letting several connections race for it turns into SQLITE_BUSY errors
    (immediately, for a read transaction that upgrades under WAL). Serialising writers in-process and
    starting write transactions with BEGIN IMMEDIATE (for other processes, e.g. ``meetbridge worker``)
    avoids both. PostgreSQL writes concurrently.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if not self.is_sqlite:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        self._write_lock = asyncio.Lock()
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self.engine.connect() as connection:
                yield connection
        except sa.exc.DBAPIError as exc:
            raise StorageError(f"database read failed: {exc.orig!r}") from exc

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that commits on success and rolls back on any error."""
        try:
            if self.is_sqlite:
                async with self._write_lock, self.engine.connect() as connection:
                    await connection.exec_driver_sql("BEGIN IMMEDIATE")
                    try:
                        yield connection
                    except BaseException:
                        await connection.rollback()
                        raise
                    await connection.commit()
            else:
                async with self.engine.begin() as connection:
                    yield connection
        except sa.exc.IntegrityError as exc:
            raise Conflict(f"a concurrent change conflicted: {exc.orig!r}") from exc
        except sa.exc.DBAPIError as exc:
            raise StorageError(f"database write failed: {exc.orig!r}") from exc

    async def ping(self) -> bool:
        try:
            async with self.read() as connection:
                await connection.execute(sa.text("SELECT 1"))
        except StorageError:
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()
