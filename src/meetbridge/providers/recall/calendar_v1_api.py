"""A thin typed client of Recall Calendar V1 (reference §3): calendar users, their meetings, tokens.

Calendar V1 authenticates per calendar user, not per account. The API key is used on exactly one
call, ``POST calendar/authenticate/``, which mints a token for one user id (creating that user on
first use); every user and meeting call then carries only ``x-recallcalendarauthtoken``. The key
never goes on those calls: the token alone names the user, and a key sent alongside would let a
mistake in either credential act on the whole workspace instead of one user. The registry
therefore gives this adapter's client no default ``Authorization`` header (``auth_scheme =
"calendar_token"``), and ``CalendarV1Api`` refuses a client that has one.

Tokens last a day and may be minted any number of times, but minting costs a call against a
workspace-wide limit on every request if done each time, so they are cached per user and renewed
well before they expire (``auth_token_renew_before_seconds`` ahead of the lifetime, measured from
when the mint was *sent*, which can only be early). A token the provider refuses anyway (401) is
dropped, re-minted once and the call retried once.

Recall limits these calls per calendar user, so they are paced per user (``pace_key``). Like
``calendar_v2_api``, the Structs read the fields we use and ignore the rest. Neither the key nor a
token ever appears in an error message.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any

import httpx
import msgspec

from meetbridge.errors import ProviderAuthExpired, ProviderNotFound
from meetbridge.providers.http import ProviderHttp, iso_utc, path_segment

AUTHENTICATE = "/api/v1/calendar/authenticate/"
USER = "/api/v1/calendar/user/"
MEETINGS = "/api/v1/calendar/meetings/"
TOKEN_HEADER = "x-recallcalendarauthtoken"  # noqa: S105 - a header's name, not a secret

AUTH_ENDPOINT = "calendar_v1_auth"
USER_ENDPOINT = "calendar_v1_user"
MEETINGS_ENDPOINT = "calendar_v1_meetings"

# Users whose token (or last refresh) is remembered; the least recently used are forgotten first,
# which only costs them a new mint.
MAX_CACHED_USERS = 10_000

Clock = Callable[[], float]

# --- wire Structs ------------------------------------------------------------------------------


class CalendarConnection(msgspec.Struct, kw_only=True):
    platform: str
    connected: bool = False  # missing reads as "not connected": never claim a calendar we lack
    email: str | None = None
    id: str | None = None


class Preferences(msgspec.Struct, kw_only=True):
    """The user's auto-record preferences: only the true ones are evaluated, all must hold (§3.5)."""

    record_non_host: bool = False
    record_recurring: bool = False
    record_external: bool = False
    record_internal: bool = False
    record_confirmed: bool = False
    record_only_host: bool = False
    bot_name: str | None = None


class CalendarUser(msgspec.Struct, kw_only=True):
    id: str
    external_id: str | None = None
    connections: list[CalendarConnection] = []
    preferences: Preferences = msgspec.field(default_factory=Preferences)


class ZoomInvite(msgspec.Struct, kw_only=True):
    meeting_id: str | None = None
    meeting_password: str | None = None


class MeetInvite(msgspec.Struct, kw_only=True):
    meeting_id: str | None = None


class TeamsInvite(msgspec.Struct, kw_only=True):
    organizer_id: str | None = None
    tenant_id: str | None = None
    message_id: str | None = None
    thread_id: str | None = None


class WebexInvite(msgspec.Struct, kw_only=True):
    meeting_subdomain: str | None = None
    meeting_path: str | None = None
    meeting_mtid: str | None = None
    meeting_personal_room_id: str | None = None


class MeetingAttendee(msgspec.Struct, kw_only=True):
    name: str | None = None
    email: str | None = None
    is_organizer: bool = False
    status: str | None = None  # accepted | declined | tentative | not_available


class CalendarMeeting(msgspec.Struct, kw_only=True):
    id: str
    start_time: datetime
    end_time: datetime
    # Required: a missing answer must not pass for "will not record".
    will_record: bool
    title: str | None = None
    override_should_record: bool | None = None
    will_record_reason: str | None = None
    bot_id: str | None = None
    meeting_platform: str | None = None
    calendar_platform: str | None = None
    zoom_invite: ZoomInvite | None = None
    meet_invite: MeetInvite | None = None
    teams_invite: TeamsInvite | None = None
    webex_invite: WebexInvite | None = None
    ical_uid: str | None = None
    is_external: bool = False
    is_hosted_by_me: bool = False
    is_recurring: bool = False
    organizer_email: str | None = None
    attendees: list[MeetingAttendee] = []
    platform_id: str | None = None


