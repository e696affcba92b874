"""Calendar V2 request bodies and list filters, with DRF-style error bodies (see recall_validation).

Every field error of a body is reported at once, as DRF serializers do, rather than the first only.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import msgspec

from meetbridge.sandbox.recall.calendar_v2.models import PLATFORMS, CalendarStatus, Platform
from meetbridge.sandbox.recall.calendar_v2.pages import Cursor
from meetbridge.sandbox.recall.core import SandboxError, decode_object, query_datetime

CLIENT_ID_MAX = 2000
DEDUPLICATION_KEY_MAX = 2000
STATUSES: tuple[str, ...] = ("connecting", "connected", "disconnected")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TRUE, _FALSE = {"true", "True", "1"}, {"false", "False", "0"}


@dataclass
class _Fields:
    data: dict[str, Any]
    partial: bool = False
    errors: dict[str, Any] = field(default_factory=dict)

    def text(self, name: str, *, required: bool = True, max_length: int | None = None) -> str | None:
        if name not in self.data:
            if required and not self.partial:
                self.errors[name] = ["This field is required."]
            return None
        value = self.data[name]
        if value is None and not required:
            return None
        if not isinstance(value, str):
            self.errors[name] = [
                "Not a valid string." if value is not None else "This field may not be null."
            ]
        elif not value.strip():
            self.errors[name] = ["This field may not be blank."]
        elif max_length is not None and len(value) > max_length:
            self.errors[name] = [f"Ensure this field has no more than {max_length} characters."]
        else:
            return value
        return None

    def check(self) -> None:
        if self.errors:
            raise SandboxError(400, self.errors)


@dataclass
class CalendarFields:
    """Create (all required but oauth_email) or PATCH (all optional) of a Calendar."""

    platform: Platform | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = None
    oauth_refresh_token: str | None = None
    oauth_email: str | None = None
    oauth_email_given: bool = False


def parse_calendar(body: bytes, *, creating: bool) -> CalendarFields:
    # `platform` is read-only after creation; DRF ignores read-only input, so a PATCH may carry it.
    fields = _Fields(decode_object(body), partial=not creating)
    parsed = CalendarFields()
    if creating:
        platform = fields.text("platform")
        if platform is not None and platform not in PLATFORMS:
            fields.errors["platform"] = [f'"{platform}" is not a valid choice.']
        elif platform is not None:
            parsed.platform = cast(Platform, platform)
    parsed.oauth_client_id = fields.text("oauth_client_id", max_length=CLIENT_ID_MAX)
    parsed.oauth_client_secret = fields.text("oauth_client_secret")
    parsed.oauth_refresh_token = fields.text("oauth_refresh_token")
    parsed.oauth_email_given = "oauth_email" in fields.data
    parsed.oauth_email = fields.text("oauth_email", required=False)
    if parsed.oauth_email is not None and not _EMAIL.match(parsed.oauth_email):
        fields.errors["oauth_email"] = ["Enter a valid email address."]
    fields.check()
    return parsed


@dataclass(frozen=True)
class NewCalendar:
    platform: Platform
    oauth_client_id: str
    oauth_client_secret: str
    oauth_refresh_token: str
    oauth_email: str | None


def parse_new_calendar(body: bytes) -> NewCalendar:
    fields = parse_calendar(body, creating=True)
    platform, client_id = fields.platform, fields.oauth_client_id
    secret, refresh = fields.oauth_client_secret, fields.oauth_refresh_token
    if platform is None or client_id is None or secret is None or refresh is None:
        raise SandboxError(
            400, {"detail": "Invalid calendar."}
        )  # narrows types: parse_calendar raised already
    return NewCalendar(platform, client_id, secret, refresh, fields.oauth_email)


def parse_add_bot(body: bytes) -> tuple[str, dict[str, Any]]:
    """`{deduplication_key, bot_config}` of Schedule Bot For Calendar Event (reference §4.4)."""
    fields = _Fields(decode_object(body))
    key = fields.text("deduplication_key", max_length=DEDUPLICATION_KEY_MAX)
    config = fields.data.get("bot_config", msgspec.UNSET)
    if config is msgspec.UNSET:
        fields.errors["bot_config"] = ["This field is required."]
    elif not isinstance(config, dict):
        fields.errors["bot_config"] = ["Value must be valid JSON object."]
    if fields.errors or key is None or not isinstance(config, dict):
        raise SandboxError(400, fields.errors)
    return key, cast(dict[str, Any], config)


def _last(params: Mapping[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[-1] if values else None


def _cursor(params: Mapping[str, list[str]]) -> Cursor | None:
    token = _last(params, "cursor")
    return Cursor.decode(token) if token else None


@dataclass
class EventQuery:
    """List Calendar Events filters (reference §4.1); unknown parameters are ignored, as DRF does."""

    cursor: Cursor | None = None
    calendar_id: str | None = None
    updated_at_gte: datetime | None = None
    start_time: datetime | None = None
    start_time_gte: datetime | None = None
    start_time_lte: datetime | None = None
    is_deleted: bool | None = None
    ical_uid: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, list[str]]) -> EventQuery:
        errors: dict[str, list[str]] = {}
        query = cls(
            updated_at_gte=query_datetime(params, "updated_at__gte", errors),
            start_time=query_datetime(params, "start_time", errors),
            start_time_gte=query_datetime(params, "start_time__gte", errors),
            start_time_lte=query_datetime(params, "start_time__lte", errors),
            ical_uid=_last(params, "ical_uid") or None,
        )
        calendar_id = _last(params, "calendar_id")
        if calendar_id:
            try:
                query.calendar_id = str(uuid.UUID(calendar_id))
            except ValueError:
                errors["calendar_id"] = ["Enter a valid UUID."]
        deleted = _last(params, "is_deleted")
        if deleted in _TRUE | _FALSE:
            query.is_deleted = deleted in _TRUE
        elif deleted:
            errors["is_deleted"] = [f"Select a valid choice. {deleted} is not one of the available choices."]
        if errors:
            raise SandboxError(400, errors)
        query.cursor = _cursor(params)
        return query


@dataclass
class CalendarQuery:
    cursor: Cursor | None = None
    created_at_gte: datetime | None = None
    email: str | None = None
    platform: str | None = None
    status: CalendarStatus | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, list[str]]) -> CalendarQuery:
        errors: dict[str, list[str]] = {}
        query = cls(
            created_at_gte=query_datetime(params, "created_at__gte", errors),
            email=_last(params, "email") or None,
        )
        for name, choices in (("platform", PLATFORMS), ("status", STATUSES)):
            value = _last(params, name)
            if value and value not in choices:
                errors[name] = [f"Select a valid choice. {value} is not one of the available choices."]
            elif value:
                setattr(query, name, value)
        if errors:
            raise SandboxError(400, errors)
        query.cursor = _cursor(params)
        return query
