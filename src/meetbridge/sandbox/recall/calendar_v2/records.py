"""Stored Calendar V2 objects: calendars, their events, and the bots scheduled per deduplication key."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from meetbridge.sandbox.recall.calendar_v2.models import (
    CalendarEventOut,
    CalendarOut,
    CalendarStatus,
    CalendarStatusChange,
    EventBotOut,
    Platform,
)
from meetbridge.sandbox.recall.calendar_v2.raw import render_raw


@dataclass
class CalendarRecord:
    id: str
    platform: Platform
    oauth_client_id: str
    oauth_client_secret: str
    oauth_refresh_token: str
    oauth_email: str | None
    created_at: datetime
    updated_at: datetime
    seq: int
    platform_email: str | None = None
    status_changes: list[CalendarStatusChange] = field(default_factory=list)

    @property
    def status(self) -> CalendarStatus:
        return self.status_changes[-1].status

    def set_status(
        self, status: CalendarStatus, at: datetime, code: str | None = None, message: str | None = None
    ) -> None:
        self.status_changes.append(CalendarStatusChange(status, at, code, message))
        self.updated_at = at

    def to_wire(self) -> CalendarOut:
        return CalendarOut(
            id=self.id,
            platform=self.platform,
            platform_email=self.platform_email,
            oauth_client_id=self.oauth_client_id,
            oauth_email=self.oauth_email,
            status=self.status,
            status_changes=list(self.status_changes),
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


@dataclass
class BotSlot:
    """The one bot a deduplication key stands for, and the events that share it."""

    id: int
    key: str
    bot_id: str
    start_time: datetime
    meeting_url: str
    events: set[str] = field(default_factory=set)

    def to_wire(self) -> EventBotOut:
        return EventBotOut(
            bot_id=self.bot_id,
            start_time=self.start_time,
            deduplication_key=self.key,
            meeting_url=self.meeting_url,
        )


@dataclass
class EventRecord:
    id: str
    calendar_id: str
    platform: Platform
    platform_id: str
    ical_uid: str
    start_time: datetime
    end_time: datetime
    raw: dict[str, Any]
    meeting_url: str | None
    meeting_platform: str | None
    created_at: datetime
    updated_at: datetime
    # Bumped on every change: orders the list and its cursors by change, ties included.
    seq: int
    is_deleted: bool = False
    # Slot ids in the order they were attached; entries of bots already sent stay (perpetual events).
    slots: list[int] = field(default_factory=list)

    def position(self) -> tuple[datetime, int]:
        return self.updated_at, self.seq

    def to_wire(self, bots: list[EventBotOut]) -> CalendarEventOut:
        raw = render_raw(
            self.platform,
            self.raw,
            platform_id=self.platform_id,
            ical_uid=self.ical_uid,
            start=self.start_time,
            end=self.end_time,
            created=self.created_at,
            updated=self.updated_at,
            deleted=self.is_deleted,
        )
        return CalendarEventOut(
            id=self.id,
            start_time=self.start_time,
            end_time=self.end_time,
            calendar_id=self.calendar_id,
            raw=raw,
            platform=self.platform,
            platform_id=self.platform_id,
            ical_uid=self.ical_uid,
            meeting_platform=self.meeting_platform,
            meeting_url=self.meeting_url,
            created_at=self.created_at,
            updated_at=self.updated_at,
            is_deleted=self.is_deleted,
            bots=bots,
        )
