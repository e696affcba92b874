"""recall-calendar-v1: the preset world. Recall records by the user's preferences; meetbridge steers.

A bot is wanted → ``override_should_record: true``; ``profile_id: "none"`` → ``false``; the app drops
the extension → ``null`` (back to the preferences). Bots take their configuration from the Recall
preset, so there is nothing to create, move or update here: Recall assigns a bot to the meeting and
meetbridge reads ``bot_id`` back, asking again with backoff (V1 sends no webhook) until it appears or
the meeting starts. Calendar calls carry only the user's calendar auth token, never the API key.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import msgspec

from meetbridge.config.catalogue import AdapterSpec
from meetbridge.config.profiles import Profile
from meetbridge.domain.bot_plan import ENDED, NO_MEETING_URL, Refusal
from meetbridge.domain.extensions import ExtensionStatus
from meetbridge.domain.recording_rules import PROVIDER_PREFERENCES, Participant, RuleDecision
from meetbridge.domain.times import utc_seconds
from meetbridge.errors import InvalidRequest, ProviderNotFound, ProviderUnavailable
from meetbridge.providers.base import (
    POLL_WINDOW,
    PROVIDER_BOT_ID,
    Capabilities,
    EventSnapshot,
    Outcome,
    Preset,
    PresetConnection,
    ProviderCalendar,
    ProviderEvent,
    ProviderState,
    SaveState,
    linked_bot,
)
from meetbridge.providers.http import ProviderHttp
from meetbridge.providers.oauth_connect import PLATFORMS as OAUTH_PLATFORMS
from meetbridge.providers.recall.calendar_v1_api import (
    CalendarMeeting,
    CalendarTokens,
    CalendarUser,
    CalendarV1Api,
)
from meetbridge.providers.recall.calendar_v1_audit import RecallCalendarV1Audit
from meetbridge.providers.recall.link_requests import CalendarV1LinkRequest
from meetbridge.providers.recall.options import EXTENSION_PROVIDER, RecallCalendarV1Options
from meetbridge.providers.recall.webhooks import RecallWebhooks

POLL_FOR_BOT_SECONDS = 5.0  # first wait for Recall to assign a bot after an override; the worker backs off
GOOGLE_SCOPES = (
    "https://www.googleapis.com/auth/calendar.events.readonly https://www.googleapis.com/auth/userinfo.email"
)
MICROSOFT_SCOPES = "offline_access openid email https://graph.microsoft.com/Calendars.Read"
STATUSES = {"accepted": "accepted", "declined": "declined", "tentative": "tentative"}


def invite_url(meeting: CalendarMeeting) -> str | None:
    """The joinable link a V1 meeting's invite stands for (V1 meetings carry invites, not URLs)."""
    if meeting.zoom_invite and meeting.zoom_invite.meeting_id:
        password = meeting.zoom_invite.meeting_password
        query = f"?{urlencode({'pwd': password})}" if password else ""
        return f"https://zoom.us/j/{meeting.zoom_invite.meeting_id}{query}"
    if meeting.meet_invite and meeting.meet_invite.meeting_id:
        return f"https://meet.google.com/{meeting.meet_invite.meeting_id}"
    if meeting.teams_invite and meeting.teams_invite.thread_id:
        return f"https://teams.microsoft.com/l/meetup-join/{quote(meeting.teams_invite.thread_id, safe='')}/0"
    return None


def provider_event(meeting: CalendarMeeting) -> ProviderEvent:
    url = invite_url(meeting)
    attendees = [a for a in meeting.attendees if a.email]
    fields: dict[str, Any] = {
        "summary": meeting.title or "",
        "description": "",
        "start": utc_seconds(meeting.start_time),
        "end": utc_seconds(meeting.end_time),
        "tzid": "Etc/UTC",
        "attendees": [
            {"email": a.email, "display_name": a.name, "status": STATUSES.get(a.status or "", "needs_action")}
            for a in attendees
        ],
        "ical_uid": meeting.ical_uid,
        PROVIDER_BOT_ID: meeting.bot_id,
    }
    if url:
        fields["conferencing"] = {"join_url": url, "provider_description": meeting.meeting_platform or ""}
    reason = meeting.will_record_reason or (
        "Recall will record it" if meeting.will_record else "no preference applies"
    )
    return ProviderEvent(
        provider_event_id=meeting.id,
        ical_uid=meeting.ical_uid,
        start_at=meeting.start_time,
        end_at=meeting.end_time,
        meeting_url=url,
        deleted=False,
        updated_at=meeting.start_time,  # V1 has no updated_at; every sync reads the whole window
        fields=fields,
        participants=[
            Participant(
                a.email or "", a.name, STATUSES.get(a.status or "", "needs_action"), False, a.is_organizer
            )
            for a in attendees
        ],
        organizer_email=meeting.organizer_email,
        owner_response=None,
        provider_decision=RuleDecision(record=meeting.will_record, rule=PROVIDER_PREFERENCES, reason=reason),
    )


