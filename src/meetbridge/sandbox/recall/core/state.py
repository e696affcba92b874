"""RecallSandbox: every bot, fault, call and webhook subscription, behind one asyncio lock."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import uuid
from collections.abc import Collection
from datetime import datetime, timedelta

import httpx

from meetbridge.sandbox._shared import CallLog, FaultBook, SandboxClock, Ticker
from meetbridge.sandbox.recall.core.bots import TERMINAL_CODES, BotRecord, is_far
from meetbridge.sandbox.recall.core.models import (
    AdminBotOut,
    BotOut,
    ForceStatusIn,
    HeaderFamily,
    WebhookBotRef,
    WebhookData,
    WebhookEvent,
    WebhookStatus,
)
from meetbridge.sandbox.recall.core.query import PAGE_SIZE, BotQuery
from meetbridge.sandbox.recall.core.throttle import Throttle
from meetbridge.sandbox.recall.core.validation import BotChanges, SandboxError
from meetbridge.sandbox.recall.core.webhooks import WebhookDispatcher

logger = logging.getLogger(__name__)

# Fault-injection names: the catalogue's rate-limit endpoint names (DESIGN §2), Calendar V1 and V2 included.
ENDPOINTS = frozenset(
    {
        "create_bot",
        "list_bots",
        "bot",
        "calendar_v1_auth",
        "calendar_v1_user",
        "calendar_v1_meetings",
        "calendars",
        "calendar_events_list",
        "calendar_event",
        "calendar_event_bot",
    }
)
BOT_STATUS_CODES = frozenset(
    {
        "ready",
        "joining_call",
        "in_waiting_room",
        "in_call_not_recording",
        "recording_permission_allowed",
        "recording_permission_denied",
        "in_call_recording",
        "recording_done",
        "call_ended",
        "done",
        "fatal",
        "media_expired",
        "analysis_done",
        "analysis_failed",
    }
)


class RecallSandbox:
    def __init__(
        self,
        *,
        api_keys: Collection[str],
        clock: SandboxClock | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        lifecycle_speed: float = 1.0,
        webhook_header_family: HeaderFamily = "webhook",
        webhook_client: httpx.AsyncClient | None = None,
        lifecycle_step_seconds: float = 5.0,
        tick_interval: float = 0.2,
    ) -> None:
        if lifecycle_speed <= 0 or lifecycle_step_seconds <= 0 or tick_interval <= 0:
            raise ValueError("lifecycle_speed, lifecycle_step_seconds and tick_interval must be positive")
        self.api_keys = frozenset(api_keys)
        self.clock = clock or SandboxClock()
        self.step = timedelta(seconds=lifecycle_step_seconds / lifecycle_speed)
        self.faults = FaultBook(ENDPOINTS)
        self.calls = CallLog()
        self.throttle = Throttle(ENDPOINTS)
        self.webhooks = WebhookDispatcher(client=webhook_client)
        if webhook_url is not None:
            self.webhooks.configure(webhook_url, webhook_secret, webhook_header_family)
        self._bots: dict[str, BotRecord] = {}
        # Min-heap of (due, tie-break, bot id, bot version): lifecycles advance without scanning all bots.
        self._timers: list[tuple[datetime, int, str, int]] = []
        self._tie = itertools.count()
        self._lock = asyncio.Lock()
        self._ticker = Ticker(self.tick, interval=tick_interval, name="recall-sandbox-lifecycle")

    # --- background work ------------------------------------------------------------------------

    def ensure_background(self) -> None:
        """Start the lifecycle ticker and webhook worker in the running loop if they are not running.

        Called from the app's startup hook and lazily on every request, because in-process ASGI
        transports (httpx.ASGITransport) never send lifespan events.
        """
        self._ticker.ensure_running()
        self.webhooks.start()

    async def aclose(self) -> None:
        await self._ticker.stop()
        await self.webhooks.aclose()

    async def tick(self) -> None:
        async with self._lock:
            self._advance(self.clock.now())

    # --- lifecycle --------------------------------------------------------------------------------

    def _schedule(self, bot: BotRecord) -> None:
        following = bot.next_transition(self.step)
        if following is not None:
            heapq.heappush(self._timers, (following[0], next(self._tie), bot.id, bot.version))

    def _advance(self, now: datetime) -> None:
        while self._timers and self._timers[0][0] <= now:
            _, _, bot_id, version = heapq.heappop(self._timers)
            bot = self._bots.get(bot_id)
            if bot is None or bot.version != version:
                continue
            following = bot.next_transition(self.step)
            if following is not None:
                self._set_status(bot, following[1], following[2], following[0])

    def _set_status(
        self, bot: BotRecord, code: str, sub_code: str | None, at: datetime, message: str | None = None
    ) -> None:
        bot.add_status(code, sub_code, at, message)
        self._schedule(bot)
        if code != "ready":  # `ready` is internal; Recall sends no event for it (reference §5.1)
            status = WebhookStatus(code=code, sub_code=sub_code, updated_at=at)
            ref = WebhookBotRef(id=bot.id, metadata=dict(bot.metadata))
            self.webhooks.enqueue(WebhookEvent(event=f"bot.{code}", data=WebhookData(bot=ref, data=status)))

    def _live(self, bot_id: str) -> BotRecord:
        bot = self._bots.get(bot_id)
        if bot is None or bot.deleted:
            raise SandboxError(404, {"detail": "Not found."})
        return bot

    # --- bot API ----------------------------------------------------------------------------------

    def is_authorized(self, header: str | None) -> bool:
        """`Token <key>`, or the bare key, which current docs also accept (reference §1.1)."""
        if not header:
            return False
        scheme, _, rest = header.strip().partition(" ")
        key = rest.strip() if scheme.lower() == "token" and rest.strip() else header.strip()
        return key in self.api_keys

    def is_scheduled(self, changes: BotChanges) -> bool:
        return is_far(changes.join_at, self.clock.now())

    async def create_bot(self, changes: BotChanges) -> BotOut:
        async with self._lock:
            now = self.clock.now()
            self._advance(now)
            if changes.meeting_url is None or changes.meeting_url_raw is None or changes.bot_name is None:
                raise SandboxError(400, {"meeting_url": ["This field is required."]})
            bot = BotRecord(
                id=str(uuid.uuid4()),
                created_at=now,
                meeting_url_raw=changes.meeting_url_raw,
                meeting_url=changes.meeting_url,
                bot_name=changes.bot_name,
                join_at=changes.join_at,
                scheduled=is_far(changes.join_at, now),
                metadata=changes.metadata or {},
                config=dict(changes.config),
            )
            self._bots[bot.id] = bot
            self._set_status(bot, "ready", None, now)
            return bot.to_wire()

    async def list_bots(self, query: BotQuery) -> tuple[int, list[BotOut]]:
        async with self._lock:
            self._advance(self.clock.now())
            # Oldest first: Recall's order is undocumented, and a stable one keeps pages consistent.
            found = [bot for bot in self._bots.values() if not bot.deleted and query.matches(bot)]
            if query.page > max(1, math.ceil(len(found) / PAGE_SIZE)):
                raise SandboxError(404, {"detail": "Invalid page."})
            start = (query.page - 1) * PAGE_SIZE
            return len(found), [bot.to_wire() for bot in found[start : start + PAGE_SIZE]]

    async def get_bot(self, bot_id: str) -> BotOut:
        async with self._lock:
            self._advance(self.clock.now())
            return self._live(bot_id).to_wire()

    async def update_bot(self, bot_id: str, changes: BotChanges) -> BotOut:
        async with self._lock:
            now = self.clock.now()
            self._advance(now)
            bot = self._live(bot_id)
            if bot.is_dispatched(now):
                raise SandboxError(
                    400, {"code": "update_bot_failed", "detail": "Only non-dispatched bots can be updated"}
                )
            if changes.join_at_given:
                # A scheduled slot can only be moved to another scheduled slot (reference §2.6).
                if is_far(bot.join_at, now) and not is_far(changes.join_at or now, now):
                    raise SandboxError(
                        400, {"code": "update_bot_failed", "detail": "Not enough time to launch new bot"}
                    )
                bot.join_at = changes.join_at
                bot.version += 1
                self._schedule(bot)
            if changes.meeting_url is not None and changes.meeting_url_raw is not None:
                bot.meeting_url_raw, bot.meeting_url = changes.meeting_url_raw, changes.meeting_url
            bot.bot_name = changes.bot_name or bot.bot_name
            bot.metadata = changes.metadata if changes.metadata is not None else bot.metadata
            bot.config.update(changes.config)
            return bot.to_wire()

    async def delete_bot(self, bot_id: str) -> None:
        async with self._lock:
            now = self.clock.now()
            self._advance(now)
            bot = self._live(bot_id)
            if not bot.scheduled or bot.is_dispatched(now):
                raise SandboxError(405, {"detail": "The bot has already been dispatched"})
            bot.deleted = True
            bot.version += 1

    async def is_pending(self, bot_id: str) -> bool:
        """Whether a bot still waits in the scheduled pool: Calendar V2 deduplicates only such bots."""
        async with self._lock:
            now = self.clock.now()
            self._advance(now)
            bot = self._bots.get(bot_id)
            return bot is not None and not bot.deleted and not bot.is_dispatched(now)

    async def leave_call(self, bot_id: str) -> BotOut:
        async with self._lock:
            now = self.clock.now()
            self._advance(now)
            bot = self._live(bot_id)
            # Leaving twice is harmless: a bot that already left or ended reads back unchanged.
            if bot.code not in TERMINAL_CODES and bot.code != "call_ended":
                bot.hold = False
                self._set_status(bot, "call_ended", "bot_received_leave_call", now)
            return bot.to_wire()

    # --- admin ------------------------------------------------------------------------------------

    async def admin_bots(self, query: BotQuery) -> list[AdminBotOut]:
        async with self._lock:
            now = self.clock.now()
            self._advance(now)
            return [bot.to_admin(now) for bot in self._bots.values() if query.matches(bot)]

    async def force_status(self, bot_id: str, spec: ForceStatusIn) -> AdminBotOut:
        if spec.code not in BOT_STATUS_CODES:
            raise SandboxError(400, {"code": [f"Unknown bot status {spec.code!r}."]})
        async with self._lock:
            now = self.clock.now()
            self._advance(now)
            bot = self._live(bot_id)
            bot.hold = spec.hold
            sub_code = spec.sub_code or ("bot_errored" if spec.code == "fatal" else None)
            self._set_status(bot, spec.code, sub_code, now, spec.message)
            return bot.to_admin(now)

    async def advance_clock(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.tick()  # so the webhooks of a jump fire now, not on the next ticker round

    async def reset(self) -> None:
        async with self._lock:
            self._bots.clear()
            self._timers.clear()
            self.faults.clear()
            self.calls.clear()
            self.throttle.clear_history()