class _Minted(msgspec.Struct):
    token: Annotated[str, msgspec.Meta(min_length=1)]


# --- helpers -----------------------------------------------------------------------------------


# --- tokens ------------------------------------------------------------------------------------


class _UserToken:
    __slots__ = ("lock", "minted_at", "token")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.token: str | None = None
        self.minted_at = 0.0


class CalendarTokens:
    """Per-user calendar auth tokens: minted with the API key, cached, renewed early.

    ``clock`` is monotonic seconds (``time.monotonic``); tests pass a fake one.
    """

    def __init__(
        self,
        http: ProviderHttp,
        api_key: str,
        *,
        lifetime_seconds: float,
        renew_before_seconds: float,
        clock: Clock = time.monotonic,
        max_users: int = MAX_CACHED_USERS,
    ) -> None:
        if not 0 <= renew_before_seconds < lifetime_seconds:
            raise ValueError("renew_before_seconds must be at least 0 and less than lifetime_seconds")
        self.http = http
        self.clock = clock
        self._api_key = api_key
        self._use_for = lifetime_seconds - renew_before_seconds
        self._max_users = max_users
        self._users: OrderedDict[str, _UserToken] = OrderedDict()

    def _entry(self, user_id: str) -> _UserToken:
        entry = self._users.get(user_id)
        if entry is None:
            entry = self._users[user_id] = _UserToken()
            while len(self._users) > self._max_users:
                self._users.popitem(last=False)
        else:
            self._users.move_to_end(user_id)
        return entry

    def _fresh(self, entry: _UserToken) -> str | None:
        if entry.token is not None and self.clock() - entry.minted_at < self._use_for:
            return entry.token
        return None

    async def get(self, user_id: str) -> str:
        """A token for ``user_id`` valid for at least the renew-before window; callers share mints."""
        if not user_id:
            raise ValueError("a calendar user id must not be empty: every caller would share one user")
        entry = self._entry(user_id)
        token = self._fresh(entry)
        if token is not None:
            return token
        async with entry.lock:
            token = self._fresh(entry)  # minted by whoever held the lock before us
            if token is not None:
                return token
            sent_at = self.clock()  # the token was created after this: its age is never understated
            response = await self.http.request(
                AUTH_ENDPOINT,
                "POST",
                AUTHENTICATE,
                json={"user_id": user_id},
                headers={"Authorization": f"Token {self._api_key}"},
                ok=frozenset({200, 201}),
            )
            entry.token = self.http.decode(response, _Minted).token
            entry.minted_at = sent_at
            return entry.token

    def invalidate(self, user_id: str, token: str) -> None:
        """Forget ``token`` (refused by Recall) unless a newer one has replaced it meanwhile."""
        entry = self._users.get(user_id)
        if entry is not None and entry.token == token:
            entry.token = None

    def forget(self, user_id: str) -> None:
        """Drop whatever is cached for ``user_id`` (the user was deleted)."""
        self._users.pop(user_id, None)


# --- the API -----------------------------------------------------------------------------------


