"""Cronofy's wire shapes as meetbridge reads them (reference §3-§6): events, channels, tokens and the
error bodies. Unknown fields are ignored everywhere, so Cronofy adding one never breaks a call."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class CronofyTokens(msgspec.Struct, frozen=True, kw_only=True):
    """One linked account's OAuth tokens; ``expires_at`` is when the access token stops working."""

    access_token: str
    refresh_token: str
    expires_at: datetime

    def __repr__(self) -> str:  # the tokens must not reach logs through a repr
        return f"CronofyTokens(expires_at={self.expires_at.isoformat()!r})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:  # msgspec's own one would list the tokens
        return [("expires_at", self.expires_at)]


class CronofyEvent(msgspec.Struct, kw_only=True):
    """An event of Read Events (reference §3): the fields we use; unknown ones are ignored so that
    Cronofy adding a field never breaks a sync. ``event_id`` is ours, absent on external events."""

    calendar_id: str
    event_uid: str
    # Required: a missing flag must not pass for "not deleted".
    deleted: bool
    event_id: str | None = None
    summary: str | None = None
    description: str | None = None
    start: str | dict[str, Any] | None = None  # a date, a UTC time, or {time, tzid}
    end: str | dict[str, Any] | None = None
    metadata: dict[str, Any] = {}
    extensions: list[dict[str, Any]] | None = None
    meeting_url: str | None = None
    conferencing: dict[str, Any] | None = None
    location: dict[str, Any] | None = None
    url: str | None = None
    transparency: str | None = None
    created: datetime | None = None
    updated: datetime | None = None

    @property
    def recall_bot_id(self) -> str | None:
        """``metadata.recall.bot_id``: set once Cronofy's Recall integration has made the bot."""
        recall = self.metadata.get("recall")
        bot_id = recall.get("bot_id") if isinstance(recall, dict) else None
        return bot_id if isinstance(bot_id, str) and bot_id else None


class ChannelFilters(msgspec.Struct, kw_only=True):
    calendar_ids: list[str] | None = None
    only_managed: bool | None = None


class CronofyChannel(msgspec.Struct, kw_only=True):
    channel_id: str
    callback_url: str
    filters: ChannelFilters = msgspec.field(default_factory=ChannelFilters)


class Pages(msgspec.Struct):
    current: int = 1
    total: int = 1
    next_page: str | None = None


class EventsPage(msgspec.Struct):
    events: list[CronofyEvent]
    pages: Pages = msgspec.field(default_factory=Pages)


class ChannelEnvelope(msgspec.Struct):
    channel: CronofyChannel


class ChannelList(msgspec.Struct):
    channels: list[CronofyChannel]


class CalendarList(msgspec.Struct):
    calendars: list[dict[str, Any]]


class TokenAnswer(msgspec.Struct):
    access_token: str
    expires_in: int
    refresh_token: str | None = None  # Cronofy always rotates; an answer without one keeps the old


class ErrorDetail(msgspec.Struct):
    description: str = ""
    key: str = ""


class InvalidAnswer(msgspec.Struct):
    errors: dict[str, list[ErrorDetail]]


class OAuthError(msgspec.Struct):
    error: str
    error_description: str | None = None
