"""The Recall bot API (`/api/v1/bot/...`) and its test API under `/_sandbox/` (bots, webhooks)."""

from meetbridge.sandbox.recall.bot.admin import BOT_ADMIN_HANDLERS
from meetbridge.sandbox.recall.bot.routes import BOT_API_HANDLERS

__all__ = ["BOT_ADMIN_HANDLERS", "BOT_API_HANDLERS"]
