"""Stored events as the API shows them (Cronofy's Read Events fields plus meetbridge's additions)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from meetbridge.api.audit_schemas import AuditEntryRead
from meetbridge.api.schemas import (
    Attendee,
    Conferencing,
    EventDetailRead,
    EventRead,
    ExplainRead,
    ExtensionRead,
    ExtensionStatusRead,
    LocalizedTime,
    Location,
    MigrationStepRead,
    Reminder,
    RuleDecisionRead,
)
from meetbridge.db.audit import Finding
from meetbridge.db.events import StoredEvent
from meetbridge.db.switching import MigrationStep
from meetbridge.domain.events import meeting_url_of, stored_time
from meetbridge.domain.recording_rules import PROVIDER_PREFERENCES
from meetbridge.domain.times import utc_seconds
from meetbridge.providers.base import DEDUPLICATION_KEY


def wire_time(value: datetime) -> str:
    return utc_seconds(value)


def _time(event: StoredEvent, name: str, localized: bool) -> str | LocalizedTime:
    value = stored_time(event.fields, name)
    if localized:
        return LocalizedTime(**value.localized())
    return value.wire()


def _conferencing(fields: dict[str, Any]) -> Conferencing | None:
    conferencing = fields.get("conferencing")
    if not conferencing:
        return None
    return Conferencing(
        profile_id=conferencing.get("profile_id"),
        provider_name=conferencing.get("provider_description") or conferencing.get("provider_name"),
        join_url=conferencing.get("join_url"),
    )


def _common(event: StoredEvent, localized: bool) -> dict[str, Any]:
    fields = event.fields
    location = fields.get("location")
    return {
        "calendar_id": event.calendar_id,
        "event_uid": event.event_uid,
        "event_id": event.event_id,
        "summary": fields.get("summary") or "",
        "description": fields.get("description") or "",
        "start": _time(event, "start", localized),
        "end": _time(event, "end", localized),
        "tzid": fields.get("tzid"),
        "deleted": event.deleted,
        "created": wire_time(event.created_at),
        "updated": wire_time(event.updated_at),
        "attendees": [
            Attendee(
                email=a["email"], display_name=a.get("display_name"), status=a.get("status", "needs_action")
            )
            for a in fields.get("attendees") or []
        ],
        "participation_status": "accepted"
        if event.managed
        else fields.get("participation_status", "unknown"),
        "transparency": fields.get("transparency") or "opaque",
        "status": "cancelled" if event.deleted else "confirmed",
        "event_private": bool(fields.get("event_private")),
        "recurring": bool(fields.get("recurrence")),
        "metadata": event.metadata,
        "location": Location(**location) if location else None,
        "url": fields.get("url"),
        "conferencing": _conferencing(fields),
        "meeting_url": meeting_url_of(fields),
        "reminders": [Reminder(**r) for r in fields["reminders"]] if fields.get("reminders") else None,
        "recurrence": fields.get("recurrence"),
        "color": fields.get("color"),
        "ical_uid": fields.get("ical_uid"),
    }


def event_read(event: StoredEvent, *, localized: bool = False) -> EventRead:
    extensions = [ExtensionRead(provider=e.provider, profile_id=e.profile_id) for e in event.extensions]
    return EventRead(**_common(event, localized), extensions=extensions)


def event_detail(
    event: StoredEvent, migrations: Sequence[MigrationStep] = (), audit: Sequence[Finding] = ()
) -> EventDetailRead:
    extensions = [
        ExtensionStatusRead(
            provider=e.provider,
            profile_id=e.profile_id,
            status=e.status,  # type: ignore[arg-type]  # the column only ever holds ExtensionStatus values
            bot_id=e.bot_id,
            last_error=e.last_error,
            updated=wire_time(e.updated_at),
            origin="rule" if e.origin == "rule" else "app",
        )
        for e in event.extensions
    ]
    steps = [
        MigrationStepRead(
            profile_id=step.profile_id,
            from_adapter=step.from_adapter,
            to_adapter=step.to_adapter,
            old_bot_id=step.old_bot_id,
            new_bot_id=step.new_bot_id,
            outcome=step.outcome,  # type: ignore[arg-type]  # the column only holds the four outcomes
            detail=step.detail,
            at=wire_time(step.at) if step.at else "",
        )
        for step in migrations
    ]
    entries = [
        AuditEntryRead(
            kind=entry.kind,  # type: ignore[arg-type]  # the column only holds the four classes
            bot_id=entry.bot_id,
            action=entry.action,  # type: ignore[arg-type]  # ... and the four actions
            detail=entry.detail,
            at=wire_time(entry.at),
        )
        for entry in audit
    ]
    return EventDetailRead(
        **_common(event, False),
        extensions=extensions,
        explain=explain(event),
        migrations=steps,
        audit=entries,
    )


def explain(event: StoredEvent) -> ExplainRead | None:
    """Why a bot will or won't join; None for events no extension or rule ever touched."""
    rule = RuleDecisionRead(**event.rule) if event.rule else None
    # One bot extension per event is what apps send; with several, the first is explained.
    extension = event.extensions[0] if event.extensions else None
    if extension is None and rule is None:
        return None
    key = (extension.provider_state or {}).get(DEDUPLICATION_KEY) if extension else None
    if extension is None and rule is not None and rule.rule == PROVIDER_PREFERENCES:
        summary = f"Recall {'will' if rule.record else 'will not'} record it: {rule.reason}"
    elif extension is None or extension.profile_id == "none":
        if extension is not None and extension.origin == "app":
            summary = "no bot: the app set profile_id none"
        elif rule is not None:
            summary = f"no bot: rule {rule.rule}: {rule.reason}"
        else:
            summary = "no bot"
    else:
        because = (
            f"rule {rule.rule}: {rule.reason}" if extension.origin == "rule" and rule else "the app asked"
        )
        summary = f"{extension.status}: profile {extension.profile_id}, because {because}"
        if extension.last_error:
            summary += f" ({extension.last_error})"
    return ExplainRead(
        summary=summary,
        origin=("rule" if extension.origin == "rule" else "app") if extension else None,
        rule=rule,
        deduplication_key=str(key) if key else None,
    )
