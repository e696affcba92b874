"""Request validation with Django REST Framework style error bodies, as Recall (a DRF service) answers.

The field-error envelope `{"<field>": ["<message>"]}` is our reading of an unconfirmed detail of the
reference (open question 1): it is what DRF renders and what real clients already tolerate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import msgspec

from meetbridge.sandbox.recall.core.meeting_url import parse_meeting_url
from meetbridge.sandbox.recall.core.models import CONFIG_FIELDS, BotIn, Config, MeetingUrl

DEFAULT_BOT_NAME = "Meeting Notetaker"
BOT_NAME_MAX = 100
_FIELD_IN_ERROR = re.compile(r" - at `\$\.(\w+)")
_DATETIME_HELP = (
    "Datetime has wrong format. Use one of these formats instead: "
    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)


class SandboxError(Exception):
    """An API answer other than success: status, JSON body and extra headers."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = headers or {}


def decode_object(body: bytes) -> dict[str, Any]:
    try:
        decoded = msgspec.json.decode(body) if body.strip() else {}
    except msgspec.DecodeError as exc:
        raise SandboxError(400, {"detail": f"JSON parse error - {exc}"}) from None
    if not isinstance(decoded, dict):
        kind = type(decoded).__name__
        raise SandboxError(
            400, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}
        )
    return cast(dict[str, Any], decoded)


def field_error(name: str, message: str) -> SandboxError:
    return SandboxError(400, {name: [message]})


def parse_datetime(value: str, name: str) -> datetime:
    """ISO-8601; naive values are read as UTC, as DRF does with its default time zone."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise field_error(name, _DATETIME_HELP) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def query_datetime(
    params: Mapping[str, list[str]], name: str, errors: dict[str, list[str]]
) -> datetime | None:
    """A date/time filter of a list call (the last value given); a bad one is noted in `errors`, as
    django-filter reports every bad filter at once. Naive values are UTC, as with `parse_datetime`."""
    values = params.get(name)
    if not values or not values[-1]:
        return None
    try:
        parsed = datetime.fromisoformat(values[-1].replace(" ", "+"))  # an unencoded `+` reads as a space
    except ValueError:
        errors[name] = ["Enter a valid date/time."]
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass
class BotChanges:
    """Validated fields of a Create Bot or Update Scheduled Bot body; absent fields are not here."""

    meeting_url_raw: str | None = None
    meeting_url: MeetingUrl | None = None
    bot_name: str | None = None
    join_at_given: bool = False
    join_at: datetime | None = None
    metadata: dict[str, str] | None = None
    config: dict[str, Config | None] = field(default_factory=dict)


def _decode(body: bytes) -> BotIn:
    if not body.strip():
        return BotIn()
    try:
        return msgspec.json.decode(body, type=BotIn)
    except msgspec.DecodeError as exc:
        message = str(exc)
        if isinstance(exc, msgspec.ValidationError):
            match = _FIELD_IN_ERROR.search(message)
            if match:
                raise field_error(match.group(1), message[: match.start()]) from None
            raise SandboxError(400, {"non_field_errors": [message]}) from None
        raise SandboxError(400, {"detail": f"JSON parse error - {message}"}) from None


def parse_bot_body(body: bytes, *, creating: bool) -> BotChanges:
    decoded = _decode(body)
    changes = BotChanges()
    if decoded.meeting_url is not msgspec.UNSET or creating:
        raw = decoded.meeting_url if isinstance(decoded.meeting_url, str) else None
        if not raw or not raw.strip():
            absent = decoded.meeting_url is msgspec.UNSET
            raise field_error(
                "meeting_url", "This field is required." if absent else "This field may not be blank."
            )
        parsed = parse_meeting_url(raw)
        if parsed is None:
            raise field_error("meeting_url", f"Could not parse meeting URL: {raw!r}.")
        changes.meeting_url_raw, changes.meeting_url = raw, parsed
    if isinstance(decoded.bot_name, str):
        if not decoded.bot_name.strip():
            raise field_error("bot_name", "This field may not be blank.")
        if len(decoded.bot_name) > BOT_NAME_MAX:
            raise field_error("bot_name", f"Ensure this field has no more than {BOT_NAME_MAX} characters.")
        changes.bot_name = decoded.bot_name
    elif creating:
        changes.bot_name = DEFAULT_BOT_NAME
    if decoded.join_at is not msgspec.UNSET:
        changes.join_at_given = True
        changes.join_at = None if decoded.join_at is None else parse_datetime(decoded.join_at, "join_at")
    if decoded.metadata is not msgspec.UNSET:
        changes.metadata = dict(decoded.metadata or {})
    elif creating:
        changes.metadata = {}
    for name in CONFIG_FIELDS:
        value: Config | msgspec.UnsetType | None = getattr(decoded, name)
        if value is not msgspec.UNSET:
            changes.config[name] = value
    return changes
