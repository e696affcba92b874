"""A provider's bot status report applied to the extensions carrying that bot, in the caller's
transaction: the status (``fatal`` fails the extension), ``metadata.<provider>.status`` on the event,
and the outbound webhook message it causes. Reports arrive late and out of order: one older than the
report an extension already holds changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from meetbridge.db.tables import event_extensions, events, utcnow
from meetbridge.db.webhook_outbox import Report, note_change


async def apply_bot_status(
    connection: AsyncConnection,
    bot_id: str,
    code: str,
    sub_code: str | None,
    *,
    profile_ids: Sequence[str],
    reported_at: datetime | None,
) -> tuple[int, int]:
    """Apply the report to the extensions of ``profile_ids`` (the profiles of the account it was
    verified for) carrying ``bot_id``; returns (extensions changed, webhook messages written)."""
    now, told = utcnow(), 0
    at = reported_at.replace(tzinfo=reported_at.tzinfo or UTC) if reported_at else None
    found = await connection.execute(
        sa.select(
            event_extensions.c.event_pk, event_extensions.c.provider, event_extensions.c.bot_status_at
        ).where(event_extensions.c.bot_id == bot_id, event_extensions.c.profile_id.in_(list(profile_ids)))
    )
    rows = [row for row in found if at is None or row.bot_status_at is None or row.bot_status_at <= at]
    for row in rows:
        values: dict[str, Any] = {"bot_status": code, "bot_status_at": at or row.bot_status_at}
        if code == "fatal":
            reason = sub_code or "unknown"
            values.update(
                status="failed", last_error=f"the bot failed at Recall (sub_code: {reason})", updated_at=now
            )
        await connection.execute(
            event_extensions.update()
            .where(event_extensions.c.event_pk == row.event_pk, event_extensions.c.provider == row.provider)
            .values(**values)
        )
        metadata = dict(
            await connection.scalar(
                sa.select(events.c.metadata).where(events.c.pk == row.event_pk).with_for_update()
            )
            or {}
        )
        metadata[row.provider] = {**(metadata.get(row.provider) or {}), "bot_id": bot_id, "status": code}
        await connection.execute(
            events.update().where(events.c.pk == row.event_pk).values(metadata=metadata, updated_at=now)
        )
        told += await note_change(connection, row.event_pk, row.provider, report=Report(code, sub_code))
    return len(rows), told
