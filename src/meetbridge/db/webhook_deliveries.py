"""The sending side of the outbound webhooks' outbox: claim due messages with a lease (any number of
replicas on one database), record each attempt, schedule the next or give up.

Claims are fair between endpoints: at most ``per_endpoint`` due messages of one endpoint are taken
at a time, so a slow or dead endpoint's backlog never holds back another endpoint's messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import msgspec
import sqlalchemy as sa

from meetbridge.db.database import Database
from meetbridge.db.tables import utcnow
from meetbridge.db.webhook_outbox import DISABLED, ENABLED
from meetbridge.db.webhook_tables import webhook_attempts, webhook_endpoints, webhook_messages

DELIVERED, FAILING, FAILED = "delivered", "failing", "failed"
# An endpoint that has failed every attempt for this long is disabled (re-enabled by a PATCH).
DISABLE_AFTER = timedelta(days=5)
# Delivered and failed messages (and their attempts) are kept this long for the delivery log.
KEEP_FINISHED = timedelta(days=30)


class ClaimedMessage(msgspec.Struct, frozen=True, kw_only=True):
    pk: int
    message_id: str
    endpoint_id: str
    url: str
    body: str
    attempts: int
    created_at: datetime
    secret: str  # as stored (sealed or plain); opened by the sender
    previous_secret: str | None


class Attempt(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _due(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        webhook_messages.c.next_attempt_at <= now,
        sa.or_(webhook_messages.c.lease_expires_at.is_(None), webhook_messages.c.lease_expires_at < now),
        webhook_endpoints.c.status == ENABLED,
    )


class DeliveryStore:
    def __init__(self, database: Database, *, lease: timedelta = timedelta(seconds=60)) -> None:
        self.database = database
        self.lease = lease  # longer than one attempt's timeout: a live sender never loses its claim

    async def claim(
        self, owner: str, limit: int, *, per_endpoint: int, busy: Sequence[str] = ()
    ) -> list[ClaimedMessage]:
        """Lease up to ``limit`` due messages, at most ``per_endpoint`` of each endpoint (less the
        ones of ``busy``: this sender's messages in flight, one entry each)."""
        now = utcnow()
        ranked = (
            sa.select(
                webhook_messages.c.pk,
                webhook_messages.c.endpoint_id,
                sa.func.row_number()
                .over(
                    partition_by=webhook_messages.c.endpoint_id, order_by=webhook_messages.c.next_attempt_at
                )
                .label("rank"),
            )
            .join(webhook_endpoints, webhook_endpoints.c.id == webhook_messages.c.endpoint_id)
            .where(_due(now))
            .subquery()
        )
        async with self.database.read() as connection:
            candidates = (
                await connection.execute(
                    sa.select(ranked.c.pk, ranked.c.endpoint_id)
                    .where(ranked.c.rank <= per_endpoint)
                    .order_by(ranked.c.rank)
                    .limit(limit * 2)
                )
            ).all()
        in_flight = {endpoint: busy.count(endpoint) for endpoint in set(busy)}
        chosen: list[int] = []
        for pk, endpoint in candidates:
            if in_flight.get(endpoint, 0) < per_endpoint and len(chosen) < limit:
                in_flight[endpoint] = in_flight.get(endpoint, 0) + 1
                chosen.append(pk)
        if not chosen:
            return []
        query = (
            sa.select(
                webhook_messages.c.pk,
                webhook_messages.c.message_id,
                webhook_messages.c.endpoint_id,
                webhook_messages.c.body,
                webhook_messages.c.attempts,
                webhook_messages.c.created_at,
                webhook_endpoints.c.url,
                webhook_endpoints.c.secret,
                webhook_endpoints.c.previous_secret,
                webhook_endpoints.c.previous_secret_expires_at,
            )
            .join(webhook_endpoints, webhook_endpoints.c.id == webhook_messages.c.endpoint_id)
            .where(webhook_messages.c.pk.in_(chosen), _due(now))
        )
        if not self.database.is_sqlite:
            query = query.with_for_update(of=webhook_messages, skip_locked=True)
        async with self.database.write() as connection:
            rows = (await connection.execute(query)).all()
            if rows:
                await connection.execute(
                    webhook_messages.update()
                    .where(webhook_messages.c.pk.in_([row.pk for row in rows]))
                    .values(lease_owner=owner, lease_expires_at=now + self.lease)
                )
        return [
            ClaimedMessage(
                pk=row.pk,
                message_id=row.message_id,
                endpoint_id=row.endpoint_id,
                url=row.url,
                body=row.body,
                attempts=row.attempts,
                created_at=row.created_at,
                secret=row.secret,
                previous_secret=(
                    row.previous_secret
                    if row.previous_secret_expires_at is not None and row.previous_secret_expires_at > now
                    else None
                ),
            )
            for row in rows
        ]

    async def record(
        self, owner: str, message: ClaimedMessage, attempt: Attempt, *, retry_in: float | None
    ) -> None:
        """Store the attempt; on failure, try again in ``retry_in`` seconds, or (None) give up."""
        if attempt.succeeded:
            state, next_at = DELIVERED, None
        elif retry_in is None:
            state, next_at = FAILED, None
        else:
            state, next_at = FAILING, attempt.at + timedelta(seconds=retry_in)
        async with self.database.write() as connection:
            mine = sa.and_(webhook_messages.c.pk == message.pk, webhook_messages.c.lease_owner == owner)
            updated = await connection.execute(
                webhook_messages.update()
                .where(mine)
                .values(
                    state=state,
                    attempts=webhook_messages.c.attempts + 1,
                    next_attempt_at=next_at,
                    lease_owner=None,
                    lease_expires_at=None,
                )
            )
            if not updated.rowcount:
                return  # deleted with its endpoint meanwhile (or the lease was lost)
            await connection.execute(
                webhook_attempts.insert().values(
                    message_pk=message.pk,
                    at=attempt.at,
                    status_code=attempt.status_code,
                    error=attempt.error,
                    duration_ms=attempt.duration_ms,
                )
            )
            endpoint = webhook_endpoints.c.id == message.endpoint_id
            if attempt.succeeded:
                await connection.execute(
                    webhook_endpoints.update()
                    .where(endpoint, webhook_endpoints.c.failing_since.is_not(None))
                    .values(failing_since=None)
                )
                return
            await connection.execute(
                webhook_endpoints.update()
                .where(endpoint, webhook_endpoints.c.failing_since.is_(None))
                .values(failing_since=attempt.at)
            )
            await connection.execute(
                webhook_endpoints.update()
                .where(endpoint, webhook_endpoints.c.failing_since < attempt.at - DISABLE_AFTER)
                .values(status=DISABLED, updated_at=attempt.at)
            )

    async def next_due(self) -> datetime | None:
        """When the earliest message not held by a live lease becomes due (for the sender's sleep)."""
        async with self.database.read() as connection:
            found: datetime | None = await connection.scalar(
                sa.select(
                    sa.func.min(
                        sa.func.coalesce(
                            webhook_messages.c.lease_expires_at, webhook_messages.c.next_attempt_at
                        )
                    )
                )
                .join(webhook_endpoints, webhook_endpoints.c.id == webhook_messages.c.endpoint_id)
                .where(webhook_messages.c.next_attempt_at.is_not(None), webhook_endpoints.c.status == ENABLED)
            )
            return found

    async def prune(self, older_than: timedelta = KEEP_FINISHED) -> int:
        """Forget finished messages older than ``older_than`` (their attempts go with them)."""
        async with self.database.write() as connection:
            deleted = await connection.execute(
                webhook_messages.delete().where(
                    webhook_messages.c.next_attempt_at.is_(None),
                    webhook_messages.c.created_at < utcnow() - older_than,
                )
            )
        return int(deleted.rowcount or 0)

    async def outstanding(self) -> int:
        """Messages still to be delivered (pending or failing)."""
        async with self.database.read() as connection:
            return int(
                await connection.scalar(
                    sa.select(sa.func.count())
                    .select_from(webhook_messages)
                    .where(webhook_messages.c.next_attempt_at.is_not(None))
                )
                or 0
            )
