"""What ``meetbridge status`` and ``GET /v1/status`` report, and what in it needs a person.

Needs a person: an upcoming meeting whose extension failed, a disconnected calendar link, a due job
that has waited longer than QUEUE_BEHIND_SECONDS (the worker is down or cannot keep up), a profile
whose last webhook was rejected with none verified since (a wrong or rotated webhook secret).
Failures of meetings that have ended are history, not work: they are left out.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
import sqlalchemy as sa

from meetbridge.db.database import Database
from meetbridge.db.migrate import SchemaStatus, schema_state
from meetbridge.db.operations import (
    DisconnectedLink,
    FailureGroup,
    QueueDepth,
    WebhookReceipt,
    WebhookReceipts,
    disconnected_links,
    failing_extensions,
    profiles_of,
    queue_depths,
)
from meetbridge.db.tables import utcnow
from meetbridge.errors import StorageError

QUEUE_BEHIND_SECONDS = 300.0


class StatusReport(msgspec.Struct, frozen=True, kw_only=True):
    generated_at: datetime
    queue: list[QueueDepth]
    failing_extensions: list[FailureGroup]
    disconnected_links: list[DisconnectedLink]
    webhooks: list[WebhookReceipt]
    needs_attention: list[str]


def attention(
    queue: list[QueueDepth],
    failing: list[FailureGroup],
    links: list[DisconnectedLink],
    webhooks: list[WebhookReceipt],
) -> list[str]:
    found = [
        f"{depth.kind} jobs are behind: the oldest due one has waited {depth.oldest_due_seconds:.0f}s"
        for depth in queue
        if depth.oldest_due_seconds > QUEUE_BEHIND_SECONDS
    ]
    for group in failing:
        example = group.examples[0]
        found.append(
            f"{group.count} upcoming extension{'s' if group.count != 1 else ''} failed ({group.reason}), "
            f"e.g. calendar {example.calendar_id} event {example.event}: {example.sentence}"
        )
    found += [
        f"calendar {link.calendar_id} is disconnected from profile {link.profile_id}"
        + (f": {link.detail}" if link.detail else "")
        for link in links
    ]
    for receipt in webhooks:
        rejected, verified = receipt.last_rejected_at, receipt.last_verified_at
        if rejected is not None and (verified is None or verified < rejected):
            found.append(
                f"profile {receipt.profile_id}: its last webhook was rejected ({receipt.last_rejection}) "
                f"and none has verified since; check its webhook_secret"
            )
    return found


async def status_report(database: Database, now: datetime, application_id: str | None = None) -> StatusReport:
    """The whole gateway's state, or with ``application_id`` only that application's own."""
    queue = await queue_depths(database, now, application_id)
    failing = await failing_extensions(database, application_id, ending_after=now)
    links = await disconnected_links(database, application_id)
    profiles = None if application_id is None else await profiles_of(database, application_id)
    webhooks = await WebhookReceipts(database).all(profiles)
    return StatusReport(
        generated_at=now,
        queue=queue,
        failing_extensions=failing,
        disconnected_links=links,
        webhooks=webhooks,
        needs_attention=attention(queue, failing, links, webhooks),
    )


async def status_report_of(database_url: str) -> StatusReport:
    """The whole gateway's report, for the command line; RuntimeError saying why it cannot be read."""
    database = Database(database_url)
    try:
        try:
            async with database.read() as connection:
                schema = await schema_state(connection)
        except (StorageError, OSError, sa.exc.SQLAlchemyError) as exc:
            raise RuntimeError(f"the database cannot be read: {exc}") from None
        if schema.status != SchemaStatus.CURRENT:
            raise RuntimeError(
                f"the database schema is {schema.status} (at {schema.revision}, this version needs "
                f"{schema.head}): run meetbridge db upgrade with the matching version"
            )
        return await status_report(database, utcnow())
    finally:
        await database.dispose()


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment else "never"


def render_text(report: StatusReport) -> str:
    lines = [f"meetbridge status at {_when(report.generated_at)}", "", "Queue:"]
    lines += [
        f"  {d.kind}: {d.queued} queued, {d.running} running, {d.retrying} retrying; "
        f"oldest due {d.oldest_due_seconds:.0f}s"
        for d in report.queue
    ] or ["  empty"]
    lines += ["", "Failing extensions (upcoming meetings):"]
    for group in report.failing_extensions:
        lines.append(f"  {group.reason}: {group.count}")
        lines += [
            f"    calendar {e.calendar_id} event {e.event} ({e.profile_id}): {e.sentence}"
            for e in group.examples
        ]
    if not report.failing_extensions:
        lines.append("  none")
    lines += ["", "Disconnected links:"]
    lines += [
        f"  calendar {link.calendar_id} profile {link.profile_id} since {_when(link.since)}"
        + (f": {link.detail}" if link.detail else "")
        for link in report.disconnected_links
    ] or ["  none"]
    lines += ["", "Last webhook per profile:"]
    lines += [
        f"  {w.profile_id}: verified {_when(w.last_verified_at)}, rejected {_when(w.last_rejected_at)}"
        + (f" ({w.last_rejection})" if w.last_rejection else "")
        for w in report.webhooks
    ] or ["  none received"]
    lines += ["", "Needs attention:" if report.needs_attention else "Nothing needs attention."]
    lines += [f"  - {line}" for line in report.needs_attention]
    return "\n".join(lines)
