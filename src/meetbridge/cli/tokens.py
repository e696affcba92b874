"""``meetbridge token``: create, list and revoke the bearer tokens applications use.

A token is shown once, when it is made; only its SHA-256 is stored. A token's id is the start of that
hash: safe to print and log, enough to revoke it by.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import click

from meetbridge.cli.commands import _database_option, _settings

if TYPE_CHECKING:
    from meetbridge.db.applications import ApplicationRepository

T = TypeVar("T")


def _with_repository(database_url: str | None, work: Callable[[ApplicationRepository], Awaitable[T]]) -> T:
    from meetbridge.db.applications import ApplicationRepository
    from meetbridge.db.database import Database
    from meetbridge.db.migrate import upgrade

    url = _settings(database_url=database_url).database_url
    upgrade(url)

    async def run() -> T:
        database = Database(url)
        try:
            return await work(ApplicationRepository(database))
        finally:
            await database.dispose()

    return asyncio.run(run())


@click.group()
def token() -> None:
    """API tokens for applications."""


@token.command("create")
@click.argument("application")
@_database_option
def token_create(application: str, database_url: str | None) -> None:
    """Create a bearer token for APPLICATION (created if new); the token is the last line printed."""
    from meetbridge.db.applications import TokenRow

    application_id, new_token = _with_repository(database_url, lambda repo: repo.create_token(application))
    click.echo(
        f"application {application} ({application_id}), token id {TokenRow.id_of(new_token)}; "
        "keep this token, it is shown once:"
    )
    click.echo(new_token)


@token.command("list")
@_database_option
def token_list(database_url: str | None) -> None:
    """Every token: its id, its application and when it was made (never the token itself)."""
    rows = _with_repository(database_url, lambda repo: repo.tokens())
    if not rows:
        click.echo("no tokens")
    for row in rows:
        click.echo(f"{row.token_id}  {row.application}  created {row.created_at.isoformat()}")


@token.command("revoke")
@click.argument("token_id")
@_database_option
def token_revoke(token_id: str, database_url: str | None) -> None:
    """Revoke the token whose id starts with TOKEN_ID (at least 8 characters, as `token list` shows).

    Every process refuses it within a second (their token cache holds an answer for a second)."""
    if len(token_id) < 8:
        raise click.UsageError("give at least 8 characters of the token id (see `meetbridge token list`)")
    revoked = _with_repository(database_url, lambda repo: repo.revoke(token_id))
    if revoked is None:
        click.echo(f"no token has an id starting with {token_id}", err=True)
        raise SystemExit(1)
    if isinstance(revoked, int):
        click.echo(f"{revoked} tokens have ids starting with {token_id}: give more of it", err=True)
        raise SystemExit(1)
    click.echo(f"revoked token {revoked.token_id} of {revoked.application}")
