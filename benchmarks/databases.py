"""The database a benchmark's gateway runs on: a SQLite file (the default), or with
``MEETBRIDGE_BENCH_POSTGRES=postgresql://127.0.0.1:5432/test`` (the server fleet_throughput.py uses) a
fresh PostgreSQL database per gateway, made on that server and dropped afterwards.

``Sql`` runs the benchmarks' few direct statements on either: ``?`` placeholders, aware datetimes as
parameters (stored as SQLAlchemy stores them: text without the offset on SQLite, timestamptz on
PostgreSQL), ``true``/``false`` literals (both accept them), rows as tuples, and ``copy_in`` for bulk
seeding (``executemany`` on SQLite, COPY on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import threading
import uuid
from collections.abc import Coroutine, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

POSTGRES = os.environ.get("MEETBRIDGE_BENCH_POSTGRES", "")
T = TypeVar("T")


def engine_name() -> str:
    return "PostgreSQL" if POSTGRES else "SQLite"


def as_utc(value: str | datetime) -> datetime:
    """A stored time as read back: text on SQLite, an aware datetime on PostgreSQL."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Sql:
    """One connection to a gateway's database, used from the benchmark's own (synchronous) code."""

    def rows(self, statement: str, *args: object) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def columns(self, table: str) -> list[str]:
        raise NotImplementedError

    def copy_in(self, table: str, columns: Sequence[str], records: Iterable[Sequence[object]]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def one(self, statement: str, *args: object) -> tuple[Any, ...]:
        [row] = self.rows(statement, *args)
        return row

    def __enter__(self) -> Sql:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sqlite_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


class SqliteSql(Sql):
    def __init__(self, file: Path) -> None:
        self._connection = sqlite3.connect(file, timeout=60)

    def rows(self, statement: str, *args: object) -> list[tuple[Any, ...]]:
        found = self._connection.execute(statement, [_sqlite_value(a) for a in args]).fetchall()
        self._connection.commit()
        return [tuple(row) for row in found]

    def columns(self, table: str) -> list[str]:
        empty = self._connection.execute(f"SELECT * FROM {table} LIMIT 0")  # noqa: S608 - our table
        return [d[0] for d in empty.description]

    def copy_in(self, table: str, columns: Sequence[str], records: Iterable[Sequence[object]]) -> None:
        marks = ", ".join("?" for _ in columns)
        insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608 - the table's names
        self._connection.executemany(insert, ([_sqlite_value(v) for v in row] for row in records))
        self._connection.commit()

    def close(self) -> None:
        self._connection.close()


class PostgresSql(Sql):
    """asyncpg on a loop of its own in a thread of its own: callable from inside a benchmark's
    running loop too, as sqlite3 is (blocking it for the statement, as sqlite3 does)."""

    def __init__(self, dsn: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bench-sql", daemon=True)
        self._thread.start()
        self._connection: asyncpg.Connection = self._wait(asyncpg.connect(dsn))

    def _wait(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def rows(self, statement: str, *args: object) -> list[tuple[Any, ...]]:
        numbered = iter(range(1, len(args) + 1))
        statement = re.sub(r"\?", lambda _: f"${next(numbered)}", statement)
        return [tuple(row) for row in self._wait(self._connection.fetch(statement, *args))]

    def columns(self, table: str) -> list[str]:
        found = self.rows(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "ORDER BY ordinal_position",
            table,
        )
        return [name for (name,) in found]

    def copy_in(self, table: str, columns: Sequence[str], records: Iterable[Sequence[object]]) -> None:
        self._wait(self._connection.copy_records_to_table(table, records=records, columns=list(columns)))
        self.rows(f"ANALYZE {table}")  # as autovacuum would after a bulk load

    def close(self) -> None:
        self._wait(self._connection.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


class Database:
    """Where one gateway keeps its data; ``url`` is its MEETBRIDGE_DATABASE_URL."""

    def __init__(self, work: Path, *, server: str = POSTGRES) -> None:
        """On ``server`` (a PostgreSQL URL) when one is given, else a SQLite file in ``work``."""
        self.file = work / "meetbridge.db"
        self.server = server
        self.dsn = ""
        if server:
            self.name = f"meetbridge_bench_{uuid.uuid4().hex[:10]}"
            with PostgresSql(server) as connection:
                connection.rows(f'CREATE DATABASE "{self.name}"')
            self.dsn = f"{server.rsplit('/', 1)[0]}/{self.name}"

    @property
    def url(self) -> str:
        if self.dsn:
            return self.dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
        return f"sqlite+aiosqlite:///{self.file}"

    def sql(self) -> Sql:
        return PostgresSql(self.dsn) if self.dsn else SqliteSql(self.file)

    def drop(self) -> None:
        if self.dsn:
            with PostgresSql(self.server) as connection:
                connection.rows(f'DROP DATABASE "{self.name}" WITH (FORCE)')
