"""Group commit: concurrent SQLite write transactions share one transaction on one connection.

Each caller's body runs in turn inside its own SAVEPOINT, so a failure undoes only that body and
reaches only that caller. Bodies still run one at a time (one connection); what they share is BEGIN,
COMMIT and the pages COMMIT writes, which each small write would otherwise pay alone. A caller's
``async with`` ends only after the COMMIT that made its changes durable.

There is no writer task: the open transaction passes from caller to caller. A caller arriving when
nobody holds the connection goes ahead at once, opening a transaction (BEGIN IMMEDIATE) if none is
open; one arriving while a body runs queues. A caller whose body ended hands the connection to the
next in the queue; when nobody waits, the COMMIT happens on the event loop's next turn, so requests
the loop has just read join this transaction instead of opening the next (a batch also ends after
``MAX_BATCH`` bodies). A caller therefore wakes at most twice: for its turn and for its COMMIT.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from contextvars import ContextVar, Token
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from meetbridge.db import sqlite_driver
from meetbridge.errors import StorageError

# Waiting this long for another process's write lock is what busy_timeout allowed before.
BUSY_WAIT_SECONDS = 10.0
# A batch takes no more bodies after this many, so its first caller's COMMIT is not put off for ever.
MAX_BATCH = 64


class _Pending:
    """A caller waiting for the connection (``turn``), then for the COMMIT (``durable``)."""

    __slots__ = ("durable", "turn")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.turn: asyncio.Future[None] = loop.create_future()
        self.durable: asyncio.Future[None] = loop.create_future()


class _Enclosing(NamedTuple):
    writer: GroupCommit
    task: asyncio.Task[Any] | None


# Set while a task runs its body, so a write() nested in it becomes a savepoint instead of waiting
# for a turn that cannot come until the enclosing body ends.
_enclosing: ContextVar[_Enclosing | None] = ContextVar("meetbridge_write", default=None)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # its caller was cancelled while waiting
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(StorageError(f"database write failed: {error!r}"))


class GroupCommit:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine  # one connection (StaticPool), sqlite_driver.INLINE_DRIVER
        self._connection: AsyncConnection | None = None
        self._raw: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: deque[_Pending] = deque()
        self._open = False  # a transaction is open
        self._busy = False  # a caller has the connection: running its body, or opening the transaction
        self._commit_due = False  # _commit_if_idle is scheduled
        self._bodies = 0  # bodies run in the open transaction
        self._members: list[_Pending] = []  # callers whose changes the next COMMIT makes durable
        self._savepoints = 0

    def transaction(self) -> Transaction:
        return Transaction(self)

    async def connection(self) -> tuple[AsyncConnection, sqlite3.Connection]:
        """The writer's connection, made on first use; also its sqlite3 connection, for SAVEPOINTs."""
        if self._connection is None or self._raw is None:
            connection = await self.engine.connect()
            driver = (await connection.get_raw_connection()).driver_connection
            if not isinstance(driver, sqlite3.Connection):
                raise TypeError(f"the writer engine must use {sqlite_driver.INLINE_DRIVER}")
            self._connection, self._raw = connection, driver
        return self._connection, self._raw

    def _arrive(self) -> _Pending | None:
        """None: go ahead now (``self._open`` says whether a transaction is open). Else await the turn."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A new event loop (serve's set-up ran on another): the old one's callers are gone.
            self._loop, self._queue, self._members = loop, deque(), []
            self._open = self._busy = self._commit_due = False
            self._bodies = 0
        if not self._busy:
            self._busy = True
            return None
        pending = _Pending(loop)
        self._queue.append(pending)
        return pending

    async def _begin(self) -> None:
        """BEGIN IMMEDIATE, waiting for another process's write lock without blocking the loop."""
        _, raw = await self.connection()
        if raw.in_transaction:
            raw.execute("ROLLBACK")  # left open when an event loop went away mid-batch
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + BUSY_WAIT_SECONDS, 0.001
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or loop.time() > deadline:
                    raise StorageError(f"database write failed: {exc!r}") from exc
            else:
                self._open = True
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _pass_on(self) -> None:
        """A body is over (or a turn was given up): let the next caller in, or commit soon."""
        if self._open and self._bodies >= MAX_BATCH:
            self._end(None)
        while self._queue:
            pending = self._queue.popleft()
            if not pending.turn.done():  # not cancelled while queued
                pending.turn.set_result(None)
                return
        self._busy = False
        if self._open and not self._commit_due:
            # Not at once: callers the loop is about to run (requests it has just read) join this
            # transaction instead of waiting for its COMMIT to open the next.
            self._commit_due = True
            asyncio.get_running_loop().call_soon(self._commit_if_idle)

    def _commit_if_idle(self) -> None:
        self._commit_due = False
        if self._open and not self._busy:
            self._end(None)

    def _end(self, error: BaseException | None) -> None:
        """COMMIT the open transaction (ROLLBACK after ``error``) and tell its members."""
        raw = self._raw
        assert raw is not None  # noqa: S101 - a transaction is open, so the connection exists
        try:
            if error is None:
                raw.execute("COMMIT")
        except sqlite3.Error as exc:
            error = exc
        if error is not None and raw.in_transaction:
            raw.execute("ROLLBACK")
        members, self._members, self._bodies, self._open = self._members, [], 0, False
        for member in members:
            _settle(member.durable, error)

    async def close(self) -> None:
        if self._open and not self._busy:
            self._end(None)  # its COMMIT was due on the next turn of the loop
        if self._connection is not None:
            await self._connection.close()
            self._connection = self._raw = None
        await self.engine.dispose()


