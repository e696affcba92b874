"""The ``meetbridge`` command: serve, check-config, token, db, openapi."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import click
import msgspec

from meetbridge.settings import Settings

log = logging.getLogger("meetbridge")

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


def _settings(config_path: Path | None = None, database_url: str | None = None) -> Settings:
    settings = Settings.from_env()
    changes: dict[str, Any] = {}
    if config_path is not None:
        changes["config_path"] = config_path
    if database_url is not None:
        changes["database_url"] = database_url
    return msgspec.structs.replace(settings, **changes)


def _fail_on_config_problems(problems: list[str]) -> None:
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
    """Apply every pending migration."""
    from meetbridge.db.migrate import upgrade

    url = _settings(database_url=database_url).database_url
    upgrade(url)
    click.echo("database is at the newest schema")


@main.group()
def token() -> None:
    """API tokens for applications."""


@token.command("create")
@click.argument("application")
@_database_option
def token_create(application: str, database_url: str | None) -> None:
    """Create a bearer token for APPLICATION (created if new); the token is the last line printed."""
    from meetbridge.db.applications import ApplicationRepository
    from meetbridge.db.database import Database
    from meetbridge.db.migrate import upgrade

    url = _settings(database_url=database_url).database_url
    upgrade(url)

    async def create() -> tuple[str, str]:
        database = Database(url)
        try:
            return await ApplicationRepository(database).create_token(application)
        finally:
            await database.dispose()

    application_id, new_token = asyncio.run(create())
    click.echo(f"application {application} ({application_id}); keep this token, it is shown once:")
    click.echo(new_token)


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
def serve(host: str, port: int, config_path: Path | None, database_url: str | None, sandbox: bool) -> None:
    """Run the gateway: apply migrations, validate the configuration, serve HTTP."""
    from meetbridge.serve import run

    _configure_logging()
    run(_settings(config_path, database_url), host=host, port=port, sandbox=sandbox)


@main.command("worker")
@_config_option
@_database_option
@click.option(
    "--concurrency",
    default=None,
    type=int,
    help="Jobs run at once (default: $MEETBRIDGE_WORKER_CONCURRENCY or 16).",
)
def worker(config_path: Path | None, database_url: str | None, concurrency: int | None) -> None:
    """Run only the worker (no HTTP): for deployments that scale API and worker separately."""
    from meetbridge.serve import run_worker

    _configure_logging()
    settings = _settings(config_path, database_url)
    if concurrency is not None:
        settings = msgspec.structs.replace(settings, worker_concurrency=concurrency)
    run_worker(settings)


@main.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9000, show_default=True, type=int)
@click.option(
    "--api-key", default="sandbox-recall-api-key", show_default=True, help="The key the stand-in accepts."
)
@click.option("--webhook-url", default=None, help="Where to POST signed bot status webhooks.")
@click.option("--webhook-secret", default=None, help="whsec_... secret that signs them.")
def sandbox(host: str, port: int, api_key: str, webhook_url: str | None, webhook_secret: str | None) -> None:
    """Run the Recall stand-in alone (bot API plus /_sandbox/ test controls)."""
    import uvicorn

    from meetbridge.sandbox.recall import RecallSandbox, create_recall_sandbox_app

    _configure_logging()
    recall = RecallSandbox(api_keys={api_key}, webhook_url=webhook_url, webhook_secret=webhook_secret)
    click.echo(f"Recall sandbox on http://{host}:{port} (api key: {api_key})")
    uvicorn.run(create_recall_sandbox_app(recall), host=host, port=port, log_level="warning")


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # One line per provider request drowns what matters; our own logs name failed calls.
    logging.getLogger("httpx").setLevel(logging.WARNING)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
