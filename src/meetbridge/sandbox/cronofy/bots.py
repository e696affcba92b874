"""Keeping one Recall bot in step with one event, as Cronofy's Recall integration does (seed 000).

Bots are made through the Recall sandbox's own public path (a Create Bot body through
`parse_bot_body`, then `create_bot` / `update_bot` / `delete_bot` / `leave_call`), so every Recall rule
(10-minute scheduling window, dispatch, 405 after dispatch) applies exactly as it does over HTTP.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import msgspec

from meetbridge.sandbox.cronofy.events import BotLink
from meetbridge.sandbox.cronofy.models import utc_text
from meetbridge.sandbox.recall.core import RecallSandbox, SandboxError, parse_bot_body

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WantedBot:
    meeting_url: str
    join_at: datetime
    metadata: dict[str, str]


class BotSync:
    def __init__(self, recall: RecallSandbox, bot_name: str) -> None:
        self.recall = recall
        self.bot_name = bot_name

    async def sync(self, current: BotLink | None, wanted: WantedBot | None) -> BotLink | None:
        """The bot the event has afterwards. Never raises for Recall's refusals: like Cronofy, the
        integration works behind the 202, so a bot that cannot be made is simply absent."""
        if wanted is None:
            if current is not None:
                await self.cancel(current.bot_id)
            return None
        if current is None:
            return await self._create(wanted)
        if (current.meeting_url, current.join_at) == (wanted.meeting_url, wanted.join_at):
            return current
        body = {"meeting_url": wanted.meeting_url, "join_at": utc_text(wanted.join_at)}
        try:
            await self.recall.update_bot(
                current.bot_id, parse_bot_body(msgspec.json.encode(body), creating=False)
            )
        except SandboxError as exc:
            # Dispatched already, or a scheduled slot moved inside 10 minutes: replace the bot.
            logger.info("recall sandbox refused moving bot %s (%s); replacing it", current.bot_id, exc.body)
            await self.cancel(current.bot_id)
            return await self._create(wanted)
        return BotLink(bot_id=current.bot_id, meeting_url=wanted.meeting_url, join_at=wanted.join_at)

    async def cancel(self, bot_id: str) -> None:
        """Delete a scheduled bot; one already dispatched (405) is told to leave instead."""
        try:
            await self.recall.delete_bot(bot_id)
        except SandboxError as exc:
            if exc.status != 405:
                return  # gone already (404): nothing to cancel
            try:
                await self.recall.leave_call(bot_id)
            except SandboxError:
                logger.info("recall sandbox bot %s could not be told to leave", bot_id)

    async def _create(self, wanted: WantedBot) -> BotLink | None:
        body = {
            "meeting_url": wanted.meeting_url,
            "join_at": utc_text(wanted.join_at),
            "bot_name": self.bot_name,
            "metadata": wanted.metadata,
        }
        try:
            bot = await self.recall.create_bot(parse_bot_body(msgspec.json.encode(body), creating=True))
        except SandboxError as exc:
            logger.warning("recall sandbox refused a bot for %s: %s", wanted.metadata, exc.body)
            return None
        return BotLink(bot_id=bot.id, meeting_url=wanted.meeting_url, join_at=wanted.join_at)
