"""The apps' webhook endpoints and their delivery logs; every read and write is scoped to one
application (another application's endpoint or message is simply not found).

Signing secrets must be read back to sign, so they cannot be hashed: with a ``[server] secret_key``
they are sealed (``config/sealing``, purpose ``WEBHOOK_SECRETS``), without one they are stored as is
(``plain:``), as the README says. A secret is shown only by create and rotate.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import msgspec
import sqlalchemy as sa

from meetbridge.config.sealing import SealError, seal, unseal
from meetbridge.db.database import Database
from meetbridge.db.ids import new_id
from meetbridge.db.tables import utcnow
from meetbridge.db.webhook_outbox import ENABLED, PENDING
from meetbridge.db.webhook_tables import webhook_attempts, webhook_endpoints, webhook_messages
from meetbridge.errors import NotFound

WEBHOOK_SECRETS = "meetbridge/webhook-secrets/v1"
# After a rotation the old secret still signs (a second signature) for this long.
ROTATION_OVERLAP = timedelta(hours=24)
_SEALED, _PLAIN = "sealed:", "plain:"


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 24 random bytes in base64 (Svix's size)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def store_secret(secret: str, secret_key: str | None) -> str:
    if secret_key:
        return _SEALED + seal(secret.encode(), secret_key, purpose=WEBHOOK_SECRETS)
    return _PLAIN + secret


def open_secret(stored: str, secret_key: str | None) -> str:
    """The secret to sign with; SealError when it was sealed under another key."""
    if stored.startswith(_PLAIN):
        return stored[len(_PLAIN) :]
    if not secret_key:
        raise SealError("a webhook secret was sealed with a [server] secret_key that is no longer set")
    return unseal(stored[len(_SEALED) :], secret_key, purpose=WEBHOOK_SECRETS).decode()


class Endpoint(msgspec.Struct, frozen=True, kw_only=True):
    endpoint_id: str
    url: str
    event_types: list[str] | None
    description: str | None
    status: str
    created: datetime
    secret: str | None = None  # only right after create or rotate


class AttemptRecord(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    message_id: str
    type: str
    event_uid: str | None
    state: str
    created: datetime
    next_attempt: datetime | None
    attempts: list[AttemptRecord]


def _endpoint(row: Any, secret: str | None = None) -> Endpoint:
    return Endpoint(
        endpoint_id=row.id,
        url=row.url,
        event_types=row.event_types,
        description=row.description,
        status=row.status,
        created=row.created_at,
        secret=secret,
    )


class WebhookEndpoints:
    def __init__(self, database: Database) -> None:
        self.database = database
        # Called once a change that may make messages due now has committed (the sender's wake-up).
        self.on_message: Callable[[], None] = lambda: None

    async def create(
        self,
        application_id: str,
        *,
        url: str,
        event_types: list[str] | None,
        description: str | None,
        secret_key: str | None,
    ) -> Endpoint:
        secret, now, endpoint_id = new_secret(), utcnow(), new_id("whe_")
        values = {
            "id": endpoint_id,
            "application_id": application_id,
            "url": url,
            "event_types": event_types,
            "description": description,
            "status": ENABLED,
            "secret": store_secret(secret, secret_key),
            "created_at": now,
            "updated_at": now,
        }
        async with self.database.write() as connection:
            await connection.execute(webhook_endpoints.insert().values(**values))
        return Endpoint(
            endpoint_id=endpoint_id,
            url=url,
            event_types=event_types,
            description=description,
            status=ENABLED,
            created=now,
            secret=secret,
        )

    async def all(self, application_id: str) -> list[Endpoint]:
        async with self.database.read() as connection:
            rows = await connection.execute(
                sa.select(webhook_endpoints)
                .where(webhook_endpoints.c.application_id == application_id)
                .order_by(webhook_endpoints.c.created_at, webhook_endpoints.c.id)
            )
            return [_endpoint(row) for row in rows]

    async def get(self, application_id: str, endpoint_id: str) -> Endpoint:
        async with self.database.read() as connection:
            row = (await connection.execute(_owned(application_id, endpoint_id))).first()
        if row is None:
            raise NotFound(f"webhook endpoint {endpoint_id} not found")
        return _endpoint(row)

    async def update(self, application_id: str, endpoint_id: str, changes: dict[str, Any]) -> Endpoint:
        """Change url, event_types, description or status; enabling again forgets the failing streak."""
        values = {**changes, "updated_at": utcnow()}
        if changes.get("status") == ENABLED:
            values["failing_since"] = None
        async with self.database.write() as connection:
            updated = await connection.execute(
                webhook_endpoints.update().where(_mine(application_id, endpoint_id)).values(**values)
            )
            if not updated.rowcount:
                raise NotFound(f"webhook endpoint {endpoint_id} not found")
            row = (await connection.execute(_owned(application_id, endpoint_id))).one()
        self.on_message()  # re-enabled: its waiting messages are due
        return _endpoint(row)

    async def delete(self, application_id: str, endpoint_id: str) -> None:
        """Gone with its messages: nothing more is sent to it."""
        async with self.database.write() as connection:
            deleted = await connection.execute(
                webhook_endpoints.delete().where(_mine(application_id, endpoint_id))
            )
        if not deleted.rowcount:
            raise NotFound(f"webhook endpoint {endpoint_id} not found")

    async def rotate_secret(
        self, application_id: str, endpoint_id: str, *, secret_key: str | None
    ) -> Endpoint:
        secret, now = new_secret(), utcnow()
        async with self.database.write() as connection:
            row = (await connection.execute(_owned(application_id, endpoint_id))).first()
            if row is None:
                raise NotFound(f"webhook endpoint {endpoint_id} not found")
            await connection.execute(
                webhook_endpoints.update()
                .where(webhook_endpoints.c.id == endpoint_id)
                .values(
                    secret=store_secret(secret, secret_key),
                    previous_secret=row.secret,
                    previous_secret_expires_at=now + ROTATION_OVERLAP,
                    updated_at=now,
                )
            )
        return _endpoint(row, secret)

    async def deliveries(
        self, application_id: str, endpoint_id: str, *, before: int | None, limit: int
    ) -> tuple[list[Delivery], int | None]:
        """Newest first; the cursor for the next (older) page, or None at the end."""
        await self.get(application_id, endpoint_id)
        query = sa.select(webhook_messages).where(webhook_messages.c.endpoint_id == endpoint_id)
        if before is not None:
            query = query.where(webhook_messages.c.pk < before)
        async with self.database.read() as connection:
            rows = (
                await connection.execute(query.order_by(webhook_messages.c.pk.desc()).limit(limit + 1))
            ).all()
            page = rows[:limit]
            attempts: dict[int, list[AttemptRecord]] = {row.pk: [] for row in page}
            if page:
                for attempt in await connection.execute(
                    sa.select(webhook_attempts)
                    .where(webhook_attempts.c.message_pk.in_(list(attempts)))
                    .order_by(webhook_attempts.c.pk)
                ):
                    attempts[attempt.message_pk].append(
                        AttemptRecord(
                            at=attempt.at,
                            status_code=attempt.status_code,
                            error=attempt.error,
                            duration_ms=attempt.duration_ms,
                        )
                    )
        found = [
            Delivery(
                message_id=row.message_id,
                type=row.type,
                event_uid=row.event_uid,
                state=row.state,
                created=row.created_at,
                next_attempt=row.next_attempt_at,
                attempts=attempts[row.pk],
            )
            for row in page
        ]
        return found, (page[-1].pk if len(rows) > limit else None)

    async def retry(self, application_id: str, endpoint_id: str, message_id: str) -> None:
        """Send one message again now, whatever its state."""
        await self.get(application_id, endpoint_id)
        async with self.database.write() as connection:
            updated = await connection.execute(
                webhook_messages.update()
                .where(
                    webhook_messages.c.endpoint_id == endpoint_id, webhook_messages.c.message_id == message_id
                )
                .values(state=PENDING, next_attempt_at=utcnow())
            )
        if not updated.rowcount:
            raise NotFound(f"message {message_id} not found for webhook endpoint {endpoint_id}")
        self.on_message()


def _mine(application_id: str, endpoint_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.application_id == application_id
    )


def _owned(application_id: str, endpoint_id: str) -> sa.Select[Any]:
    return sa.select(webhook_endpoints).where(_mine(application_id, endpoint_id))
