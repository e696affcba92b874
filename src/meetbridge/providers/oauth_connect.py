"""The end-user connect flow of a Recall Calendar V2 calendar: Google/Microsoft consent → refresh token.

Recall needs a refresh token of the user's mailbox to create a calendar. meetbridge sends the user to
the provider's consent page (authorization code grant with PKCE S256) and takes the code back on its
callback. No server-side session holds the flow in between: everything the callback needs (calendar,
profile, platform, PKCE verifier) travels in ``state``, sealed with Fernet, so it can be neither read
(the verifier stays secret in the redirect URL) nor forged, and it expires.
"""

from __future__ import annotations

import base64
import binascii
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import msgspec
from authlib.common.security import generate_token
from authlib.deprecate import AuthlibDeprecationWarning
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from meetbridge.errors import InvalidRequest, ProviderRejected, ProviderUnavailable, RequestError

with warnings.catch_warnings():
    # authlib 1.9 announces that its httpx integration moves to httpx2; the httpx one works and is
    # what meetbridge's injected transports fit, so the notice would only alarm operators at start-up.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

TOKEN_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
_STATE_KEYS = ("calendar_id", "profile_id", "platform", "code_verifier")

# (profile_id, platform) -> (client_id, client_secret) of that profile's OAuth app for the platform.
ClientLookup = Callable[[str, str], tuple[str, str]]


class Platform(msgspec.Struct, frozen=True):
    sandbox: str  # the path segment of the stand-in: {oauth_base_url}/{sandbox}/authorize
    authorize_url: str
    token_url: str
    scope: str
    extra_params: tuple[tuple[str, str], ...] = ()

    def endpoints(self, oauth_base_url: str | None) -> tuple[str, str]:
        if not oauth_base_url:
            return self.authorize_url, self.token_url
        base = f"{oauth_base_url.rstrip('/')}/{self.sandbox}"
        return f"{base}/authorize", f"{base}/token"


PLATFORMS: Mapping[str, Platform] = {
    "google_calendar": Platform(
        sandbox="google",
        authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
        token_url="https://oauth2.googleapis.com/token",  # noqa: S106 - an endpoint, not a secret
        scope="https://www.googleapis.com/auth/calendar.events.readonly "
        "https://www.googleapis.com/auth/userinfo.email openid",
        # Without both, Google issues a refresh token only on a user's very first consent.
        extra_params=(("access_type", "offline"), ("prompt", "consent")),
    ),
    "microsoft_outlook": Platform(
        sandbox="microsoft",
        authorize_url="https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        token_url="https://login.microsoftonline.com/common/oauth2/v2.0/token",  # noqa: S106 - an endpoint
        scope="offline_access openid email https://graph.microsoft.com/Calendars.Read",
    ),
}


class InvalidConnectState(RequestError):
    """The callback's ``state`` was tampered with, has expired or was sealed with another key: the
    state is the callback's credential, so this is a 401 like a bad token."""

    status_code = 401
    code = "invalid_connect_state"


class ConnectGrant(msgspec.Struct, frozen=True):
    calendar_id: str
    profile_id: str
    platform: str
    refresh_token: str
    email: str | None

    def __repr__(self) -> str:  # the refresh token must not reach logs through a repr
        shown = (self.calendar_id, self.profile_id, self.platform, self.email)
        return "ConnectGrant(calendar_id={!r}, profile_id={!r}, platform={!r}, email={!r})".format(*shown)


def _fernet(secret_key: str) -> Fernet:
    if not secret_key:
        raise ValueError("the connect state needs a non-empty secret key")
    # HKDF, not a password hash: the secret key is a high-entropy server secret, so a slow KDF would buy
    # nothing; HKDF's `info` separates this key from any other use of the same secret (a bare SHA-256
    # would not), and it yields exactly the 32 bytes Fernet wants.
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"meetbridge/oauth-connect-state/v1")
    return Fernet(base64.urlsafe_b64encode(key.derive(secret_key.encode())))


def seal_state(payload: Mapping[str, str], secret_key: str) -> str:
    """Encrypt and authenticate ``payload``; the token is URL-safe and carries its creation time."""
    return _fernet(secret_key).encrypt(msgspec.json.encode(dict(payload))).decode("ascii")


def open_state(token: str, secret_key: str, *, max_age_seconds: int = 900) -> dict[str, str]:
    fernet, now = _fernet(secret_key), int(time.time())
    try:
        fernet.extract_timestamp(token)  # checks the MAC only, so expiry can be told apart below
    except (InvalidToken, TypeError, ValueError):  # ValueError: base64 refuses non-ASCII text
        raise InvalidConnectState("the connect state is not valid; start the connection again") from None
    try:
        data = fernet.decrypt_at_time(token, max_age_seconds, now)
        return msgspec.json.decode(data, type=dict[str, str])
    except InvalidToken:
        raise InvalidConnectState("the connect state has expired; start the connection again") from None
    except msgspec.DecodeError:
        raise InvalidConnectState("the connect state is not valid; start the connection again") from None