def _preset(user: CalendarUser, user_id: str) -> Preset:
    return Preset(
        user_id=user_id,
        connections=[
            PresetConnection(platform=c.platform, connected=c.connected, email=c.email)
            for c in user.connections
        ],
        preferences=msgspec.to_builtins(user.preferences),
    )


class RecallCalendarV1Adapter(RecallWebhooks, RecallCalendarV1Audit):
    name: ClassVar[str] = "recall-calendar-v1"
    extension_provider: ClassVar[str] = EXTENSION_PROVIDER
    capabilities: ClassVar[Capabilities] = Capabilities(
        links_calendars=True, preset=True, receives_webhooks=True, audits_bots=True
    )
    link_request: ClassVar[type[CalendarV1LinkRequest]] = CalendarV1LinkRequest
    calls: ClassVar[dict[str, str]] = {
        "make": 'PUT {base_url}/api/v1/calendar/meetings/{target}/ {{"override_should_record": true}}',
        "cancel": 'PUT {base_url}/api/v1/calendar/meetings/{target}/ {{"override_should_record": false}}',
    }

    def __init__(self, profile: Profile, spec: AdapterSpec, http: ProviderHttp) -> None:
        if not isinstance(profile.options, RecallCalendarV1Options):
            raise TypeError(f"profile {profile.profile_id} is not a recall-calendar-v1 profile")
        self.profile = profile
        self.options: RecallCalendarV1Options = profile.options
        windows = spec.windows
        tokens = CalendarTokens(
            http,
            self.options.api_key.reveal(),
            lifetime_seconds=windows["auth_token_lifetime_seconds"],
            renew_before_seconds=windows["auth_token_renew_before_seconds"],
        )
        self.api = CalendarV1Api(
            http, tokens, refresh_min_interval_seconds=windows["refresh_min_interval_seconds"]
        )
        self.sync_interval: float | None = float(self.options.sync_interval_seconds)

    @property
    def audited_profile(self) -> str:
        return self.profile.profile_id

    def meeting_link(self, meeting: CalendarMeeting) -> str | None:
        return invite_url(meeting)

    # --- the port ---------------------------------------------------------------------------

    async def reconcile(
        self,
        event: EventSnapshot,
        *,
        want_bot: bool,
        state: ProviderState | None,
        save_state: SaveState,
        now: datetime,
        released: bool = False,
    ) -> Outcome:
        state = dict(state or {})
        linked = event.linked
        desired = linked_bot(event, want_bot=want_bot, now=now)
        if desired is ENDED and state.get("bot_id"):
            return Outcome(
                status=ExtensionStatus.SCHEDULED, bot_id=str(state["bot_id"]), provider_state=state
            )
        if desired is None:
            return await self._let_go(state, linked, released=released and not event.deleted)
        if isinstance(desired, Refusal) or linked is None:
            if state.get("override") is True:
                await self._let_go(state, None, released=False)
            refusal = desired if isinstance(desired, Refusal) else NO_MEETING_URL
            return Outcome(status=refusal.status, last_error=refusal.message)
        user_id = str(linked.provider_calendar_id)
        if state.get("meeting_id") and state["meeting_id"] != linked.provider_event_id:
            # Matched to another meeting now: the old one goes back to the preferences.
            await self._override(str(state["user_id"]), str(state["meeting_id"]), None)
            state = {}
        wanted: ProviderState = {
            "profile_id": self.profile.profile_id,
            "user_id": user_id,
            "meeting_id": linked.provider_event_id,
            "override": True,
        }
        if state.get("override") is True and state.get("meeting_id") == linked.provider_event_id:
            if state.get("bot_id") and linked.bot_id in (None, state["bot_id"]):
                # The bot follows its meeting: the record (what the audit compares) follows the sync.
                state.update(join_at=linked.start_at.isoformat(), meeting_url=linked.meeting_url)
                return Outcome(
                    status=ExtensionStatus.SCHEDULED, bot_id=str(state["bot_id"]), provider_state=state
                )
            meeting = await self.api.get_meeting(user_id, linked.provider_event_id)
            if meeting.override_should_record is not True:
                # The state is saved before the override is sent: a refused (429) or lost one is sent again.
                meeting = await self.api.set_override(user_id, linked.provider_event_id, True)
        else:
            await save_state(wanted)  # the override must be undone if we die right after it
            meeting = await self.api.set_override(user_id, linked.provider_event_id, True)
        return self._recorded(meeting, wanted, now)

    def _recorded(self, meeting: CalendarMeeting, state: ProviderState, now: datetime) -> Outcome:
        if meeting.bot_id:
            # join_at and meeting_url: what the drift audit compares (the bot joins at its meeting).
            recorded = {"join_at": meeting.start_time.isoformat(), "meeting_url": invite_url(meeting)}
            return Outcome(
                status=ExtensionStatus.SCHEDULED,
                bot_id=meeting.bot_id,
                provider_state={**state, "bot_id": meeting.bot_id, **recorded},
            )
        reason = meeting.will_record_reason or "no reason given"
        if not meeting.will_record:
            message = f"Recall will not record this meeting even with the override ({reason})"
            return Outcome(status=ExtensionStatus.FAILED, last_error=message, provider_state=state)
        if meeting.start_time <= now:
            message = f"Recall assigned no bot before the meeting started ({reason})"
            return Outcome(status=ExtensionStatus.FAILED, last_error=message, provider_state=state)
        # Recall assigns the bot a little after the override: ask again (the worker backs off).
        raise ProviderUnavailable(
            "Recall has not assigned a bot to the meeting yet", retry_after=POLL_FOR_BOT_SECONDS
        )

    async def _let_go(self, state: ProviderState, linked: Any, *, released: bool) -> Outcome:
        """``false`` ("none", deleted), or ``null`` when the app dropped the extension."""
        if released and not state:
            return Outcome(status=ExtensionStatus.CANCELLED)  # nothing of ours to hand back
        value = None if released else False
        user_id = state.get("user_id") or (linked.provider_calendar_id if linked else None)
        meeting_id = state.get("meeting_id") or (
            linked.provider_event_id if linked and not linked.deleted else None
        )
        if user_id and meeting_id and (state.get("override") is not value or not state):
            await self._override(str(user_id), str(meeting_id), value)
        return Outcome(status=ExtensionStatus.CANCELLED)

    async def _override(self, user_id: str, meeting_id: str, value: bool | None) -> None:
        try:
            await self.api.set_override(user_id, meeting_id, value)
        except ProviderNotFound:
            return  # the meeting is gone: nothing left to steer

    # --- linking ----------------------------------------------------------------------------

    async def find_calendar(self, provider_calendar_id: str) -> ProviderCalendar:
        user = await self.api.get_user(provider_calendar_id)  # minting the token creates the user
        connected = [c for c in user.connections if c.connected]
        first = connected[0] if connected else None
        return ProviderCalendar(
            provider_calendar_id=provider_calendar_id,
            platform=first.platform if first else None,
            email=first.email if first else None,
            # Never connected (Recall lists both platforms, unconnected): waiting for the user's consent.
            status="connected"
            if connected
            else ("disconnected" if any(c.email for c in user.connections) else "connecting"),
        )

    async def create_calendar(
        self, *, platform: str, refresh_token: str, email: str | None
    ) -> ProviderCalendar:
        raise InvalidRequest.single("platform", "not_applicable", "Calendar V1 users connect through Recall")

    async def reconnect_calendar(self, provider_calendar_id: str, *, refresh_token: str) -> ProviderCalendar:
        raise InvalidRequest.single("platform", "not_applicable", "Calendar V1 users connect through Recall")

    async def delete_calendar(self, provider_calendar_id: str) -> None:
        await self.api.delete_user(provider_calendar_id)

    async def changed_events(
        self, provider_calendar_id: str, *, since: datetime | None, owner_email: str | None
    ) -> AsyncIterator[list[ProviderEvent]]:
        now = datetime.now(UTC)
        past, ahead = POLL_WINDOW
        meetings = await self.api.list_meetings(
            provider_calendar_id, start_after=now - past, start_before=now + ahead
        )
        yield [provider_event(meeting) for meeting in meetings]

    # --- preset (PresetLinker) --------------------------------------------------------------

    async def preset(self, user_id: str) -> Preset:
        return _preset(await self.api.get_user(user_id), user_id)

    async def set_preferences(self, user_id: str, preferences: Mapping[str, Any]) -> Preset:
        return _preset(await self.api.update_preferences(user_id, preferences), user_id)

    async def disconnect(self, user_id: str, platform: str) -> Preset:
        return _preset(await self.api.disconnect(user_id, platform), user_id)

    async def connect_url(
        self, user_id: str, platform: str, *, success_url: str | None, error_url: str | None
    ) -> str:
        """The provider's consent page, as Recall's V1 guide builds it; Recall takes the callback."""
        google = platform == "google"
        client_id = self.options.google_client_id if google else self.options.microsoft_client_id
        if client_id is None:
            raise InvalidRequest.single(
                "platform", "not_configured", f"profile {self.profile.profile_id} has no {platform}_client_id"
            )
        callback = "google_oauth_callback" if google else "ms_oauth_callback"
        redirect = f"{self.profile.base_url.rstrip('/')}/api/v1/calendar/{callback}/"
        state: dict[str, str] = {
            "recall_calendar_auth_token": await self.api.connect_state_token(user_id),
            ("google_oauth_redirect_url" if google else "ms_oauth_redirect_url"): redirect,
        }
        if success_url:
            state["success_url"] = success_url
        if error_url:
            state["error_url"] = error_url
        authorize, _ = OAUTH_PLATFORMS["google_calendar" if google else "microsoft_outlook"].endpoints(
            self.options.oauth_base_url
        )
        params = {
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": redirect,
            "prompt": "consent",
        }
        if google:
            params.update(scope=GOOGLE_SCOPES, access_type="offline", include_granted_scopes="true")
        else:
            params.update(scope=MICROSOFT_SCOPES, response_mode="query")
        params["state"] = json.dumps(state, separators=(",", ":"))
        return f"{authorize}?{urlencode(params)}"