class Transaction:
    """One caller's turn. A class, not @asynccontextmanager: an async generator per write costs more."""

    __slots__ = ("_nested", "_pending", "_raw", "_token", "_writer")

    def __init__(self, writer: GroupCommit) -> None:
        self._writer = writer
        self._raw: sqlite3.Connection | None = None
        self._nested: str | None = None
        self._pending: _Pending | None = None
        self._token: Token[_Enclosing | None] | None = None

    async def __aenter__(self) -> AsyncConnection:
        writer = self._writer
        task = asyncio.current_task()
        enclosing = _enclosing.get()
        if enclosing is not None and enclosing.writer is writer and enclosing.task is task:
            connection, self._raw = await writer.connection()
            writer._savepoints += 1
            self._nested = f"nested_{writer._savepoints}"
            self._raw.execute(f"SAVEPOINT {self._nested}")
            return connection
        pending = self._pending = writer._arrive()
        if pending is not None:
            try:
                await pending.turn
            except BaseException:
                if pending.turn.done() and not pending.turn.cancelled():
                    writer._pass_on()  # cancelled just as its turn came: give it to the next
                raise
        try:
            # Only the caller holding the turn gets here, so the connection is made once.
            connection, self._raw = await writer.connection()
            if not writer._open:
                await writer._begin()
        except BaseException:
            writer._pass_on()  # the next caller tries again
            raise
        self._raw.execute("SAVEPOINT caller")
        self._token = _enclosing.set(_Enclosing(writer, task))
        return connection

    async def __aexit__(self, _kind: object, error: BaseException | None, _traceback: object) -> None:
        writer, raw = self._writer, self._raw
        assert raw is not None  # noqa: S101 - __aenter__ returned, so it set this
        if self._nested is not None:
            if error is not None:
                raw.execute(f"ROLLBACK TO {self._nested}")
            raw.execute(f"RELEASE {self._nested}")
            return
        assert self._token is not None  # noqa: S101 - as above
        _enclosing.reset(self._token)
        pending = self._pending or _Pending(asyncio.get_running_loop())
        writer._bodies += 1
        try:
            if error is not None:
                raw.execute("ROLLBACK TO caller")
            raw.execute("RELEASE caller")
        except sqlite3.Error as exc:
            writer._end(exc)  # the transaction itself is gone: so are the earlier bodies' changes
            writer._pass_on()
            raise StorageError(f"database write failed: {exc!r}") from exc
        if error is None:
            writer._members.append(pending)
        writer._pass_on()
        if error is None:
            await pending.durable
