"""Process settings from the environment, behind one cached getter.

Profiles (what apps name in ``extensions``) live in the operator's TOML file and are loaded by
``meetbridge.config``; this module only says where things are.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import msgspec

_DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///meetbridge.db"


def default_catalogue_dir() -> Path:
    """The adapter catalogue: the repository's ``adapters/`` folder, or the copy packed in the wheel."""
    source_tree = Path(__file__).resolve().parents[2] / "adapters"
    if source_tree.is_dir():
        return source_tree
    return Path(__file__).resolve().parent / "_catalogue"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str = _DEFAULT_DATABASE_URL
    config_path: Path | None = None
    catalogue_dir: Path = msgspec.field(default_factory=default_catalogue_dir)
    public_url: str | None = None
    events_page_size: int = 100
    log_level: str = "INFO"
    run_worker: bool = True  # MEETBRIDGE_WORKER=0: serve the API only (another process runs the worker)
    worker_concurrency: int = 16
    # Where ``serve`` writes its pid, for ``meetbridge reload`` to signal; relative to the working directory.
    pid_file: Path = Path("meetbridge.pid")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        config = env.get("MEETBRIDGE_CONFIG")
        catalogue = env.get("MEETBRIDGE_CATALOGUE_DIR")
        return cls(
            database_url=env.get("MEETBRIDGE_DATABASE_URL", _DEFAULT_DATABASE_URL),
            config_path=Path(config) if config else None,
            catalogue_dir=Path(catalogue) if catalogue else default_catalogue_dir(),
            public_url=env.get("MEETBRIDGE_PUBLIC_URL") or None,
            events_page_size=int(env.get("MEETBRIDGE_EVENTS_PAGE_SIZE", "100")),
            log_level=env.get("MEETBRIDGE_LOG_LEVEL", "INFO"),
            run_worker=env.get("MEETBRIDGE_WORKER", "1").lower() not in ("0", "false", "no"),
            worker_concurrency=int(env.get("MEETBRIDGE_WORKER_CONCURRENCY", "16")),
            pid_file=Path(env.get("MEETBRIDGE_PID_FILE") or "meetbridge.pid"),
        )


@functools.cache
def get_settings() -> Settings:
    return Settings.from_env()
