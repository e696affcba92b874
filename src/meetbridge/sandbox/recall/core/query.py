"""List Bots query parameters (reference §2.5): filters and page-number pagination."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from meetbridge.sandbox.recall.core.bots import BotRecord
from meetbridge.sandbox.recall.core.meeting_url import parse_meeting_url
from meetbridge.sandbox.recall.core.models import MeetingUrl
from meetbridge.sandbox.recall.core.validation import SandboxError, parse_datetime

PAGE_SIZE = 50
_METADATA_PREFIX = "metadata__"


def _split(values: Iterable[str]) -> set[str]:
    """Array params arrive repeated (`status=a&status=b`) or comma-joined; accept both."""
    return {item.strip() for value in values for item in value.split(",") if item.strip()}


@dataclass
class BotQuery:
    page: int = 1
    metadata: dict[str, str] = field(default_factory=dict)
    join_at_after: datetime | None = None
    join_at_before: datetime | None = None
    statuses: set[str] = field(default_factory=set)
    platforms: set[str] = field(default_factory=set)
    meeting_url: MeetingUrl | str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, list[str]]) -> BotQuery:
        query = cls()
        raw_page = (params.get("page") or ["1"])[-1]
        if not raw_page.isdigit() or int(raw_page) < 1:
            raise SandboxError(404, {"detail": "Invalid page."})
        query.page = int(raw_page)
        for name, values in params.items():
            if name.startswith(_METADATA_PREFIX) and values:
                query.metadata[name.removeprefix(_METADATA_PREFIX)] = values[-1]
        for name in ("join_at_after", "join_at_before"):
            bound = params.get(name)
            if bound:
                setattr(query, name, parse_datetime(bound[-1], name))
        query.statuses = _split(params.get("status", []))
        query.platforms = _split(params.get("platform", []))
        urls = params.get("meeting_url")
        if urls:
            # Compare parsed forms so scheme, `www.` or parameter-order differences do not hide a bot.
            query.meeting_url = parse_meeting_url(urls[-1]) or urls[-1]
        return query

    def matches(self, bot: BotRecord) -> bool:
        # Ad-hoc bots without join_at are filtered by their creation time (our reading; undocumented).
        when = bot.join_at or bot.created_at
        if isinstance(self.meeting_url, str):
            same_meeting = bot.meeting_url_raw == self.meeting_url
        else:
            same_meeting = self.meeting_url is None or bot.meeting_url == self.meeting_url
        return (
            same_meeting
            and all(bot.metadata.get(key) == value for key, value in self.metadata.items())
            and (self.join_at_after is None or when >= self.join_at_after)
            and (self.join_at_before is None or when <= self.join_at_before)
            and (not self.statuses or bot.code in self.statuses)
            and (not self.platforms or bot.meeting_url.__struct_config__.tag in self.platforms)
        )
