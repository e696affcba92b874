"""The outbound webhooks' outbox: an extension's change becomes messages to the owning application's
endpoints in the transaction that made the change, so a crash loses none and a rollback sends none.

The engine calls :func:`note_change` wherever it writes an extension's status or bot id (one line at
each such write); what to tell is decided by comparing with what was last announced
(``domain.webhook_messages``). With no enabled endpoint for the application it costs one query.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from meetbridge.db.ids import new_id
from meetbridge.db.tables import calendars, event_extensions, events, utcnow
from meetbridge.db.webhook_tables import webhook_announced, webhook_endpoints, webhook_messages
from meetbridge.domain.events import meeting_url_of
from meetbridge.domain.extensions import NO_PROFILE
from meetbridge.domain.webhook_messages import Announced, message_body, messages_for, reason_of

ENABLED, DISABLED = "enabled", "disabled"
PENDING = "pending"


class Before(NamedTuple):
    """The extension's status and bot id before the change (used when nothing was announced yet)."""

    status: str | None
    bot_id: str | None


class Report(NamedTuple):
    """A provider's report of the bot's own status (Recall's ``code`` and ``sub_code``)."""

    code: str
    sub_code: str | None


def _application_of(event_pk: int) -> sa.ScalarSelect[Any]:
    return (
        sa.select(calendars.c.application_id)
        .join(events, events.c.calendar_id == calendars.c.id)
        .where(events.c.pk == event_pk)
        .scalar_subquery()
    )


def _join_at(state: dict[str, Any] | None, start_at: datetime) -> datetime:
    found = (state or {}).get("join_at")
    if isinstance(found, str):
        try:
            return datetime.fromisoformat(found.replace("Z", "+00:00"))
        except ValueError:
            pass
    return start_at


async def note_change(
    connection: AsyncConnection,
    event_pk: int,
    provider: str,
    *,
    before: Before | None = None,
    adapter: str | None = None,
    report: Report | None = None,
) -> int:
    """Write the messages this extension's change owes; returns how many (wake the sender on > 0
    once the transaction commits)."""
    endpoints = (
        await connection.execute(
            sa.select(webhook_endpoints.c.id, webhook_endpoints.c.event_types).where(
                webhook_endpoints.c.application_id == _application_of(event_pk),
                webhook_endpoints.c.status == ENABLED,
            )
        )
    ).all()
    if not endpoints:
        return 0
    row = (
        await connection.execute(
            sa.select(
                events.c.calendar_id,
                events.c.event_id,
                events.c.event_uid,
                events.c.start_at,
                events.c.fields,
                event_extensions.c.profile_id,
                event_extensions.c.status,
                event_extensions.c.bot_id,
                event_extensions.c.last_error,
                event_extensions.c.bot_status,
                event_extensions.c.provider_state,
            )
            .join(event_extensions, event_extensions.c.event_pk == events.c.pk)
            .where(events.c.pk == event_pk, event_extensions.c.provider == provider)
        )
    ).first()
    if row is None:
        return 0
    told_row = (
        await connection.execute(
            sa.select(webhook_announced).where(
                webhook_announced.c.event_pk == event_pk, webhook_announced.c.provider == provider
            )
        )
    ).first()
    if told_row is not None:
        was: Announced | None = Announced(
            status=told_row.status,
            bot_id=told_row.bot_id,
            adapter=told_row.adapter,
            join_at=told_row.join_at,
            meeting_url=told_row.meeting_url,
        )
    else:
        was = Announced(status=before.status, bot_id=before.bot_id) if before else None
    state = row.provider_state or {}
    now_state = Announced(
        status=row.status,
        bot_id=row.bot_id,
        adapter=adapter or (was.adapter if was else None),
        join_at=_join_at(state, row.start_at),
        meeting_url=meeting_url_of(row.fields or {}),
    )
    told = messages_for(was, now_state, report=report is not None)
    if not told:
        return 0
    sequence = int(
        await connection.scalar(
            sa.select(sa.func.coalesce(sa.func.max(webhook_announced.c.sequence), 0)).where(
                webhook_announced.c.event_pk == event_pk
            )
        )
        or 0
    )
    profile_id = row.profile_id
    if profile_id == NO_PROFILE:
        profile_id = state.get("profile_id") or profile_id
    now = utcnow()
    messages: list[dict[str, Any]] = []
    for message in told:
        sequence += 1
        sub_code = report.sub_code if report else None
        data = {
            "calendar_id": row.calendar_id,
            "event_id": row.event_id,
            "event_uid": row.event_uid,
            "profile_id": profile_id,
            "adapter": now_state.adapter,
            "bot_id": row.bot_id or message.previous_bot_id,
            "join_at": now_state.join_at.isoformat() if now_state.join_at else None,
            "meeting_url": now_state.meeting_url,
            "status": row.status,
            "provider_status": report.code if report else row.bot_status,
            "sub_code": sub_code,
            "reason": reason_of(row.last_error, sub_code) if message.type == "bot.failed" else None,
            "previous_bot_id": message.previous_bot_id,
            "sequence": sequence,
        }
        body = message_body(message.type, now, data).decode()
        messages += [
            {
                "message_id": new_id("msg_", 24),
                "endpoint_id": endpoint.id,
                "type": message.type,
                "event_uid": row.event_uid,
                "body": body,
                "state": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for endpoint in endpoints
            if endpoint.event_types is None or message.type in endpoint.event_types
        ]
    if messages:
        await connection.execute(webhook_messages.insert(), messages)
    remembered = {
        "sequence": sequence,
        "status": now_state.status,
        "bot_id": now_state.bot_id,
        "adapter": now_state.adapter,
        "join_at": now_state.join_at,
        "meeting_url": now_state.meeting_url,
    }
    if told_row is None:
        await connection.execute(
            webhook_announced.insert().values(event_pk=event_pk, provider=provider, **remembered)
        )
    else:
        await connection.execute(
            webhook_announced.update()
            .where(webhook_announced.c.event_pk == event_pk, webhook_announced.c.provider == provider)
            .values(**remembered)
        )
    return len(messages)
