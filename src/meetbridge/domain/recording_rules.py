"""Whether a synced calendar event should get a bot, and a sentence saying why.

Calendar adapters see every event on a linked calendar, so something has to pick the ones worth
recording. The rules mirror what calendar-integration apps commonly offer; the sentence goes into the
event's ``explain`` field so an operator can see why a bot was (not) sent without reading code.

Order of the checks, and the choices made:

- No meeting link: never recorded, whatever the rule; a bot has nothing to join.
- ``ical_uid`` in ``series`` (meetings the user asked to record explicitly): recorded, even when the
  rule would say no or the owner declined — the explicit request wins.
- ``none`` records nothing; ``all`` records everything, even events the owner declined ("all" means all).
- ``external``: recorded when some participant's email domain (text after '@', lowercased) differs
  from the owner's domain. The owner's domain comes from ``owner_email``, else the participant marked
  as self, else the organizer; when none is known nothing is recorded, since anyone could be external.
- ``confirmed``: recorded when the owner accepted or organises the meeting; tentative or no answer is
  not a confirmation.
- Under ``external`` and ``confirmed`` an owner who declined is never recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec

from meetbridge.domain.dedup import email_domain

__all__ = ["PROVIDER_PREFERENCES", "Participant", "RecordRule", "RuleDecision", "evaluate"]

RecordRule = Literal["all", "external", "confirmed", "none"]
# The rule name of a decision the provider made itself (Calendar V1's will_record from preferences).
PROVIDER_PREFERENCES = "recall_preferences"


class Participant(msgspec.Struct, frozen=True):
    """One attendee; ``status`` is a Cronofy attendee status (accepted|declined|tentative|needs_action)."""

    email: str
    display_name: str | None
    status: str
    is_self: bool
    is_organizer: bool


class RuleDecision(msgspec.Struct, frozen=True):
    """``rule`` names what decided: series, all, external, confirmed, none or no_meeting_url."""

    record: bool
    rule: str
    reason: str


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.strip().lower() == b.strip().lower()


def _owner_domain(owner_email: str | None, participants: Sequence[Participant]) -> tuple[str | None, str]:
    """(domain, whose): the owner's domain, falling back to the self-marked participant, then organizer."""
    if domain := email_domain(owner_email):
        return domain, "owner"
    for person in participants:
        if person.is_self and (domain := email_domain(person.email)):
            return domain, "owner"
    for person in participants:
        if person.is_organizer and (domain := email_domain(person.email)):
            return domain, "organizer"
    return None, ""


def _owner_organises(owner_email: str | None, participants: Sequence[Participant]) -> bool:
    return any(p.is_organizer and (p.is_self or _same(p.email, owner_email)) for p in participants)


def _external(owner_email: str | None, participants: Sequence[Participant]) -> RuleDecision:
    home, whose = _owner_domain(owner_email, participants)
    if home is None:
        reason = "neither the calendar owner's nor the organizer's email domain is known"
        return RuleDecision(record=False, rule="external", reason=reason)
    for person in participants:
        domain = email_domain(person.email)
        if domain is not None and domain != home:
            reason = f"attendee {person.email} is outside {home}"
            if whose == "organizer":
                reason += " (the organizer's domain; the owner's is unknown)"
            return RuleDecision(record=True, rule="external", reason=reason)
    return RuleDecision(record=False, rule="external", reason=f"no attendee outside {home}")


def _confirmed(
    owner_email: str | None, participants: Sequence[Participant], response: str | None
) -> RuleDecision:
    if response == "accepted":
        return RuleDecision(record=True, rule="confirmed", reason="the calendar owner accepted")
    if _owner_organises(owner_email, participants):
        return RuleDecision(record=True, rule="confirmed", reason="the calendar owner organises the event")
    answer = {"tentative": "answered tentative", "needs_action": "not answered"}.get(response or "")
    reason = f"the calendar owner has {answer or 'no known response'}, not accepted"
    return RuleDecision(record=False, rule="confirmed", reason=reason)


def _gate(series: Sequence[str], ical_uid: str | None, meeting_url: str | None) -> RuleDecision | None:
    """The checks that come before any rule: a link to join, and the user's explicit series."""
    if not meeting_url:
        return RuleDecision(False, "no_meeting_url", "the event has no meeting link")
    if ical_uid and ical_uid in series:
        return RuleDecision(True, "series", f"ical_uid {ical_uid} is in the recorded series")
    return None


def _by_rule(
    rule: RecordRule, owner_email: str | None, participants: Sequence[Participant], response: str | None
) -> RuleDecision:
    if rule == "none":
        return RuleDecision(False, "none", "rule none records no event")
    if rule == "all":
        return RuleDecision(True, "all", "rule all records every event with a meeting link")
    if response == "declined":
        return RuleDecision(False, rule, "the calendar owner declined")
    if rule == "external":
        return _external(owner_email, participants)
    return _confirmed(owner_email, participants, response)


def evaluate(
    rule: RecordRule,
    series: Sequence[str],
    *,
    ical_uid: str | None,
    meeting_url: str | None,
    owner_email: str | None,
    participants: Sequence[Participant],
    owner_response: str | None,
) -> RuleDecision:
    """Whether to record, which rule decided, and why (see the module docstring for the order)."""
    decided = _gate(series, ical_uid, meeting_url)
    if decided is not None:
        return decided
    return _by_rule(rule, owner_email, participants, owner_response)
