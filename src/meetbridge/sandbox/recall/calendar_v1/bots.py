"""Keeping each V1 meeting's bot in step with whether it will be recorded (reference §3.5, V1 FAQ).

Bots are real sandbox bots made through the bot API's own state (`RecallSandbox`), so they run their
lifecycle, send status webhooks and show in `/_sandbox/bots`. Choices where the docs are silent:

- One bot per meeting record, `join_at` = the meeting's start (the docs say bots join two minutes
  early; the stand-in keeps the calendar time so tests can compare the two), named after the user's
  `bot_name` preference, no metadata (Recall's preset bots carry none of ours).
- A bot is made when the meeting comes to qualify, after `delay` seconds of the sandbox clock if a delay
  is configured; its `bot_id` appears on the meeting then, which is what clients poll for.
- No longer wanted: a bot still waiting in the scheduled pool is deleted; one already sent to the call
  is told to leave (the user asked not to record). Either way `bot_id` is cleared.
- Moved or re-linked: a waiting bot gets the new `join_at` / name through Update Scheduled Bot; where
  that is refused (too close to the call) or the link changed, a new bot replaces it (made first, so a
  failure loses nothing). A bot already sent to the call is replaced only when start or link changed.
- Ended meetings are left alone: no new bot, and the one that recorded them stays as `bot_id`.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta

import msgspec

from meetbridge.sandbox.recall.calendar_v1.records import BotSlot, MeetingRecord
from meetbridge.sandbox.recall.core import RecallSandbox, SandboxError, parse_bot_body

logger = logging.getLogger(__name__)


class BotKeeper:
    """Callers hold the Calendar V1 state's lock around every coroutine here; the bot sandbox's lock is
    taken inside it and never the other way round, so the two cannot deadlock."""

    def __init__(self, recall: RecallSandbox, *, delay_seconds: float = 0.0) -> None:
        self.recall = recall
        self.delay_seconds = delay_seconds

    async def keep(self, meeting: MeetingRecord, wanted: bool, bot_name: str, now: datetime) -> None:
        """Make, move or drop the meeting's bot so it matches `wanted`."""
        if meeting.has_ended(now):
            meeting.assign_due = None
            return
        if not wanted:
            meeting.assign_due = None
            await self.drop(meeting)
            return
        url = meeting.meeting_url
        if url is None:  # `wanted` implies a link; kept for the type checker
            return
        if meeting.bot is None:
            if meeting.assign_due is None:
                meeting.assign_due = now + timedelta(seconds=self.delay_seconds)
            if meeting.assign_due <= now:
                meeting.bot = await self._create(url, meeting.start_time, bot_name)
                meeting.assign_due = None
            return
        slot = meeting.bot
        if (slot.meeting_url, slot.join_at, slot.bot_name) != (url, meeting.start_time, bot_name):
            await self._move(meeting, slot, url, bot_name)

    async def drop(self, meeting: MeetingRecord) -> None:
        slot, meeting.bot = meeting.bot, None
        if slot is None:
            return
        # 404: already gone (e.g. `/_sandbox/reset`); 405 cannot happen for a pending bot. Nothing to undo.
        with contextlib.suppress(SandboxError):
            if await self.recall.is_pending(slot.bot_id):
                await self.recall.delete_bot(slot.bot_id)
            else:
                await self.recall.leave_call(slot.bot_id)

    async def _move(self, meeting: MeetingRecord, slot: BotSlot, url: str, bot_name: str) -> None:
        relinked = slot.meeting_url != url
        if await self.recall.is_pending(slot.bot_id):
            if not relinked:
                body: dict[str, object] = {"bot_name": bot_name}
                if slot.join_at != meeting.start_time:  # an unchanged join_at must not trip the window
                    body["join_at"] = meeting.start_time
                try:
                    await self.recall.update_bot(
                        slot.bot_id, parse_bot_body(msgspec.json.encode(body), creating=False)
                    )
                except SandboxError:
                    pass  # "Not enough time to launch new bot": replace it below
                else:
                    slot.join_at, slot.bot_name = meeting.start_time, bot_name
                    return
        elif not relinked and slot.join_at == meeting.start_time:
            slot.bot_name = bot_name  # already in its call: a new name waits for the next meeting
            return
        replacement = await self._create(url, meeting.start_time, bot_name)
        if replacement is not None:
            await self.drop(meeting)
            meeting.bot = replacement

    async def _create(self, url: str, join_at: datetime, bot_name: str) -> BotSlot | None:
        body = {"meeting_url": url, "join_at": join_at, "bot_name": bot_name}
        try:
            bot = await self.recall.create_bot(parse_bot_body(msgspec.json.encode(body), creating=True))
        except SandboxError as exc:  # links are checked when seeded, so this is a sandbox bug
            logger.warning("Calendar V1 could not create a bot for %s: %s", url, exc.body)
            return None
        return BotSlot(bot.id, url, join_at, bot_name)
