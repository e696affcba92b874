"""Add Bot / Remove Bot for calendar events (reference §4.4, scheduling guide §3-4).

Bots are real sandbox bots made through the bot API's own state (`RecallSandbox`), so they run their
lifecycle, send status webhooks and show in `/_sandbox/bots`. Choices on points the guide leaves open:

- One key, one bot: every event POSTed with the same key shares the key's bot while that bot is still a
  future, scheduled one ("deduplication keys only apply to future-scheduled bots"); once it has been
  sent to its call, the same key schedules a fresh bot and the old one stays listed as history.
- Re-POST with the same key after the event moved (the two guide versions say "call schedule again" and
  "remove then re-add"): we do the latter in one call, a new bot at the event's new start and the old
  one deleted, so `bots[].bot_id` changes; clients must read it back, as they would from real Recall.
  Re-POST with an unchanged start applies the new `bot_config` in full to the same bot.
- A new key on an event replaces the event's other future bots; bots already sent stay (perpetual events).
- Remove Bot deletes a bot only when no event references it any more; a bot already in its call cannot
  be unscheduled, so its entry stays.
- 409: two requests touching the same key at once; the loser gets 409 (open question 2 of the
  reference). Each request holds its keys for `hold_seconds` at least, so tests can provoke it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import msgspec

from meetbridge.sandbox.recall.calendar_v2.records import BotSlot, EventRecord
from meetbridge.sandbox.recall.core import (
    CONFIG_FIELDS,
    BotChanges,
    RecallSandbox,
    SandboxError,
    parse_bot_body,
)

CONFLICT = {"detail": "Conflict, please retry with exponential backoff."}


def bot_changes(event: EventRecord, config: dict[str, Any]) -> tuple[str, BotChanges]:
    """The Create Bot body an Add Bot call stands for: `bot_config` plus the event's link and start.

    `meeting_url` in bot_config overrides the event's (reference §4.4); `join_at` always follows the
    event, which is what makes the bot "follow" it on re-POST.
    """
    meeting_url = config.get("meeting_url") or event.meeting_url
    if not meeting_url:
        raise SandboxError(400, {"bot_config": {"meeting_url": ["This field is required."]}})
    body = msgspec.json.encode({**config, "meeting_url": meeting_url, "join_at": event.start_time})
    try:
        changes = parse_bot_body(body, creating=True)
    except SandboxError as exc:
        raise SandboxError(400, {"bot_config": exc.body}) from None
    return str(meeting_url), changes


class BotScheduler:
    """Slots per deduplication key. Callers hold the calendar state's lock around every coroutine here."""

    def __init__(self, recall: RecallSandbox, *, hold_seconds: float = 0.0) -> None:
        self.recall = recall
        self.hold_seconds = hold_seconds
        self._slots: dict[int, BotSlot] = {}
        self._live: dict[str, int] = {}  # key -> slot whose bot is still a future one
        self._busy: set[str] = set()
        self._ids = itertools.count(1)

    @contextlib.asynccontextmanager
    async def claim(self, keys: set[str]) -> AsyncIterator[None]:
        """Hold `keys` for the request (409 if another request holds one), and `hold_seconds` more."""
        if keys & self._busy:
            raise SandboxError(409, dict(CONFLICT))
        self._busy |= keys
        try:
            yield
            if self.hold_seconds > 0:
                await asyncio.sleep(self.hold_seconds)
        finally:
            self._busy -= keys

    def live_keys(self, event: EventRecord) -> set[str]:
        keys = {self._slots[sid].key for sid in event.slots}
        return {key for key in keys if key in self._live}

    def entries(self, event: EventRecord) -> list[BotSlot]:
        return [self._slots[sid] for sid in event.slots]

    def clear(self) -> None:
        self._slots.clear()
        self._live.clear()

    async def _pending(self, slot: BotSlot) -> bool:
        return self._live.get(slot.key) == slot.id and await self.recall.is_pending(slot.bot_id)

    async def _current(self, key: str) -> BotSlot | None:
        sid = self._live.get(key)
        if sid is None:
            return None
        slot = self._slots[sid]
        if await self.recall.is_pending(slot.bot_id):
            return slot
        del self._live[key]  # sent to its call (or gone): history now, no longer deduplicated onto
        return None

    async def _delete_bot(self, bot_id: str) -> None:
        # 404: already gone; 405: dispatched meanwhile. Either way nothing is left to unschedule.
        with contextlib.suppress(SandboxError):
            await self.recall.delete_bot(bot_id)

    async def schedule(self, event: EventRecord, key: str, config: dict[str, Any]) -> None:
        meeting_url, changes = bot_changes(event, config)
        slot = await self._current(key)
        if slot is None:
            bot = await self.recall.create_bot(changes)
            slot = BotSlot(next(self._ids), key, bot.id, event.start_time, meeting_url)
            self._slots[slot.id] = slot
            self._live[key] = slot.id
        elif (slot.start_time, slot.meeting_url) != (event.start_time, meeting_url):
            bot = await self.recall.create_bot(changes)  # create first: a failure loses nothing
            await self._delete_bot(slot.bot_id)
            slot.bot_id, slot.start_time, slot.meeting_url = bot.id, event.start_time, meeting_url
        else:
            # No partial updates: fields absent from this bot_config are reset, not kept.
            full = {name: changes.config.get(name) for name in CONFIG_FIELDS}
            await self.recall.update_bot(
                slot.bot_id, dataclasses.replace(changes, join_at_given=False, config=full)
            )
        slot.events.add(event.id)
        if slot.id not in event.slots:
            event.slots.append(slot.id)
        for other in self.entries(event):
            if other.id != slot.id:
                await self.detach(event, other)

    async def detach(self, event: EventRecord, slot: BotSlot) -> None:
        """Drop the event's reference to a future bot; the last reference going deletes the bot."""
        if not await self._pending(slot):
            return
        event.slots.remove(slot.id)
        slot.events.discard(event.id)
        if not slot.events:
            del self._slots[slot.id]
            del self._live[slot.key]
            await self._delete_bot(slot.bot_id)

    async def move(self, bot_id: str, start_time: datetime) -> None:
        """Someone at Recall moves a scheduled bot (its id kept): every event holding it shows it at
        ``start_time``. 404 for a bot no event holds, Recall's own refusal (dispatched) as it is."""
        slots = [slot for slot in self._slots.values() if slot.bot_id == bot_id]
        if not slots:
            raise SandboxError(404, {"detail": "Not found."})
        body = msgspec.json.encode({"join_at": start_time.isoformat()})
        await self.recall.update_bot(bot_id, parse_bot_body(body, creating=False))
        for slot in slots:
            slot.start_time = start_time

    async def unschedule(self, event: EventRecord) -> None:
        for slot in self.entries(event):
            await self.detach(event, slot)
