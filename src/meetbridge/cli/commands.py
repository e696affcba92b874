"""The ``meetbridge`` command group and its commands but ``token`` (cli/tokens.py)."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
import msgspec

from meetbridge.settings import Settings

if TYPE_CHECKING:
    from meetbridge.config.profiles import GatewayConfig

log = logging.getLogger("meetbridge")

CRONOFY_SANDBOX_PATH = "/cronofy"
# The stand-in's default "Cronofy Extension Profile ID" (sandbox/cronofy_state.DEFAULT_RECALL_PROFILE),
# spelt out so that `meetbridge --help` does not import the sandbox; a unit test keeps the two equal.
CRONOFY_RECALL_PROFILE = "int_sandbox_recall_0000000000"

_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="meetbridge.toml with [profiles.<id>] (default: $MEETBRIDGE_CONFIG; none: no profiles).",
)
_database_option = click.option(
    "--database-url",
    default=None,
    help="SQLAlchemy URL (default: $MEETBRIDGE_DATABASE_URL or sqlite+aiosqlite:///meetbridge.db).",
)

_pid_file_option = click.option(
    "--pid-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The running server's pid file (default: $MEETBRIDGE_PID_FILE or meetbridge.pid).",
)


def _settings(config_path: Path | None = None, database_url: str | None = None) -> Settings:
    from meetbridge.errors import ConfigError

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        _fail_on_config_problems(exc.problems)
    changes: dict[str, Any] = {}
    if config_path is not None:
        changes["config_path"] = config_path
    if database_url is not None:
        changes["database_url"] = database_url
    return msgspec.structs.replace(settings, **changes)


def _config_naming(settings: Settings, profile_ids: tuple[str, ...]) -> GatewayConfig:
    """The checked configuration, which must hold every one of ``profile_ids`` (exit 2 otherwise)."""
    from meetbridge.errors import ConfigError
    from meetbridge.serve import load_checked_config

    try:
        config = load_checked_config(settings)
    except ConfigError as exc:
        _fail_on_config_problems(exc.problems)
    unknown = sorted(set(profile_ids) - set(config.profiles))
    if unknown:
        click.echo(f"not in the configuration: {', '.join(unknown)}", err=True)
        raise SystemExit(2)
    return config


def _fail_on_config_problems(problems: list[str]) -> NoReturn:
    for line in problems:
        click.echo(line, err=True)
    raise SystemExit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="meetbridge")
def main() -> None:
    """meetbridge: one Cronofy-compatible event API for Recall.ai meeting bots."""


@main.command("check-config")
@_config_option
def check_config(config_path: Path | None) -> None:
    """Validate the adapter catalogue and the profiles file; one line per problem, exit 2 on any."""
    from meetbridge.errors import ConfigError
    from meetbridge.serve import load_checked_config

    settings = _settings(config_path)
    try:
        config = load_checked_config(settings)
    except ConfigError as exc:
        _fail_on_config_problems(exc.problems)
    ids = ", ".join(f"{p.profile_id} ({p.adapter})" for p in config.profiles.values()) or "no profiles"
    click.echo(f"configuration ok: {ids}")


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@_database_option
def db_upgrade(database_url: str | None) -> None:
    """Apply every pending migration (on PostgreSQL under an advisory lock: replicas take turns)."""
    from meetbridge.serve import upgrade_or_exit

    url = _settings(database_url=database_url).database_url
    upgrade_or_exit(url)
    click.echo("database is at the newest schema")


@main.group()
def profiles() -> None:
    """Profiles and switching their mechanism."""


@profiles.command("diff")
@click.argument("profile_ids", nargs=-1)
@_config_option
@_database_option
@click.option("--dry-run", is_flag=True, help="Also print the exact provider calls each move makes.")
def profiles_diff(
    profile_ids: tuple[str, ...], config_path: Path | None, database_url: str | None, dry_run: bool
) -> None:
    """What loading the configuration file would do to the future events of its profiles (or of
    PROFILE_IDS): each bot that moves to the profile's new mechanism, stays, or cannot move, and why.
    Reads only: nothing is called, nothing changes."""
    from meetbridge.db.migrate import upgrade
    from meetbridge.engine.switching.plan import plan_lines, plans_for

    settings = _settings(config_path, database_url)
    config = _config_naming(settings, profile_ids)
    upgrade(settings.database_url)
    plans = asyncio.run(plans_for(settings, config, list(profile_ids) or sorted(config.profiles)))
    for plan in plans:
        for line in plan_lines(plan, dry_run=dry_run):
            click.echo(line)


@main.command("openapi")
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("openapi/openapi.json")
)
def openapi(output: Path) -> None:
    """Write the OpenAPI 3.1 document (default: openapi/openapi.json)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(openapi_document(), encoding="utf-8")
    click.echo(f"wrote {output}")


