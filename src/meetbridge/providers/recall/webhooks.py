"""Inbound Recall.ai webhooks: signature verification (Svix / Standard Webhooks) and payload parsing.

Verification is hand-written on purpose, after evaluating the libraries the house rule points to:

- ``standardwebhooks`` 1.1.0 (no dependencies, typed) reads the clock itself, so ``now`` cannot be
  honoured; it knows only ``webhook-*`` headers; a malformed signature header (``garbage``,
  ``v1,a,b``, bad base64) or a non-UTF-8 body escapes as ``ValueError`` / ``binascii.Error`` /
  ``UnicodeDecodeError`` instead of its verification error, i.e. a 500 for attacker-controlled
  input; and its ``sign`` takes a ``datetime`` and mis-signs aware non-UTC values.
- ``svix`` handles both header families but is a full API client (pydantic, httpx, attrs,
  python-dateutil, Deprecated) that wraps ``standardwebhooks`` for the same few lines.

What remains is one HMAC-SHA256 over ``{id}.{timestamp}.{body}`` with the standard library; the
tests pin it to the published Standard Webhooks vector.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import ClassVar, TypeAlias, TypeVar

import msgspec

from meetbridge.config.profiles import Profile
from meetbridge.config.secrets import Secret
from meetbridge.errors import InvalidRequest, NotFound, WebhookRejected
from meetbridge.providers.base import (
    BotStatusReported,
    CalendarChanged,
    CalendarStatusChanged,
    NothingToDo,
    ReceivedWebhook,
    WebhookAction,
)
from meetbridge.providers.recall.options import RecallOptions

__all__ = [
    "BOT_STATUS_EVENTS",
    "TOLERANCE_SECONDS",
    "BotStatusEvent",
    "CalendarSyncEvent",
    "CalendarUpdateEvent",
    "RecallWebhookEvent",
    "UnknownEvent",
    "WebhookPayloadError",
    "WebhookVerificationError",
    "parse_recall_webhook",
    "sign_recall_webhook",
    "verify_recall_webhook",
]

TOLERANCE_SECONDS = 5 * 60
# webhook-* first: a workspace secret, when created, supersedes the per-endpoint Svix secret.
_FAMILIES = ("webhook", "svix")
_PARTS = ("id", "timestamp", "signature")
# Unix seconds only; the length cap keeps int() cheap on hostile input.
_TIMESTAMP = re.compile(r"[0-9]{1,15}")


class WebhookVerificationError(Exception):
    """The request is not a genuine, fresh Recall delivery (answer 401, do not process)."""

    def __init__(self, message: str, *, stale: bool = False) -> None:
        self.stale = stale  # signed perhaps, but outside the timestamp tolerance (a replay, or a clock)
        super().__init__(message)


def _decode_secret(secret: str) -> bytes:
    # A bad secret is a configuration error, not a forged request, hence ValueError (-> 500, loud).
    encoded = secret.strip().removeprefix("whsec_")
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise ValueError("webhook secret must be whsec_<base64>") from None
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def _hmac(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    # The timestamp is signed exactly as it travels in the header, never re-formatted.
    return hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()


def sign_recall_webhook(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``v1,<base64>`` signature entry for one delivery."""
    return "v1," + base64.b64encode(_hmac(_decode_secret(secret), msg_id, str(timestamp), body)).decode()


def _verify_family(
    key: bytes, msg_id: str, timestamp: str, signatures: str, body: bytes, *, now: float
) -> None:
    if not _TIMESTAMP.fullmatch(timestamp):
        raise WebhookVerificationError("timestamp header is not unix seconds")
    age = now - int(timestamp)
    if age > TOLERANCE_SECONDS:
        raise WebhookVerificationError(
            f"timestamp is {int(age)} s old (tolerance {TOLERANCE_SECONDS} s)", stale=True
        )
    if -age > TOLERANCE_SECONDS:
        raise WebhookVerificationError(
            f"timestamp is {int(-age)} s in the future (tolerance {TOLERANCE_SECONDS} s)", stale=True
        )
    expected = _hmac(key, msg_id, timestamp, body)
    for entry in signatures.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue  # other schemes (e.g. v1a asymmetric) are not ours to check
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            continue
        if hmac.compare_digest(expected, candidate):
            return
    raise WebhookVerificationError("no matching v1 signature")


