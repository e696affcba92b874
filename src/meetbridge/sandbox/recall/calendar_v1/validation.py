"""Calendar V1 request bodies, list filters and OAuth `state`, with DRF-style error bodies.

Unknown body keys are ignored, as DRF serializers do; read-only ones (`preferences.id`) likewise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from meetbridge.sandbox.recall.calendar_v1.models import CALENDAR_PLATFORMS, CalendarPlatform
from meetbridge.sandbox.recall.calendar_v1.records import PREFERENCE_FLAGS
from meetbridge.sandbox.recall.core import BOT_NAME_MAX, SandboxError, decode_object, query_datetime

_BOOLEAN = ["Must be a valid boolean."]


def _required_text(data: dict[str, Any], name: str) -> str:
    if name not in data:
        raise SandboxError(400, {name: ["This field is required."]})
    value = data[name]
    if value is None:
        message = "This field may not be null."
    elif not isinstance(value, str):
        message = "Not a valid string."
    elif not value.strip():
        message = "This field may not be blank."
    else:
        return value
    raise SandboxError(400, {name: [message]})


def parse_authenticate(body: bytes) -> str:
    """`{"user_id"}` of Get Calendar Auth Token: the app's own, stable id for its user."""
    return _required_text(decode_object(body), "user_id")


@dataclass
class UserChanges:
    """Update Calendar User: preferences given are set, the others kept (a partial update)."""

    preferences: dict[str, bool] = field(default_factory=dict)
    bot_name: str | None = None
    external_id: str | None = None


def _preferences(preferences: dict[str, Any], changes: UserChanges) -> dict[str, list[str]]:
    """Fill `changes` from the `preferences` object; the field errors found, by preference."""
    errors: dict[str, list[str]] = {}
    for name in PREFERENCE_FLAGS:
        if name in preferences:
            value = preferences[name]
            if isinstance(value, bool):
                changes.preferences[name] = value
            else:
                errors[name] = list(_BOOLEAN)
    if "bot_name" in preferences:
        bot_name = preferences["bot_name"]
        if not isinstance(bot_name, str) or not bot_name.strip():
            errors["bot_name"] = ["This field may not be blank."]
        elif len(bot_name) > BOT_NAME_MAX:
            errors["bot_name"] = [f"Ensure this field has no more than {BOT_NAME_MAX} characters."]
        else:
            changes.bot_name = bot_name
    return errors


def parse_user_update(body: bytes) -> UserChanges:
    data = decode_object(body)
    changes = UserChanges()
    errors: dict[str, Any] = {}
    if "external_id" in data:
        try:
            changes.external_id = _required_text(data, "external_id")
        except SandboxError as exc:
            errors.update(exc.body)
    preferences = data.get("preferences", {})
    if not isinstance(preferences, dict):
        errors["preferences"] = {"non_field_errors": ["Invalid data. Expected a dictionary."]}
    elif nested := _preferences(cast(dict[str, Any], preferences), changes):
        errors["preferences"] = nested
    if errors:
        raise SandboxError(400, errors)
    return changes


@dataclass(frozen=True)
class OverrideChange:
    given: bool
    value: bool | None = None


def parse_meeting_update(body: bytes) -> OverrideChange:
    """`{"override_should_record": true|false|null}`; absent changes nothing."""
    data = decode_object(body)
    if "override_should_record" not in data:
        return OverrideChange(given=False)
    value = data["override_should_record"]
    if value is not None and not isinstance(value, bool):
        raise SandboxError(400, {"override_should_record": list(_BOOLEAN)})
    return OverrideChange(given=True, value=value)


def parse_platform(value: object, name: str = "platform") -> CalendarPlatform:
    for platform in CALENDAR_PLATFORMS:
        if value == platform:
            return platform
    message = "This field is required." if value is None else f'"{value}" is not a valid choice.'
    raise SandboxError(400, {name: [message]})


def parse_disconnect(body: bytes) -> CalendarPlatform:
    return parse_platform(decode_object(body).get("platform"))


@dataclass(frozen=True)
class MeetingQuery:
    """List Calendar Meetings filters. The `_after`/`_before` names are django-filter's range-filter
    suffixes, which compare inclusively (>=, <=); `ical_uid` is a prefix."""

    start_time_after: datetime | None = None
    start_time_before: datetime | None = None
    ical_uid: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, list[str]]) -> MeetingQuery:
        errors: dict[str, list[str]] = {}
        after = query_datetime(params, "start_time_after", errors)
        before = query_datetime(params, "start_time_before", errors)
        if errors:
            raise SandboxError(400, errors)
        uid = params.get("ical_uid")
        return cls(after, before, uid[-1] if uid and uid[-1] else None)


class CallbackError(Exception):
    """A failed connection: the browser goes to `error_url` when the state named one, else sees 400."""

    def __init__(self, reason: str, error_url: str | None = None) -> None:
        super().__init__(reason)
        self.detail = f"Calendar connection failed! ({reason})"
        self.error_url = error_url


@dataclass(frozen=True)
class OAuthState:
    token: str
    redirect_url: str
    success_url: str | None
    error_url: str | None


def _optional_url(state: dict[str, Any], name: str) -> str | None:
    value = state.get(name)
    return value if isinstance(value, str) and value else None


def parse_state(raw: str | None, platform: CalendarPlatform) -> OAuthState:
    """The JSON the app put in the OAuth URL's `state` (reference §3.6)."""
    try:
        decoded = json.loads(raw or "")
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        raise CallbackError("invalid 'state' supplied")
    state = cast(dict[str, Any], decoded)
    error_url = _optional_url(state, "error_url")
    token = state.get("recall_calendar_auth_token")
    if not isinstance(token, str) or not token:
        raise CallbackError("Invalid 'recall_calendar_auth_token' supplied", error_url)
    redirect_key = "google_oauth_redirect_url" if platform == "google" else "ms_oauth_redirect_url"
    redirect_url = _optional_url(state, redirect_key)
    if redirect_url is None:
        raise CallbackError(f"'{redirect_key}' missing from state", error_url)
    return OAuthState(token, redirect_url, _optional_url(state, "success_url"), error_url)


def parse_callback(params: Mapping[str, str], platform: CalendarPlatform) -> tuple[OAuthState, str]:
    """The callback's `state` and the provider's `code`; an `error` instead of a code (the user
    declined consent) fails the connection, to `error_url` like any other failure."""
    state = parse_state(params.get("state"), platform)
    code = params.get("code")
    if params.get("error") or not code:
        raise CallbackError(f"OAuth error: {params.get('error') or 'no code'}", state.error_url)
    return state, code
