"""Inbound Cronofy push notifications (reference §5): signature verification and payload parsing.

Cronofy signs every callback with ``Cronofy-HMAC-SHA256: base64(HMAC-SHA256(client_secret, raw body))``;
while an application has several active client secrets (during a rotation) the header carries one
signature per secret, comma-separated, and any one of them matching is enough. Unlike Recall's
Standard Webhooks there is no timestamp or message id in the signature, so there is no freshness
check to make: a replayed push only makes the gateway read changes it may already have, which is
harmless because a push is only a hint to read events since ``changes_since``.

Verification compares the received base64 text with the expected base64 text, as pycronofy's
``hmac_valid`` does, rather than decoding what was received: there is then no decoding error path
for hostile input, and a non-canonical encoding of the right digest is refused like any other
mismatch (Cronofy sends canonical base64).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, TypeAlias

import msgspec

from meetbridge.config.secrets import Secret
from meetbridge.errors import InvalidRequest, WebhookRejected
from meetbridge.providers.base import ForwardedEventsChanged, NothingToDo, ReceivedWebhook

__all__ = [
    "SIGNATURE_HEADER",
    "ChangePush",
    "OtherPush",
    "PushNotification",
    "PushPayloadError",
    "PushVerificationError",
    "VerificationPush",
    "parse_cronofy_push",
    "verify_cronofy_push",
]

SIGNATURE_HEADER = "Cronofy-HMAC-SHA256"
_HEADER_KEY = SIGNATURE_HEADER.lower()


class PushVerificationError(Exception):
    """The request is not a genuine Cronofy push for our client secret (answer 401, do not process)."""


def _expected_signature(client_secret: str, body: bytes) -> bytes:
    digest = hmac.new(client_secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest)


def verify_cronofy_push(client_secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """Raise :class:`PushVerificationError` unless one signature in the header is ``body``'s.

    The header name is matched in any case; if a mapping holds it under several spellings, all
    their signatures count. Raises ``ValueError`` if ``client_secret`` is empty: that is a
    configuration error (a 500, loud), not a forged request. No message names the secret or the
    expected signature.
    """
    if not client_secret:
        raise ValueError("the Cronofy client secret is empty")
    values = [value for name, value in headers.items() if name.lower() == _HEADER_KEY]
    if not values:
        raise PushVerificationError(f"missing {SIGNATURE_HEADER} header")
    entries = [entry.strip() for value in values for entry in value.split(",")]
    # Non-ASCII text cannot be base64 and hmac.compare_digest refuses it in str; skip, never crash.
    candidates = [entry.encode("ascii") for entry in entries if entry and entry.isascii()]
    if not candidates:
        raise PushVerificationError(f"{SIGNATURE_HEADER} header holds no signature")
    expected = _expected_signature(client_secret, body)
    # Every candidate is compared (no early exit), so timing says nothing about which one matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise PushVerificationError(
            f"none of the {len(candidates)} signature(s) in {SIGNATURE_HEADER} matches the body"
        )


# --- payloads ---------------------------------------------------------------------------------


class PushPayloadError(ValueError):
    """The body is not JSON, or does not have the documented notification shape."""


class VerificationPush(msgspec.Struct, frozen=True, kw_only=True):
    """Sent right after a channel is created; acknowledged, nothing to read."""

    channel_id: str | None


class ChangePush(msgspec.Struct, frozen=True, kw_only=True):
    """Something changed: read events with ``last_modified=changes_since``."""

    channel_id: str | None
    changes_since: datetime


class OtherPush(msgspec.Struct, frozen=True, kw_only=True):
    """Any other type (``profile_disconnected``, future types): clients must not fail on these."""

    channel_id: str | None
    type: str


PushNotification: TypeAlias = VerificationPush | ChangePush | OtherPush

# Timezone required: changes_since goes back to Cronofy as last_modified, and a naive time would
# have to be guessed at (Cronofy always sends UTC with "Z").
_AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class _Notification(msgspec.Struct):
    type: str
    # Decoded only for "change": other types may carry it in another shape, or not at all.
    changes_since: msgspec.Raw = msgspec.Raw(b"null")


class _Channel(msgspec.Struct):
    channel_id: str | None = None


class _Envelope(msgspec.Struct):
    notification: _Notification
    channel: _Channel | None = None


_envelope_decoder = msgspec.json.Decoder(_Envelope)
_changes_since_decoder = msgspec.json.Decoder(_AwareDatetime)


def parse_cronofy_push(body: bytes) -> PushNotification:
    """Decode a (verified) push body; unknown fields and unknown notification types are tolerated."""
    try:
        envelope = _envelope_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise PushPayloadError(f"malformed Cronofy push: {exc}") from exc
    channel_id = envelope.channel.channel_id if envelope.channel else None
    kind = envelope.notification.type
    if kind == "verification":
        return VerificationPush(channel_id=channel_id)
    if kind == "change":
        raw = envelope.notification.changes_since
        if bytes(raw) == b"null":
            raise PushPayloadError("malformed Cronofy change push: no `notification.changes_since`")
        try:
            changes_since = _changes_since_decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise PushPayloadError(
                f"malformed Cronofy change push: {exc} (in `notification.changes_since`)"
            ) from exc
        return ChangePush(channel_id=channel_id, changes_since=changes_since)
    return OtherPush(channel_id=channel_id, type=kind)


WEBHOOK_PATH = "cronofy"  # POST /v1/webhooks/cronofy/{profile_id}


def receive_cronofy_push(client_secret: Secret, headers: Mapping[str, str], body: bytes) -> ReceivedWebhook:
    """The WebhookReceiver port of the cronofy adapter: verify with the client secret, then read."""
    try:
        verify_cronofy_push(client_secret.reveal(), headers, body)
    except PushVerificationError as exc:
        raise WebhookRejected(f"push notification rejected: {exc}") from None
    try:
        push = parse_cronofy_push(body)
    except PushPayloadError as exc:
        raise InvalidRequest.single("body", "invalid", str(exc)) from None
    if isinstance(push, ChangePush):
        return ReceivedWebhook(
            action=ForwardedEventsChanged(channel_id=push.channel_id, since=push.changes_since)
        )
    if isinstance(push, OtherPush):
        return ReceivedWebhook(
            action=NothingToDo(reason=f"cronofy push {push.type!r} on channel {push.channel_id}")
        )
    return ReceivedWebhook(action=NothingToDo())
