"""A thin typed client of one linked Cronofy account (reference §1-§3, §5, §6): upsert and delete
events, read them back (with ``metadata.recall.bot_id``), push channels, calendars, token refresh.

Authorization is per linked user, not per application, so the shared ProviderHttp carries no default
auth: every request gets ``Authorization: Bearer <access token>`` here. Access tokens expire (3600 s,
1800 s for Enterprise Connect), so one within ``EXPIRY_MARGIN`` of its end is refreshed before a call,
and a 401 earns exactly one refresh and one retry. Concurrent callers share one refresh (a lock, and a
re-check of the tokens once it is held), because Cronofy rotates refresh tokens: two parallel refreshes
would leave one of them holding a refresh token that is already dead.

Rotation is also why tokens are persisted *before* use: the moment Cronofy answers a refresh, the old
refresh token is dead and the new one exists only in this process. ``save_tokens`` runs before the new
access token goes on the wire; if it fails, the new tokens stay pending in memory and the next call
tries to save them again, so no request ever depends on tokens that a crash would lose. (A refresh whose
answer never arrives cannot be helped: Cronofy may have rotated, and the next refresh reports
``invalid_grant``.)

The token call goes through ProviderHttp as JSON, not through authlib's AsyncOAuth2Client: authlib's
client is an httpx client of its own, so it could only reach Cronofy through our injected transport by
reading httpx internals, and would bypass the account's pacer and the one place that maps statuses to
meetbridge errors. JSON is also how Cronofy documents the refresh request and what pycronofy sends.

Statuses become meetbridge errors in ProviderHttp; the ones Cronofy gives a meaning of its own are
handled here: 422's ``{"errors": {field: [{key, description}]}}`` becomes a readable CronofyInvalid,
403 (missing scope) and 404 (calendar or channel not reachable) say why, and the token endpoint's
RFC 6749 errors become CronofyAuthRevoked (``invalid_grant``) or ProviderRejected. No message ever
carries a token or the client secret.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import msgspec

from meetbridge.domain.times import utc_seconds
from meetbridge.errors import (
    ProviderAuthExpired,
    ProviderAuthRevoked,
    ProviderNotFound,
    ProviderRejected,
    ProviderUnavailable,
)
from meetbridge.providers.cronofy.wire import (
    CalendarList,
    ChannelEnvelope,
    ChannelList,
    CronofyChannel,
    CronofyEvent,
    CronofyTokens,
    EventsPage,
    InvalidAnswer,
    OAuthError,
    TokenAnswer,
)
from meetbridge.providers.http import ProviderHttp, path_segment

ENDPOINT = "api"  # the catalogue's one Cronofy limit (per application), token calls included
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path; OAuth endpoints have no /v1 prefix (reference §0)
EXPIRY_MARGIN = timedelta(seconds=60)
ACCEPTED = frozenset({202})
# Answers whose body or meaning is Cronofy's own; the rest are mapped by ProviderHttp.
_EXPLAINED = frozenset({403, 404, 422})


class CronofyAuthRevoked(ProviderAuthRevoked):
    """The refresh token was refused (``invalid_grant``): the user must link the account again."""


class CronofyInvalid(ProviderRejected):
    """A 422; ``errors`` is Cronofy's field errors as (key, description) pairs, the shape of
    ``meetbridge.errors.InvalidRequest``, so they can be passed on to our own callers unchanged."""

    def __init__(self, message: str, errors: Mapping[str, list[tuple[str, str]]]) -> None:
        self.errors = {field: list(items) for field, items in errors.items()}
        super().__init__(message, status=422, code="invalid_request")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def utc_text(moment: datetime) -> str:
    """Cronofy's UTC time format. Seconds are truncated, so ``last_modified`` only ever widens."""
    if moment.tzinfo is None:
        raise ValueError("Cronofy times must be timezone-aware")
    return utc_seconds(moment)


def _flag(value: bool) -> str:
    return "true" if value else "false"


