"""Applications and their API tokens. Only a SHA-256 of a token is stored."""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa

from meetbridge.db.database import Database
from meetbridge.db.ids import new_id
from meetbridge.db.tables import api_tokens, applications, utcnow

TOKEN_PREFIX = "mbt_"  # noqa: S105 - marks our tokens for log and secret scanners


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApplicationRepository:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def create_token(self, application_name: str) -> tuple[str, str]:
        """Return (application_id, token); the application is created on first use of its name."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        async with self.database.write() as connection:
            application_id = await connection.scalar(
                sa.select(applications.c.id).where(applications.c.name == application_name)
            )
            if application_id is None:
                application_id = new_id("app_")
                await connection.execute(
                    applications.insert().values(
                        id=application_id, name=application_name, created_at=utcnow()
                    )
                )
            await connection.execute(
                api_tokens.insert().values(
                    token_hash=hash_token(token), application_id=application_id, created_at=utcnow()
                )
            )
        return application_id, token

    async def application_for_token(self, token: str) -> str | None:
        async with self.database.read() as connection:
            found: str | None = await connection.scalar(
                sa.select(api_tokens.c.application_id).where(api_tokens.c.token_hash == hash_token(token))
            )
            return found
