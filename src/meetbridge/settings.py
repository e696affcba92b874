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
    # A claimed job's lease, and how often a worker renews it: a replica that died holds its jobs up
    # to a lease at most; one paused longer than that loses them (its late writes are fenced off).
    job_lease_seconds: float = 30.0
    job_heartbeat_seconds: float = 10.0
    # On SIGTERM, running jobs get this long to finish before they are handed back to the fleet.
    worker_stop_grace_seconds: float = 2.0
    # PostgreSQL connections per process: pool_size kept open, up to max_overflow more under load.
    db_pool_size: int = 10
    db_max_overflow: int = 5
    # Where ``serve`` writes its pid, for ``meetbridge reload`` to signal; relative to the working directory.
    pid_file: Path = Path("meetbridge.pid")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """The settings the environment gives; ConfigError naming each variable it cannot use."""
        env = os.environ if environ is None else environ
        config = env.get("MEETBRIDGE_CONFIG")
        catalogue = env.get("MEETBRIDGE_CATALOGUE_DIR")
        problems: list[str] = []

        def seconds(name: str, default: float, low: float, high: float) -> float:
            raw = env.get(name, str(default))
            try:
                value = float(raw)
            except ValueError:
                value = float("nan")
            if low <= value <= high:  # NaN never is
                return value
            problems.append(
                f"{name}: must be a number of seconds from {low:g} to {high:g} (got {raw[:20]!r})"
            )
            return default

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
        lease = seconds("MEETBRIDGE_JOB_LEASE_SECONDS", 30.0, 1.0, 3600.0)
        heartbeat = seconds("MEETBRIDGE_JOB_HEARTBEAT_SECONDS", round(lease / 3, 3), 0.1, 1200.0)
        if heartbeat > lease / 2:
            problems.append(
                f"MEETBRIDGE_JOB_HEARTBEAT_SECONDS: must be at most half of MEETBRIDGE_JOB_LEASE_SECONDS "
                f"({lease:g}), so one late renewal does not lose a lease (got {heartbeat:g})"
            )
        stop_grace = seconds("MEETBRIDGE_WORKER_STOP_GRACE_SECONDS", 2.0, 0.0, 600.0)
        pool_size = number("MEETBRIDGE_DB_POOL_SIZE", 10, 1, 1000)
        max_overflow = number("MEETBRIDGE_DB_MAX_OVERFLOW", 5, 0, 1000)
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
            job_lease_seconds=lease,
            job_heartbeat_seconds=heartbeat,
            worker_stop_grace_seconds=stop_grace,
            db_pool_size=pool_size,
            db_max_overflow=max_overflow,
            pid_file=Path(env.get("MEETBRIDGE_PID_FILE") or "meetbridge.pid"),
        )


@functools.cache
def get_settings() -> Settings:
    return Settings.from_env()
