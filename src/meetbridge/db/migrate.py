"""Apply Alembic migrations programmatically (``meetbridge db upgrade`` and ``serve`` start-up), and
tell how the database's schema stands against this code's migrations (start-up, ``/readyz``,
``meetbridge status``).

A fleet starts its replicas together: on PostgreSQL the upgrade runs under a session advisory lock
(``MIGRATION_LOCK_KEY``), so one replica migrates while the others wait, then find nothing to do. A
database already upgraded by a newer release (its revision is not among this code's scripts) is
refused before anything runs: older code must not write to a schema it does not know.
"""

from __future__ import annotations

import asyncio
import functools
from enum import StrEnum
from pathlib import Path

import msgspec
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from meetbridge.errors import SchemaAhead

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# pg_advisory_lock key held while migrating: any fixed bigint no other application on the server uses
# ("mbmigr" in ASCII).
MIGRATION_LOCK_KEY = 0x6D626D696772


class SchemaStatus(StrEnum):
    CURRENT = "current"  # at this code's head
    BEHIND = "behind"  # migrations this code has are not applied yet
    AHEAD = "ahead"  # upgraded by a newer release: a revision this code does not know
    EMPTY = "empty"  # never migrated


class SchemaState(msgspec.Struct, frozen=True):
    database: tuple[str, ...]  # the database's revision(s); () when it has none yet
    code: tuple[str, ...]  # this code's head revision(s)
    unknown: tuple[str, ...]  # the database's revisions this code has no script for

    @property
    def status(self) -> SchemaStatus:
        if self.unknown:
            return SchemaStatus.AHEAD
        if not self.database:
            return SchemaStatus.EMPTY
        return SchemaStatus.CURRENT if set(self.database) == set(self.code) else SchemaStatus.BEHIND

    @property
    def revision(self) -> str | None:
        """The database's revision for a report (None: never migrated)."""
        return ", ".join(self.database) or None

    @property
    def head(self) -> str:
        return ", ".join(self.code)

    def refusal(self) -> str:
        """One line for an operator: why this code must not run on this database."""
        return (
            f"the database's schema is at revision {', '.join(self.unknown)}, which this meetbridge "
            f"(newest revision {self.head}) does not know: a newer release upgraded it; "
            "run that release or a newer one"
        )


@functools.cache
def scripts() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS))


@functools.cache
def _known() -> tuple[tuple[str, ...], frozenset[str]]:
    """(this code's heads, every revision it knows), read once: /readyz asks on every probe."""
    script = scripts()
    return tuple(script.get_heads()), frozenset(revision.revision for revision in script.walk_revisions())


def state_of(database: tuple[str, ...]) -> SchemaState:
    heads, known = _known()
    return SchemaState(
        database=database,
        code=heads,
        unknown=tuple(revision for revision in database if revision not in known),
    )


_VERSION_TABLE = sa.table("alembic_version", sa.column("version_num", sa.String))


async def schema_state(connection: AsyncConnection) -> SchemaState:
    """The schema of the database behind ``connection`` against this code (reads only)."""
    # alembic_version is read directly: Alembic's MigrationContext logs two INFO lines each time.
    revisions: tuple[str, ...] = ()
    if await connection.run_sync(lambda sync: sa.inspect(sync).has_table(_VERSION_TABLE.name)):
        revisions = tuple((await connection.execute(sa.select(_VERSION_TABLE.c.version_num))).scalars())
    return state_of(revisions)


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation would choke on a '%' in a password.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Must run outside an event loop: the migration environment starts its own.

    Raises ``SchemaAhead`` when the database is newer than this code (nothing is changed).
    """
    command.upgrade(alembic_config(database_url), revision)


def check_schema(database_url: str) -> SchemaState:
    """``schema_state`` for a URL, outside an event loop (the CLI's start-up checks)."""

    async def read() -> SchemaState:
        engine = create_async_engine(database_url, poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                return await schema_state(connection)
        finally:
            await engine.dispose()

    return asyncio.run(read())


__all__ = [
    "MIGRATION_LOCK_KEY",
    "SchemaAhead",
    "SchemaState",
    "SchemaStatus",
    "check_schema",
    "schema_state",
    "upgrade",
]
