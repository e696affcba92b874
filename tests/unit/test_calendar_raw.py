"""Reading Recall Calendar V2 `raw` payloads (Google and Microsoft shapes) into facts and stored fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from meetbridge.api.presenters import event_detail
from meetbridge.db.events import StoredEvent
from meetbridge.domain.events import meeting_url_of
from meetbridge.domain.recording_rules import Participant, evaluate
from meetbridge.providers.recall.calendar_raw import RawFacts, raw_facts, stored_fields
from meetbridge.sandbox.recall.calendar_v2 import Platform, check_raw, render_raw

START = datetime(2026, 5, 11, 16, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
ZOOM = "https://zoom.us/j/1234567890"
OWNER = "alice@example.com"


def rendered(platform: Platform, given: dict[str, Any]) -> dict[str, Any]:
    """The payload as Recall would hand it over, with the provider's own ids, times and flags."""
    check_raw(platform, given)
    return render_raw(
        platform,
        given,
        platform_id="p-1",
        ical_uid="uid-1",
        start=START,
        end=END,
        created=START - timedelta(days=1),
        updated=START - timedelta(days=1),
        deleted=False,
    )


# --- Google Calendar ---------------------------------------------------------------------------------

GOOGLE_INVITE = {
    "summary": "Quarterly review",
    "description": f"Join: {ZOOM}",
    "location": "Room 4",
    "organizer": {"email": "bob@Other.com", "displayName": "Bob"},
    "attendees": [
        {"email": "bob@Other.com", "displayName": "Bob", "organizer": True, "responseStatus": "accepted"},
        {"email": OWNER, "self": True, "responseStatus": "tentative"},
        {"email": "carol@example.com", "responseStatus": "needsAction"},
        {"email": "CAROL@example.com", "responseStatus": "accepted"},
        {"email": "dave@third.org", "displayName": "Dave", "responseStatus": "declined"},
        {"email": "c_123@resource.calendar.google.com", "resource": True, "responseStatus": "accepted"},
    ],
}


def test_google_invitation() -> None:
    facts = raw_facts("google_calendar", rendered("google_calendar", GOOGLE_INVITE), OWNER)
    assert facts == RawFacts(
        summary="Quarterly review",
        description=f"Join: {ZOOM}",
        location="Room 4",
        organizer_email="bob@Other.com",
        owner_response="tentative",
        attendees=[
            Participant("bob@Other.com", "Bob", "accepted", False, True),
            Participant(OWNER, None, "tentative", True, False),
            Participant("carol@example.com", None, "needs_action", False, False),
            Participant("dave@third.org", "Dave", "declined", False, False),
        ],
    )


def test_google_owner_found_by_email_when_flags_are_absent() -> None:
    raw = {
        "organizer": {"email": "bob@other.com"},
        "attendees": [{"email": "Alice@EXAMPLE.com", "responseStatus": "declined"}],
    }
    facts = raw_facts("google_calendar", raw, "alice@example.com")
    assert facts.owner_response == "declined"
    assert facts.attendees[0] == Participant("Alice@EXAMPLE.com", None, "declined", True, False)
    # The organizer is not in Google's attendee list here, but still takes part.
    assert facts.attendees[1] == Participant("bob@other.com", None, "accepted", False, True)


def test_google_own_event_without_guests() -> None:
    raw = rendered("google_calendar", {"summary": "Focus", "organizer": {"email": OWNER, "self": True}})
    facts = raw_facts("google_calendar", raw, None)
    assert facts.owner_response == "accepted"
    assert facts.organizer_email == OWNER
    assert facts.attendees == [Participant(OWNER, None, "accepted", True, True)]


def test_google_unknown_response_reads_as_needs_action_and_unknown_owner_response() -> None:
    raw = {"attendees": [{"email": OWNER, "self": True, "responseStatus": "maybe-later"}]}
    facts = raw_facts("google_calendar", raw, None)
    assert facts.owner_response is None
    assert facts.attendees == [Participant(OWNER, None, "needs_action", True, False)]


# --- Microsoft Graph ---------------------------------------------------------------------------------


def graph_attendee(address: str, response: str, name: str | None = None, kind: str = "required") -> Any:
    return {
        "emailAddress": {"address": address, "name": name},
        "status": {"response": response, "time": "0001-01-01T00:00:00Z"},
        "type": kind,
    }


