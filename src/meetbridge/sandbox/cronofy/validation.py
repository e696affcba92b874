"""Upsert / delete / channel body validation with Cronofy's 422 shape (reference §0, §1, §2, §5).

Every problem in a body is reported at once, keyed by parameter name, as `{key, description}` pairs.
Keys other than `errors.required` are our reading (reference open question 4): `errors.invalid`,
`errors.too_long`, always prefixed `errors.` as Cronofy's are.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import msgspec

from meetbridge.sandbox.cronofy.models import ChannelFilters, ErrorDetail, ErrorsOut, LocationOut
from meetbridge.sandbox.cronofy.times import DEFAULT_TZID, EventTime, TimeError, parse_event_time, zone

SUMMARY_MAX = 1024
DESCRIPTION_MAX = 4096
NO_PROFILE = "none"
TRANSPARENCIES = frozenset({"opaque", "transparent"})


class CronofyError(Exception):
    """An answer other than success. Unlike Recall, Cronofy sends several errors with no body at all
    (401, 403, 404 carry nothing a client reads), so the body is optional here."""

    def __init__(
        self, status: int, body: msgspec.Struct | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = headers or {}


class FieldErrors:
    def __init__(self) -> None:
        self.by_field: dict[str, list[ErrorDetail]] = defaultdict(list)

    def add(self, name: str, kind: str, description: str) -> None:
        self.by_field[name].append(ErrorDetail(key=f"errors.{kind}", description=description))

    def raise_any(self) -> None:
        if self.by_field:
            raise CronofyError(422, ErrorsOut(errors=dict(self.by_field)))


def single_error(name: str, kind: str, description: str) -> CronofyError:
    errors = FieldErrors()
    errors.add(name, kind, description)
    return CronofyError(422, ErrorsOut(errors=dict(errors.by_field)))


def decode_object(body: bytes) -> dict[str, Any]:
    """A JSON object; an empty body reads as `{}` so the missing fields are what gets reported."""
    if not body.strip():
        return {}
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise single_error("body", "invalid", f"body is not valid JSON: {exc}") from None
    if not isinstance(decoded, dict):
        raise single_error("body", "invalid", "body must be a JSON object")
    return decoded


@dataclass(frozen=True)
class Conferencing:
    profile_id: str
    join_url: str | None = None
    provider_description: str | None = None


@dataclass(frozen=True)
class EventWrite:
    """A validated upsert. `recall_profile` is None when the request carried no Recall extension."""

    event_id: str
    summary: str
    description: str
    start: EventTime
    end: EventTime
    location: LocationOut | None = None
    url: str | None = None
    transparency: str = "opaque"
    conferencing: Conferencing | None = None
    recall_profile: str | None = None


def _text(data: dict[str, Any], name: str, errors: FieldErrors, *, required: bool, limit: int = 0) -> str:
    value = data.get(name)
    if value is None or (required and value == ""):
        if required:
            errors.add(name, "required", "required")
        return ""
    if not isinstance(value, str):
        errors.add(name, "invalid", f"{name} must be a string")
        return ""
    if limit and len(value) > limit:
        errors.add(name, "too_long", f"{name} must be at most {limit} characters")
    return value


def _time(data: dict[str, Any], name: str, tzid: str, errors: FieldErrors) -> EventTime | None:
    value = data.get(name)
    if value is None:
        errors.add(name, "required", "required")
        return None
    if isinstance(value, dict):
        raw, tzid = value.get("time"), value.get("tzid") or tzid
    else:
        raw = value
    if not isinstance(raw, str) or not isinstance(tzid, str):
        errors.add(name, "invalid", f"{name} must be a time, a date or {{time, tzid}}")
        return None
    try:
        return parse_event_time(raw, tzid)
    except TimeError as exc:
        errors.add(name, "invalid", str(exc))
        return None


def _location(value: Any, errors: FieldErrors) -> LocationOut | None:
    if value is None:
        return None
    try:
        return msgspec.convert(value, LocationOut)
    except msgspec.ValidationError as exc:
        errors.add("location", "invalid", str(exc))
        return None


def _conferencing(value: Any, errors: FieldErrors) -> Conferencing | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("profile_id"), str):
        errors.add("conferencing", "invalid", "conferencing.profile_id is required")
        return None
    join_url, description = value.get("join_url"), value.get("provider_description")
    if value["profile_id"] == "explicit":
        if not isinstance(join_url, str) or not join_url.lower().startswith(("https://", "http://")):
            errors.add("conferencing", "invalid", 'profile_id "explicit" needs an http(s) join_url')
            return None
        return Conferencing("explicit", join_url, description if isinstance(description, str) else None)
    return None if value["profile_id"] == NO_PROFILE else Conferencing(value["profile_id"])


def _recall_profile(value: Any, profiles: frozenset[str], errors: FieldErrors) -> str | None:
    """The Recall extension's profile id (seed 000); several Recall entries are refused as ambiguous."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        errors.add("extensions", "invalid", "extensions must be a list of objects")
        return None
    profile, seen = None, False
    for item in value:
        given = item.get("profile_id")
        if item.get("provider") != "recall":
            errors.add("extensions", "invalid", f"unknown extension provider {item.get('provider')!r}")
        elif seen:
            errors.add("extensions", "invalid", "at most one recall extension per event")
        elif not isinstance(given, str) or not given:
            errors.add("extensions", "required", "extensions[].profile_id is required")
        elif given != NO_PROFILE and given not in profiles:
            errors.add("extensions", "invalid", f"unknown recall profile_id {given!r}")
        else:
            profile = given
        seen = seen or item.get("provider") == "recall"
    return profile