def verify_recall_webhook(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> str:
    """The message id the signature covers; :class:`WebhookVerificationError` unless ``body`` is
    signed with ``secret`` and fresh.

    Accepts ``webhook-*`` and legacy ``svix-*`` headers (any case). If both families are complete,
    either may verify: during Recall's migration they may be signed with different secrets, and the
    operator configures only one. Raises ``ValueError`` if ``secret`` itself is malformed.
    """
    key = _decode_secret(secret)
    lowered = {name.lower(): value.strip() for name, value in headers.items()}
    complete = [
        (family, *(lowered[f"{family}-{part}"] for part in _PARTS))
        for family in _FAMILIES
        if all(lowered.get(f"{family}-{part}") for part in _PARTS)
    ]
    if not complete:
        partial = [f for f in _FAMILIES if any(lowered.get(f"{f}-{part}") for part in _PARTS)]
        if partial:
            missing = [f"{partial[0]}-{part}" for part in _PARTS if not lowered.get(f"{partial[0]}-{part}")]
            raise WebhookVerificationError(f"missing header(s): {', '.join(missing)}")
        raise WebhookVerificationError(
            "missing signature headers: webhook-id/-timestamp/-signature or svix-id/-timestamp/-signature"
        )
    clock = time.time() if now is None else now
    failures = []
    stale = True
    for family, msg_id, timestamp, signatures in complete:
        try:
            _verify_family(key, msg_id, timestamp, signatures, body, now=clock)
        except WebhookVerificationError as exc:
            failures.append(f"{family}-*: {exc}" if len(complete) > 1 else str(exc))
            stale = stale and exc.stale
        else:
            return msg_id
    raise WebhookVerificationError("; ".join(failures), stale=stale)


# --- payloads ---------------------------------------------------------------------------------

BOT_STATUS_EVENTS = frozenset(
    {
        "bot.joining_call",
        "bot.in_waiting_room",
        "bot.in_call_not_recording",
        "bot.recording_permission_allowed",
        "bot.recording_permission_denied",
        "bot.in_call_recording",
        "bot.call_ended",
        "bot.done",
        "bot.fatal",
    }
)
_LEGACY_STATUS_EVENT = "bot.status_change"


class WebhookPayloadError(ValueError):
    """The body is not JSON, or a known event type does not have the documented shape."""


class BotStatusEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A bot status change, from either the per-type ``bot.*`` events or legacy ``bot.status_change``."""

    event: str
    bot_id: str
    code: str
    sub_code: str | None
    updated_at: datetime | None
    metadata: dict[str, object]
    message: str | None = None  # legacy shape only


class CalendarUpdateEvent(msgspec.Struct, frozen=True, kw_only=True):
    calendar_id: str


class CalendarSyncEvent(msgspec.Struct, frozen=True, kw_only=True):
    calendar_id: str
    # Kept as sent: it goes back verbatim as updated_at__gte, and re-formatting could lose precision.
    last_updated_ts: str


class UnknownEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Any other event (recording.*, transcript.*, bot.log, future types): acknowledged, not acted on."""

    event: str


RecallWebhookEvent: TypeAlias = BotStatusEvent | CalendarUpdateEvent | CalendarSyncEvent | UnknownEvent


class _Envelope(msgspec.Struct):
    event: str
    data: msgspec.Raw = msgspec.Raw(b"null")  # unknown events need not carry data


class _Ref(msgspec.Struct):
    id: str
    metadata: dict[str, object] | None = None


class _Status(msgspec.Struct):
    code: str
    sub_code: str | None = None  # documented as required for bot.fatal; still not worth a rejection
    updated_at: datetime | None = None


class _BotData(msgspec.Struct):
    bot: _Ref
    data: _Status


class _LegacyStatus(msgspec.Struct):
    code: str
    sub_code: str | None = None
    created_at: datetime | None = None
    message: str | None = None


class _LegacyData(msgspec.Struct):
    bot_id: str
    status: _LegacyStatus


class _CalendarData(msgspec.Struct):
    calendar_id: str


class _SyncData(msgspec.Struct):
    calendar_id: str
    last_updated_ts: str


_envelope_decoder = msgspec.json.Decoder(_Envelope)


_T = TypeVar("_T")


def _decode_data(raw: msgspec.Raw, event: str, kind: type[_T]) -> _T:
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.DecodeError as exc:
        raise WebhookPayloadError(f"malformed {event} webhook: {exc} (within `data`)") from exc


def parse_recall_webhook(body: bytes) -> RecallWebhookEvent:
    """Decode a (verified) Recall webhook body; unknown fields and unknown event types are tolerated."""
    try:
        envelope = _envelope_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise WebhookPayloadError(f"malformed Recall webhook: {exc}") from exc
    event = envelope.event
    if event in BOT_STATUS_EVENTS:
        bot = _decode_data(envelope.data, event, _BotData)
        return BotStatusEvent(
            event=event,
            bot_id=bot.bot.id,
            code=bot.data.code,
            sub_code=bot.data.sub_code,
            updated_at=bot.data.updated_at,
            metadata=bot.bot.metadata or {},
        )
    if event == _LEGACY_STATUS_EVENT:
        legacy = _decode_data(envelope.data, event, _LegacyData)
        return BotStatusEvent(
            event=event,
            bot_id=legacy.bot_id,
            code=legacy.status.code,
            sub_code=legacy.status.sub_code,
            updated_at=legacy.status.created_at,
            metadata={},
            message=legacy.status.message,
        )
    if event == "calendar.update":
        return CalendarUpdateEvent(calendar_id=_decode_data(envelope.data, event, _CalendarData).calendar_id)
    if event == "calendar.sync_events":
        sync = _decode_data(envelope.data, event, _SyncData)
        return CalendarSyncEvent(calendar_id=sync.calendar_id, last_updated_ts=sync.last_updated_ts)
    return UnknownEvent(event=event)


WEBHOOK_PATH = "recall"  # POST /v1/webhooks/recall/{profile_id}, one for every Recall adapter


def _instant(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest.single(
            "data.last_updated_ts", "invalid", f"not an ISO-8601 time: {value!r}"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _action(event: RecallWebhookEvent) -> WebhookAction:
    if isinstance(event, BotStatusEvent):
        return BotStatusReported(
            bot_id=event.bot_id, code=event.code, sub_code=event.sub_code, reported_at=event.updated_at
        )
    if isinstance(event, CalendarSyncEvent):
        return CalendarChanged(provider_calendar_id=event.calendar_id, since=_instant(event.last_updated_ts))
    if isinstance(event, CalendarUpdateEvent):
        return CalendarStatusChanged(provider_calendar_id=event.calendar_id)
    return NothingToDo()


def receive_recall_webhook(
    profile_id: str, secret: Secret | None, headers: Mapping[str, str], body: bytes
) -> ReceivedWebhook:
    """The WebhookReceiver port for every Recall adapter: verify with the profile's secret, then read."""
    if secret is None:
        raise NotFound(f"profile {profile_id} does not receive Recall webhooks (no webhook_secret)")
    try:
        # The signed id, not whichever id header is present: a captured delivery replayed with an
        # extra, made-up webhook-id must still be the same message.
        message_id = verify_recall_webhook(secret.reveal(), headers, body)
    except WebhookVerificationError as exc:
        raise WebhookRejected(
            f"webhook rejected: {exc}", reason="stale" if exc.stale else "bad_signature"
        ) from None
    try:
        event = parse_recall_webhook(body)
    except WebhookPayloadError as exc:
        raise InvalidRequest.single("body", "invalid", str(exc)) from None
    return ReceivedWebhook(action=_action(event), message_id=message_id)


class RecallWebhooks:
    """The WebhookReceiver port as every Recall adapter has it (declare ``receives_webhooks``)."""

    webhook_path: ClassVar[str] = WEBHOOK_PATH
    profile: Profile
    options: RecallOptions

    def receive_webhook(self, headers: Mapping[str, str], body: bytes) -> ReceivedWebhook:
        return receive_recall_webhook(self.profile.profile_id, self.options.webhook_secret, headers, body)
