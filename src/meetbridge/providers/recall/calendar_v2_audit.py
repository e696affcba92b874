"""recall-calendar-v2's audit port: the account's calendar events in the audited range, with their bots.

Calendar V2 bots carry no field that says who added them, and one bot is shared by every event that
names its deduplication key. A bot is meetbridge's when its key is the one this profile's strategy
computes for the event it sits on (domain/dedup.py, as ``reconcile`` does) AND, before anything is
removed, when its metadata carries this profile's tag, which meetbridge adds to the ``bot_config`` of
every Add Bot (reference §4.4: bot_config accepts any Create Bot field, metadata among them). The key
alone is not proof: Recall's guide suggests the same ``{start}-{meeting_url}`` pattern to every app.
Reading the tag costs a Retrieve Bot call, so it is read only for a bot about to be removed; a bot
with the key but no tag (or another profile's) is left alone and reported.

Bots made before meetbridge tagged Add Bot have no tag until their event's next Add Bot: the audit
never removes them. Listing is paced under List Calendar Events' limit (60 a minute), shared with
the links' syncs; the listing covers every calendar of the account (the port names no calendars)
from the safety window through the synced window (``sync_window_days``), and a bot without the
profile's key on a meeting no extension wants is not reported.
"""

from __future__ import annotations

from datetime import timedelta

from meetbridge.domain.audit import AuditedBot, meeting_of
from meetbridge.domain.dedup import deduplication_key
from meetbridge.errors import BotNotOurs
from meetbridge.providers.audit import AuditScope, BotListing
from meetbridge.providers.recall.calendar_v2_api import CalendarV2Api, RecallCalendarEvent
from meetbridge.providers.recall.options import RecallCalendarV2Options

PROFILE_KEY = "meetbridge_profile"  # the metadata tag of every bot_config meetbridge sends


class RecallCalendarV2Audit:
    """The BotAuditor port of recall-calendar-v2 (declare ``audits_bots``)."""

    api: CalendarV2Api
    options: RecallCalendarV2Options
    sync_window: timedelta
    audit_events: dict[str, list[str]]  # the last listing's bots -> the events holding each (removal)

    @property
    def audited_profile(self) -> str:
        raise NotImplementedError

    async def _our_key(self, event: RecallCalendarEvent, emails: dict[str, str | None]) -> str | None:
        if not event.meeting_url:
            return None  # reconcile schedules no bot without a link: no key of ours is possible
        email = None
        if self.options.deduplication == "domain":
            if event.calendar_id not in emails:
                calendar = await self.api.get_calendar(event.calendar_id)
                emails[event.calendar_id] = calendar.platform_email or calendar.oauth_email
            email = emails[event.calendar_id]
        return deduplication_key(
            self.options.deduplication,
            start_at=event.start_time,
            meeting_url=event.meeting_url,
            calendar_email=email,
            provider_event_id=event.id,
        )

    async def audit_bots(self, scope: AuditScope) -> BotListing:
        calls, emails = 0, dict[str, str | None]()
        found: dict[str, AuditedBot] = {}
        self.audit_events = {}
        # Through the synced window at least: a bot left on an event no extension wants joins
        # beyond the wanted ones' range, and meetbridge makes none further out than it syncs.
        until = max(scope.until, scope.after + self.sync_window)
        async for page in self.api.list_events_starting(start_gte=scope.after, start_lte=until):
            calls += 1
            for event in page:
                our_key = await self._our_key(event, emails)
                for bot in event.bots:
                    self.audit_events.setdefault(bot.bot_id, []).append(event.id)
                    ours = our_key is not None and bot.deduplication_key == our_key
                    if bot.bot_id in found and not ours:
                        continue  # a shared bot: one event with our key is enough to call it ours
                    found[bot.bot_id] = AuditedBot(
                        bot_id=bot.bot_id,
                        join_at=bot.start_time,
                        meeting=meeting_of(bot.meeting_url or event.meeting_url),
                        event_uid=None,  # meetbridge's events are matched by the recorded bot id
                        profile_id=self.audited_profile if ours else None,
                    )
        calls += len(emails)
        return BotListing(bots=list(found.values()), calls=calls, exclusive=True)

    async def find_bot(self, bot_id: str) -> AuditedBot | None:
        # Remove Bot deletes a bot no event holds any more: one Recall still has is not missing.
        bot = await self.api.get_bot(bot_id)
        if bot is None:
            return None
        return AuditedBot(bot_id=bot.id, join_at=None, meeting=None, event_uid=None, profile_id=None)

    async def cancel_bot(self, bot_id: str) -> None:
        bot = await self.api.get_bot(bot_id)
        if bot is None:
            return
        if (bot.metadata or {}).get(PROFILE_KEY) != self.audited_profile:
            raise BotNotOurs(
                f"bot {bot_id} has this profile's deduplication key but not its metadata tag "
                f"({PROFILE_KEY}): another integration may have added it, so it is left alone"
            )
        for event_id in getattr(self, "audit_events", {}).get(bot_id, ()):
            await self.api.remove_bot(event_id)
