"""A live server shared by the tests of one module (starting a process costs about a second)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PROFILES_TOML, TEST_ENV
from tests.e2e.server import ServerProcess


@pytest.fixture(scope="session", autouse=True)
def _absolute_pythonpath() -> Iterator[None]:
    """Servers and commands run in their own work dirs; a relative PYTHONPATH (``PYTHONPATH=src``)
    must not break them."""
    value = os.environ.get("PYTHONPATH", "")
    with pytest.MonkeyPatch.context() as patch:
        if value:
            patch.setenv(
                "PYTHONPATH", os.pathsep.join(str(Path(p).resolve()) for p in value.split(os.pathsep) if p)
            )
        yield


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("server")
    config = workdir / "meetbridge.toml"
    config.write_text(PROFILES_TOML)
    server = ServerProcess(workdir, config=config, env={**TEST_ENV, "MEETBRIDGE_EVENTS_PAGE_SIZE": "10"})
    server.cli("db", "upgrade")
    server.start()
    yield server
    server.stop()