def openapi_document() -> str:
    """The document as committed: independent of the local configuration and database."""
    from meetbridge.app import build_gateway, create_app
    from meetbridge.config.profiles import GatewayConfig, ServerConfig

    settings = Settings(database_url="sqlite+aiosqlite:///:memory:")
    app = create_app(settings, gateway=build_gateway(settings, GatewayConfig(ServerConfig(), {})))
    raw = msgspec.json.encode(app.openapi_schema.to_schema(), order="sorted")
    return msgspec.json.format(raw, indent=2).decode() + "\n"


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@_config_option
@_database_option
@click.option(
    "--sandbox", is_flag=True, help="Also serve the provider stand-ins and add profiles that use them."
)
@_pid_file_option
def serve(
    host: str,
    port: int,
    config_path: Path | None,
    database_url: str | None,
    sandbox: bool,
    pid_file: Path | None,
) -> None:
    """Run the gateway: apply migrations, validate the configuration, serve HTTP.
    SIGHUP (`meetbridge reload`) re-reads the configuration."""
    from meetbridge.serve import run

    settings = _settings(config_path, database_url)
    _configure_logging(settings)
    if pid_file is not None:
        settings = msgspec.structs.replace(settings, pid_file=pid_file)
    run(settings, host=host, port=port, sandbox=sandbox)


@main.command("reload")
@_config_option
@_pid_file_option
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print what the switch would do (each bot that moves, with its provider calls); signal nothing.",
)
def reload(config_path: Path | None, pid_file: Path | None, dry_run: bool) -> None:
    """Validate the configuration, then have the running server switch to it (SIGHUP).

    Problems: one line each, exit 2, and the server is left alone. No server: exit 1.
    --config must name the server's own file: the server reads it again itself.
    """
    from meetbridge.errors import ConfigError
    from meetbridge.runtime.reload import ServerNotRunning, signal_server
    from meetbridge.serve import load_checked_config

    settings = _settings(config_path)
    if pid_file is not None:
        settings = msgspec.structs.replace(settings, pid_file=pid_file)
    try:
        config = load_checked_config(settings)
    except ConfigError as exc:
        for line in exc.problems:
            click.echo(line, err=True)
        click.echo("meetbridge: not reloading; the server keeps its previous configuration", err=True)
        raise SystemExit(2) from None
    if dry_run:
        from meetbridge.db.migrate import upgrade
        from meetbridge.engine.switching.plan import plan_lines, plans_for

        upgrade(settings.database_url)
        for plan in asyncio.run(plans_for(settings, config, sorted(config.profiles))):
            for line in plan_lines(plan, dry_run=True):
                click.echo(line)
        click.echo("dry run: the server was not signalled")
        return
    try:
        pid = signal_server(settings.pid_file)
    except ServerNotRunning as exc:
        click.echo(f"meetbridge: {exc}", err=True)
        raise SystemExit(1) from None
    count = len(config.profiles)
    click.echo(
        f"configuration ok ({count} profile{'' if count == 1 else 's'}); sent SIGHUP to the server"
        f" (pid {pid}, from {settings.pid_file}): it reloads {settings.config_path or 'no file'}"
        " and logs the outcome"
    )


@main.command("worker")
@_config_option
@_database_option
@click.option(
    "--concurrency",
    default=None,
    type=int,
    help="Jobs run at once (default: $MEETBRIDGE_WORKER_CONCURRENCY or 16).",
)
@click.option(
    "--metrics-port",
    default=None,
    type=click.IntRange(1, 65535),
    help="Serve this process's Prometheus metrics on this port (/metrics, no token: bind it privately).",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address for --metrics-port.")
def worker(
    config_path: Path | None,
    database_url: str | None,
    concurrency: int | None,
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    """Run only the worker (no HTTP API): for deployments that scale API and worker separately."""
    from meetbridge.serve import run_worker

    settings = _settings(config_path, database_url)
    _configure_logging(settings)
    if concurrency is not None:
        settings = msgspec.structs.replace(settings, worker_concurrency=concurrency)
    run_worker(settings, metrics=(metrics_host, metrics_port) if metrics_port else None)


def _configure_logging(settings: Settings | None = None) -> None:
    """The gateway's commands log in MEETBRIDGE_LOG_FORMAT; the stand-ins in plain text."""
    if settings is not None:
        from meetbridge.observability.logs import configure_logging

        configure_logging(settings.log_level, settings.log_format)
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # One line per provider request drowns what matters; our own logs name failed calls.
    logging.getLogger("httpx").setLevel(logging.WARNING)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
