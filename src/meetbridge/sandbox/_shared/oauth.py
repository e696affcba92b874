"""Stand-in Google and Microsoft OAuth 2.0 endpoints, so the calendar connect flow runs locally.

`GET /_oauth/{google|microsoft}/authorize` consents at once: it redirects (302) to `redirect_uri` with a
`code` and the `state` it was given, remembering any PKCE `code_challenge`. `POST .../token` takes the
form-encoded `authorization_code` grant (`code`, `redirect_uri`, `client_id`, `client_secret`,
`code_verifier`, checked against the challenge, S256 or plain) or a `refresh_token` grant, and answers
`{access_token, refresh_token, expires_in, token_type, scope, id_token, email}`. A wrong code, verifier
or redirect URI is 400 `{"error": "invalid_grant"}` (RFC 6749 §5.2). Refresh tokens minted here tell the
Calendar V2 stand-in which mailbox a calendar belongs to (`platform_email`).

No client registry: any client id is accepted and any non-empty secret. The `id_token` is an unsigned
JWT (alg `none`): this is a test double, nobody should verify it, and `email` is also given in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import msgspec
from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.params import FromPath
from litestar.response import Redirect

from meetbridge.sandbox._shared.clock import SandboxClock
from meetbridge.sandbox._shared.http import AnyRequest

PROVIDERS = ("google", "microsoft")
DEFAULT_EMAIL = "sandbox.user@example.com"
_ISSUERS = {
    "google": "https://accounts.google.com",
    "microsoft": "https://login.microsoftonline.com/common/v2.0",
}


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(status, error, description)
        self.status, self.body = status, {"error": error, "error_description": description}


class TokenOut(msgspec.Struct, omit_defaults=True):
    access_token: str
    expires_in: int
    token_type: str
    scope: str
    id_token: str
    email: str
    refresh_token: str | None = None


@dataclass(frozen=True)
class _Grant:
    provider: str
    client_id: str
    redirect_uri: str
    challenge: str | None
    method: str
    email: str
    scope: str
    expires_at: datetime


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class OAuthStandIn:
    """Codes and refresh tokens in memory. Every operation is synchronous, so on the server's one event
    loop each runs whole; no lock is needed."""

    def __init__(
        self, *, clock: SandboxClock | None = None, default_email: str = DEFAULT_EMAIL, token_ttl: int = 3599
    ) -> None:
        self.clock = clock or SandboxClock()
        self.default_email = default_email
        self.token_ttl = token_ttl
        self._codes: dict[str, _Grant] = {}
        self._refresh: dict[str, _Grant] = {}

    def email_for(self, refresh_token: str) -> str | None:
        grant = self._refresh.get(refresh_token)
        return grant.email if grant else None

    def authorize(self, provider: str, params: dict[str, str]) -> str:
        """The URL the browser is sent back to; errors the client cannot be told of raise OAuthError."""
        client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
        target = urlsplit(redirect_uri)
        if not client_id or target.scheme not in ("http", "https") or not target.netloc:
            raise OAuthError(400, "invalid_request", "client_id and an absolute redirect_uri are required")
        method = params.get("code_challenge_method", "plain" if params.get("code_challenge") else "")
        answer: dict[str, str]
        if params.get("response_type") != "code":
            answer = {"error": "unsupported_response_type"}
        elif params.get("code_challenge") and method not in ("S256", "plain"):
            answer = {"error": "invalid_request", "error_description": "unsupported code_challenge_method"}
        else:
            code = secrets.token_urlsafe(24)
            self._codes[code] = _Grant(
                provider=provider,
                client_id=client_id,
                redirect_uri=redirect_uri,
                challenge=params.get("code_challenge") or None,
                method=method,
                email=params.get("login_hint") or self.default_email,
                scope=params.get("scope", ""),
                expires_at=self.clock.now() + timedelta(minutes=10),
            )
            answer = {"code": code}
        if "state" in params:
            answer["state"] = params["state"]
        return redirect_uri + ("&" if target.query else "?") + urlencode(answer)

    def token(self, provider: str, form: dict[str, str], basic: tuple[str, str] | None) -> TokenOut:
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        grant_type = form.get("grant_type")
        if grant_type not in ("authorization_code", "refresh_token"):
            raise OAuthError(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
        if not client_id or not secret:
            raise OAuthError(401, "invalid_client", "client authentication failed")
        if grant_type == "refresh_token":
            grant = self._refresh.get(form.get("refresh_token", ""))
            if grant is None or (grant.provider, grant.client_id) != (provider, client_id):
                raise OAuthError(400, "invalid_grant", "unknown refresh token")
            # Microsoft rotates refresh tokens on every use; Google keeps its one and omits it here.
            return self._issue(grant, rotate=provider == "microsoft")
        # A code is spent by its first presentation, right or wrong (RFC 6749 §4.1.2).
        grant = self._codes.pop(form.get("code", ""), None)
        if (
            grant is None
            or grant.expires_at <= self.clock.now()
            or (grant.provider, grant.client_id, grant.redirect_uri)
            != (provider, client_id, form.get("redirect_uri"))
            or not _verifier_matches(grant, form.get("code_verifier"))
        ):
            raise OAuthError(400, "invalid_grant", "the code, redirect_uri or code_verifier is not valid")
        return self._issue(grant, rotate=True)

    def _issue(self, grant: _Grant, *, rotate: bool) -> TokenOut:
        refresh = None
        if rotate:
            refresh = f"sandbox-{grant.provider}-refresh-{secrets.token_urlsafe(24)}"
            self._refresh[refresh] = grant
        return TokenOut(
            access_token=f"sandbox-{grant.provider}-access-{secrets.token_urlsafe(24)}",
            expires_in=self.token_ttl,
            token_type="Bearer",  # noqa: S106 - the OAuth token type, not a secret
            scope=grant.scope,
            id_token=self._id_token(grant),
            email=grant.email,
            refresh_token=refresh,
        )

    def _id_token(self, grant: _Grant) -> str:
        now = int(self.clock.now().timestamp())
        claims = {
            "iss": _ISSUERS[grant.provider],
            "aud": grant.client_id,
            "sub": hashlib.sha256(grant.email.encode()).hexdigest()[:21],
            "email": grant.email,
            "email_verified": True,
            "preferred_username": grant.email,
            "iat": now,
            "exp": now + self.token_ttl,
        }
        header = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        return f"{header}.{_b64url(json.dumps(claims).encode())}."


def _verifier_matches(grant: _Grant, verifier: str | None) -> bool:
    if grant.challenge is None:
        return True  # PKCE is optional for confidential clients; a stray verifier is ignored
    if not verifier:
        return False
    computed = _b64url(hashlib.sha256(verifier.encode()).digest()) if grant.method == "S256" else verifier
    return hmac.compare_digest(computed, grant.challenge)


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    """client_secret_basic (RFC 6749 §2.3.1) as an alternative to credentials in the form."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(value).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return client_id, secret


