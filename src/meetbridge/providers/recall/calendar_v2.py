"""recall-calendar-v2: bots scheduled on a linked Recall calendar's events, with deduplication keys.

What the scheduling guide asks of every app, done once: Add Bot with the profile's complete
``bot_config`` (Recall does not merge partial configs) and a key from the profile's strategy, so
copies of one meeting on several linked calendars share a bot; Add Bot again when the event's time or
link changes (the key changes with them); Remove Bot when the app lets go or the event is deleted —
Recall keeps a shared bot until its last event lets go. Add Bot is idempotent per key, so a retry
after a lost answer cannot make a second bot; 409, 429 and 507 are retried by the worker.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

import msgspec

from meetbridge.config.catalogue import AdapterSpec
from meetbridge.config.profiles import Profile
from meetbridge.domain.bot_plan import ENDED, DesiredBot, Refusal
from meetbridge.domain.dedup import deduplication_key
from meetbridge.domain.extensions import ExtensionStatus
from meetbridge.errors import InvalidRequest, ProviderUnavailable
from meetbridge.providers.base import (
    DEDUPLICATION_KEY,
    Capabilities,
    EventSnapshot,
    Outcome,
    ProviderCalendar,
    ProviderEvent,
    ProviderState,
    SaveState,
    linked_bot,
)
from meetbridge.providers.http import ProviderHttp
from meetbridge.providers.recall.calendar_raw import raw_facts, stored_fields
from meetbridge.providers.recall.calendar_v2_api import (
    CalendarV2Api,
    EventBot,
    RecallCalendar,
    RecallCalendarEvent,
)
from meetbridge.providers.recall.calendar_v2_audit import PROFILE_KEY, RecallCalendarV2Audit
from meetbridge.providers.recall.link_requests import CalendarV2LinkRequest
from meetbridge.providers.recall.options import EXTENSION_PROVIDER, RecallCalendarV2Options
from meetbridge.providers.recall.webhooks import RecallWebhooks

# A bot whose meeting started longer ago than this is a past occurrence of a perpetual event.
OCCURRENCE_GRACE = timedelta(hours=1)
PLATFORM_CLIENTS = {"google_calendar": "google", "microsoft_outlook": "microsoft"}


def current_bot(bots: Sequence[EventBot], key: str, now: datetime) -> str | None:
    """The bot for the current occurrence: ours by key if there, else the next one to join."""
    if not bots:
        return None
    for bot in bots:
        if bot.deduplication_key == key:
            return bot.bot_id
    upcoming = sorted((b for b in bots if b.start_time >= now - OCCURRENCE_GRACE), key=lambda b: b.start_time)
    return (upcoming[0] if upcoming else max(bots, key=lambda b: b.start_time)).bot_id


def provider_calendar(calendar: RecallCalendar) -> ProviderCalendar:
    detail = None
    if calendar.status == "disconnected" and calendar.status_changes:
        last = calendar.status_changes[-1]
        detail = str(last.get("error_message") or last.get("error_code") or "") or None
    return ProviderCalendar(
        provider_calendar_id=calendar.id,
        platform=calendar.platform,
        email=calendar.platform_email or calendar.oauth_email,
        status=calendar.status,
        status_detail=detail,
    )


def provider_event(event: RecallCalendarEvent, owner_email: str | None) -> ProviderEvent:
    facts = raw_facts(event.platform, event.raw, owner_email)
    return ProviderEvent(
        provider_event_id=event.id,
        ical_uid=event.ical_uid,
        start_at=event.start_time,
        end_at=event.end_time,
        meeting_url=event.meeting_url,
        deleted=event.is_deleted,
        updated_at=event.updated_at,
        fields=stored_fields(
            facts,
            start_at=event.start_time,
            end_at=event.end_time,
            meeting_url=event.meeting_url,
            ical_uid=event.ical_uid,
        ),
        participants=facts.attendees,
        organizer_email=facts.organizer_email,
        owner_response=facts.owner_response,
    )


class RecallCalendarV2Adapter(RecallCalendarV2Audit, RecallWebhooks):
    name: ClassVar[str] = "recall-calendar-v2"
    extension_provider: ClassVar[str] = EXTENSION_PROVIDER
    capabilities: ClassVar[Capabilities] = Capabilities(
        links_calendars=True, receives_webhooks=True, audits_bots=True
    )
    link_request: ClassVar[type[CalendarV2LinkRequest]] = CalendarV2LinkRequest
    calls: ClassVar[dict[str, str]] = {
        "make": "POST {base_url}/api/v2/calendar-events/{target}/bot/ (deduplication_key, bot_config)",
        "cancel": "DELETE {base_url}/api/v2/calendar-events/{target}/bot/",
    }
    sync_interval: float | None = None  # calendar.sync_events webhooks say when to sync

    def __init__(self, profile: Profile, spec: AdapterSpec, http: ProviderHttp) -> None:
        if not isinstance(profile.options, RecallCalendarV2Options):
            raise TypeError(f"profile {profile.profile_id} is not a recall-calendar-v2 profile")
        self.profile = profile
        self.options: RecallCalendarV2Options = profile.options
        self.api = CalendarV2Api(http)
        self.late = timedelta(seconds=spec.windows["scheduled_bot_min_lead_seconds"])
        self.sync_window = timedelta(days=spec.windows["sync_window_days"])
        self.config: dict[str, Any] = dict(self.options.bot_config)
        # The digest is of the profile's own bot_config: adding the tag re-adds no existing bot.
        self.config_digest = hashlib.sha256(msgspec.json.encode(self.config, order="sorted")).hexdigest()[:16]
        metadata = {**dict(self.config.get("metadata") or {}), PROFILE_KEY: profile.profile_id}
        self.sent_config: dict[str, Any] = {**self.config, "metadata": metadata}  # the audit reads the tag

    @property
    def audited_profile(self) -> str:
        return self.profile.profile_id

    # --- the port ---------------------------------------------------------------------------

    async def reconcile(
        self,
        event: EventSnapshot,
        *,
        want_bot: bool,
        state: ProviderState | None,
        save_state: SaveState,
        now: datetime,
        released: bool = False,  # nothing to hand back: no provider-side defaults decide bots here
    ) -> Outcome:
        state = dict(state or {})
        linked = event.linked
        desired = linked_bot(event, want_bot=want_bot, now=now)
        bot_id = state.get("bot_id")
        if desired is ENDED and bot_id:
            return Outcome(status=ExtensionStatus.SCHEDULED, bot_id=str(bot_id), provider_state=state)
        if not isinstance(desired, DesiredBot) or linked is None:
            if state.get("provider_event_id") and desired is not ENDED:
                await self.api.remove_bot(str(state["provider_event_id"]))
                state = {}
            if isinstance(desired, Refusal):
                return Outcome(
                    status=desired.status, last_error=desired.message, provider_state=state or None
                )
            note = (
                "the event was deleted in the linked calendar"
                if linked is not None and linked.deleted
                else None
            )
            return Outcome(status=ExtensionStatus.CANCELLED, last_error=note)
        key = deduplication_key(
            self.options.deduplication,
            start_at=linked.start_at,
            meeting_url=desired.meeting_url,
            calendar_email=linked.calendar_email,
            provider_event_id=linked.provider_event_id,
        )
        wanted: ProviderState = {
            "profile_id": self.profile.profile_id,
            "provider_event_id": linked.provider_event_id,
            DEDUPLICATION_KEY: key,
            "config_digest": self.config_digest,
        }
        join_at = linked.start_at.isoformat()
        # join_at and meeting_url are compared only where recorded (states from before the audit
        # have neither): the audit records there what a stale bot has, so the Add Bot below puts it back.
        recorded = {"join_at": join_at, "meeting_url": linked.meeting_url}
        as_sent = {**wanted, **recorded}
        in_step = all(state.get(name) == value for name, value in wanted.items()) and all(
            state.get(name, value) == value for name, value in recorded.items()
        )
        if state.get("bot_id") and in_step:
            return Outcome(
                status=ExtensionStatus.SCHEDULED, bot_id=str(state["bot_id"]), provider_state=state
            )
        if state.get("provider_event_id") and state["provider_event_id"] != linked.provider_event_id:
            await self.api.remove_bot(str(state["provider_event_id"]))  # matched to another event now
        # Before the call: should we never hear the answer, the retry knows whose bot to look after.
        await save_state(wanted)
        scheduled = await self.api.schedule_bot(
            linked.provider_event_id, deduplication_key=key, bot_config=self.sent_config
        )
        bot_id = current_bot(scheduled.bots, key, now)
        if bot_id is None:
            raise ProviderUnavailable("Recall answered Add Bot with no bot on the event")
        note = None
        if linked.start_at - now < self.late:
            note = (
                "the meeting starts within 10 minutes: Recall may not apply this change in time "
                "(scheduled bots are fixed shortly before they join)"
            )
        return Outcome(
            status=ExtensionStatus.SCHEDULED,
            bot_id=bot_id,
            last_error=note,
            provider_state={**as_sent, "bot_id": bot_id},
        )

    # --- linking (CalendarLinker) -----------------------------------------------------------

    async def find_calendar(self, provider_calendar_id: str) -> ProviderCalendar:
        return provider_calendar(await self.api.get_calendar(provider_calendar_id))

    async def create_calendar(
        self, *, platform: str, refresh_token: str, email: str | None
    ) -> ProviderCalendar:
        client = PLATFORM_CLIENTS.get(platform)
        client_id = getattr(self.options, f"{client}_client_id", None) if client else None
        client_secret = getattr(self.options, f"{client}_client_secret", None) if client else None
        if client_id is None or client_secret is None:
            raise InvalidRequest.single(
                "platform",
                "unsupported",
                f"profile {self.profile.profile_id} has no {client or platform} OAuth client "
                f"({client}_client_id / {client}_client_secret) to create a {platform} calendar with",
            )
        calendar = await self.api.create_calendar(
            platform=platform,
            oauth_client_id=client_id.reveal(),
            oauth_client_secret=client_secret.reveal(),
            oauth_refresh_token=refresh_token,
            oauth_email=email,
        )
        return provider_calendar(calendar)

    async def reconnect_calendar(self, provider_calendar_id: str, *, refresh_token: str) -> ProviderCalendar:
        calendar = await self.api.update_calendar(provider_calendar_id, oauth_refresh_token=refresh_token)
        return provider_calendar(calendar)

    async def delete_calendar(self, provider_calendar_id: str) -> None:
        await self.api.delete_calendar(provider_calendar_id)

    async def changed_events(
        self, provider_calendar_id: str, *, since: datetime | None, owner_email: str | None
    ) -> AsyncIterator[list[ProviderEvent]]:
        async for page in self.api.list_events(provider_calendar_id, updated_at_gte=since):
            yield [provider_event(event, owner_email) for event in page]
