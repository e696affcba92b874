"""One stored event of the Cronofy stand-in: its fields, its Recall bot, and how it reads on the wire."""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass
from datetime import datetime

import msgspec

from meetbridge.sandbox.cronofy.models import (
    AdminEventOut,
    ConferencingOut,
    EventOptions,
    EventOut,
    utc_text,
)
from meetbridge.sandbox.cronofy.validation import EventWrite
from meetbridge.sandbox.recall.core import parse_meeting_url

GENERATED_PROVIDER = "Google Meet"
_LINK = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
# Punctuation that ends a sentence around a link rather than the link itself.
_AFTER_LINK = ".,;:!?)]}>*\"'"


def find_meeting_link(*texts: str | None) -> str | None:
    """The first link in `texts`, most authoritative first, that the Recall stand-in could join: the one
    Cronofy's Recall integration sends a bot to. Kept as written (only trailing punctuation goes), and
    found with the stand-in's own rules, not the gateway's, so that each checks the other."""
    for text in texts:
        for match in _LINK.finditer(text or ""):
            link = match.group().rstrip(_AFTER_LINK)
            if parse_meeting_url(link) is not None:
                return link
    return None


def generated_join_url(event_uid: str) -> str:
    """The link an account's default conferencing provider would attach (`conferencing.profile_id`
    other than `explicit`/`none`): a stable Google Meet code per event, so bots have a link to join."""
    digest = hashlib.sha256(event_uid.encode()).digest()
    letters = "".join(string.ascii_lowercase[byte % 26] for byte in digest[:10])
    return f"https://meet.google.com/{letters[:3]}-{letters[3:7]}-{letters[7:]}"


@dataclass
class BotLink:
    """The Recall bot this event has, with what it was last told (to tell a reschedule from a no-op)."""

    bot_id: str
    meeting_url: str
    join_at: datetime


@dataclass
class EventRecord:
    account_id: str
    calendar_id: str
    event_uid: str
    write: EventWrite  # as last upserted, except `recall_profile`, kept below
    created: datetime
    updated: datetime
    deleted: bool = False
    recall_profile: str | None = None  # the active upstream profile; never "none"
    bot: BotLink | None = None
    # What reads show as metadata.recall.bot_id: the previous bot until a new one is revealed.
    shown_bot_id: str | None = None
    reveal_at: datetime | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.calendar_id, self.write.event_id

    def conferencing(self) -> ConferencingOut | None:
        conferencing = self.write.conferencing
        if conferencing is None:
            return None
        if conferencing.join_url is not None:
            return ConferencingOut(
                provider_name=conferencing.provider_description or "Explicit", join_url=conferencing.join_url
            )
        return ConferencingOut(provider_name=GENERATED_PROVIDER, join_url=generated_join_url(self.event_uid))

    def meeting_url(self) -> str | None:
        """The link a bot joins: conferencing, then location, url, description."""
        conferencing = self.conferencing()
        return find_meeting_link(
            conferencing.join_url if conferencing else None,
            self.write.location.description if self.write.location else None,
            self.write.url,
            self.write.description,
        )

    def render(self, *, localized: bool) -> EventOut:
        write = self.write
        conferencing = self.conferencing()
        meeting_url = self.meeting_url()
        return EventOut(
            calendar_id=self.calendar_id,
            event_uid=self.event_uid,
            event_id=write.event_id,
            summary=write.summary,
            description=write.description,
            start=write.start.localized() if localized else write.start.wire(),
            end=write.end.localized() if localized else write.end.wire(),
            deleted=self.deleted,
            created=utc_text(self.created),
            updated=utc_text(self.updated),
            participation_status="accepted",
            attendees=[],
            transparency=write.transparency,
            status="confirmed",
            categories=[],
            recurring=False,
            event_private=False,
            options=EventOptions(delete=True, update=True, change_participation_status=False),
            location=write.location or msgspec.UNSET,
            url=write.url or msgspec.UNSET,
            meeting_url=meeting_url or msgspec.UNSET,
            conferencing=conferencing or msgspec.UNSET,
            metadata={"recall": {"bot_id": self.shown_bot_id}} if self.shown_bot_id else msgspec.UNSET,
        )

    def to_admin(self) -> AdminEventOut:
        return AdminEventOut(
            account_id=self.account_id,
            calendar_id=self.calendar_id,
            event_id=self.write.event_id,
            event_uid=self.event_uid,
            summary=self.write.summary,
            start=self.write.start.wire(),
            end=self.write.end.wire(),
            deleted=self.deleted,
            updated=utc_text(self.updated),
            meeting_url=self.meeting_url(),
            recall_profile_id=self.recall_profile,
            bot_id=self.bot.bot_id if self.bot else None,
            shown_bot_id=self.shown_bot_id,
        )
