"""Sealing: encrypt-and-authenticate small secrets (provider OAuth tokens) under the server secret key.

Why Fernet: it is authenticated encryption (AES-128-CBC with a random IV, then HMAC-SHA256 over
everything) in a fixed, versioned token format with no nonce for callers to manage, so there is
nothing to get wrong; the token is URL-safe ASCII that fits a text column as is; and
``cryptography`` is already a dependency (the connect flow seals its ``state`` the same way). A
token shows roughly how long the plaintext is and when it was sealed; neither is secret here.

Why HKDF with a purpose: the secret key is a high-entropy server secret, so a slow password hash
would buy nothing; HKDF-SHA256 turns it into exactly the 32 bytes Fernet wants, and its ``info``
(the purpose) gives every use of the same secret a key of its own. A token sealed for one purpose
therefore cannot be opened, or swapped in, as another (a connect ``state`` is not a stored
provider token), and a purpose ending in a version (``…/v1``) lets a later format change derive
fresh keys. The derivation is the one ``providers/oauth_connect.py`` uses for its ``state``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import msgspec
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from meetbridge.errors import MeetbridgeError

__all__ = ["PROVIDER_TOKENS", "SealError", "seal", "seal_json", "unseal", "unseal_json"]

# Provider OAuth tokens stored in the links table.
PROVIDER_TOKENS = "meetbridge/provider-tokens/v1"


class SealError(MeetbridgeError):
    """A token cannot be opened: tampered with, sealed under another key or purpose, or not a token.

    Raised for data we sealed ourselves, so it means a changed secret key or altered storage; the
    message never holds the token, the key or the plaintext.
    """


def _fernet(secret_key: str, purpose: str) -> Fernet:
    # Empty inputs are configuration mistakes (ValueError, loud), not bad tokens.
    if not secret_key:
        raise ValueError("sealing needs a non-empty secret key")
    if not purpose:
        raise ValueError("sealing needs a non-empty purpose")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
    return Fernet(base64.urlsafe_b64encode(hkdf.derive(secret_key.encode())))


def seal(plaintext: bytes, secret_key: str, *, purpose: str) -> str:
    """Encrypt and authenticate ``plaintext``; only the same key and purpose can open the token."""
    return _fernet(secret_key, purpose).encrypt(plaintext).decode("ascii")


def unseal(token: str, secret_key: str, *, purpose: str) -> bytes:
    """Return what :func:`seal` sealed; raise :class:`SealError` if it cannot be authenticated."""
    fernet = _fernet(secret_key, purpose)
    try:
        return fernet.decrypt(token)
    except (InvalidToken, TypeError, ValueError):  # ValueError: base64 refuses non-ASCII text
        raise SealError(f"sealed value cannot be opened for {purpose!r} (wrong key or altered)") from None


def seal_json(data: Mapping[str, Any], secret_key: str, *, purpose: str) -> str:
    """Seal a JSON object (e.g. ``{"access_token": …, "refresh_token": …, "expires_at": …}``)."""
    return seal(msgspec.json.encode(dict(data)), secret_key, purpose=purpose)


def unseal_json(token: str, secret_key: str, *, purpose: str) -> dict[str, Any]:
    """Open a token from :func:`seal_json`; a token that holds anything but a JSON object is a SealError."""
    plaintext = unseal(token, secret_key, purpose=purpose)
    try:
        return msgspec.json.decode(plaintext, type=dict[str, Any])
    except msgspec.DecodeError:
        # Authentic but not ours to read as JSON: sealed by seal() rather than seal_json(), a bug.
        raise SealError(f"sealed value for {purpose!r} is not a JSON object") from None
