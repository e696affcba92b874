"""``meetbridge status``: what an on-call person reads first, from the database alone."""

from __future__ import annotations

import asyncio

import click
import msgspec

from meetbridge.cli.commands import _database_option, _settings


@click.command("status")
@_database_option
@click.option("--check", is_flag=True, help="Exit 1 when something needs a person, naming it (for cron).")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON (what GET /v1/status answers).")
def status(database_url: str | None, check: bool, as_json: bool) -> None:
    """The queue, failing extensions by reason, disconnected links and the last webhook per profile.

    Reads the database only (no provider is called). Exit 0; with --check, 1 when something needs a
    person; 2 when the database cannot be read or its schema is not this version's.
    """
    from meetbridge.runtime.status import render_text, status_report_of

    settings = _settings(database_url=database_url)
    try:
        report = asyncio.run(status_report_of(settings.database_url))
    except RuntimeError as exc:
        click.echo(f"meetbridge status: {exc}", err=True)
        raise SystemExit(2) from None
    click.echo(msgspec.json.format(msgspec.json.encode(report)).decode() if as_json else render_text(report))
    if check and report.needs_attention:
        raise SystemExit(1)
