"""Applications and their API tokens. Only a SHA-256 of a token is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa

from meetbridge.db.database import Database
from meetbridge.db.ids import new_id
from meetbridge.db.tables import api_tokens, applications, utcnow

TOKEN_PREFIX = "mbt_"  # noqa: S105 - marks our tokens for log and secret scanners


TOKEN_ID_LENGTH = 12  # of the hash's hex digits: says which token, reveals nothing of it


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenRow(msgspec.Struct, frozen=True, kw_only=True):
    token_id: str
    application: str
    created_at: datetime

    @staticmethod
    def id_of(token: str) -> str:
        return hash_token(token)[:TOKEN_ID_LENGTH]


def _token_row(row: Any) -> TokenRow:
    return TokenRow(
        token_id=row.token_hash[:TOKEN_ID_LENGTH], application=row.name, created_at=row.created_at
    )


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

    async def tokens(self) -> list[TokenRow]:
        async with self.database.read() as connection:
            rows = await connection.execute(
                sa.select(api_tokens.c.token_hash, applications.c.name, api_tokens.c.created_at)
                .join(applications, applications.c.id == api_tokens.c.application_id)
                .order_by(applications.c.name, api_tokens.c.created_at)
            )
            return [
                TokenRow(
                    token_id=row.token_hash[:TOKEN_ID_LENGTH], application=row.name, created_at=row.created_at
                )
                for row in rows
            ]

    async def revoke(self, token_id: str) -> TokenRow | int | None:
        """Delete the one token whose id starts with ``token_id``: that token, or how many match
        when more than one does (nothing is deleted then), or None when none does."""
        prefix = token_id.lower()
        if not all(c in "0123456789abcdef" for c in prefix):
            return None
        async with self.database.write() as connection:
            rows = list(
                await connection.execute(
                    sa.select(api_tokens.c.token_hash, applications.c.name, api_tokens.c.created_at)
                    .join(applications, applications.c.id == api_tokens.c.application_id)
                    .where(api_tokens.c.token_hash.startswith(prefix, autoescape=True))
                )
            )
            if len(rows) != 1:
                return len(rows) or None
            [row] = rows
            await connection.execute(api_tokens.delete().where(api_tokens.c.token_hash == row.token_hash))
        return TokenRow(
            token_id=row.token_hash[:TOKEN_ID_LENGTH], application=row.name, created_at=row.created_at
        )