GRAPH_INVITE = {
    "subject": "Vendor sync",
    "body": {"contentType": "html", "content": "<p>Agenda</p>"},
    "location": {"displayName": "Teams"},
    "organizer": {"emailAddress": {"address": "bob@other.com", "name": "Bob"}},
    "isOrganizer": False,
    "responseStatus": {"response": "tentativelyAccepted", "time": "2026-05-01T10:00:00Z"},
    "attendees": [
        # Graph's copy of the owner's own answer can lag behind responseStatus.
        graph_attendee(OWNER, "none", "Alice"),
        graph_attendee("carol@example.com", "notResponded"),
        graph_attendee("dave@third.org", "declined", "Dave"),
        graph_attendee("erin@third.org", "accepted"),
        graph_attendee("frank@example.com", "none"),
        graph_attendee("room4@example.com", "accepted", "Room 4", kind="resource"),
    ],
}


def test_microsoft_invitation() -> None:
    facts = raw_facts("microsoft_outlook", rendered("microsoft_outlook", GRAPH_INVITE), "ALICE@example.com")
    assert facts == RawFacts(
        summary="Vendor sync",
        description="<p>Agenda</p>",
        location="Teams",
        organizer_email="bob@other.com",
        owner_response="tentative",
        attendees=[
            Participant(OWNER, "Alice", "tentative", True, False),
            Participant("carol@example.com", None, "needs_action", False, False),
            Participant("dave@third.org", "Dave", "declined", False, False),
            Participant("erin@third.org", None, "accepted", False, False),
            Participant("frank@example.com", None, "needs_action", False, False),
            # Graph keeps the organizer out of `attendees`; they still take part.
            Participant("bob@other.com", "Bob", "accepted", False, True),
        ],
    )


def test_microsoft_organizer_is_accepted_not_a_status() -> None:
    raw = {
        "subject": "Planning",
        "organizer": {"emailAddress": {"address": OWNER, "name": "Alice"}},
        "isOrganizer": True,
        "responseStatus": {"response": "organizer"},
        "attendees": [graph_attendee("carol@example.com", "accepted")],
    }
    facts = raw_facts("microsoft_outlook", rendered("microsoft_outlook", raw), None)
    assert facts.owner_response == "accepted"
    assert facts.attendees == [
        Participant("carol@example.com", None, "accepted", False, False),
        Participant(OWNER, "Alice", "accepted", True, True),
    ]


def test_microsoft_attendee_marked_organizer() -> None:
    raw = {"attendees": [graph_attendee("bob@other.com", "organizer")]}
    facts = raw_facts("microsoft_outlook", raw, OWNER)
    assert facts.attendees == [Participant("bob@other.com", None, "accepted", False, True)]
    assert facts.owner_response is None


def test_microsoft_owner_response_falls_back_to_the_owner_attendee() -> None:
    raw = {"attendees": [graph_attendee(OWNER, "declined")]}
    assert raw_facts("microsoft_outlook", raw, OWNER).owner_response == "declined"


# --- odd data ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", ["google_calendar", "microsoft_outlook"])
@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"attendees": None, "organizer": None, "responseStatus": None, "body": None, "location": None},
        {"attendees": "everyone", "organizer": "bob", "responseStatus": "yes", "location": 4},
        {"attendees": [None, 1, "x", {}, {"email": 5}, {"emailAddress": None}, {"emailAddress": {}}]},
        {"attendees": [{"email": "no-at-sign"}, {"emailAddress": {"address": "   "}, "status": 3}]},
        {"summary": 12, "subject": ["x"], "description": {"a": 1}, "isOrganizer": "yes"},
        {"organizer": {"email": None, "self": "true"}, "unexpected": {"deep": [1, 2]}},
    ],
)
def test_odd_payloads_read_as_absent(platform: str, raw: dict[str, Any]) -> None:
    facts = raw_facts(platform, raw, OWNER)
    assert facts == RawFacts(
        summary="", description="", location=None, organizer_email=None, owner_response=None, attendees=[]
    )


def test_unknown_platform_and_non_object_raw_read_as_empty() -> None:
    assert raw_facts("yahoo", GOOGLE_INVITE, OWNER).attendees == []
    assert raw_facts("google_calendar", None, OWNER).summary == ""  # type: ignore[arg-type]
    assert raw_facts("google_calendar", [1, 2], OWNER).attendees == []  # type: ignore[arg-type]


