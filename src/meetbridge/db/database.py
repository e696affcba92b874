"""Engine, sessions and the one place where driver errors become meetbridge errors."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from types import TracebackType
from typing import Any, NamedTuple, cast

import msgspec
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from meetbridge.db import sqlite_driver
from meetbridge.db.group_commit import GroupCommit
from meetbridge.errors import Conflict, StorageError


def _json_text(value: Any) -> str:
    # SQLite keeps JSON columns as text: msgspec writes and reads it several times faster than the
    # json module SQLAlchemy uses by default.
    return msgspec.json.encode(value).decode()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, busy_timeout_ms: int = 10_000) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed while the single writer commits; NORMAL is durable at checkpoints
    # and safe against process crashes, which is the failure this gateway must survive.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    cursor.close()


class _Plan(NamedTuple):
    sql: str
    binds: Sequence[tuple[str, Any]]  # name, default
    bind_processors: Sequence[tuple[int, Callable[[Any], Any]]]  # position, processor
    result_processors: Sequence[tuple[int, Callable[[Any], Any]]]


def _indexed(processors: Iterable[Callable[[Any], Any] | None]) -> list[tuple[int, Callable[[Any], Any]]]:
    return [(index, process) for index, process in enumerate(processors) if process is not None]


class Prepared:
    """A Core statement on the upsert path, compiled once per set of parameter names.

    On the SQLite writer it runs on the sqlite3 connection itself, through SQLAlchemy's own type
    processors: SQLAlchemy's per-execution bookkeeping costs several times what SQLite does (an
    upsert's database work took 150 µs of CPU that way, 60 µs this way). Elsewhere it is a plain
    ``connection.execute``. Either way rows come back as tuples, and every column an INSERT or
    UPDATE sets must be given (Python-side column defaults are not applied here, and these
    statements do not show in SQLAlchemy's echo log).
    """

    def __init__(self, statement: sa.Select[Any] | sa.Insert | sa.Update) -> None:
        self.statement = statement
        self._plans: dict[frozenset[str], _Plan] = {}

    async def rows(self, connection: AsyncConnection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        if connection.dialect.driver != sqlite_driver.INLINE_DIALECT_DRIVER:
            result = await connection.execute(self.statement, params)
            return [tuple(row) for row in result.all()] if result.returns_rows else []
        plan = self._plans.get(frozenset(params)) or self._plan(connection.dialect, params)
        values = [params.get(name, default) for name, default in plan.binds]
        for index, process in plan.bind_processors:
            values[index] = process(values[index])
        pooled = connection.sync_connection.connection  # type: ignore[union-attr]  # the writer's stays open
        raw = cast(sqlite3.Connection, pooled.dbapi_connection)  # INLINE_DRIVER: a sqlite3 connection
        try:
            fetched = raw.execute(plan.sql, values).fetchall()
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"a concurrent change conflicted: {exc!r}") from exc
        except sqlite3.Error as exc:
            raise StorageError(f"database write failed: {exc!r}") from exc
        rows = []
        for row in fetched:
            processed = list(row)
            for index, process in plan.result_processors:
                processed[index] = process(processed[index])
            rows.append(tuple(processed))
        return rows

    def _plan(self, dialect: Dialect, params: dict[str, Any]) -> _Plan:
        compiled = self.statement.compile(dialect=dialect, column_keys=sorted(params))
        if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
            raise ValueError(f"give every column a value: {compiled.string}")
        names = getattr(compiled, "positiontup", None) or ()
        binds = [(name, compiled.binds[name].effective_value) for name in names]
        bind_processors = _indexed(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
        )
        result_processors = _indexed(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in self.statement.exported_columns
        )
        plan = _Plan(compiled.string, binds, bind_processors, result_processors)
        self._plans[frozenset(params)] = plan
        return plan


def _converted(error: sa.exc.DBAPIError) -> Exception:
    if isinstance(error, sa.exc.IntegrityError):
        return Conflict(f"a concurrent change conflicted: {error.orig!r}")
    return StorageError(f"database write failed: {error.orig!r}")


class _Write:
    """``Database.write()``: driver errors become meetbridge errors. A class: it is on every write."""

    __slots__ = ("_inner",)

    def __init__(self, inner: AbstractAsyncContextManager[AsyncConnection]) -> None:
        self._inner = inner

    async def __aenter__(self) -> AsyncConnection:
        try:
            return await self._inner.__aenter__()
        except sa.exc.DBAPIError as exc:
            raise _converted(exc) from exc

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            await self._inner.__aexit__(kind, error, traceback)
        except sa.exc.DBAPIError as exc:
            raise _converted(exc) from exc
        if isinstance(error, sa.exc.DBAPIError):
            raise _converted(error) from error


def _sqlite_engine(url: URL, *, echo: bool, inline: bool) -> AsyncEngine:
    """Readers (pooled, a thread per statement) or the writer (one connection, inline)."""
    json = {"json_serializer": _json_text, "json_deserializer": msgspec.json.decode}
    if inline:
        url = url.set(drivername=sqlite_driver.INLINE_DRIVER)
        engine = create_async_engine(url, echo=echo, poolclass=StaticPool, **json)
    else:
        args, kwargs = url.get_dialect()().create_connect_args(url)
        creator = partial(sqlite_driver.connect, *args, **kwargs)
        engine = create_async_engine(url, echo=echo, async_creator=creator, **json)
    # The writer must never block the loop on another process's lock: GroupCommit waits for it.
    busy_timeout_ms = 0 if inline else 10_000
    event.listen(engine.sync_engine, "connect", partial(_sqlite_pragmas, busy_timeout_ms=busy_timeout_ms))
    return engine


class Database:
    """One engine per process. Writes on SQLite go through one writer connection, in batches.

    SQLite allows one writer; letting several connections race for it turns into SQLITE_BUSY errors
    (immediately, for a read transaction that upgrades under WAL). One in-process writer with group
    commit (``GroupCommit``), starting its transactions with BEGIN IMMEDIATE (for other processes,
    e.g. ``meetbridge worker``), avoids both. PostgreSQL writes concurrently.
    """

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10, max_overflow: int = 5) -> None:
        """``pool_size`` + ``max_overflow``: the most PostgreSQL connections this process opens."""
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.writer: GroupCommit | None = None
        if not self.is_sqlite:
            self.engine = create_async_engine(
                self.url, echo=echo, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True
            )
            return
        self.writer = GroupCommit(_sqlite_engine(self.url, echo=echo, inline=True))
        if self.url.database in (None, "", ":memory:"):
            self.engine = self.writer.engine  # each connection would be a database of its own
        else:
            self.engine = _sqlite_engine(self.url, echo=echo, inline=False)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self.engine.connect() as connection:
                yield connection
        except sa.exc.DBAPIError as exc:
            raise StorageError(f"database read failed: {exc.orig!r}") from exc

    def write(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A transaction: durable when this returns, rolled back (only its own changes) on any error."""
        return _Write(self.writer.transaction() if self.writer is not None else self.engine.begin())

    async def ping(self) -> bool:
        try:
            async with self.read() as connection:
                await connection.execute(sa.text("SELECT 1"))
        except StorageError:
            return False
        return True

    async def dispose(self) -> None:
        if self.writer is not None:
            await self.writer.close()
        await self.engine.dispose()
