"""Response shapes of the drift audit: the last run of a profile, and an event's audit entries."""

from __future__ import annotations

from typing import Literal

import msgspec

DriftClass = Literal["missing", "orphan", "stale", "foreign"]
AuditAction = Literal["repaired", "reported", "skipped", "failed"]


class AuditEntryRead(msgspec.Struct, kw_only=True):
    """One thing the drift audit did to the event's bot (single-event read, ``audit``)."""

    kind: DriftClass
    bot_id: str  # the bot the difference was about (the new one shows in the extension)
    action: AuditAction
    detail: str
    at: str


class AuditFindingRead(msgspec.Struct, kw_only=True):
    kind: DriftClass
    calendar_id: str | None
    event_id: str | None
    event_uid: str | None
    bot_id: str
    action: AuditAction
    detail: str


class AuditCountsRead(msgspec.Struct, kw_only=True):
    missing: int
    orphan: int
    stale: int
    foreign: int


class AuditRunRead(msgspec.Struct, kw_only=True):
    """The profile's last finished audit, as it concerns the application's own events."""

    profile_id: str
    started: str
    finished: str
    error: str | None
    counts: AuditCountsRead
    examples: list[AuditFindingRead]  # the first few differences found (at most 20)


class AuditResponse(msgspec.Struct):
    audit: AuditRunRead | None  # null: no audit of this profile has finished yet
