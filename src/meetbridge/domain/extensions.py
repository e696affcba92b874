"""Extensions: what the app asked for (desired) against what is recorded per provider (state)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

NO_PROFILE = "none"  # Cronofy's way of saying "no bot": cancels one that exists


class ExtensionStatus(StrEnum):
    PENDING = "pending"  # the desired state is not realised yet
    SCHEDULED = "scheduled"  # a bot exists and matches the event
    AWAITING_SYNC = "awaiting_sync"  # no provider event matches yet; retried on the next sync
    CANCELLED = "cancelled"  # no bot, on purpose
    FAILED = "failed"  # gave up; last_error says why


class DesiredExtension(msgspec.Struct, frozen=True):
    provider: str
    profile_id: str


class ExtensionState(msgspec.Struct, frozen=True, kw_only=True):
    provider: str
    profile_id: str
    status: str
    bot_id: str | None = None
    last_error: str | None = None
    updated_at: datetime
    provider_state: dict[str, Any] | None = None
    bot_status: str | None = None
    origin: str = "app"  # "rule" when a calendar link's recording rule attached it
    # The app dropped the extension (rather than saying "none") while a bot existed: besides cancelling,
    # hand the decision back to the provider's own defaults where it has them (Calendar V1 preferences).
    released: bool = False

    @property
    def holds_provider_objects(self) -> bool:
        """A bot exists, or a create may be under way: the record must outlive the app's interest."""
        return self.bot_id is not None or bool(self.provider_state)


class ExtensionChanges(msgspec.Struct, frozen=True):
    upserts: list[ExtensionState]
    removals: list[str]  # providers whose record goes away (nothing left to cancel)

    @property
    def changed(self) -> bool:
        return bool(self.upserts or self.removals)


def _wanted(
    current: ExtensionState | None, profile_id: str, now: datetime, *, released: bool = False
) -> ExtensionState | None:
    """The new state for ``profile_id``, or None when ``current`` already says the same."""
    if (
        current is not None
        and current.profile_id == profile_id
        and current.origin == "app"
        and current.released == released
    ):
        return None
    bot_id = current.bot_id if current else None
    if profile_id == NO_PROFILE and bot_id is None:
        status = ExtensionStatus.CANCELLED
    else:
        status = ExtensionStatus.PENDING
    provider = current.provider if current else ""
    return ExtensionState(
        provider=provider,
        profile_id=profile_id,
        status=status,
        bot_id=bot_id,
        updated_at=now,
        released=released,
    )


def plan_extensions(
    current: list[ExtensionState], desired: list[DesiredExtension] | None, now: datetime
) -> ExtensionChanges:
    """``desired`` None leaves extensions as they are (the request omitted them)."""
    if desired is None:
        return ExtensionChanges([], [])
    by_provider = {state.provider: state for state in current}
    wanted = {d.provider: d.profile_id for d in desired}
    upserts: list[ExtensionState] = []
    removals: list[str] = []
    for provider, profile_id in wanted.items():
        state = _wanted(by_provider.get(provider), profile_id, now)
        if state is not None:
            upserts.append(msgspec.structs.replace(state, provider=provider))
    for provider, state in by_provider.items():
        if provider in wanted:
            continue
        if not state.holds_provider_objects:
            removals.append(provider)
        elif state.profile_id != NO_PROFILE:
            # Dropping the extension while a bot exists means "no bot": cancel it first.
            cancelled = _wanted(state, NO_PROFILE, now, released=True)
            if cancelled is not None:
                upserts.append(cancelled)
    return ExtensionChanges(upserts, removals)
