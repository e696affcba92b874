"""A thin typed client of Recall Calendar V2 (reference §4): calendars, their events, and event bots.

It only speaks the wire format: paths, bodies, filters, and the Structs below, which read the fields
we use and ignore the rest, so that Recall adding a field never breaks a sync. Status codes become
meetbridge errors in ProviderHttp; the only ones handled here are the 404s that mean "already done".

List Calendar Events is cursor-paginated and ``next`` is an absolute URL with an opaque cursor, so it
is followed verbatim rather than rebuilt (local Recall even answers ``http://`` URLs). Each page is
requested with our API key, so a ``next`` is followed only on the scheme, host and port of the base
URL: a link elsewhere would hand the key to another server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

import msgspec

from meetbridge.errors import ProviderNotFound, ProviderUnavailable
from meetbridge.providers.http import ProviderHttp, iso_utc, path_segment

CALENDARS = "/api/v2/calendars/"
EVENTS = "/api/v2/calendar-events/"
BOTS = "/api/v1/bot/"


class RecallCalendar(msgspec.Struct, kw_only=True):
    """Recall's Calendar; the OAuth secrets are write-only for us even if Recall echoes them."""

    id: str
    platform: str
    status: str
    platform_email: str | None = None
    oauth_email: str | None = None
    status_changes: list[dict[str, Any]] = []


class EventBot(msgspec.Struct, kw_only=True):
    """One entry of an event's ``bots``: the bot its deduplication key stands for."""

    bot_id: str
    start_time: datetime
    deduplication_key: str
    meeting_url: str | None = None


class RecallCalendarEvent(msgspec.Struct, kw_only=True):
    """Recall's CalendarEvent; ``raw`` is the provider's own event (title, attendees, …)."""

    id: str
    calendar_id: str
    start_time: datetime
    end_time: datetime
    platform: str
    # Required: a missing flag must not pass for "not deleted", nor a missing time for "no change".
    is_deleted: bool
    updated_at: datetime
    raw: dict[str, Any] = {}
    ical_uid: str | None = None
    meeting_url: str | None = None
    meeting_platform: str | None = None
    created_at: datetime | None = None
    bots: list[EventBot] = []


class TaggedBot(msgspec.Struct, kw_only=True):
    """Retrieve Bot, read for the metadata meetbridge tags its Add Bot ``bot_config`` with."""

    id: str
    metadata: dict[str, Any] | None = None


class CalendarPage(msgspec.Struct, kw_only=True):
    results: list[RecallCalendar]
    next: str | None = None


class CalendarEventPage(msgspec.Struct, kw_only=True):
    results: list[RecallCalendarEvent]
    next: str | None = None