def parse_upsert(body: bytes, recall_profiles: frozenset[str]) -> EventWrite:
    data = decode_object(body)
    errors = FieldErrors()
    event_id = _text(data, "event_id", errors, required=True)
    summary = _text(data, "summary", errors, required=True, limit=SUMMARY_MAX)
    description = _text(data, "description", errors, required=False, limit=DESCRIPTION_MAX)
    url = _text(data, "url", errors, required=False) or None
    tzid = data.get("tzid") or DEFAULT_TZID
    try:
        zone(tzid if isinstance(tzid, str) else "")
    except TimeError as exc:
        errors.add("tzid", "invalid", str(exc))
        tzid = DEFAULT_TZID
    start, end = _time(data, "start", tzid, errors), _time(data, "end", tzid, errors)
    if start is not None and end is not None:
        # Same-kind and ordering rules are our reading (reference open question 4).
        if start.is_date != end.is_date:
            errors.add("end", "invalid", "start and end must both be dates or both be times")
        elif end.instant() < start.instant():
            errors.add("end", "invalid", "end must not be before start")
    transparency = data.get("transparency") or "opaque"
    if transparency not in TRANSPARENCIES:
        errors.add("transparency", "invalid", "transparency must be opaque or transparent")
    location = _location(data.get("location"), errors)
    conferencing = _conferencing(data.get("conferencing"), errors)
    recall_profile = _recall_profile(data.get("extensions"), recall_profiles, errors)
    errors.raise_any()
    assert start is not None  # noqa: S101 - raise_any() returned, so both times parsed
    assert end is not None  # noqa: S101 - as above
    return EventWrite(
        event_id=event_id,
        summary=summary,
        description=description,
        start=start,
        end=end,
        location=location,
        url=url,
        transparency=transparency,
        conferencing=conferencing,
        recall_profile=recall_profile,
    )


def parse_delete(body: bytes) -> tuple[str, str]:
    """(`event_id` or `event_uid`, value): managed events by our id, any event by Cronofy's uid."""
    data = decode_object(body)
    for name in ("event_id", "event_uid"):
        value = data.get(name)
        if isinstance(value, str) and value:
            return name, value
    raise single_error("event_id", "required", "required")


def parse_channel(body: bytes, calendar_ids: frozenset[str]) -> tuple[str, ChannelFilters]:
    data = decode_object(body)
    errors = FieldErrors()
    callback_url = data.get("callback_url")
    if not callback_url:
        errors.add("callback_url", "required", "required")
    elif not isinstance(callback_url, str) or not callback_url.lower().startswith(("https://", "http://")):
        errors.add("callback_url", "invalid", "callback_url must be an http(s) URL")
    filters = ChannelFilters()
    raw = data.get("filters")
    if raw is not None:
        try:
            filters = msgspec.convert(raw, ChannelFilters)
        except msgspec.ValidationError as exc:
            errors.add("filters", "invalid", str(exc))
    if filters.calendar_ids is not None:
        # "At least one if given" is documented; refusing calendars of other accounts is our choice,
        # so a gateway that links the wrong calendar hears about it instead of never being notified.
        if not filters.calendar_ids:
            errors.add("filters", "invalid", "filters.calendar_ids must name at least one calendar")
        unknown = sorted(set(filters.calendar_ids) - calendar_ids)
        if unknown:
            errors.add("filters", "invalid", f"unknown calendar_ids {unknown}")
    errors.raise_any()
    return str(callback_url), filters
