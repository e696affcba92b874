"""CalendarV1Sandbox: calendar users, their auth tokens and meetings, behind one asyncio lock.

It sits beside the bot API's `RecallSandbox` (whose clock and bots it uses) and never holds that
sandbox's lock while taking its own, so the two cannot deadlock. Each meeting's bot is brought in step
after every change and before every read (see calendar_v1_bots), so the sandbox clock moving on is
enough for a delayed `bot_id` to appear; a timer also does it unprompted for demos on the real clock.

Not modelled: the sync window, the FAQ's "refresh" latency (Refresh Calendar Meetings just answers the
list), cross-user bot deduplication (one bot per meeting record), and `GET /api/v1/calendar/users/`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from meetbridge.sandbox._shared import DEFAULT_EMAIL, OAuthError, OAuthStandIn, stop_task
from meetbridge.sandbox.recall.calendar_v1.bots import BotKeeper
from meetbridge.sandbox.recall.calendar_v1.models import (
    CalendarMeetingOut,
    CalendarPlatform,
    CalendarUserOut,
    ChangeMeetingIn,
    SeedMeetingIn,
)
from meetbridge.sandbox.recall.calendar_v1.records import Connection, MeetingRecord, Token, UserRecord
from meetbridge.sandbox.recall.calendar_v1.rules import decide, meeting_out
from meetbridge.sandbox.recall.calendar_v1.seeding import apply_change, new_meeting
from meetbridge.sandbox.recall.calendar_v1.validation import (
    CallbackError,
    MeetingQuery,
    OAuthState,
    OverrideChange,
    UserChanges,
)
from meetbridge.sandbox.recall.core import RecallSandbox, SandboxError

TOKEN_TTL = timedelta(days=1)
_NOT_FOUND = {"detail": "Not found."}
_INVALID_TOKEN = {"detail": "Invalid token."}
# The stand-in OAuth servers take any non-empty secret; this one stands for the dashboard's.
_DASHBOARD_SECRET = "sandbox-recall-dashboard-secret"  # noqa: S105 - a fixed stand-in value, not a credential


class CalendarV1Sandbox:
    def __init__(
        self,
        recall: RecallSandbox,
        *,
        oauth: OAuthStandIn | None = None,
        bot_assign_delay_seconds: float = 0.0,
        oauth_client_ids: Mapping[CalendarPlatform, str] | None = None,
    ) -> None:
        if bot_assign_delay_seconds < 0:
            raise ValueError("bot_assign_delay_seconds must not be negative")
        self.recall = recall
        self.oauth = oauth or OAuthStandIn(clock=recall.clock)
        self.bots = BotKeeper(recall, delay_seconds=bot_assign_delay_seconds)
        self.oauth_client_ids: dict[CalendarPlatform, str] = dict(oauth_client_ids or {})
        self._users: dict[str, UserRecord] = {}
        self._meetings: dict[str, MeetingRecord] = {}
        self._tokens: dict[str, Token] = {}
        self._seq = itertools.count(1)
        self._lock = asyncio.Lock()
        self._waker: asyncio.Task[None] | None = None

    # --- housekeeping -----------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self.recall.clock.now()

    async def aclose(self) -> None:
        await stop_task(self._waker)
        self._waker = None

    async def _keep_bots(self) -> None:
        """Bring every meeting's bot in step with `will_record`, then wake up for the next delayed one."""
        now = self._now()
        for meeting in sorted(self._meetings.values(), key=MeetingRecord.position):
            user = self._users[meeting.user_id]
            await self.bots.keep(meeting, decide(meeting, user, now).will_record, user.bot_name, now)
        dues = [m.assign_due for m in self._meetings.values() if m.assign_due is not None]
        if dues and (self._waker is None or self._waker.done()):
            wait = max(0.0, (min(dues) - now).total_seconds())
            self._waker = asyncio.get_running_loop().create_task(self._wake(wait), name="calendar-v1-bots")

    async def _wake(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        async with self._lock:
            self._waker = None  # so this round may schedule the next one
            await self._keep_bots()

    def _user(self, user_id: str) -> UserRecord:
        """The token's user; gone (deleted after the token was minted) reads as a bad token."""
        user = self._users.get(user_id)
        if user is None:
            raise SandboxError(401, dict(_INVALID_TOKEN))
        return user

    def _user_by_external(self, external_id: str) -> UserRecord | None:
        return next((u for u in self._users.values() if u.external_id == external_id), None)

    def _known_user(self, external_id: str) -> UserRecord:
        user = self._user_by_external(external_id)
        if user is None:
            raise SandboxError(404, dict(_NOT_FOUND))
        return user

    def _ensure_user(self, external_id: str) -> UserRecord:
        user = self._user_by_external(external_id)
        if user is None:
            user = UserRecord(id=str(uuid.uuid4()), external_id=external_id)
            self._users[user.id] = user
        return user

    def _out(self, meeting: MeetingRecord) -> CalendarMeetingOut:
        return meeting_out(meeting, self._users[meeting.user_id], self._now())

    def _list(self, keep: Callable[[MeetingRecord], bool]) -> list[CalendarMeetingOut]:
        found = sorted((m for m in self._meetings.values() if keep(m)), key=MeetingRecord.position)
        return [self._out(m) for m in found]

    async def _remove_meetings(self, doomed: Callable[[MeetingRecord], bool]) -> None:
        now = self._now()
        for meeting in [m for m in self._meetings.values() if doomed(m)]:
            if not meeting.has_ended(now):
                await self.bots.drop(meeting)
            del self._meetings[meeting.id]

    async def _connect(self, user: UserRecord, platform: CalendarPlatform, email: str) -> None:
        """A second account on the same platform replaces the first and clears its meetings and bots
        (V1 FAQ: "the latest connection will clear out bots and calendar data")."""
        current = user.connections.get(platform)
        if current is not None and current.email.lower() == email.lower():
            return
        await self._remove_meetings(lambda m: m.user_id == user.id and m.calendar_platform == platform)
        user.connections[platform] = Connection(email)

    # --- tokens -----------------------------------------------------------------------------------

    async def authenticate(self, external_id: str) -> str:
        """A new opaque token for the user, made if absent; earlier tokens stay valid until they expire."""
        async with self._lock:
            user = self._ensure_user(external_id)
            token = secrets.token_urlsafe(32)
            self._tokens[token] = Token(user.id, self._now() + TOKEN_TTL)
            return token

    def user_for_token(self, token: str | None) -> str:
        """Peek, without the lock, for the auth step of a call: the token's user id, or 401."""
        if not token:
            raise SandboxError(401, {"detail": "Authentication credentials were not provided."})
        entry = self._tokens.get(token)
        if entry is None or entry.user_id not in self._users:
            raise SandboxError(401, dict(_INVALID_TOKEN))
        if entry.expires_at <= self._now():
            raise SandboxError(401, {"detail": "Token has expired."})
        return entry.user_id

    # --- calendar user ----------------------------------------------------------------------------

    async def get_user(self, user_id: str) -> CalendarUserOut:
        async with self._lock:
            return self._user(user_id).to_wire()

    async def update_user(self, user_id: str, changes: UserChanges) -> CalendarUserOut:
        """Partial: only the preferences given change. Bots follow at once (V1 FAQ)."""
        async with self._lock:
            user = self._user(user_id)
            if changes.external_id is not None and changes.external_id != user.external_id:
                if self._user_by_external(changes.external_id) is not None:
                    raise SandboxError(400, {"external_id": ["A calendar user with this id already exists."]})
                user.external_id = changes.external_id
            user.preferences.update(changes.preferences)
            user.bot_name = changes.bot_name or user.bot_name
            await self._keep_bots()
            return user.to_wire()

    async def delete_user(self, user_id: str) -> None:
        """The user, its connections, meetings and future bots go; its tokens stop working."""
        async with self._lock:
            user = self._user(user_id)
            await self._remove_meetings(lambda m: m.user_id == user.id)
            del self._users[user.id]
            self._tokens = {t: e for t, e in self._tokens.items() if e.user_id != user.id}

    async def disconnect(self, user_id: str, platform: CalendarPlatform) -> CalendarUserOut:
        """That platform's meetings and future bots go with it; disconnecting twice is harmless."""
        async with self._lock:
            user = self._user(user_id)
            await self._remove_meetings(lambda m: m.user_id == user.id and m.calendar_platform == platform)
            user.connections.pop(platform, None)
            return user.to_wire()

    # --- calendar meetings ------------------------------------------------------------------------

    def _meeting(self, user_id: str, meeting_id: str) -> MeetingRecord:
        meeting = self._meetings.get(meeting_id)
        if meeting is None or meeting.user_id != user_id:
            raise SandboxError(404, dict(_NOT_FOUND))
        return meeting

    async def list_meetings(self, user_id: str, query: MeetingQuery) -> list[CalendarMeetingOut]:
        async with self._lock:
            self._user(user_id)
            await self._keep_bots()
            return self._list(
                lambda m: (
                    m.user_id == user_id
                    and (query.start_time_after is None or m.start_time >= query.start_time_after)
                    and (query.start_time_before is None or m.start_time <= query.start_time_before)
                    and (query.ical_uid is None or m.ical_uid.startswith(query.ical_uid))
                )
            )

    async def get_meeting(self, user_id: str, meeting_id: str) -> CalendarMeetingOut:
        async with self._lock:
            self._user(user_id)
            await self._keep_bots()
            return self._out(self._meeting(user_id, meeting_id))

    async def update_meeting(
        self, user_id: str, meeting_id: str, change: OverrideChange
    ) -> CalendarMeetingOut:
        async with self._lock:
            self._user(user_id)
            meeting = self._meeting(user_id, meeting_id)
            if change.given:
                meeting.override_should_record = change.value
            await self._keep_bots()
            return self._out(meeting)

    async def refresh(self, user_id: str) -> list[CalendarMeetingOut]:
        return await self.list_meetings(user_id, MeetingQuery())

    # --- OAuth callback ---------------------------------------------------------------------------

    def _email_for_code(self, platform: CalendarPlatform, code: str, redirect_url: str) -> str:
        """Exchange the code as Recall would, with the dashboard's client for the platform; a code that
        is not the OAuth stand-in's (or no client configured) connects the default account."""
        client_id = self.oauth_client_ids.get(platform)
        if client_id:
            form = {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_url,
                "client_id": client_id,
                "client_secret": _DASHBOARD_SECRET,
            }
            with contextlib.suppress(OAuthError):
                return self.oauth.token(platform, form, None).email
        return DEFAULT_EMAIL

    async def oauth_connect(
        self, platform: CalendarPlatform, code: str, state: OAuthState
    ) -> CalendarUserOut:
        async with self._lock:
            try:
                user = self._user(self.user_for_token(state.token))
            except SandboxError:
                raise CallbackError(
                    "Invalid 'recall_calendar_auth_token' supplied", state.error_url
                ) from None
            await self._connect(user, platform, self._email_for_code(platform, code, state.redirect_url))
            await self._keep_bots()
            return user.to_wire()

    # --- admin: what the user and their calendar provider would do --------------------------------

    async def admin_connect(
        self, external_id: str, platform: CalendarPlatform, email: str
    ) -> CalendarUserOut:
        async with self._lock:
            user = self._ensure_user(external_id)
            await self._connect(user, platform, email)
            await self._keep_bots()
            return user.to_wire()

    async def list_users(self) -> list[CalendarUserOut]:
        async with self._lock:
            return [u.to_wire() for u in self._users.values()]

    async def user_meetings(self, external_id: str) -> list[CalendarMeetingOut]:
        async with self._lock:
            user = self._known_user(external_id)
            await self._keep_bots()
            return self._list(lambda m: m.user_id == user.id)

    async def seed_meeting(self, external_id: str, spec: SeedMeetingIn) -> CalendarMeetingOut:
        async with self._lock:
            meeting = new_meeting(self._known_user(external_id), spec, next(self._seq))
            self._meetings[meeting.id] = meeting
            await self._keep_bots()
            return self._out(meeting)

    async def change_meeting(self, meeting_id: str, spec: ChangeMeetingIn) -> CalendarMeetingOut:
        async with self._lock:
            meeting = self._meetings.get(meeting_id)
            if meeting is None:
                raise SandboxError(404, dict(_NOT_FOUND))
            apply_change(meeting, spec)
            await self._keep_bots()
            return self._out(meeting)

    async def delete_meeting(self, meeting_id: str) -> None:
        """As when the event is cancelled in the calendar: gone, with its future bot."""
        async with self._lock:
            if meeting_id not in self._meetings:
                raise SandboxError(404, dict(_NOT_FOUND))
            await self._remove_meetings(lambda m: m.id == meeting_id)

    async def expire_tokens(self) -> int:
        async with self._lock:
            now = self._now()
            live = [entry for entry in self._tokens.values() if entry.expires_at > now]
            for entry in live:
                entry.expires_at = now
            return len(live)

    async def reset(self) -> None:
        """Forget users, tokens and meetings; bots already made stay with the bot sandbox (its reset)."""
        async with self._lock:
            self._users.clear()
            self._meetings.clear()
            self._tokens.clear()
