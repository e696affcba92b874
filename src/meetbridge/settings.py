"""Process settings from the environment, behind one cached getter.

Profiles (what apps name in ``extensions``) live in the operator's TOML file and are loaded by
``meetbridge.config``; this module only says where things are.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import msgspec

from meetbridge.errors import ConfigError

_DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///meetbridge.db"
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_LOG_FORMATS = ("text", "json")


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
    max_body_bytes: int = 1_048_576  # MEETBRIDGE_MAX_BODY_BYTES: a larger request body is a 413
    log_level: str = "INFO"
    log_format: str = "text"  # MEETBRIDGE_LOG_FORMAT=json: one JSON object per line
    run_worker: bool = True  # MEETBRIDGE_WORKER=0: serve the API only (another process runs the worker)
    worker_concurrency: int = 16
    # Where ``serve`` writes its pid, for ``meetbridge reload`` to signal; relative to the working directory.
    pid_file: Path = Path("meetbridge.pid")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """The settings the environment gives; ConfigError naming each variable it cannot use."""
        env = os.environ if environ is None else environ
        config = env.get("MEETBRIDGE_CONFIG")
        catalogue = env.get("MEETBRIDGE_CATALOGUE_DIR")
        problems: list[str] = []

        def number(name: str, default: int, low: int, high: int) -> int:
            raw = env.get(name, str(default))
            if raw.strip().isdigit() and low <= int(raw) <= high:
                return int(raw)
            problems.append(f"{name}: must be a whole number from {low} to {high} (got {raw[:20]!r})")
            return default

        level = env.get("MEETBRIDGE_LOG_LEVEL", "INFO").upper()
        if level not in _LOG_LEVELS:
            problems.append(f"MEETBRIDGE_LOG_LEVEL: one of {', '.join(_LOG_LEVELS)} (got {level[:20]!r})")
        log_format = env.get("MEETBRIDGE_LOG_FORMAT", "text").lower()
        if log_format not in _LOG_FORMATS:
            problems.append(
                f"MEETBRIDGE_LOG_FORMAT: one of {', '.join(_LOG_FORMATS)} (got {log_format[:20]!r})"
            )
        page_size = number("MEETBRIDGE_EVENTS_PAGE_SIZE", 100, 1, 1000)
        concurrency = number("MEETBRIDGE_WORKER_CONCURRENCY", 16, 1, 1024)
        max_body = number("MEETBRIDGE_MAX_BODY_BYTES", 1_048_576, 1024, 104_857_600)
        if problems:
            raise ConfigError(problems)
        return cls(
            database_url=env.get("MEETBRIDGE_DATABASE_URL", _DEFAULT_DATABASE_URL),
            config_path=Path(config) if config else None,
            catalogue_dir=Path(catalogue) if catalogue else default_catalogue_dir(),
            public_url=env.get("MEETBRIDGE_PUBLIC_URL") or None,
            events_page_size=page_size,
            max_body_bytes=max_body,
            log_level=level,
            log_format=log_format,
            run_worker=env.get("MEETBRIDGE_WORKER", "1").lower() not in ("0", "false", "no"),
            worker_concurrency=concurrency,
            pid_file=Path(env.get("MEETBRIDGE_PID_FILE") or "meetbridge.pid"),
        )


@functools.cache
def get_settings() -> Settings:
    return Settings.from_env()
