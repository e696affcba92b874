"""Facts meetbridge needs from a Recall Calendar V2 event's ``raw`` payload (reference §4.3).

Recall hands over the provider's own event (a Google Calendar event or a Microsoft Graph event) as
``raw``. Title, attendees, responses and organizer live only there, and the recording rules and the
Cronofy-shaped external event need them. ``raw`` is data we do not control, so nothing here raises:
a missing or oddly typed piece reads as absent.

Choices:
- Attendee responses become Cronofy attendee statuses (accepted, declined, tentative, needs_action);
  an unknown or missing response reads as needs_action, Cronofy's own default.
- Rooms and other resources (Google ``resource: true``, Graph ``type: "resource"``) are left out: their
  addresses sit on the provider's domain and would make every meeting with a room look external.
- The organizer is always a participant: Graph lists them apart from ``attendees``, and Google omits
  the attendee list on events without guests, yet an external organizer makes a meeting external.
- Attendees without an email address are dropped (nothing to compare or show); duplicates by email
  (case-insensitive) keep the first entry.
- The owner's own response wins over the owner's attendee entry (Graph's top-level
  ``responseStatus`` is authoritative; the attendee copy can lag). An owner who organises and has
  not answered counts as accepted; an explicit decline or tentative stands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

import msgspec

from meetbridge.domain.meeting_urls import MeetingPlatform, parse_meeting_url
from meetbridge.domain.recording_rules import Participant
from meetbridge.domain.times import DEFAULT_TZID, utc_seconds

__all__ = ["RawFacts", "raw_facts", "stored_fields"]


class RawFacts(msgspec.Struct, frozen=True, kw_only=True):
    summary: str
    description: str
    location: str | None
    organizer_email: str | None
    # The calendar owner's own response as a Cronofy status; None when the payload does not say.
    owner_response: str | None
    attendees: list[Participant]


# Keys lowercased: providers document camelCase, but a case slip should not lose a response.
_GOOGLE_RESPONSES = {
    "needsaction": "needs_action",
    "declined": "declined",
    "tentative": "tentative",
    "accepted": "accepted",
}
_GRAPH_RESPONSES = {
    "none": "needs_action",
    "notresponded": "needs_action",
    "tentativelyaccepted": "tentative",
    "accepted": "accepted",
    "declined": "declined",
    # Graph's "organizer" is a role, not an answer: the organizer attends their own meeting.
    "organizer": "accepted",
}

_PROVIDER_NAMES = {
    MeetingPlatform.ZOOM: "Zoom",
    MeetingPlatform.GOOGLE_MEET: "Google Meet",
    MeetingPlatform.MICROSOFT_TEAMS: "Microsoft Teams",
    MeetingPlatform.WEBEX: "Webex",
    MeetingPlatform.GOTO_MEETING: "GoTo Meeting",
    MeetingPlatform.CHIME: "Amazon Chime",
}


# --- tolerant readers --------------------------------------------------------------------------------


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _maps(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list | tuple):
        yield from (item for item in value if isinstance(item, Mapping))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _email(value: Any) -> str | None:
    text = _text(value)
    return text.strip() if text is not None and "@" in text else None


def _response(table: Mapping[str, str], value: Any) -> str | None:
    return table.get(value.strip().lower()) if isinstance(value, str) else None


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.lower() == b.lower()


# --- shared assembly ---------------------------------------------------------------------------------


class _Entry(msgspec.Struct, frozen=True):
    email: str
    name: str | None
    response: str | None
    is_self: bool
    is_organizer: bool


def _participants(
    entries: list[_Entry],
    *,
    organizer: _Entry | None,
    owner_email: str | None,
    owner_response: str | None,
) -> list[Participant]:
    if organizer is not None and not any(_same(e.email, organizer.email) for e in entries):
        entries = [*entries, organizer]
    organizer_email = organizer.email if organizer else None
    seen: set[str] = set()
    people: list[Participant] = []
    for entry in entries:
        if entry.email.lower() in seen:
            continue
        seen.add(entry.email.lower())
        is_self = entry.is_self or _same(entry.email, owner_email)
        status = (owner_response if is_self else None) or entry.response or "needs_action"
        is_organizer = entry.is_organizer or _same(entry.email, organizer_email)
        people.append(Participant(entry.email, _text(entry.name), status, is_self, is_organizer))
    return people


def _self_response(entries: list[_Entry], owner_email: str | None) -> str | None:
    for entry in entries:
        if entry.is_self or _same(entry.email, owner_email):
            return entry.response
    return None


def _owner_response(
    answer: str | None, entries: list[_Entry], owner_email: str | None, *, owner_organises: bool
) -> str | None:
    # Events an app creates through the API can leave the organizer unanswered; organising is
    # attending unless the owner explicitly said otherwise.
    organises = owner_organises or any(
        e.is_organizer and (e.is_self or _same(e.email, owner_email)) for e in entries
    )
    if organises and answer in (None, "needs_action"):
        return "accepted"
    return answer


# --- Google Calendar ---------------------------------------------------------------------------------


def _google(raw: Mapping[str, Any], owner_email: str | None) -> RawFacts:
    top = _map(raw.get("organizer"))
    organizer_email = _email(top.get("email"))
    owner_organises = top.get("self") is True or _same(organizer_email, owner_email)
    entries = [
        _Entry(
            email,
            item.get("displayName"),
            _response(_GOOGLE_RESPONSES, item.get("responseStatus")),
            item.get("self") is True,
            item.get("organizer") is True,
        )
        for item in _maps(raw.get("attendees"))
        if (email := _email(item.get("email"))) and item.get("resource") is not True
    ]
    organizer = (
        _Entry(organizer_email, top.get("displayName"), "accepted", owner_organises, True)
        if organizer_email
        else None
    )
    owner_response = _owner_response(
        _self_response(entries, owner_email), entries, owner_email, owner_organises=owner_organises
    )
    return RawFacts(
        summary=_text(raw.get("summary")) or "",
        description=_text(raw.get("description")) or "",
        location=_text(raw.get("location")),
        organizer_email=organizer_email,
        owner_response=owner_response,
        attendees=_participants(
            entries, organizer=organizer, owner_email=owner_email, owner_response=owner_response
        ),
    )


# --- Microsoft Graph ---------------------------------------------------------------------------------


def _graph_entry(item: Mapping[str, Any]) -> _Entry | None:
    address = _map(item.get("emailAddress"))
    email = _email(address.get("address"))
    if email is None or str(item.get("type") or "").lower() == "resource":
        return None
    raw_response = _map(item.get("status")).get("response")
    is_organizer = isinstance(raw_response, str) and raw_response.strip().lower() == "organizer"
    return _Entry(email, address.get("name"), _response(_GRAPH_RESPONSES, raw_response), False, is_organizer)


def _graph(raw: Mapping[str, Any], owner_email: str | None) -> RawFacts:
    address = _map(_map(raw.get("organizer")).get("emailAddress"))
    organizer_email = _email(address.get("address"))
    owner_organises = raw.get("isOrganizer") is True or _same(organizer_email, owner_email)
    entries = [entry for item in _maps(raw.get("attendees")) if (entry := _graph_entry(item))]
    organizer = (
        _Entry(organizer_email, address.get("name"), "accepted", owner_organises, True)
        if organizer_email
        else None
    )
    top_response = _response(_GRAPH_RESPONSES, _map(raw.get("responseStatus")).get("response"))
    owner_response = _owner_response(
        top_response or _self_response(entries, owner_email),
        entries,
        owner_email,
        owner_organises=owner_organises,
    )
    return RawFacts(
        summary=_text(raw.get("subject")) or "",
        description=_text(_map(raw.get("body")).get("content")) or "",
        location=_text(_map(raw.get("location")).get("displayName")),
        organizer_email=organizer_email,
        owner_response=owner_response,
        attendees=_participants(
            entries, organizer=organizer, owner_email=owner_email, owner_response=owner_response
        ),
    )


_READERS: dict[str, Callable[[Mapping[str, Any], str | None], RawFacts]] = {
    "google_calendar": _google,
    "microsoft_outlook": _graph,
}


def raw_facts(platform: str, raw: Mapping[str, Any], owner_email: str | None) -> RawFacts:
    """Read ``raw`` as the ``platform``'s event; an unknown platform or a non-object reads as empty."""
    reader = _READERS.get(platform)
    if reader is None or not isinstance(raw, Mapping):
        return RawFacts(
            summary="", description="", location=None, organizer_email=None, owner_response=None, attendees=[]
        )
    return reader(raw, _email(owner_email))


