"""Recall.ai: three adapters (``recall-bot``: the bot API; ``recall-calendar-v2``: explicit scheduling
on linked calendars with deduplication keys; ``recall-calendar-v1``: the calendar user's own recording
preferences) and what they share: options, link requests, signed webhooks, calendar event reading.
The registry imports each adapter by the catalogue's dotted path; nothing here imports them all."""

from meetbridge.providers.recall.options import EXTENSION_PROVIDER

__all__ = ["EXTENSION_PROVIDER"]
