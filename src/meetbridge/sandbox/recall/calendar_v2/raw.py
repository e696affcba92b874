"""Calendar events' `raw` payloads: Google Calendar and Microsoft Graph shapes (reference §4.3).

Admin-seeded `raw` is checked against the fields meetbridge reads (title, attendees, organizer, meeting
link) and otherwise kept as given. The sandbox owns the fields that must agree with the CalendarEvent
(ids, times, cancellation) and writes them itself.
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import datetime
from typing import Any

import msgspec

from meetbridge.sandbox.recall.calendar_v2.models import Platform
from meetbridge.sandbox.recall.core import SandboxError, parse_meeting_url

_URL = re.compile(r"https?://[^\s\"'<>]+")


# --- Google Calendar event (fields meetbridge reads) ---------------------------------------------


class _GooglePerson(msgspec.Struct, rename="camel"):
    email: str
    display_name: str | None = None
    response_status: str | None = None
    organizer: bool | None = None
    is_self: bool | None = msgspec.field(default=None, name="self")


class _GoogleEntryPoint(msgspec.Struct, rename="camel"):
    entry_point_type: str
    uri: str


class _GoogleConference(msgspec.Struct, rename="camel"):
    entry_points: list[_GoogleEntryPoint] = []


class _GoogleEvent(msgspec.Struct, rename="camel"):
    summary: str | None = None
    description: str | None = None
    location: str | None = None
    attendees: list[_GooglePerson] = []
    organizer: _GooglePerson | None = None
    hangout_link: str | None = None
    conference_data: _GoogleConference | None = None


# --- Microsoft Graph event (fields meetbridge reads) ---------------------------------------------


class _MsAddress(msgspec.Struct):
    address: str
    name: str | None = None


class _MsResponse(msgspec.Struct):
    response: str
    time: str | None = None


class _MsAttendee(msgspec.Struct, rename="camel"):
    email_address: _MsAddress
    status: _MsResponse | None = None
    type: str | None = None


class _MsOrganizer(msgspec.Struct, rename="camel"):
    email_address: _MsAddress


class _MsOnlineMeeting(msgspec.Struct, rename="camel"):
    join_url: str | None = None


class _MsLocation(msgspec.Struct, rename="camel"):
    display_name: str | None = None


class _MsBody(msgspec.Struct, rename="camel"):
    content: str = ""
    content_type: str | None = None


class _MsEvent(msgspec.Struct, rename="camel"):
    subject: str | None = None
    attendees: list[_MsAttendee] = []
    organizer: _MsOrganizer | None = None
    online_meeting: _MsOnlineMeeting | None = None
    online_meeting_url: str | None = None
    location: _MsLocation | None = None
    body: _MsBody | None = None


def _parse(platform: Platform, raw: dict[str, Any]) -> _GoogleEvent | _MsEvent:
    shape: type[_GoogleEvent | _MsEvent] = _GoogleEvent if platform == "google_calendar" else _MsEvent
    try:
        return msgspec.convert(raw, shape)
    except msgspec.ValidationError as exc:
        raise SandboxError(400, {"raw": [f"Not a {platform} event: {exc}"]}) from None


def check_raw(platform: Platform, raw: dict[str, Any]) -> None:
    """400 unless `raw` reads as an event of the calendar's platform."""
    _parse(platform, raw)


def _candidates(event: _GoogleEvent | _MsEvent) -> list[str]:
    """Where each provider keeps the meeting link, most specific first."""
    if isinstance(event, _GoogleEvent):
        points = event.conference_data.entry_points if event.conference_data else []
        video = [point.uri for point in points if point.entry_point_type == "video"]
        texts = [event.location or "", event.description or ""]
        direct = [event.hangout_link, *video]
    else:
        direct = [event.online_meeting.join_url if event.online_meeting else None, event.online_meeting_url]
        texts = [
            (event.location.display_name or "") if event.location else "",
            event.body.content if event.body else "",
        ]
    return [link for link in direct if link] + [match for text in texts for match in _URL.findall(text)]


def meeting_link(platform: Platform, raw: dict[str, Any]) -> tuple[str | None, str | None]:
    """(meeting_url, meeting_platform): the first link a bot could join, as Recall derives them."""
    for link in _candidates(_parse(platform, raw)):
        parsed = parse_meeting_url(link)
        if parsed is not None:
            return link, str(parsed.__struct_config__.tag)
    return None, None


def new_platform_ids(platform: Platform) -> tuple[str, str]:
    """(platform_id, ical_uid) in the look of each provider's own identifiers."""
    if platform == "google_calendar":
        return secrets.token_hex(13), f"{secrets.token_hex(13)}@google.com"
    return "AAMkA" + secrets.token_urlsafe(48), "040000008200E00074C5B7101A82E008" + uuid.uuid4().hex.upper()


def _google_time(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "timeZone": "UTC"}


def _graph_time(moment: datetime) -> dict[str, str]:
    # Graph's dateTimeTimeZone: local time without offset, seven fractional digits, zone named beside it.
    return {"dateTime": moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0", "timeZone": "UTC"}


def render_raw(
    platform: Platform,
    given: dict[str, Any],
    *,
    platform_id: str,
    ical_uid: str,
    start: datetime,
    end: datetime,
    created: datetime,
    updated: datetime,
    deleted: bool,
) -> dict[str, Any]:
    if platform == "google_calendar":
        status = "cancelled" if deleted else given.get("status", "confirmed")
        return {
            "kind": "calendar#event",
            **given,
            "id": platform_id,
            "iCalUID": ical_uid,
            "status": status,
            "start": _google_time(start),
            "end": _google_time(end),
            "created": created.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "updated": updated.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        }
    return {
        **given,
        "id": platform_id,
        "iCalUId": ical_uid,
        "isCancelled": deleted,
        "start": _graph_time(start),
        "end": _graph_time(end),
        "createdDateTime": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "lastModifiedDateTime": updated.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
