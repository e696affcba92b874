"""Pure event rules: merging an upsert onto the stored event (Cronofy semantics) and validating it.

The stored form ("fields") is a JSON object of Cronofy field names. An upsert names only the fields
it changes; an omitted field keeps its stored value and an explicit ``null`` clears an optional one.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from meetbridge.domain.meeting_urls import find_meeting_url
from meetbridge.domain.times import DEFAULT_TZID, EventTime, TimeError, parse_event_time, zone
from meetbridge.errors import InvalidRequest

SUMMARY_MAX = 1024
DESCRIPTION_MAX = 4096
# Above what Google (and Microsoft) let a calendar event have: no real calendar reaches these.
ATTENDEES_MAX = 1000
# Free-form Cronofy objects, measured as stored (JSON bytes).
FREE_FORM_MAX = {"recurrence": 8192, "subscriptions": 16384}
REQUIRED_ON_CREATE = ("summary", "start", "end")
# Fields an upsert copies as given; start/end/tzid/attendees/extensions have rules of their own.
PLAIN_FIELDS = (
    "summary",
    "description",
    "location",
    "url",
    "transparency",
    "conferencing",
    "reminders",
    "reminders_create_only",
    "event_private",
    "recurrence",
    "subscriptions",
    "color",
    "ical_uid",  # meetbridge: matches the event to a linked calendar's copy of it (DESIGN §3)
)


@dataclass(frozen=True, slots=True)
class MergedEvent:
    fields: dict[str, Any]
    start: EventTime
    end: EventTime


class _Errors:
    def __init__(self) -> None:
        self.by_field: dict[str, list[tuple[str, str]]] = defaultdict(list)

    def add(self, field: str, kind: str, description: str) -> None:
        self.by_field[field].append((f"errors.{kind}", description))

    def raise_any(self) -> None:
        if self.by_field:
            raise InvalidRequest(self.by_field)


def _time_field(provided: Any, default_tzid: str, field: str, errors: _Errors) -> EventTime | None:
    """``provided`` is a string or ``{"time": ..., "tzid": ...}`` (already type-checked by the API)."""
    if isinstance(provided, dict):
        raw, tzid = provided.get("time"), provided.get("tzid") or default_tzid
    else:
        raw, tzid = provided, default_tzid
    if not isinstance(raw, str):
        errors.add(field, "required", f"{field}.time is required")
        return None
    try:
        return parse_event_time(raw, tzid)
    except TimeError as exc:
        errors.add(field, "invalid", str(exc))
        return None


def _merged_time(
    name: str, fields: dict[str, Any], provided: dict[str, Any], tzid: str, errors: _Errors
) -> EventTime | None:
    if provided.get(name) is not None:
        return _time_field(provided[name], tzid, name, errors)
    return stored_time(fields, name) if name in fields else None


def meeting_url_of(fields: dict[str, Any]) -> str | None:
    """The link a bot would join: conferencing.join_url, then location, url and description."""
    found = find_meeting_url(
        join_url=(fields.get("conferencing") or {}).get("join_url"),
        location=(fields.get("location") or {}).get("description"),
        url=fields.get("url"),
        description=fields.get("description"),
    )
    return found.url if found else None


def stored_time(fields: dict[str, Any], field: str) -> EventTime:
    # Unbounded: a row stored before the range was enforced must still read.
    return parse_event_time(fields[field], fields.get(f"{field}_tzid") or DEFAULT_TZID, bounded=False)


def _merge_attendees(stored: list[dict[str, Any]], change: dict[str, Any]) -> list[dict[str, Any]]:
    by_email = {a["email"].lower(): a for a in stored}
    for person in change.get("invite") or []:
        by_email.setdefault(
            person["email"].lower(),
            {"email": person["email"], "display_name": person.get("display_name"), "status": "needs_action"},
        )
    for person in (change.get("remove") or []) + (change.get("reject") or []):
        by_email.pop(person["email"].lower(), None)
    return list(by_email.values())


def _check_plain(fields: dict[str, Any], errors: _Errors) -> None:
    if len(fields.get("summary") or "") > SUMMARY_MAX:
        errors.add("summary", "too_long", f"summary must be at most {SUMMARY_MAX} characters")
    if len(fields.get("description") or "") > DESCRIPTION_MAX:
        errors.add("description", "too_long", f"description must be at most {DESCRIPTION_MAX} characters")
    conferencing = fields.get("conferencing") or {}
    if conferencing.get("profile_id") == "explicit" and not conferencing.get("join_url"):
        errors.add("conferencing", "required", 'conferencing.join_url is required with profile_id "explicit"')
    join_url = conferencing.get("join_url")
    if join_url and not str(join_url).lower().startswith(("https://", "http://")):
        errors.add("conferencing", "invalid", "conferencing.join_url must be an http(s) URL")
    if len(fields.get("attendees") or []) > ATTENDEES_MAX:
        errors.add(
            "attendees", "too_long", f"an event has at most {ATTENDEES_MAX} attendees (after this change)"
        )
    for name, limit in FREE_FORM_MAX.items():
        if fields.get(name) is not None and len(json.dumps(fields[name])) > limit:
            errors.add(name, "too_long", f"{name} must be at most {limit} bytes as JSON")


def merge_upsert(stored: dict[str, Any] | None, provided: dict[str, Any]) -> MergedEvent:
    """Apply ``provided`` (only the fields the request named) to ``stored`` (None: a new event)."""
    errors = _Errors()
    fields: dict[str, Any] = dict(stored or {})
    if stored is None:
        for name in REQUIRED_ON_CREATE:
            if provided.get(name) is None:
                errors.add(name, "required", "required")
    for name in PLAIN_FIELDS:
        if name in provided:
            fields[name] = provided[name]
    if "attendees" in provided:
        fields["attendees"] = _merge_attendees(fields.get("attendees") or [], provided["attendees"] or {})
    tzid = provided.get("tzid") or fields.get("tzid") or DEFAULT_TZID
    try:
        zone(tzid)
        fields["tzid"] = tzid
    except TimeError as exc:
        errors.add("tzid", "invalid", str(exc))
        tzid = DEFAULT_TZID
    start, end = (_merged_time(name, fields, provided, tzid, errors) for name in ("start", "end"))
    _check_plain(fields, errors)
    if start is not None and end is not None:
        if start.is_date != end.is_date:
            errors.add("end", "invalid", "start and end must both be dates or both be times")
        elif end.instant() < start.instant():
            errors.add("end", "invalid", "end must not be before start")
    errors.raise_any()
    assert start is not None  # noqa: S101 - raise_any() has returned, so both times parsed
    assert end is not None  # noqa: S101 - as above
    for name, value in (("start", start), ("end", end)):
        fields[name] = value.wire()
        fields[f"{name}_tzid"] = value.tzid
    return MergedEvent(fields=fields, start=start, end=end)
