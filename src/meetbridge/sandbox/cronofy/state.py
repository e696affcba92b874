"""CronofySandbox: accounts, events, channels, read pages, faults and calls, behind one asyncio lock
(channels and pages are kept in their own books, `channels` and `pages`)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import uuid
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime, timedelta

import httpx

from meetbridge.sandbox._shared import CallLog, FaultBook, SandboxClock, Ticker
from meetbridge.sandbox.cronofy.auth import DEFAULT_SCOPE, Account, OAuthError, TokenBook
from meetbridge.sandbox.cronofy.bots import BotSync, WantedBot
from meetbridge.sandbox.cronofy.channels import ChannelBook
from meetbridge.sandbox.cronofy.events import EventRecord
from meetbridge.sandbox.cronofy.models import (
    AccountOut,
    AdminEventOut,
    CalendarOut,
    ChannelFilters,
    ChannelOut,
    NewAccountOut,
    TokenOut,
)
from meetbridge.sandbox.cronofy.pages import EventsPage, PageBook
from meetbridge.sandbox.cronofy.push import PushDispatcher
from meetbridge.sandbox.cronofy.query import EventQuery
from meetbridge.sandbox.cronofy.validation import NO_PROFILE, CronofyError, EventWrite
from meetbridge.sandbox.recall.core import RecallSandbox

logger = logging.getLogger(__name__)

ENDPOINTS = frozenset({"api", "oauth"})
DEFAULT_RECALL_PROFILE = "int_sandbox_recall_0000000000"
DEFAULT_BOT_NAME = "Meeting Notetaker"
DEFAULT_PAGE_SIZE = 5  # small on purpose: a handful of events already spans several pages


class CronofySandbox:
    """A Cronofy account API stand-in; with `recall`, Cronofy's Recall integration on top of it.

    `recall_profiles` are the upstream "Cronofy Extension Profile ID"s the integration is set up with
    (none without `recall`); `bot_id_delay` holds `metadata.recall.bot_id` back that many sandbox seconds
    after a bot is made, as Cronofy provisions bots behind its 202.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        recall: RecallSandbox | None = None,
        clock: SandboxClock | None = None,
        access_token_lifetime: int = 3600,
        push_client: httpx.AsyncClient | None = None,
        recall_profiles: Collection[str] = (DEFAULT_RECALL_PROFILE,),
        bot_name: str = DEFAULT_BOT_NAME,
        bot_id_delay: float = 0.0,
        page_size: int = DEFAULT_PAGE_SIZE,
        push_retry_delays: tuple[float, ...] = (0.2, 1.0),
        tick_interval: float = 0.2,
    ) -> None:
        if page_size < 1 or bot_id_delay < 0 or tick_interval <= 0:
            raise ValueError("page_size must be >= 1, bot_id_delay >= 0 and tick_interval > 0")
        self.clock = clock or SandboxClock()
        self.tokens = TokenBook(
            client_id=client_id, client_secret=client_secret, lifetime=access_token_lifetime
        )
        self.recall = recall
        self.recall_profiles = frozenset(recall_profiles) if recall is not None else frozenset[str]()
        self.faults = FaultBook(ENDPOINTS)
        self.calls = CallLog()
        self.push = PushDispatcher(
            client_secret=client_secret, client=push_client, retry_delays=push_retry_delays
        )
        self.page_size = page_size
        self.bot_id_delay = timedelta(seconds=bot_id_delay)
        self._bots = BotSync(recall, bot_name) if recall is not None else None
        self._events: dict[tuple[str, str], EventRecord] = {}
        self._channels = ChannelBook(self.push)
        self._pages = PageBook()
        # Min-heap of (when, tie-break, event key, bot id): bot ids to reveal on reads.
        self._reveals: list[tuple[datetime, int, tuple[str, str], str]] = []
        self._tie = itertools.count()
        self._lock = asyncio.Lock()
        self._ticker = Ticker(self.tick, interval=tick_interval, name="cronofy-sandbox-reveal")

    # --- background work ------------------------------------------------------------------------

    def ensure_background(self) -> None:
        """Start the reveal ticker and the push worker in the running loop if they are not running.

        Called from the app's startup hook and lazily on every request, because in-process ASGI
        transports (httpx.ASGITransport) never send lifespan events. The Recall sandbox is driven from
        here too, so its bots live even when nothing calls its own HTTP API.
        """
        self._ticker.ensure_running()
        self.push.start()
        if self.recall is not None:
            self.recall.ensure_background()

    async def aclose(self) -> None:
        """Stops what this sandbox started; the Recall sandbox belongs to its creator and stays open."""
        await self._ticker.stop()
        await self.push.aclose()

    async def tick(self) -> None:
        async with self._lock:
            self._reveal(self.clock.now())

    def _reveal(self, now: datetime) -> None:
        while self._reveals and self._reveals[0][0] <= now:
            at, _, key, bot_id = heapq.heappop(self._reveals)
            record = self._events.get(key)
            if record is None or record.bot is None or record.bot.bot_id != bot_id or record.reveal_at != at:
                continue  # replaced or cancelled meanwhile
            record.shown_bot_id, record.reveal_at, record.updated = bot_id, None, at
            self._notify(record, at)

    # --- accounts and OAuth ---------------------------------------------------------------------

    def add_account(
        self, *, calendar_ids: Collection[str] = ("cal_upstream_1",), scope: str = DEFAULT_SCOPE
    ) -> tuple[str, str]:
        """A connected account owning `calendar_ids`; returns its (access_token, refresh_token).

        Synchronous for test set-up: it never awaits, so it cannot interleave with a request.
        """
        _, access_token, refresh_token = self.tokens.add(calendar_ids, scope, self.clock.now())
        return access_token, refresh_token

    def authenticate(self, authorization: str | None) -> Account | None:
        return self.tokens.authenticate(authorization, self.clock.now())

    async def token(self, params: dict[str, str], authorization: str | None) -> TokenOut:
        async with self._lock:
            self.tokens.check_client(params, authorization)
            return self.tokens.refresh(params, self.clock.now())

    async def revoke_token(self, params: dict[str, str], authorization: str | None) -> None:
        async with self._lock:
            self.tokens.check_client(params, authorization)
            token = params.get("token")
            if not token:
                raise OAuthError("invalid_request")
            self.tokens.revoke_token(token)

    # --- events ---------------------------------------------------------------------------------

    def own_calendar(self, account: Account, calendar_id: str) -> None:
        if self.tokens.owner_of(calendar_id) != account.id:
            raise CronofyError(404)

    async def upsert(self, account: Account, calendar_id: str, write: EventWrite) -> str | None:
        """Create or update; answers the id of the Recall bot the upsert touched, for the call log."""
        async with self._lock:
            now = self.clock.now()
            self._reveal(now)
            self.own_calendar(account, calendar_id)
            record = self._events.get((calendar_id, write.event_id))
            stored = replace(write, recall_profile=None)
            # An upsert without the extension leaves the bot alone, as Cronofy documents for
            # `meeting_agent` (reference §1); only `profile_id: "none"` cancels it (seed 000).
            profile = record.recall_profile if record is not None else None
            if write.recall_profile is not None:
                profile = None if write.recall_profile == NO_PROFILE else write.recall_profile
            if record is None:
                event_uid = f"evt_managed_{uuid.uuid4().hex[:20]}"
                record = EventRecord(account.id, calendar_id, event_uid, stored, created=now, updated=now)
                self._events[record.key] = record
            elif record.write == stored and record.recall_profile == profile and not record.deleted:
                return None  # nothing changed: no new `updated`, no notification
            else:
                record.write, record.deleted, record.updated = stored, False, now
            record.recall_profile = profile
            bot_id = await self._sync_bot(record, now)
            self._notify(record, now)
            return bot_id

    async def delete(self, account: Account, calendar_id: str, by: str, value: str) -> str | None:
        """Unknown events are accepted too (reference open question 8: idempotent 202)."""
        async with self._lock:
            now = self.clock.now()
            self._reveal(now)
            self.own_calendar(account, calendar_id)
            if by == "event_id":
                record = self._events.get((calendar_id, value))
            else:
                record = next(
                    (
                        r
                        for r in self._events.values()
                        if r.calendar_id == calendar_id and r.event_uid == value
                    ),
                    None,
                )
            if record is None or record.deleted:
                return None
            # A re-created event starts without the extension, as a new event would.
            record.deleted, record.updated, record.recall_profile = True, now, None
            bot_id = await self._sync_bot(record, now)
            self._notify(record, now)
            return bot_id

    async def _sync_bot(self, record: EventRecord, now: datetime) -> str | None:
        if self._bots is None:
            return None
        meeting_url = record.meeting_url()
        wanted = None
        if record.recall_profile is not None and meeting_url is not None and not record.deleted:
            metadata = {
                "cronofy_calendar_id": record.calendar_id,
                "cronofy_event_id": record.write.event_id,
                "cronofy_event_uid": record.event_uid,
            }
            wanted = WantedBot(
                meeting_url=meeting_url, join_at=record.write.start.instant(), metadata=metadata
            )
        before = record.bot
        record.bot = await self._bots.sync(before, wanted)
        if record.bot is None:
            record.shown_bot_id = record.reveal_at = None
        elif record.bot.bot_id == record.shown_bot_id:
            record.reveal_at = None
        elif before is None or before.bot_id != record.bot.bot_id:  # a new bot: reveal it (later)
            if self.bot_id_delay:
                record.reveal_at = now + self.bot_id_delay
                entry = (record.reveal_at, next(self._tie), record.key, record.bot.bot_id)
                heapq.heappush(self._reveals, entry)
            else:
                record.shown_bot_id = record.bot.bot_id
        touched = record.bot or before
        return touched.bot_id if touched else None

    async def read(self, account: Account, query: EventQuery) -> EventsPage:
        async with self._lock:
            self._reveal(self.clock.now())
            found = sorted(
                (
                    record
                    for record in self._events.values()
                    if record.account_id == account.id
                    and query.selects(
                        calendar_id=record.calendar_id,
                        deleted=record.deleted,
                        updated=record.updated,
                        start=record.write.start.instant(),
                        end=record.write.end.instant(),
                    )
                ),
                key=lambda record: (record.write.start.instant(), record.event_uid),
            )
            # A snapshot: later pages show the events as they were when the read began.
            events = [record.render(localized=query.localized_times) for record in found]
            return self._pages.first(account.id, events, self.page_size)

    async def page(self, account: Account, token: str) -> EventsPage:
        async with self._lock:
            return self._pages.get(account.id, token)

    def calendars(self, account: Account) -> list[CalendarOut]:
        return [
            CalendarOut(
                provider_name="google",
                profile_id=f"pro_{account.id.removeprefix('acc_')}",
                profile_name="sandbox@example.com",
                calendar_id=calendar_id,
                calendar_name=calendar_id,
                calendar_readonly=False,
                calendar_deleted=False,
                calendar_primary=index == 0,
                permission_level="unrestricted",
            )
            for index, calendar_id in enumerate(account.calendar_ids)
        ]

    # --- push notification channels -------------------------------------------------------------

    def _notify(self, record: EventRecord, at: datetime) -> None:
        self._channels.notify(record.account_id, record.calendar_id, at)

    async def create_channel(
        self, account: Account, callback_url: str, filters: ChannelFilters
    ) -> ChannelOut:
        async with self._lock:
            return self._channels.create(account.id, callback_url, filters)

    async def channels(self, account: Account) -> list[ChannelOut]:
        async with self._lock:
            return self._channels.of(account.id)

    async def close_channel(self, account: Account, channel_id: str) -> None:
        async with self._lock:
            self._channels.close(account.id, channel_id)

    # --- admin ------------------------------------------------------------------------------------

    async def new_account(self, calendar_ids: Collection[str], scope: str | None) -> NewAccountOut:
        async with self._lock:
            account, access_token, refresh_token = self.tokens.add(
                calendar_ids, scope or DEFAULT_SCOPE, self.clock.now()
            )
            return _new_account_out(account, access_token, refresh_token)

    async def accounts(self) -> list[AccountOut]:
        async with self._lock:
            now = self.clock.now()
            return [
                AccountOut(
                    account_id=account.id,
                    calendar_ids=list(account.calendar_ids),
                    scope=account.scope,
                    revoked=account.revoked,
                    live_access_tokens=0
                    if account.revoked
                    else self.tokens.live_access_tokens(account.id, now),
                )
                for account in self.tokens.accounts.values()
            ]

    async def revoke_account(self, account_id: str, *, access_tokens: bool) -> None:
        """Raises KeyError for an unknown account."""
        async with self._lock:
            self.tokens.revoke_account(account_id, access_tokens=access_tokens)

    async def reauthorize(self, account_id: str) -> NewAccountOut:
        """Raises KeyError for an unknown account."""
        async with self._lock:
            access_token, refresh_token = self.tokens.reauthorize(account_id, self.clock.now())
            return _new_account_out(self.tokens.accounts[account_id], access_token, refresh_token)

    async def admin_events(self) -> list[AdminEventOut]:
        async with self._lock:
            self._reveal(self.clock.now())
            return [record.to_admin() for record in self._events.values()]

    async def advance_clock(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.tick()  # so what a jump reveals is notified now, not on the next ticker round

    async def reset(self) -> None:
        """Forget events, channels, faults, calls and pushes; accounts (the linked users) stay."""
        async with self._lock:
            self._events.clear()
            self._channels.clear()
            self._pages.clear()
            self._reveals.clear()
            self.faults.clear()
            self.calls.clear()
            self.push.deliveries.clear()
            self.push.suppress_remaining = 0


def _new_account_out(account: Account, access_token: str, refresh_token: str) -> NewAccountOut:
    """What the admin API answers for an account just linked: the tokens an app would hold."""
    return NewAccountOut(
        account_id=account.id,
        calendar_ids=list(account.calendar_ids),
        access_token=access_token,
        refresh_token=refresh_token,
    )
