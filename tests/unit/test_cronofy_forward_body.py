"""The upsert body meetbridge forwards to Cronofy, built from the stored event fields."""

from __future__ import annotations

from typing import Any

from meetbridge.domain.events import merge_upsert
from meetbridge.providers.cronofy.forward import attendee_emails, digest, forward_body


def stored(**provided: Any) -> dict[str, Any]:
    base = {
        "summary": "Planning",
        "start": "2026-12-01T15:00:00Z",
        "end": "2026-12-01T16:00:00Z",
        "tzid": "Europe/Berlin",
    }
    return merge_upsert(None, {**base, **provided}).fields


def test_fields_pass_through_with_zoned_times_and_the_extension_rewritten() -> None:
    fields = stored(
        description="Quarterly",
        conferencing={"profile_id": "explicit", "join_url": "https://zoom.us/j/1"},
        ical_uid="uid-1@example.com",
    )

    body = forward_body("evt-1", fields, profile_id="int_upstream_0001")

    assert body == {
        "event_id": "evt-1",
        "summary": "Planning",
        "description": "Quarterly",
        "conferencing": {"profile_id": "explicit", "join_url": "https://zoom.us/j/1"},
        "start": {"time": "2026-12-01T15:00:00Z", "tzid": "Europe/Berlin"},
        "end": {"time": "2026-12-01T16:00:00Z", "tzid": "Europe/Berlin"},
        "tzid": "Europe/Berlin",
        "extensions": [{"provider": "recall", "profile_id": "int_upstream_0001"}],
    }


def test_an_all_day_event_goes_out_as_dates() -> None:
    body = forward_body("evt-1", stored(start="2026-12-01", end="2026-12-02"), profile_id="none")
    assert (body["start"], body["end"]) == ("2026-12-01", "2026-12-02")
    assert body["extensions"] == [{"provider": "recall", "profile_id": "none"}]


def test_attendees_go_out_as_changes_since_the_last_forward() -> None:
    fields = stored(
        attendees={"invite": [{"email": "Ann@x.test", "display_name": "Ann"}, {"email": "bo@x.test"}]}
    )

    first = forward_body("evt-1", fields, profile_id="p")
    later = forward_body(
        "evt-1",
        stored(attendees={"invite": [{"email": "bo@x.test"}]}),
        profile_id="p",
        forwarded_emails=attendee_emails(fields),
    )

    assert first["attendees"] == {
        "invite": [{"email": "Ann@x.test", "display_name": "Ann"}, {"email": "bo@x.test"}]
    }
    assert later["attendees"] == {"invite": [{"email": "bo@x.test"}], "remove": [{"email": "ann@x.test"}]}


def test_the_digest_ignores_key_order_and_sees_every_change() -> None:
    body = forward_body("evt-1", stored(), profile_id="p")
    reordered = dict(reversed(list(body.items())))
    moved = forward_body("evt-1", stored(start="2026-12-01T15:30:00Z"), profile_id="p")
    cancelled = forward_body("evt-1", stored(), profile_id="none")

    assert digest(body) == digest(reordered)
    assert len({digest(body), digest(moved), digest(cancelled)}) == 3
