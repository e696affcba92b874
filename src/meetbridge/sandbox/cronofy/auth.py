"""Accounts, access and refresh tokens, and the OAuth token endpoint's rules (reference §6, RFC 6749).

Refresh tokens rotate: each refresh answers a new one and the old one stops working (`invalid_grant`).
Access tokens live `access_token_lifetime` seconds on the sandbox clock; refreshing does not cut short
the ones already issued.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import itertools
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, unquote

import msgspec

from meetbridge.sandbox.cronofy.models import OAuthErrorOut, TokenOut

DEFAULT_SCOPE = "read_account list_calendars read_events create_event delete_event"


class OAuthError(Exception):
    """RFC 6749 §5.2: 400 with `{"error"}`, or 401 when the client authenticated with HTTP Basic."""

    def __init__(self, error: str, status: int = 400, headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.body = OAuthErrorOut(error=error)
        self.headers = headers or {}


@dataclass
class Account:
    id: str
    calendar_ids: tuple[str, ...]
    scope: str
    refresh_token: str | None
    revoked: bool = False

    def allows(self, scope: str) -> bool:
        return scope in self.scope.split()


@dataclass(frozen=True)
class _Grant:
    account_id: str
    expires_at: datetime


class TokenBook:
    def __init__(self, *, client_id: str, client_secret: str, lifetime: int) -> None:
        if lifetime <= 0:
            raise ValueError("access_token_lifetime must be positive")
        self.client_id = client_id
        self.client_secret = client_secret
        self.lifetime = timedelta(seconds=lifetime)
        self.accounts: dict[str, Account] = {}
        self._access: dict[str, _Grant] = {}
        self._refresh: dict[str, str] = {}  # current refresh token -> account id
        self._calendars: dict[str, str] = {}  # calendar id -> account id
        self._ids = itertools.count(1)

    def add(self, calendar_ids: Collection[str], scope: str, now: datetime) -> tuple[Account, str, str]:
        taken = sorted(set(calendar_ids) & self._calendars.keys())
        if taken or not calendar_ids or isinstance(calendar_ids, str):
            raise ValueError(f"calendar_ids must be a non-empty collection of unused ids (taken: {taken})")
        account = Account(
            id=f"acc_{next(self._ids):024x}",
            calendar_ids=tuple(calendar_ids),
            scope=scope,
            refresh_token=None,
        )
        self.accounts[account.id] = account
        self._calendars.update(dict.fromkeys(account.calendar_ids, account.id))
        return account, self._issue_access(account, now), self._rotate_refresh(account)

    def owner_of(self, calendar_id: str) -> str | None:
        return self._calendars.get(calendar_id)

    def authenticate(self, authorization: str | None, now: datetime) -> Account | None:
        """The account of a live `Bearer` access token; None for unknown, expired or revoked ones."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        grant = self._access.get(token.strip()) if scheme.lower() == "bearer" else None
        if grant is None or now >= grant.expires_at:
            return None
        account = self.accounts[grant.account_id]
        return None if account.revoked else account

    def live_access_tokens(self, account_id: str, now: datetime) -> int:
        return sum(1 for g in self._access.values() if g.account_id == account_id and now < g.expires_at)

    def refresh(self, params: dict[str, str], now: datetime) -> TokenOut:
        grant_type = params.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request")
        if grant_type != "refresh_token":
            raise OAuthError("unsupported_grant_type")
        token = params.get("refresh_token")
        if not token:
            raise OAuthError("invalid_request")
        account_id = self._refresh.get(token)
        if account_id is None or self.accounts[account_id].revoked:
            raise OAuthError("invalid_grant")
        account = self.accounts[account_id]
        # Expired grants are dropped here, the one place that adds grants over time.
        self._access = {key: g for key, g in self._access.items() if now < g.expires_at}
        return TokenOut(
            token_type="bearer",  # noqa: S106 - the OAuth token type name, not a secret
            access_token=self._issue_access(account, now),
            expires_in=int(self.lifetime.total_seconds()),
            refresh_token=self._rotate_refresh(account),
            scope=account.scope,
        )

    def revoke_account(self, account_id: str, *, access_tokens: bool) -> None:
        account = self.accounts[account_id]
        if account.refresh_token is not None:
            self._refresh.pop(account.refresh_token, None)
            account.refresh_token = None
        if access_tokens:
            account.revoked = True

    def reauthorize(self, account_id: str, now: datetime) -> tuple[str, str]:
        """The user consents again (after a revoke): new access and refresh tokens, same account."""
        account = self.accounts[account_id]
        account.revoked = False
        return self._issue_access(account, now), self._rotate_refresh(account)

    def revoke_token(self, token: str) -> None:
        """`/oauth/token/revoke`: either kind of token; unknown ones are fine (RFC 7009 §2.2)."""
        if token in self._refresh:
            self.revoke_account(self._refresh[token], access_tokens=True)
        self._access.pop(token, None)

    def check_client(self, params: dict[str, str], authorization: str | None) -> None:
        """Client credentials from the body, or from HTTP Basic (RFC 6749 §2.3.1).

        A `Bearer` header is ignored: pycronofy sends the current access token even on token calls.
        """
        basic = _basic_credentials(authorization)
        client_id, client_secret = basic or (params.get("client_id"), params.get("client_secret"))
        if client_id == self.client_id and hmac.compare_digest(
            (client_secret or "").encode(), self.client_secret.encode()
        ):
            return
        if basic is not None:
            raise OAuthError("invalid_client", 401, {"WWW-Authenticate": 'Basic realm="cronofy"'})
        raise OAuthError("invalid_client")

    def clear(self) -> None:
        self.accounts.clear()
        self._access.clear()
        self._refresh.clear()
        self._calendars.clear()

    def _issue_access(self, account: Account, now: datetime) -> str:
        token = secrets.token_urlsafe(24)
        self._access[token] = _Grant(account_id=account.id, expires_at=now + self.lifetime)
        return token

    def _rotate_refresh(self, account: Account) -> str:
        if account.refresh_token is not None:
            self._refresh.pop(account.refresh_token, None)
        account.refresh_token = secrets.token_urlsafe(24)
        self._refresh[account.refresh_token] = account.id
        return account.refresh_token


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, client_secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    return unquote(client_id), unquote(client_secret)


def oauth_params(body: bytes, content_type: str) -> dict[str, str]:
    """The token request's parameters: JSON (what pycronofy sends) or form-encoded (RFC 6749)."""
    if content_type.lower().startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(body.decode("utf-8", "replace")))
    if not body.strip():
        return {}
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise OAuthError("invalid_request") from None
    if not isinstance(decoded, dict):
        raise OAuthError("invalid_request")
    return {key: value for key, value in decoded.items() if isinstance(value, str)}
