"""Migrations a fleet can run: replicas that upgrade at the same moment take turns under an advisory
lock, and code older than the database's schema refuses to start, saying why in one line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from meetbridge.app import build_gateway
from meetbridge.config.catalogue import load_catalogue
from meetbridge.config.profiles import load_config
from meetbridge.db.migrate import SchemaStatus, check_schema, schema_state, scripts, upgrade
from meetbridge.db.tables import profile_incarnations
from meetbridge.settings import Settings, default_catalogue_dir

pytestmark = pytest.mark.postgres


def _cli(database_url: str, workdir: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "MEETBRIDGE_DATABASE_URL": database_url}
    return subprocess.Popen(
        [sys.executable, "-m", "meetbridge", *args],
        env=env,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def _execute(database_url: str, statement: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text(statement))
    finally:
        await engine.dispose()


def test_three_upgrades_started_together_on_an_empty_database_all_succeed(
    postgres_url: str, tmp_path: Path
) -> None:
    before = check_schema(postgres_url)
    assert (before.status, before.database) == (SchemaStatus.EMPTY, ())

    processes = [_cli(postgres_url, tmp_path, "db", "upgrade") for _ in range(3)]
    outcomes = [(process.wait(timeout=120), *process.communicate()) for process in processes]

    assert [code for code, _, _ in outcomes] == [0, 0, 0], outcomes
    assert all("database is at the newest schema" in out for _, out, _ in outcomes)
    after = check_schema(postgres_url)
    assert (after.status, after.database, after.unknown) == (SchemaStatus.CURRENT, after.code, ())
    assert after.code == tuple(scripts().get_heads())


def test_code_older_than_the_schema_refuses_to_start_and_changes_nothing(
    postgres_url: str, tmp_path: Path
) -> None:
    upgrade(postgres_url)
    asyncio.run(_execute(postgres_url, "UPDATE alembic_version SET version_num = '9999'"))
    asyncio.run(_execute(postgres_url, "CREATE TABLE from_the_future (id integer)"))

    state = check_schema(postgres_url)
    assert (state.status, state.database, state.unknown) == (SchemaStatus.AHEAD, ("9999",), ("9999",))

    for args in (("db", "upgrade"), ("serve", "--port", "1")):
        process = _cli(postgres_url, tmp_path, *args)
        code = process.wait(timeout=60)
        _, err = process.communicate()
        lines = err.strip().splitlines()
        assert code == 2, err
        assert "Traceback" not in err  # above it only the migration context's own log lines
        assert lines[-1:] == [
            "meetbridge: refusing to start: the database's schema is at revision 9999, which this "
            f"meetbridge (newest revision {', '.join(state.code)}) does not know: a newer release "
            "upgraded it; run that release or a newer one"
        ]
    assert check_schema(postgres_url).database == ("9999",)  # nothing was migrated or stamped


async def test_schema_state_reads_an_open_connection_on_postgres_and_sqlite(
    postgres_url: str, tmp_path: Path
) -> None:
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path / 'state.db'}"
    for url in (postgres_url, sqlite_url):
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                assert (await schema_state(connection)).status == SchemaStatus.EMPTY
            await asyncio.to_thread(upgrade, url)
            async with engine.connect() as connection:
                state = await schema_state(connection)
            assert (state.status, state.database) == (SchemaStatus.CURRENT, state.code)
        finally:
            await engine.dispose()


async def test_replicas_starting_together_record_the_configuration_once(
    postgres_url: str, config_file: Path
) -> None:
    """Each replica records the profiles as configured before it serves: three at once used to
    collide on the same new row (one exited on a unique violation)."""
    await asyncio.to_thread(upgrade, postgres_url)
    config = load_config(config_file, load_catalogue(default_catalogue_dir()))
    settings = Settings(database_url=postgres_url, config_path=config_file, run_worker=False)
    replicas = [build_gateway(settings, config) for _ in range(3)]
    try:
        assert await asyncio.gather(*(replica.begin() for replica in replicas)) == [[], [], []]
        async with replicas[0].database.read() as connection:
            recorded = (
                (await connection.execute(sa.select(profile_incarnations.c.profile_id))).scalars().all()
            )
        assert recorded == ["int_sales_0000"]
    finally:
        for replica in replicas:
            await replica.aclose()
