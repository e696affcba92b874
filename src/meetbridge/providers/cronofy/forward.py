"""The upsert meetbridge sends Cronofy for one of its events (reference §1), and its digest.

The stored fields are already Cronofy's names and shapes, so most pass through as they are. What
differs: times go out as ``{time, tzid}`` (or a date) so the event keeps its zones; attendees are
stored as the resulting list, while Cronofy takes changes (``invite`` / ``remove``), so those removed
since the last forward are computed from the emails forwarded then; ``ical_uid`` is meetbridge's own
and stays home; and the extension names the upstream profile (or ``none``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from meetbridge.domain.events import PLAIN_FIELDS

RECALL = "recall"
# Stored fields Cronofy takes as they are (null ones are left out: Cronofy keeps what it has): the
# upsert's plain fields but meetbridge's own ical_uid.
PASSED_ON = tuple(name for name in PLAIN_FIELDS if name != "ical_uid")


def _time(fields: Mapping[str, Any], name: str) -> str | dict[str, str]:
    value: str = fields[name]
    if len(value) == 10:  # a date: all-day events have no zone
        return value
    return {"time": value, "tzid": fields.get(f"{name}_tzid") or fields.get("tzid") or "Etc/UTC"}


def _invitee(attendee: Mapping[str, Any]) -> dict[str, Any]:
    name = attendee.get("display_name")
    return {"email": attendee["email"], **({"display_name": name} if name else {})}


def attendee_emails(fields: Mapping[str, Any]) -> list[str]:
    return sorted({str(a["email"]).lower() for a in fields.get("attendees") or [] if a.get("email")})


def forward_body(
    event_id: str, fields: Mapping[str, Any], *, profile_id: str, forwarded_emails: Iterable[str] = ()
) -> dict[str, Any]:
    """The upsert body; ``profile_id`` is the upstream profile, or ``none`` to cancel its bot."""
    body: dict[str, Any] = {"event_id": event_id}
    body.update({name: fields[name] for name in PASSED_ON if fields.get(name) is not None})
    body["start"], body["end"] = _time(fields, "start"), _time(fields, "end")
    if fields.get("tzid"):
        body["tzid"] = fields["tzid"]
    current = fields.get("attendees") or []
    removed = sorted(set(forwarded_emails) - set(attendee_emails(fields)))
    if current or removed:
        body["attendees"] = {
            "invite": [_invitee(a) for a in current],
            **({"remove": [{"email": email} for email in removed]} if removed else {}),
        }
    body["extensions"] = [{"provider": RECALL, "profile_id": profile_id}]
    return body


def digest(body: Mapping[str, Any]) -> str:
    """Equal for equal bodies whatever their key order: an unchanged event is not sent again."""
    return hashlib.sha256(msgspec.json.encode(body, order="sorted")).hexdigest()[:32]
