"""SQLite drivers for SQLAlchemy's asyncio extension, with fewer trips between threads than aiosqlite.

aiosqlite sends every call (cursor, execute, fetch, close: three or four per statement) to the
connection's own thread and back. Under load each trip waits for the GIL and a loop wake-up, about
0.1 ms, while a point query takes microseconds; for the one SQLite writer, whose statements run one
after another, that latency and not CPU capped write throughput. So:

- The writer (``INLINE_DRIVER``) is SQLAlchemy's own pysqlite dialect, declared async so that an
  ``AsyncEngine`` accepts it. A statement awaits nothing but the one no-op the asyncio layer insists
  on, so it runs straight through on the event loop's thread, in one greenlet. A write in WAL mode
  with ``synchronous=NORMAL`` does not wait for the disk (only checkpoints fsync), so it blocks the
  loop for less than a trip would cost. The writer gets ``busy_timeout=0`` and waits for another
  process's lock with ``asyncio.sleep`` (``group_commit``), so that never blocks the loop either.
- Readers (``connect``) look like aiosqlite to its dialect, but a statement runs and fetches all its
  rows in one trip to a worker thread, so a long read never stalls the loop.

Connections are used by one task at a time (the pool, the writer), so one may move between threads
(``check_same_thread=False``). Both run in autocommit mode: callers say BEGIN and COMMIT themselves.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL
from sqlalchemy.engine.interfaces import ConnectArgsType
from sqlalchemy.util.concurrency import await_

T = TypeVar("T")

# Readers share a few threads; the pool bounds how many connections are busy at once anyway.
_READERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="meetbridge-sqlite")


async def _threaded(call: Callable[[], T]) -> T:
    return await asyncio.get_running_loop().run_in_executor(_READERS, call)


def _execute(cursor: sqlite3.Cursor, sql: str, parameters: Any) -> list[Any]:
    cursor.execute(sql, parameters)
    return cursor.fetchall() if cursor.description is not None else []


class Cursor:
    """A statement's rows are fetched with it; the fetch calls only hand them out."""

    def __init__(self, connection: Connection) -> None:
        self._cursor = connection.raw.cursor()
        self._rows: list[Any] = []

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        self._rows = await _threaded(partial(_execute, self._cursor, sql, parameters))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Cursor:
        await _threaded(partial(self._cursor.executemany, sql, parameters))
        self._rows = []
        return self

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = self._cursor.arraysize if size is None else size
        taken, self._rows = self._rows[:count], self._rows[count:]
        return taken

    async def fetchall(self) -> list[Any]:
        taken, self._rows = self._rows, []
        return taken

    async def close(self) -> None:
        self._cursor.close()


class Connection:
    """What SQLAlchemy's aiosqlite dialect uses of an aiosqlite connection, one trip per call."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    @property
    def _connection(self) -> sqlite3.Connection:
        # SQLAlchemy's adapter skips commit/rollback on a closed aiosqlite connection by this name.
        return self.raw

    @property
    def isolation_level(self) -> str | None:
        return self.raw.isolation_level

    def cursor(self) -> Cursor:
        return Cursor(self)

    async def commit(self) -> None:
        if self.raw.in_transaction:
            await _threaded(self.raw.commit)

    async def rollback(self) -> None:
        # The pool rolls back every connection it takes back; most have nothing open.
        if self.raw.in_transaction:
            await _threaded(self.raw.rollback)

    async def close(self) -> None:
        await _threaded(self.raw.close)

    def stop(self) -> None:
        self.raw.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self.raw.create_function(*args, **kwargs)


async def connect(*args: Any, **kwargs: Any) -> Connection:
    """For ``async_creator``: ``sqlite3.connect`` with the arguments the dialect derives from the URL."""
    kwargs.update(isolation_level=None, check_same_thread=False)
    raw = await _threaded(partial(sqlite3.connect, *args, **kwargs))
    return Connection(raw)


INLINE_DIALECT_DRIVER = "meetbridge_inline"


async def _nothing() -> None:
    return None


class _InlineCursor(sqlite3.Cursor):
    # AsyncConnection.execute raises AwaitRequired unless the driver awaited: give it the cheapest await.
    def execute(self, sql: str, parameters: Any = (), /) -> _InlineCursor:
        await_(_nothing())
        return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> _InlineCursor:
        await_(_nothing())
        return super().executemany(sql, parameters)

    async def _async_soft_close(self) -> None:
        """Called on results by the asyncio layer; rows here are read on demand, on this thread."""


class _InlineConnection(sqlite3.Connection):
    def cursor(self, factory: Any = _InlineCursor) -> Any:
        return super().cursor(factory)


class InlineDialect(SQLiteDialect_pysqlite):
    """pysqlite, run inside the event loop's thread by SQLAlchemy's asyncio extension."""

    driver = INLINE_DIALECT_DRIVER
    is_async = True
    supports_statement_cache = True

    def create_connect_args(self, url: URL) -> ConnectArgsType:
        args, kwargs = super().create_connect_args(url)
        inline = {"isolation_level": None, "check_same_thread": False, "factory": _InlineConnection}
        return args, {**kwargs, **inline}


INLINE_DRIVER = f"sqlite+{INLINE_DIALECT_DRIVER}"
registry.register(INLINE_DRIVER.replace("+", "."), __name__, "InlineDialect")