OAuthDep = NamedDependency[OAuthStandIn]


def _error(exc: OAuthError) -> Response[Any]:
    return Response(content=exc.body, status_code=exc.status, media_type=MediaType.JSON)


@get("/_oauth/{provider:str}/authorize", operation_id="sandbox_oauth_authorize", status_code=302)
async def authorize(request: AnyRequest, provider: FromPath[str], oauth_stand_in: OAuthDep) -> Response[Any]:
    if provider not in PROVIDERS:
        return _error(OAuthError(404, "not_found", f"no OAuth stand-in for {provider!r}"))
    try:
        location = oauth_stand_in.authorize(provider, dict(request.query_params.items()))
    except OAuthError as exc:
        return _error(exc)
    return Redirect(path=location, status_code=302)


@post("/_oauth/{provider:str}/token", operation_id="sandbox_oauth_token", status_code=200)
async def token(request: AnyRequest, provider: FromPath[str], oauth_stand_in: OAuthDep) -> Response[Any]:
    if provider not in PROVIDERS:
        return _error(OAuthError(404, "not_found", f"no OAuth stand-in for {provider!r}"))
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    try:
        issued = oauth_stand_in.token(provider, form, _basic_auth(request.headers.get("authorization")))
    except OAuthError as exc:
        return _error(exc)
    # Token responses must not be cached (RFC 6749 §5.1).
    return Response(
        content=issued, status_code=200, media_type=MediaType.JSON, headers={"Cache-Control": "no-store"}
    )


OAUTH_HANDLERS = [authorize, token]
