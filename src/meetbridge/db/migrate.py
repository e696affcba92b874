"""Apply Alembic migrations programmatically (``meetbridge db upgrade`` and ``serve`` start-up)."""

from __future__ import annotations

import functools
from pathlib import Path

import msgspec
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation would choke on a '%' in a password.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Must run outside an event loop: the migration environment starts its own."""
    command.upgrade(alembic_config(database_url), revision)


class SchemaState(msgspec.Struct, frozen=True):
    """Where the database's schema stands against this code's migrations."""

    state: str  # current | behind | ahead | empty
    database: str | None  # the revision the database is at (None: never migrated)
    code: str  # this code's head revision


_VERSION_TABLE = sa.table("alembic_version", sa.column("version_num", sa.String))


@functools.cache
def _revisions() -> tuple[str, frozenset[str]]:
    """(this code's head, every revision it knows), read once: /readyz asks on every probe."""
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = scripts.get_current_head()
    assert head is not None, "the migrations folder has no head"  # noqa: S101 - a broken build, not input
    return head, frozenset(script.revision for script in scripts.walk_revisions())


async def schema_state(connection: AsyncConnection) -> SchemaState:
    """``current`` when the database is at this code's head; ``behind`` when it is at an older
    revision (run ``meetbridge db upgrade``); ``ahead`` when newer code migrated it (this process is
    the old one); ``empty`` when it was never migrated."""
    head, known = _revisions()
    # Read alembic_version directly: MigrationContext would log two INFO lines on every probe.
    revisions: list[str] = []
    if await connection.run_sync(lambda sync: sa.inspect(sync).has_table(_VERSION_TABLE.name)):
        revisions = list((await connection.execute(sa.select(_VERSION_TABLE.c.version_num))).scalars())
    if not revisions:
        return SchemaState("empty", None, head)
    found = revisions[0]
    if head in revisions:
        return SchemaState("current", found, head)
    return SchemaState("behind" if found in known else "ahead", found, head)