class CalendarV1Api:
    """Calendar V1 user and meeting calls for one Recall account, each as one calendar user."""

    def __init__(
        self,
        http: ProviderHttp,
        tokens: CalendarTokens,
        *,
        refresh_min_interval_seconds: float = 600.0,
    ) -> None:
        if "authorization" in http.client.headers:
            raise ValueError(
                "Calendar V1 calls must not carry the API key: build the client with "
                'auth_scheme = "calendar_token" (no default Authorization header)'
            )
        self.http = http
        self.tokens = tokens
        self._refresh_interval = refresh_min_interval_seconds
        self._refreshed: OrderedDict[str, float] = OrderedDict()

    async def _send(
        self,
        endpoint: str,
        method: str,
        path: str,
        user_id: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        ok: frozenset[int] = frozenset({200}),
    ) -> httpx.Response:
        """One call as ``user_id``; a refused token is replaced once and the call retried once."""
        for last_try in (False, True):
            token = await self.tokens.get(user_id)
            try:
                return await self.http.request(
                    endpoint,
                    method,
                    path,
                    json=json,
                    params=params,
                    headers={TOKEN_HEADER: token},
                    ok=ok,
                    pace_key=user_id,
                )
            except ProviderAuthExpired:
                self.tokens.invalidate(user_id, token)  # expired or revoked early
                if last_try:
                    raise
        raise AssertionError("unreachable: the last try returns or raises")

    async def connect_state_token(self, user_id: str) -> str:
        """A valid calendar token for the OAuth ``state`` (``recall_calendar_auth_token``, §3.6)."""
        return await self.tokens.get(user_id)

    # --- user ----------------------------------------------------------------------------------

    async def get_user(self, user_id: str) -> CalendarUser:
        response = await self._send(USER_ENDPOINT, "GET", USER, user_id)
        return self.http.decode(response, CalendarUser)

    async def update_preferences(self, user_id: str, preferences: Mapping[str, Any]) -> CalendarUser:
        """PUT, not PATCH: the verb the demo and the older spec use; Recall accepts both (§3.2)."""
        response = await self._send(
            USER_ENDPOINT, "PUT", USER, user_id, json={"preferences": dict(preferences)}
        )
        return self.http.decode(response, CalendarUser)

    async def disconnect(self, user_id: str, platform: str) -> CalendarUser:
        """Disconnect the user's ``google`` or ``microsoft`` calendar."""
        response = await self._send(
            USER_ENDPOINT, "POST", f"{USER}disconnect/", user_id, json={"platform": platform}
        )
        return self.http.decode(response, CalendarUser)

    async def delete_user(self, user_id: str) -> None:
        """Delete the user and disconnect all its calendars; an already-deleted user is done too."""
        with contextlib.suppress(ProviderNotFound):
            await self._send(USER_ENDPOINT, "DELETE", USER, user_id, ok=frozenset({200, 202, 204}))
        # A later call starts over: a new mint (which creates the user afresh), a refresh allowed.
        self.tokens.forget(user_id)
        self._refreshed.pop(user_id, None)

    # --- meetings ------------------------------------------------------------------------------

    async def _meetings(self, user_id: str, params: Mapping[str, str] | None) -> list[CalendarMeeting]:
        response = await self._send(MEETINGS_ENDPOINT, "GET", MEETINGS, user_id, params=params)
        return self.http.decode(response, list[CalendarMeeting])

    async def list_meetings(
        self, user_id: str, *, start_after: datetime, start_before: datetime
    ) -> list[CalendarMeeting]:
        """Meetings starting in the window; Recall answers a plain array, unpaginated."""
        params = {"start_time_after": iso_utc(start_after), "start_time_before": iso_utc(start_before)}
        return await self._meetings(user_id, params)

    async def get_meeting(self, user_id: str, meeting_id: str) -> CalendarMeeting:
        response = await self._send(
            MEETINGS_ENDPOINT, "GET", f"{MEETINGS}{path_segment(meeting_id)}/", user_id
        )
        return self.http.decode(response, CalendarMeeting)

    async def set_override(self, user_id: str, meeting_id: str, value: bool | None) -> CalendarMeeting:
        """True: always record; False: never; None: back to the user's preferences (§3.5)."""
        response = await self._send(
            MEETINGS_ENDPOINT,
            "PUT",
            f"{MEETINGS}{path_segment(meeting_id)}/",
            user_id,
            json={"override_should_record": value},
        )
        return self.http.decode(response, CalendarMeeting)

    async def refresh(self, user_id: str) -> list[CalendarMeeting]:
        """Resync the user's calendar, at most once per interval; within it, just the meetings.

        Recall allows one refresh per user per 10 minutes. The time is taken when the refresh is
        sent, before any answer, so concurrent callers never send two and a failed one still counts
        (Recall may have received it).
        """
        now = self.tokens.clock()
        # Kept oldest first: forget refreshes past their interval, and the oldest beyond the cap.
        while self._refreshed:
            oldest_user, oldest = next(iter(self._refreshed.items()))
            if now - oldest < self._refresh_interval and len(self._refreshed) <= MAX_CACHED_USERS:
                break
            del self._refreshed[oldest_user]
        last = self._refreshed.get(user_id)
        if last is not None and now - last < self._refresh_interval:
            return await self._meetings(user_id, None)
        self._refreshed[user_id] = now
        self._refreshed.move_to_end(user_id)
        response = await self._send(
            MEETINGS_ENDPOINT, "POST", f"{MEETINGS}refresh/", user_id, ok=frozenset({200, 201})
        )
        return self.http.decode(response, list[CalendarMeeting])
