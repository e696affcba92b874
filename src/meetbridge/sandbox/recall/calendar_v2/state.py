"""CalendarV2Sandbox: calendars, their events and bot scheduling, behind one asyncio lock.

It sits beside the bot API's `RecallSandbox` (whose clock, faults, call log, webhook dispatcher and bots
it uses) and never holds that sandbox's lock while taking its own, so the two cannot deadlock.

Not modelled: the 1-day-back / 28-days-ahead sync window (events are listed whatever their start), and
Recall's own delay in noticing revoked tokens (an admin call disconnects a calendar at once).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

from meetbridge.sandbox._shared import OAuthStandIn
from meetbridge.sandbox.recall.calendar_v2.models import (
    CalendarEventOut,
    CalendarOut,
    CalendarStatusIn,
    CalendarUpdateData,
    CalendarUpdateWebhook,
    ChangeEventIn,
    SeedEventIn,
    SyncEventsData,
    SyncEventsWebhook,
)
from meetbridge.sandbox.recall.calendar_v2.pages import Page, paginate
from meetbridge.sandbox.recall.calendar_v2.raw import check_raw, meeting_link, new_platform_ids
from meetbridge.sandbox.recall.calendar_v2.records import CalendarRecord, EventRecord
from meetbridge.sandbox.recall.calendar_v2.scheduling import BotScheduler
from meetbridge.sandbox.recall.calendar_v2.validation import (
    CalendarFields,
    CalendarQuery,
    EventQuery,
    NewCalendar,
)
from meetbridge.sandbox.recall.calendar_v2.webhooks import send_calendar_webhook
from meetbridge.sandbox.recall.core import RecallSandbox, SandboxError

DEFAULT_PAGE_SIZE = 50
_NOT_FOUND = {"detail": "Not found."}


class CalendarV2Sandbox:
    def __init__(
        self,
        recall: RecallSandbox,
        *,
        oauth: OAuthStandIn | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        key_hold_seconds: float = 0.0,
    ) -> None:
        if page_size < 1 or key_hold_seconds < 0:
            raise ValueError("page_size must be positive and key_hold_seconds not negative")
        self.recall = recall
        self.oauth = oauth or OAuthStandIn(clock=recall.clock)
        self.page_size = page_size
        self.scheduler = BotScheduler(recall, hold_seconds=key_hold_seconds)
        self._calendars: dict[str, CalendarRecord] = {}
        self._events: dict[str, EventRecord] = {}
        self._connecting: set[str] = set()
        self._seq = itertools.count(1)
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    # --- housekeeping -----------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self.recall.clock.now()

    def _settle(self) -> None:
        """Finish connecting: a new or re-authorised calendar reads `connecting` once, then `connected`."""
        now = self._now()
        waiting = [self._calendars[i] for i in self._connecting if i in self._calendars]
        for calendar in sorted(waiting, key=lambda c: c.seq):  # webhooks in creation order
            if calendar.status == "connecting":
                email = self.oauth.email_for(calendar.oauth_refresh_token)
                calendar.platform_email = email or calendar.oauth_email or calendar.platform_email
                calendar.set_status("connected", now)
                self._calendar_update(calendar)
        self._connecting.clear()

    def _connect_soon(self, calendar: CalendarRecord) -> None:
        self._connecting.add(calendar.id)
        task = asyncio.get_running_loop().create_task(self._settle_locked(), name="calendar-v2-connect")
        self._tasks.add(task)  # a reference, or the loop may drop the task before it runs
        task.add_done_callback(self._tasks.discard)

    async def _settle_locked(self) -> None:
        async with self._lock:
            self._settle()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _calendar_update(self, calendar: CalendarRecord) -> None:
        self.recall.ensure_background()
        send_calendar_webhook(
            self.recall.webhooks, CalendarUpdateWebhook(data=CalendarUpdateData(calendar.id))
        )

    def _sync_events(self, event: EventRecord) -> None:
        self.recall.ensure_background()
        data = SyncEventsData(calendar_id=event.calendar_id, last_updated_ts=event.updated_at)
        send_calendar_webhook(self.recall.webhooks, SyncEventsWebhook(data=data))

    def _calendar(self, calendar_id: str) -> CalendarRecord:
        calendar = self._calendars.get(calendar_id)
        if calendar is None:
            raise SandboxError(404, dict(_NOT_FOUND))
        return calendar

    def _event(self, event_id: str) -> EventRecord:
        event = self._events.get(event_id)
        if event is None or event.calendar_id not in self._calendars:
            raise SandboxError(404, dict(_NOT_FOUND))
        return event

    def _event_out(self, event: EventRecord) -> CalendarEventOut:
        return event.to_wire([slot.to_wire() for slot in self.scheduler.entries(event)])

    async def _unschedule_calendar(self, calendar_id: str) -> None:
        for event in self._events.values():
            if event.calendar_id == calendar_id:
                await self.scheduler.unschedule(event)

    # --- calendars --------------------------------------------------------------------------------

    async def create_calendar(self, fields: NewCalendar) -> CalendarOut:
        async with self._lock:
            self._settle()
            now = self._now()
            calendar = CalendarRecord(
                id=str(uuid.uuid4()),
                platform=fields.platform,
                oauth_client_id=fields.oauth_client_id,
                oauth_client_secret=fields.oauth_client_secret,
                oauth_refresh_token=fields.oauth_refresh_token,
                oauth_email=fields.oauth_email,
                created_at=now,
                updated_at=now,
                seq=next(self._seq),
            )
            calendar.set_status("connecting", now)
            self._calendars[calendar.id] = calendar
            self._connect_soon(calendar)
            return calendar.to_wire()

    async def list_calendars(self, query: CalendarQuery) -> Page[CalendarOut]:
        async with self._lock:
            self._settle()
            found = [
                c
                for c in self._calendars.values()
                if (query.created_at_gte is None or c.created_at >= query.created_at_gte)
                and (query.email is None or query.email in (c.platform_email, c.oauth_email))
                and (query.platform is None or c.platform == query.platform)
                and (query.status is None or c.status == query.status)
            ]
            page = paginate(found, lambda c: (c.created_at, c.seq), query.cursor, self.page_size)
            return Page([c.to_wire() for c in page.results], page.next, page.previous)

    async def get_calendar(self, calendar_id: str) -> CalendarOut:
        async with self._lock:
            self._settle()
            return self._calendar(calendar_id).to_wire()

    async def update_calendar(self, calendar_id: str, fields: CalendarFields) -> CalendarOut:
        async with self._lock:
            self._settle()
            calendar = self._calendar(calendar_id)
            calendar.oauth_client_id = fields.oauth_client_id or calendar.oauth_client_id
            calendar.oauth_client_secret = fields.oauth_client_secret or calendar.oauth_client_secret
            if fields.oauth_email_given:
                calendar.oauth_email = fields.oauth_email
            calendar.updated_at = self._now()
            if fields.oauth_refresh_token is not None:
                # A new refresh token is how a calendar is reconnected (reference §4.2).
                calendar.oauth_refresh_token = fields.oauth_refresh_token
                calendar.set_status("connecting", calendar.updated_at)
                self._connect_soon(calendar)
            return calendar.to_wire()

    async def delete_calendar(self, calendar_id: str) -> None:
        """Gone from the API (404 after), its future bots unscheduled at once; no calendar.update is sent
        for a delete the client asked for (reference §4.2). Its events go with it."""
        async with self._lock:
            self._settle()
            self._calendar(calendar_id)
            await self._unschedule_calendar(calendar_id)
            del self._calendars[calendar_id]
            self._connecting.discard(calendar_id)

    # --- calendar events --------------------------------------------------------------------------

    async def list_events(self, query: EventQuery) -> Page[CalendarEventOut]:
        async with self._lock:
            self._settle()
            found = [
                e
                for e in self._events.values()
                if e.calendar_id in self._calendars
                and (query.calendar_id is None or e.calendar_id == query.calendar_id)
                and (query.updated_at_gte is None or e.updated_at >= query.updated_at_gte)
                and (query.start_time is None or e.start_time == query.start_time)
                and (query.start_time_gte is None or e.start_time >= query.start_time_gte)
                and (query.start_time_lte is None or e.start_time <= query.start_time_lte)
                and (query.is_deleted is None or e.is_deleted == query.is_deleted)
                and (query.ical_uid is None or e.ical_uid.startswith(query.ical_uid))
            ]
            page = paginate(found, EventRecord.position, query.cursor, self.page_size)
            return Page([self._event_out(e) for e in page.results], page.next, page.previous)

    async def get_event(self, event_id: str) -> CalendarEventOut:
        async with self._lock:
            return self._event_out(self._event(event_id))

    def event_start(self, event_id: str) -> datetime | None:
        """Peek, without the lock, for fault matching only: a 507 hits Add Bot only near the start."""
        event = self._events.get(event_id)
        return event.start_time if event else None

    async def add_bot(self, event_id: str, key: str, config: dict[str, Any]) -> CalendarEventOut:
        async with self._lock:
            keys = {key} | self.scheduler.live_keys(self._event(event_id))
        async with self.scheduler.claim(keys), self._lock:
            event = self._event(event_id)
            if event.is_deleted:
                raise SandboxError(400, {"detail": "Cannot schedule a bot for a deleted calendar event."})
            await self.scheduler.schedule(event, key, config)
            return self._event_out(event)

    async def remove_bot(self, event_id: str) -> CalendarEventOut:
        async with self._lock:
            keys = self.scheduler.live_keys(self._event(event_id))
        async with self.scheduler.claim(keys), self._lock:
            event = self._event(event_id)
            await self.scheduler.unschedule(event)
            return self._event_out(event)

    # --- admin: what the user's calendar provider would do ----------------------------------------

    async def seed_event(self, calendar_id: str, spec: SeedEventIn) -> CalendarEventOut:
        async with self._lock:
            self._settle()
            calendar = self._calendar(calendar_id)
            if calendar.status == "disconnected":
                raise SandboxError(400, {"detail": "A disconnected calendar does not sync events."})
            start, end = spec.start_time.astimezone(UTC), spec.end_time.astimezone(UTC)
            if end < start:
                raise SandboxError(400, {"end_time": ["end_time must not be before start_time."]})
            url, platform = meeting_link(calendar.platform, spec.raw)
            platform_id, ical_uid = new_platform_ids(calendar.platform)
            now = self._now()
            event = EventRecord(
                id=str(uuid.uuid4()),
                calendar_id=calendar_id,
                platform=calendar.platform,
                platform_id=spec.platform_id or platform_id,
                ical_uid=spec.ical_uid or ical_uid,
                start_time=start,
                end_time=end,
                raw=dict(spec.raw),
                meeting_url=url,
                meeting_platform=platform,
                created_at=now,
                updated_at=now,
                seq=next(self._seq),
            )
            self._events[event.id] = event
            self._sync_events(event)
            return self._event_out(event)

    async def change_event(self, event_id: str, spec: ChangeEventIn) -> CalendarEventOut:
        """Bots are not moved: Recall leaves that to the client's re-POST (guide, FAQ)."""
        async with self._lock:
            self._settle()
            event = self._event(event_id)
            raw = dict(event.raw)
            for name, value in (spec.raw or {}).items():
                if value is None:
                    raw.pop(name, None)
                else:
                    raw[name] = value
            check_raw(event.platform, raw)
            start = spec.start_time.astimezone(UTC) if spec.start_time else event.start_time
            # A new start alone moves the whole meeting, as dragging it in a calendar does.
            end = (
                spec.end_time.astimezone(UTC)
                if spec.end_time
                else event.end_time + (start - event.start_time)
            )
            if end < start:
                raise SandboxError(400, {"end_time": ["end_time must not be before start_time."]})
            event.raw, event.start_time, event.end_time = raw, start, end
            event.meeting_url, event.meeting_platform = meeting_link(event.platform, raw)
            self._touch(event)
            return self._event_out(event)

    async def move_bot(self, bot_id: str, start_time: datetime) -> dict[str, str]:
        """Not a calendar change: no `updated_at` bump and no sync webhook (only the bot moved)."""
        async with self._lock:
            await self.scheduler.move(bot_id, start_time.astimezone(UTC))
            return {"bot_id": bot_id, "start_time": start_time.astimezone(UTC).isoformat()}

    async def delete_event(self, event_id: str) -> CalendarEventOut:
        """Marked deleted, never removed; its future bots go with it (guide: "Deleted events")."""
        async with self._lock:
            self._settle()
            event = self._event(event_id)
            await self.scheduler.unschedule(event)
            event.is_deleted = True
            self._touch(event)
            return self._event_out(event)

    def _touch(self, event: EventRecord) -> None:
        event.updated_at, event.seq = self._now(), next(self._seq)
        self._sync_events(event)

    async def set_status(self, calendar_id: str, spec: CalendarStatusIn) -> CalendarOut:
        """E.g. `disconnected` as when the user revokes access: bots are unscheduled, calendar.update sent."""
        async with self._lock:
            self._settle()
            calendar = self._calendar(calendar_id)
            if spec.status == "disconnected":
                await self._unschedule_calendar(calendar_id)
            calendar.set_status(spec.status, self._now(), spec.error_code, spec.error_message)
            self._calendar_update(calendar)
            return calendar.to_wire()

    async def reset(self) -> None:
        async with self._lock:
            self._calendars.clear()
            self._events.clear()
            self._connecting.clear()
            self.scheduler.clear()