def authorization_url(
    platform: str,
    *,
    client_id: str,
    redirect_uri: str,
    secret_key: str,
    calendar_id: str,
    profile_id: str,
    oauth_base_url: str | None,
) -> str:
    """The provider URL to send the user to; its ``state`` seals a fresh PKCE verifier."""
    spec = PLATFORMS.get(platform)
    if spec is None:
        known = " or ".join(PLATFORMS)
        raise InvalidRequest.single("platform", "invalid", f"{platform!r} cannot be connected; use {known}")
    verifier = str(generate_token(48))
    state = seal_state(
        {
            "calendar_id": calendar_id,
            "profile_id": profile_id,
            "platform": platform,
            "code_verifier": verifier,
        },
        secret_key,
    )
    authorize, _ = spec.endpoints(oauth_base_url)
    return str(
        prepare_grant_uri(
            authorize,
            client_id,
            "code",
            redirect_uri=redirect_uri,
            scope=spec.scope,
            state=state,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
            **dict(spec.extra_params),
        )
    )


def _id_token_email(id_token: object) -> str | None:
    # Not verified, on purpose: OIDC Core §3.1.3.7 (6) lets a client that received the ID token directly
    # from the token endpoint over TLS trust it by the TLS server validation instead of the signature.
    if not isinstance(id_token, str) or id_token.count(".") != 2:
        return None
    payload = id_token.split(".")[1]
    try:
        claims = msgspec.json.decode(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError, msgspec.DecodeError):
        return None
    email = claims.get("email") if isinstance(claims, dict) else None
    return email if isinstance(email, str) and email else None


async def complete_connect(
    *,
    code: str,
    state: str,
    secret_key: str,
    client_for: ClientLookup,
    redirect_uri: str,
    oauth_base_url: str | None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ConnectGrant:
    """Exchange the callback's code for a refresh token (with the verifier sealed in ``state``).

    Raises InvalidConnectState (400), ProviderRejected (the provider refused; ``code`` is its OAuth
    error, e.g. ``invalid_grant``, or ``no_refresh_token``) or ProviderUnavailable (network, timeout,
    5xx). Whatever ``client_for`` raises (unknown profile, no OAuth app for the platform) passes through.
    """
    if not code:
        raise InvalidRequest.single("code", "required", "the provider's callback carried no code")
    sealed = open_state(state, secret_key)
    if any(not sealed.get(key) for key in _STATE_KEYS) or sealed["platform"] not in PLATFORMS:
        raise InvalidConnectState("the connect state is not valid; start the connection again")
    spec = PLATFORMS[sealed["platform"]]
    client_id, client_secret = client_for(sealed["profile_id"], sealed["platform"])
    _, token_url = spec.endpoints(oauth_base_url)
    statuses: list[int] = []

    def remember_status(response: httpx.Response) -> httpx.Response:
        statuses.append(response.status_code)
        return response

    where = f"{spec.sandbox.title()} token endpoint"
    async with AsyncOAuth2Client(
        client_id,
        client_secret,
        token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method name
        redirect_uri=redirect_uri,
        timeout=TOKEN_TIMEOUT,
        transport=transport,
    ) as client:
        client.register_compliance_hook("access_token_response", remember_status)
        try:
            token: Mapping[str, Any] = await client.fetch_token(
                token_url, code=code, code_verifier=sealed["code_verifier"]
            )
        # `from None` throughout: the causes hold the request, whose form carries the client secret.
        except OAuthError as exc:  # an RFC 6749 §5.2 error body: invalid_grant, invalid_client, …
            detail = f" ({str(exc.description)[:300]})" if exc.description else ""
            status = (statuses or [400])[-1]
            raise ProviderRejected(
                f"{where} refused: {exc.error}{detail}", status=status, code=exc.error
            ) from None
        except httpx.HTTPStatusError as exc:  # a 5xx, or a 4xx that is not JSON
            status = exc.response.status_code
            error = ProviderUnavailable if status >= 500 else ProviderRejected
            raise error(f"{where} answered HTTP {status}", status=status) from None
        except httpx.TransportError as exc:  # timeouts included
            raise ProviderUnavailable(f"{where} could not be reached ({type(exc).__name__})") from None
        except ValueError:  # a 2xx whose body is not a JSON object
            status = (statuses or [200])[-1]
            raise ProviderRejected(f"{where} answered with no token response", status=status) from None
    refresh_token = token.get("refresh_token")
    if not isinstance(refresh_token, str) or not refresh_token:
        raise ProviderRejected(
            f"{where}: the provider issued no refresh token; "
            "Google needs access_type=offline & prompt=consent",
            status=(statuses or [200])[-1],
            code="no_refresh_token",
        )
    email = token.get("email")
    return ConnectGrant(
        calendar_id=sealed["calendar_id"],
        profile_id=sealed["profile_id"],
        platform=sealed["platform"],
        refresh_token=refresh_token,
        email=email if isinstance(email, str) and email else _id_token_email(token.get("id_token")),
    )
