"""``meetbridge audit``: the drift audit on demand, beside a running server (same database and file).

Without ``--repair`` it only reads (the provider's listings and the database): no provider write, no
row. With it, repairs go through the same paths as the server's scheduled audit; the events' jobs it
enqueues are run by the server's worker.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import msgspec

from meetbridge.cli.commands import _config_naming, _config_option, _database_option, _settings

if TYPE_CHECKING:
    from meetbridge.engine.audit import AuditResult


def difference_line(result: AuditResult, index: int) -> str:
    difference = result.differences[index]
    event = difference.event_id or difference.event_uid or "-"
    action = result.actions.get(difference.bot_id)
    return (
        f"{difference.kind} profile={result.profile_id} calendar={difference.calendar_id or '-'} "
        f"event={event} bot={difference.bot_id}"
        + (f" [{action}]" if action else "")
        + f": {difference.detail}"
    )


def _as_json(results: list[AuditResult]) -> str:
    document: list[dict[str, Any]] = []
    for result in results:
        document.append(
            {
                "profile_id": result.profile_id,
                "provider_calls": result.provider_calls,
                "error": result.error,
                "differences": [
                    {
                        "kind": str(d.kind),
                        "calendar_id": d.calendar_id,
                        "event_id": d.event_id,
                        "event_uid": d.event_uid,
                        "bot_id": d.bot_id,
                        "detail": d.detail,
                        "action": result.actions.get(d.bot_id),
                    }
                    for d in result.differences
                ],
            }
        )
    return msgspec.json.format(msgspec.json.encode(document), indent=2).decode()


@click.command("audit")
@click.argument("profile_ids", nargs=-1)
@_config_option
@_database_option
@click.option("--repair", is_flag=True, help="Also repair what differs (else nothing is changed).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of lines.")
def audit(
    profile_ids: tuple[str, ...],
    config_path: Path | None,
    database_url: str | None,
    repair: bool,
    as_json: bool,
) -> None:
    """Compare the provider's bots for future events with what the extensions want, for every profile
    that can be audited (or PROFILE_IDS): one line per difference (missing, orphan, stale, foreign).
    Exit 0 when nothing differs, 1 when something does, 2 on a configuration problem."""
    from meetbridge.app import build_gateway
    from meetbridge.db.migrate import upgrade

    settings = _settings(config_path, database_url)
    config = _config_naming(settings, profile_ids)
    if repair:
        upgrade(settings.database_url)  # a look-only audit writes nothing, not even a schema

    async def run() -> list[AuditResult]:
        gateway = build_gateway(settings, config)
        try:
            drift = gateway.drift_audit()
            targets = list(profile_ids) or drift.audited_profiles()
            results = []
            for profile_id in targets:
                run_id = await drift.store.claim(profile_id, not_since=None) if repair else None
                if run_id is None:
                    results.append(await drift.run(profile_id))
                else:
                    results.append(await drift.audit_and_record(profile_id, run_id))
            return results
        finally:
            await gateway.aclose()

    results = asyncio.run(run())
    if as_json:
        click.echo(_as_json(results))
    else:
        for result in results:
            if result.error:
                click.echo(f"profile {result.profile_id}: not audited: {result.error}", err=True)
            for index in range(len(result.differences)):
                click.echo(difference_line(result, index))
    if any(r.error for r in results if r.profile_id in profile_ids):
        raise SystemExit(2)
    raise SystemExit(1 if any(r.differences for r in results) else 0)
