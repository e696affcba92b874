"""Recording rules: which synced events get a bot, which rule decided, and the sentence saying why."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from meetbridge.domain.recording_rules import Participant, RecordRule, RuleDecision, evaluate

ZOOM = "https://zoom.us/j/1234567890"
OWNER = "alice@example.com"


def person(
    email: str, status: str = "accepted", *, is_self: bool = False, is_organizer: bool = False
) -> Participant:
    return Participant(email, None, status, is_self, is_organizer)


INTERNAL = [
    person(OWNER, is_self=True, is_organizer=True),
    person("carol@Example.COM", "needs_action"),
]
WITH_GUEST = [*INTERNAL, person("bob@other.com", "tentative"), person("dave@third.org")]


def decide(
    rule: RecordRule,
    participants: Sequence[Participant] = INTERNAL,
    *,
    series: Sequence[str] = (),
    **overrides: Any,
) -> RuleDecision:
    arguments: dict[str, Any] = {
        "ical_uid": "uid-1@google.com",
        "meeting_url": ZOOM,
        "owner_email": OWNER,
        "owner_response": "accepted",
    }
    return evaluate(rule, series, participants=participants, **{**arguments, **overrides})


@pytest.mark.parametrize("rule", ["all", "external", "confirmed", "none"])
@pytest.mark.parametrize("meeting_url", [None, ""])
def test_no_meeting_link_is_never_recorded(rule: RecordRule, meeting_url: str | None) -> None:
    decision = decide(rule, WITH_GUEST, series=["uid-1@google.com"], meeting_url=meeting_url)
    assert decision == RuleDecision(False, "no_meeting_url", "the event has no meeting link")


@pytest.mark.parametrize("rule", ["all", "external", "confirmed", "none"])
def test_a_series_in_the_list_is_recorded_whatever_the_rule(rule: RecordRule) -> None:
    decision = decide(rule, series=["other", "uid-1@google.com"], owner_response="declined")
    assert decision == RuleDecision(True, "series", "ical_uid uid-1@google.com is in the recorded series")


def test_series_match_is_exact() -> None:
    assert decide("none", series=["UID-1@google.com", "uid-1"]).rule == "none"
    assert decide("none", series=["uid-1@google.com"], ical_uid=None).rule == "none"


def test_none_records_nothing() -> None:
    assert decide("none", WITH_GUEST) == RuleDecision(False, "none", "rule none records no event")


def test_all_records_everything_even_when_the_owner_declined() -> None:
    decision = decide("all", owner_response="declined")
    assert decision == RuleDecision(True, "all", "rule all records every event with a meeting link")


def test_external_names_the_first_outside_attendee() -> None:
    decision = decide("external", WITH_GUEST)
    assert decision == RuleDecision(True, "external", "attendee bob@other.com is outside example.com")


def test_external_with_only_colleagues_is_not_recorded() -> None:
    decision = decide("external", INTERNAL, owner_email="Alice@EXAMPLE.com")
    assert decision == RuleDecision(False, "external", "no attendee outside example.com")


def test_external_ignores_attendees_without_a_usable_domain() -> None:
    decision = decide("external", [*INTERNAL, person("no-domain"), person("x@")])
    assert decision.record is False


def test_external_not_recorded_when_the_owner_declined() -> None:
    decision = decide("external", WITH_GUEST, owner_response="declined")
    assert decision == RuleDecision(False, "external", "the calendar owner declined")


def test_external_without_owner_email_uses_the_self_participant() -> None:
    decision = decide("external", WITH_GUEST, owner_email=None)
    assert decision.reason == "attendee bob@other.com is outside example.com"


def test_external_falls_back_to_the_organizers_domain() -> None:
    people = [person("org@vendor.io", is_organizer=True), person("me@example.com")]
    decision = decide("external", people, owner_email=None)
    assert decision.record is True
    assert decision.reason == (
        "attendee me@example.com is outside vendor.io (the organizer's domain; the owner's is unknown)"
    )


def test_external_with_no_known_domain_is_not_recorded() -> None:
    decision = decide("external", [person("bob@other.com")], owner_email=None)
    assert decision == RuleDecision(
        False, "external", "neither the calendar owner's nor the organizer's email domain is known"
    )


def test_confirmed_records_an_accepted_invitation() -> None:
    people = [person("org@other.com", is_organizer=True), person(OWNER, is_self=True)]
    decision = decide("confirmed", people)
    assert decision == RuleDecision(True, "confirmed", "the calendar owner accepted")


def test_confirmed_records_what_the_owner_organises() -> None:
    decision = decide("confirmed", INTERNAL, owner_response=None)
    assert decision == RuleDecision(True, "confirmed", "the calendar owner organises the event")
    by_email = [person(OWNER, "needs_action", is_organizer=True)]
    assert decide("confirmed", by_email, owner_response="needs_action").record is True


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        ("tentative", "the calendar owner has answered tentative, not accepted"),
        ("needs_action", "the calendar owner has not answered, not accepted"),
        (None, "the calendar owner has no known response, not accepted"),
        ("declined", "the calendar owner declined"),
    ],
)
def test_confirmed_needs_an_acceptance(response: str | None, reason: str) -> None:
    people = [person("org@other.com", is_organizer=True), person(OWNER, is_self=True)]
    assert decide("confirmed", people, owner_response=response) == RuleDecision(False, "confirmed", reason)


def test_confirmed_declined_organiser_is_not_recorded() -> None:
    decision = decide("confirmed", INTERNAL, owner_response="declined")
    assert decision == RuleDecision(False, "confirmed", "the calendar owner declined")
