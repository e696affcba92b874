"""Read Events pages (reference §3): a read is a snapshot cut into pages; the later pages are reached
through opaque tokens, each good only for the account that read it."""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass

from meetbridge.sandbox.cronofy.models import EventOut
from meetbridge.sandbox.cronofy.validation import CronofyError

# Tokens kept, newest first; an older one answers 404, as an expired one would.
MAX_PAGE_TOKENS = 10_000


@dataclass
class EventsPage:
    account_id: str
    current: int
    total: int
    events: list[EventOut]
    next_token: str | None


class PageBook:
    def __init__(self) -> None:
        self._pages: OrderedDict[str, EventsPage] = OrderedDict()

    def first(self, account_id: str, events: list[EventOut], size: int) -> EventsPage:
        """The first page of `events`; the others are kept, as they are now, for their tokens."""
        chunks = [events[i : i + size] for i in range(0, len(events), size)] or [[]]
        tokens = [secrets.token_hex(8) for _ in chunks]
        pages = [
            EventsPage(account_id, n + 1, len(chunks), chunk, tokens[n + 1] if n + 1 < len(chunks) else None)
            for n, chunk in enumerate(chunks)
        ]
        for token, page in zip(tokens[1:], pages[1:], strict=True):
            self._pages[token] = page
        while len(self._pages) > MAX_PAGE_TOKENS:
            self._pages.popitem(last=False)
        return pages[0]

    def get(self, account_id: str, token: str) -> EventsPage:
        page = self._pages.get(token)
        if page is None or page.account_id != account_id:
            raise CronofyError(404)
        return page

    def clear(self) -> None:
        self._pages.clear()
