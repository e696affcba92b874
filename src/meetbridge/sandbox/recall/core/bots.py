"""One sandbox bot: its stored fields, where its lifecycle goes next, and how it reads on the wire."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from meetbridge.sandbox.recall.core.models import (
    CONFIG_FIELDS,
    AdminBotOut,
    BotOut,
    Config,
    MeetingUrl,
    StatusChange,
)

# Scheduled bot: join_at more than this far ahead of the request (reference §2.6).
SCHEDULE_WINDOW = timedelta(minutes=10)
# Scheduled bots leave the reserved pool (are "dispatched") this long before join_at.
DISPATCH_LEAD = timedelta(minutes=1)

TERMINAL_CODES = frozenset({"done", "fatal", "media_expired", "analysis_done", "analysis_failed"})
# Codes after which join_at no longer reads back: "cleared once joined" (reference §2.2).
_NOT_JOINED = frozenset({"ready", "joining_call"})

# The happy path a bot walks on its own, including where forced intermediate states lead.
_NEXT: dict[str, tuple[str, str | None]] = {
    "ready": ("joining_call", None),
    "joining_call": ("in_call_recording", None),
    "in_waiting_room": ("in_call_recording", None),
    "in_call_not_recording": ("in_call_recording", None),
    "recording_permission_allowed": ("in_call_recording", None),
    "recording_permission_denied": ("call_ended", "timeout_exceeded_recording_permission_denied"),
    "in_call_recording": ("call_ended", "call_ended_by_host"),
    "recording_done": ("call_ended", "call_ended_by_host"),
    "call_ended": ("done", None),
}


def is_far(join_at: datetime | None, now: datetime) -> bool:
    return join_at is not None and join_at - now > SCHEDULE_WINDOW


@dataclass
class BotRecord:
    id: str
    created_at: datetime
    meeting_url_raw: str
    meeting_url: MeetingUrl
    bot_name: str
    join_at: datetime | None
    scheduled: bool
    metadata: dict[str, str]
    config: dict[str, Config | None]
    status_changes: list[StatusChange] = field(default_factory=list)
    deleted: bool = False
    hold: bool = False
    # Bumped whenever the bot's next transition moves, so stale timer entries are ignored.
    version: int = 0

    @property
    def code(self) -> str:
        return self.status_changes[-1].code

    @property
    def joins_at(self) -> datetime:
        """When the bot starts joining: a minute before join_at, never before it exists."""
        if self.join_at is None:
            return self.created_at
        return max(self.created_at, self.join_at - DISPATCH_LEAD)

    def is_dispatched(self, now: datetime) -> bool:
        """Ad-hoc bots are claimed from the warm pool at once; scheduled ones shortly before join_at."""
        if self.code != "ready" or not self.scheduled:
            return True
        return now >= self.joins_at

    def next_transition(self, step: timedelta) -> tuple[datetime, str, str | None] | None:
        if self.deleted or self.hold or self.code in TERMINAL_CODES:
            return None
        following = _NEXT.get(self.code)
        if following is None:
            return None
        due = self.joins_at if self.code == "ready" else self.status_changes[-1].created_at + step
        return due, following[0], following[1]

    def add_status(self, code: str, sub_code: str | None, at: datetime, message: str | None = None) -> None:
        self.status_changes.append(StatusChange(code=code, message=message, created_at=at, sub_code=sub_code))
        self.version += 1

    def to_wire(self) -> BotOut:
        return BotOut(
            id=self.id,
            meeting_url=self.meeting_url,
            bot_name=self.bot_name,
            join_at=self.join_at if self.code in _NOT_JOINED else None,
            metadata=dict(self.metadata),
            status_changes=list(self.status_changes),
            recordings=[],
            calendar_meetings=[],
            slack_team=None,
            **{name: self.config.get(name) for name in CONFIG_FIELDS},
        )

    def to_admin(self, now: datetime) -> AdminBotOut:
        wire = self.to_wire()
        fields = {name: getattr(wire, name) for name in wire.__struct_fields__}
        return AdminBotOut(
            **fields, deleted=self.deleted, scheduled=self.scheduled, dispatched=self.is_dispatched(now)
        )