class CalendarV2Api:
    """Calendar V2 over one paced ProviderHttp (which carries the ``Authorization: Token`` header)."""

    def __init__(self, http: ProviderHttp) -> None:
        self.http = http

    # --- calendars ---------------------------------------------------------------------------

    async def create_calendar(
        self,
        *,
        platform: str,
        oauth_client_id: str,
        oauth_client_secret: str,
        oauth_refresh_token: str,
        oauth_email: str | None,
    ) -> RecallCalendar:
        body: dict[str, Any] = {
            "platform": platform,
            "oauth_client_id": oauth_client_id,
            "oauth_client_secret": oauth_client_secret,
            "oauth_refresh_token": oauth_refresh_token,
        }
        if oauth_email is not None:
            body["oauth_email"] = oauth_email
        response = await self.http.request(
            "calendars", "POST", CALENDARS, json=body, ok=frozenset({200, 201})
        )
        return self.http.decode(response, RecallCalendar)

    async def get_calendar(self, calendar_id: str) -> RecallCalendar:
        response = await self.http.request("calendars", "GET", f"{CALENDARS}{path_segment(calendar_id)}/")
        return self.http.decode(response, RecallCalendar)

    async def update_calendar(self, calendar_id: str, *, oauth_refresh_token: str) -> RecallCalendar:
        """Reconnect: a disconnected calendar takes a new refresh token (reference §4.2)."""
        response = await self.http.request(
            "calendars",
            "PATCH",
            f"{CALENDARS}{path_segment(calendar_id)}/",
            json={"oauth_refresh_token": oauth_refresh_token},
        )
        return self.http.decode(response, RecallCalendar)

    async def delete_calendar(self, calendar_id: str) -> bool:
        """True when deleted now, False when Recall no longer knows the calendar."""
        try:
            await self.http.request(
                "calendars", "DELETE", f"{CALENDARS}{path_segment(calendar_id)}/", ok=frozenset({200, 204})
            )
        except ProviderNotFound:
            return False
        return True

    # --- events ------------------------------------------------------------------------------

    async def list_events(
        self, calendar_id: str, *, updated_at_gte: datetime | None
    ) -> AsyncIterator[list[RecallCalendarEvent]]:
        """One list per page, in Recall's order, until ``next`` is null."""
        params = {"calendar_id": calendar_id}
        if updated_at_gte is not None:
            params["updated_at__gte"] = iso_utc(updated_at_gte)
        async for page in self._event_pages(params):
            yield page

    async def list_events_starting(
        self, *, start_gte: datetime, start_lte: datetime
    ) -> AsyncIterator[list[RecallCalendarEvent]]:
        """Every calendar's events of the account starting within the range, one list per page."""
        params = {"start_time__gte": iso_utc(start_gte), "start_time__lte": iso_utc(start_lte)}
        async for page in self._event_pages(params):
            yield page

    async def _event_pages(self, params: dict[str, str]) -> AsyncIterator[list[RecallCalendarEvent]]:
        response = await self.http.request("calendar_events_list", "GET", EVENTS, params=params)
        seen: set[str] = set()
        while True:
            page = self.http.decode(response, CalendarEventPage)
            yield page.results
            if page.next is None:
                return
            link = self.http.followable(page.next, carrying="our API key")
            if link in seen:  # a cursor that points back would page forever
                raise ProviderUnavailable(f"{self.http.name} sent a page link that loops")
            seen.add(link)
            response = await self.http.request("calendar_events_list", "GET", link)

    async def get_event(self, event_id: str) -> RecallCalendarEvent:
        response = await self.http.request("calendar_event", "GET", f"{EVENTS}{path_segment(event_id)}/")
        return self.http.decode(response, RecallCalendarEvent)

    async def get_bot(self, bot_id: str) -> TaggedBot | None:
        """Retrieve Bot (a calendar bot is a bot like any other); None when Recall does not have it."""
        try:
            response = await self.http.request("bot", "GET", f"{BOTS}{path_segment(bot_id)}/")
        except ProviderNotFound:
            return None
        return self.http.decode(response, TaggedBot)

    async def schedule_bot(
        self, event_id: str, *, deduplication_key: str, bot_config: Mapping[str, Any]
    ) -> RecallCalendarEvent:
        """Add (or re-schedule) the event's bot; events sharing a key share one bot (reference §4.4)."""
        body = {"deduplication_key": deduplication_key, "bot_config": dict(bot_config)}
        response = await self.http.request(
            "calendar_event_bot",
            "POST",
            f"{EVENTS}{path_segment(event_id)}/bot/",
            json=body,
            ok=frozenset({200, 201}),
        )
        return self.http.decode(response, RecallCalendarEvent)

    async def remove_bot(self, event_id: str) -> RecallCalendarEvent | None:
        """The event without its bots; None when Recall no longer knows the event."""
        try:
            response = await self.http.request(
                "calendar_event_bot", "DELETE", f"{EVENTS}{path_segment(event_id)}/bot/", ok=frozenset({200})
            )
        except ProviderNotFound:
            return None
        return self.http.decode(response, RecallCalendarEvent)