# --- Cronofy-shaped stored fields --------------------------------------------------------------------


def _conferencing(meeting_url: str) -> dict[str, Any]:
    parsed = parse_meeting_url(meeting_url)
    conferencing: dict[str, Any] = {"join_url": meeting_url}
    if parsed is not None:
        conferencing["provider_description"] = _PROVIDER_NAMES.get(parsed.platform, str(parsed.platform))
    return conferencing


def stored_fields(
    facts: RawFacts,
    *,
    start_at: datetime,
    end_at: datetime,
    meeting_url: str | None,
    ical_uid: str | None,
) -> dict[str, Any]:
    """The stored ``fields`` of an external event, as the presenters read them (domain/events.py)."""
    fields: dict[str, Any] = {
        "summary": facts.summary,
        "description": facts.description,
        "start": utc_seconds(start_at),
        "end": utc_seconds(end_at),
        "tzid": DEFAULT_TZID,
        "attendees": [
            {"email": p.email, "display_name": p.display_name, "status": p.status} for p in facts.attendees
        ],
        "participation_status": facts.owner_response or "unknown",
        "ical_uid": ical_uid,
    }
    if facts.location:
        fields["location"] = {"description": facts.location}
    if meeting_url:
        fields["conferencing"] = _conferencing(meeting_url)
    return fields
