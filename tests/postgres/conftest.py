"""A fresh PostgreSQL database per test on the local server (trust auth, database ``test``)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from meetbridge.app import build_gateway
from meetbridge.config.catalogue import load_catalogue
from meetbridge.config.profiles import load_config
from meetbridge.db.migrate import upgrade
from meetbridge.runtime.gateway import Gateway
from meetbridge.settings import Settings, default_catalogue_dir
from tests.conftest import Api, app_api

SERVER = os.environ.get("MEETBRIDGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(SERVER)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    name = f"meetbridge_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    base = SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture
async def pg_gateway(postgres_url: str, config_file: Path) -> Gateway:
    await asyncio.to_thread(upgrade, postgres_url)
    settings = Settings(
        database_url=postgres_url, config_path=config_file, events_page_size=5, run_worker=False
    )
    return build_gateway(settings, load_config(config_file, load_catalogue(default_catalogue_dir())))


@pytest.fixture
async def pg_api(pg_gateway: Gateway) -> AsyncIterator[Api]:
    async with app_api(pg_gateway, "pg-app") as made:
        yield made