def test_blank_owner_email_is_ignored() -> None:
    facts = raw_facts("google_calendar", {"attendees": [{"email": "x@y.com"}]}, "  ")
    assert facts.attendees == [Participant("x@y.com", None, "needs_action", False, False)]


def test_facts_feed_the_recording_rules() -> None:
    facts = raw_facts("google_calendar", GOOGLE_INVITE, OWNER)
    decision = evaluate(
        "external",
        [],
        ical_uid="uid-1",
        meeting_url=ZOOM,
        owner_email=OWNER,
        participants=facts.attendees,
        owner_response=facts.owner_response,
    )
    assert decision.record is True
    assert decision.reason == "attendee bob@Other.com is outside example.com"


# --- stored fields -----------------------------------------------------------------------------------


def stored_event(fields: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        pk=1,
        calendar_id="cal_1",
        event_id=None,
        event_uid="evt_external_1",
        fields=fields,
        start_at=START,
        end_at=END,
        deleted=False,
        version=1,
        metadata={},
        created_at=START - timedelta(days=1),
        updated_at=START - timedelta(days=1),
    )


def test_stored_fields_of_a_google_invitation_render() -> None:
    facts = raw_facts("google_calendar", GOOGLE_INVITE, OWNER)
    berlin = timezone(timedelta(hours=2))
    fields = stored_fields(
        facts, start_at=START.astimezone(berlin), end_at=END, meeting_url=ZOOM, ical_uid="uid-1"
    )
    assert fields == {
        "summary": "Quarterly review",
        "description": f"Join: {ZOOM}",
        "start": "2026-05-11T16:00:00Z",
        "end": "2026-05-11T17:00:00Z",
        "tzid": "Etc/UTC",
        "attendees": [
            {"email": "bob@Other.com", "display_name": "Bob", "status": "accepted"},
            {"email": OWNER, "display_name": None, "status": "tentative"},
            {"email": "carol@example.com", "display_name": None, "status": "needs_action"},
            {"email": "dave@third.org", "display_name": "Dave", "status": "declined"},
        ],
        "location": {"description": "Room 4"},
        "conferencing": {"join_url": ZOOM, "provider_description": "Zoom"},
        "participation_status": "tentative",
        "ical_uid": "uid-1",
    }
    assert meeting_url_of(fields) == ZOOM
    detail = event_detail(stored_event(fields))
    assert detail.summary == "Quarterly review"
    assert detail.start == "2026-05-11T16:00:00Z"
    assert detail.participation_status == "tentative"
    assert [a.status for a in detail.attendees] == ["accepted", "tentative", "needs_action", "declined"]
    assert detail.location is not None
    assert detail.location.description == "Room 4"
    assert detail.conferencing is not None
    assert detail.conferencing.provider_name == "Zoom"
    assert detail.conferencing.join_url == ZOOM
    assert detail.meeting_url == ZOOM


def test_stored_fields_without_link_location_or_response_render() -> None:
    facts = raw_facts("microsoft_outlook", {"attendees": None}, None)
    fields = stored_fields(facts, start_at=START, end_at=END, meeting_url=None, ical_uid=None)
    assert "location" not in fields
    assert "conferencing" not in fields
    assert fields["participation_status"] == "unknown"
    detail = event_detail(stored_event(fields))
    assert detail.summary == ""
    assert detail.attendees == []
    assert detail.location is None
    assert detail.conferencing is None
    assert detail.participation_status == "unknown"


def test_unrecognised_meeting_link_has_no_provider_name() -> None:
    facts = raw_facts("google_calendar", {}, None)
    link = "https://example.com/call/1"
    fields = stored_fields(facts, start_at=START, end_at=END, meeting_url=link, ical_uid="u")
    assert fields["conferencing"] == {"join_url": link}
    assert event_detail(stored_event(fields)).conferencing is not None


@pytest.mark.parametrize(
    ("platform", "raw"),
    [
        ("microsoft_outlook", {"isOrganizer": True, "responseStatus": {"response": "none"}}),
        ("google_calendar", {"attendees": [{"email": OWNER, "self": True, "organizer": True}]}),
    ],
)
def test_an_unanswered_organising_owner_counts_as_accepted(platform: str, raw: dict[str, Any]) -> None:
    assert raw_facts(platform, raw, OWNER).owner_response == "accepted"


def test_an_organising_owner_who_declined_stays_declined() -> None:
    raw = {"isOrganizer": True, "responseStatus": {"response": "declined"}}
    assert raw_facts("microsoft_outlook", raw, None).owner_response == "declined"
