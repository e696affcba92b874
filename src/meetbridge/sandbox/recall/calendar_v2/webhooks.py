"""Calendar V2 webhooks (reference §4.5) through the bot webhooks' dispatcher: same endpoint, secret,
header family, signing, ordering and retries, one delivery log (where ``bot_id`` names the calendar).
"""

from __future__ import annotations

import msgspec

from meetbridge.sandbox.recall.calendar_v2.models import CalendarWebhook
from meetbridge.sandbox.recall.core import WebhookDispatcher


def send_calendar_webhook(dispatcher: WebhookDispatcher, webhook: CalendarWebhook) -> None:
    dispatcher.send(webhook.event, webhook.data.calendar_id, msgspec.json.encode(webhook))