class CronofyApi:
    """One linked Cronofy account over the application's shared, paced ProviderHttp.

    ``save_tokens`` persists rotated tokens; it is awaited before they are used and may raise (the
    call then fails and the next one saves again). ``reload_tokens`` reads the saved tokens back:
    another process (or an earlier client of the same link) may have rotated them, and refreshing
    with a refresh token that is already dead would read as ``invalid_grant``. ``clock`` is
    injectable for expiry tests.
    """

    def __init__(
        self,
        http: ProviderHttp,
        *,
        client_id: str,
        client_secret: str,
        tokens: CronofyTokens,
        save_tokens: Callable[[CronofyTokens], Awaitable[None]],
        reload_tokens: Callable[[], Awaitable[CronofyTokens | None]] | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.http = http
        self._client_id = client_id
        self._client_secret = client_secret
        self._tokens = tokens
        self._pending: CronofyTokens | None = None  # refreshed, not saved yet: never used
        self._save_tokens = save_tokens
        self._reload_tokens = reload_tokens
        self._clock = clock
        self._lock = asyncio.Lock()

    @property
    def tokens(self) -> CronofyTokens:
        """The tokens in use (saved ones only)."""
        return self._tokens

    # --- events (reference §1-§3) ---------------------------------------------------------------

    async def upsert_event(self, calendar_id: str, body: Mapping[str, Any]) -> None:
        """Create or update; Cronofy writes to the calendar (and makes the bot) after its 202."""
        await self._call(
            "POST",
            f"/v1/calendars/{path_segment(calendar_id)}/events",
            json=dict(body),
            ok=ACCEPTED,
            scope="create_event",
            missing="the calendar",
        )

    async def delete_event(self, calendar_id: str, event_id: str) -> None:
        """A DELETE with a JSON body; an unknown ``event_id`` is accepted too (reference §2)."""
        await self._call(
            "DELETE",
            f"/v1/calendars/{path_segment(calendar_id)}/events",
            json={"event_id": event_id},
            ok=ACCEPTED,
            scope="delete_event",
            missing="the calendar",
        )

    async def read_events(
        self,
        *,
        calendar_ids: Sequence[str],
        last_modified: datetime | None,
        include_managed: bool = True,
        include_deleted: bool = True,
        only_managed: bool = False,
        tzid: str = "Etc/UTC",
        from_date: date | None = None,
        to_date: date | None = None,
    ) -> AsyncIterator[list[CronofyEvent]]:
        """One list per page, following ``pages.next_page`` (absolute, same origin only).
        ``from_date``/``to_date``: events ending on or after / starting before those days (§3)."""
        query: list[tuple[str, str]] = [("tzid", tzid)]
        query += [("calendar_ids[]", calendar_id) for calendar_id in calendar_ids]
        query += [(name, day.isoformat()) for name, day in (("from", from_date), ("to", to_date)) if day]
        if last_modified is not None:
            query.append(("last_modified", utc_text(last_modified)))
        query += [
            ("include_managed", _flag(include_managed)),
            ("include_deleted", _flag(include_deleted)),
            ("only_managed", _flag(only_managed)),
        ]
        link = f"/v1/events?{urlencode(query)}"
        seen: set[str] = set()
        while True:
            response = await self._call("GET", link, scope="read_events", missing="a calendar")
            page = self.http.decode(response, EventsPage)
            yield page.events
            if not page.pages.next_page:
                return
            link = self.http.followable(page.pages.next_page, carrying="the access token")
            if link in seen:  # a page that points back would page forever
                raise ProviderUnavailable(f"{self.http.name} sent a page link that loops")
            seen.add(link)

    # --- calendars and channels (reference §5) --------------------------------------------------

    async def list_calendars(self) -> list[dict[str, Any]]:
        """The account's calendars, as Cronofy describes them: enough to verify a link works."""
        response = await self._call("GET", "/v1/calendars", scope="list_calendars", missing="the account")
        return self.http.decode(response, CalendarList).calendars

    async def create_channel(
        self, callback_url: str, *, calendar_ids: Sequence[str], only_managed: bool = True
    ) -> CronofyChannel:
        """An identical request may answer the existing channel; no ``calendar_ids`` means all."""
        filters: dict[str, Any] = {"only_managed": only_managed}
        if calendar_ids:  # Cronofy wants at least one when the filter is given
            filters["calendar_ids"] = list(calendar_ids)
        response = await self._call(
            "POST",
            "/v1/channels",
            json={"callback_url": callback_url, "filters": filters},
            scope="read_events",
            missing="a calendar",
        )
        return self.http.decode(response, ChannelEnvelope).channel

    async def list_channels(self) -> list[CronofyChannel]:
        response = await self._call("GET", "/v1/channels", scope="read_events", missing="the account")
        return self.http.decode(response, ChannelList).channels

    async def close_channel(self, channel_id: str) -> None:
        """Raises ProviderNotFound for a channel Cronofy does not know (closed already)."""
        await self._call(
            "DELETE", f"/v1/channels/{path_segment(channel_id)}", scope="read_events", missing="the channel"
        )

    # --- one authorized call ----------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        scope: str,
        missing: str,
        json: Any = None,
        ok: frozenset[int] = frozenset({200, 202, 204}),
    ) -> httpx.Response:
        """The call with a live access token; on a 401, one refresh (shared) and one retry."""
        token = await self._access_token()
        try:
            response = await self._send(method, path, token, json, ok)
        except ProviderAuthExpired:
            token = await self._refresh_after_401(token)
            response = await self._send(method, path, token, json, ok)
        if response.status_code in ok:
            return response
        where = f"{self.http.name} answered {response.status_code} to {method} {path}"
        if response.status_code == 403:
            raise ProviderRejected(
                f"{where}: the authorization lacks the {scope} scope; link the account again granting it",
                status=403,
            )
        if response.status_code == 404:
            raise ProviderNotFound(f"{where}: {missing} is not there, or not reachable with this link")
        raise _invalid(where, response)

    async def _send(
        self, method: str, path: str, token: str, json: Any, ok: frozenset[int]
    ) -> httpx.Response:
        return await self.http.request(
            ENDPOINT,
            method,
            path,
            json=json,
            headers={"Authorization": f"Bearer {token}"},
            ok=ok | _EXPLAINED,
        )

    # --- tokens (reference §6) --------------------------------------------------------------------

    def _usable(self, tokens: CronofyTokens) -> bool:
        return self._clock() < tokens.expires_at - EXPIRY_MARGIN

    async def _access_token(self) -> str:
        """A saved access token with more than ``EXPIRY_MARGIN`` to live; refreshes (once) if not."""
        if self._pending is None and self._usable(self._tokens):
            return self._tokens.access_token
        async with self._lock:
            await self._adopt_pending()
            if not self._usable(self._tokens):  # nobody refreshed while we waited
                await self._refresh()
            return self._tokens.access_token

    async def _refresh_after_401(self, rejected: str) -> str:
        async with self._lock:
            await self._adopt_pending()
            if self._tokens.access_token == rejected:  # nobody refreshed since that call was sent
                await self._refresh()
            return self._tokens.access_token

    async def _adopt_pending(self) -> None:
        """Save tokens a failed ``save_tokens`` left behind; until saved they are not used."""
        if self._pending is not None:
            await self._save_tokens(self._pending)
            self._tokens, self._pending = self._pending, None

    async def _rotated_elsewhere(self) -> bool:
        """Adopt saved tokens that differ from ours (rotated by someone else); True if adopted."""
        saved = await self._reload_tokens() if self._reload_tokens is not None else None
        if saved is None or saved.refresh_token == self._tokens.refresh_token:
            return False
        self._tokens = saved
        return True

    async def _refresh(self) -> None:
        """Refresh (the lock is held): rotate, save, and only then use."""
        if await self._rotated_elsewhere() and self._usable(self._tokens):
            return
        asked_at = self._clock()  # before the call, so expiry errs early, never late
        body = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "refresh_token": self._tokens.refresh_token,
        }
        response = await self.http.request(
            ENDPOINT, "POST", TOKEN_PATH, json=body, ok=frozenset({200, 400, 401})
        )
        if response.status_code != 200:
            refused = self._token_refused(response)
            if isinstance(refused, CronofyAuthRevoked) and await self._rotated_elsewhere():
                return  # we lost a race with another refresher; its tokens are the live ones
            raise refused
        answer = self.http.decode(response, TokenAnswer)
        self._pending = CronofyTokens(
            access_token=answer.access_token,
            refresh_token=answer.refresh_token or self._tokens.refresh_token,
            expires_at=asked_at + timedelta(seconds=answer.expires_in),
        )
        await self._adopt_pending()

    def _token_refused(self, response: httpx.Response) -> ProviderRejected | CronofyAuthRevoked:
        where = f"{self.http.name} refused to refresh the access token ({response.status_code})"
        try:
            error = msgspec.json.decode(response.content, type=OAuthError)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return ProviderRejected(f"{where}: no OAuth error in the answer", status=response.status_code)
        detail = self._scrub(error.error_description or "")[:300]
        message = f"{where}: {self._scrub(error.error)[:100]}" + (f" ({detail})" if detail else "")
        if error.error == "invalid_grant":
            return CronofyAuthRevoked(f"{message}; the account must be linked again")
        return ProviderRejected(message, status=response.status_code, code=error.error)

    def _scrub(self, text: str) -> str:
        """The provider's own words, without any credential it might echo back."""
        for secret in (self._client_secret, self._tokens.refresh_token, self._tokens.access_token):
            if secret:
                text = text.replace(secret, "[redacted]")
        return text


def _invalid(where: str, response: httpx.Response) -> CronofyInvalid:
    """A 422 as ``field: description; …`` (ProviderHttp would print the nested dict)."""
    try:
        body = msgspec.json.decode(response.content, type=InvalidAnswer)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return CronofyInvalid(f"{where}: the request was invalid (no field errors given)", {})
    errors = {
        field: [(detail.key, detail.description or detail.key) for detail in details]
        for field, details in body.errors.items()
    }
    text = "; ".join(f"{field}: {description}" for field, items in errors.items() for _, description in items)
    return CronofyInvalid(f"{where}: {text[:500] or 'the request was invalid'}", errors)
