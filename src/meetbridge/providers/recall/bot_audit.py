"""recall-bot's audit port: List Bots, paged and paced, read by meetbridge's metadata tags.

Every bot meetbridge makes carries ``meetbridge_profile`` (and ``meetbridge_event``) in its metadata.
One listing of every bot joining within the audited range finds this profile's bots by their tags
and the foreign ones (no tag) on its meetings; other profiles' bots on the same account are skipped.
A second listing, filtered on the profile's tag, finds its bots joining beyond the range (none wanted
that far: orphans), usually one page. So an audit in step costs the range's pages plus one.
List Bots is paced by ``ProviderHttp`` under its documented limit (60 a minute), shared with the
creates' crash recovery.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from meetbridge.domain.audit import AuditedBot, Meeting
from meetbridge.errors import ProviderNotFound, ProviderUnavailable
from meetbridge.providers.audit import AuditScope, BotListing
from meetbridge.providers.http import ProviderHttp, iso_utc, path_segment

BOTS = "/api/v1/bot/"
EVENT_KEY = "meetbridge_event"
PROFILE_KEY = "meetbridge_profile"
# Platforms whose read-back meeting id is the one meetbridge parses from the link; for the others a
# bot's meeting is not compared (its join time still is).
_COMPARABLE_PLATFORMS = frozenset({"zoom", "google_meet"})


class ListedBot(msgspec.Struct, kw_only=True):
    id: str
    join_at: datetime | None = None
    metadata: dict[str, Any] | None = None
    meeting_url: dict[str, Any] | str | None = None  # read back parsed (reference §2.4)


class ListedPage(msgspec.Struct, kw_only=True):
    results: list[ListedBot]
    next: str | None = None


def audited(bot: ListedBot) -> AuditedBot:
    metadata = bot.metadata or {}
    meeting = None
    if isinstance(bot.meeting_url, dict):
        platform, meeting_id = bot.meeting_url.get("platform"), bot.meeting_url.get("meeting_id")
        if platform in _COMPARABLE_PLATFORMS and isinstance(meeting_id, str) and meeting_id:
            meeting = Meeting(str(platform), meeting_id.lower() if platform == "google_meet" else meeting_id)
    event_uid, profile_id = metadata.get(EVENT_KEY), metadata.get(PROFILE_KEY)
    return AuditedBot(
        bot_id=bot.id,
        join_at=bot.join_at,
        meeting=meeting,
        event_uid=str(event_uid) if event_uid else None,
        profile_id=str(profile_id) if profile_id else None,
    )


class RecallBotAudit:
    """The BotAuditor port of recall-bot (declare ``audits_bots``)."""

    http: ProviderHttp
    profile_id: str

    async def _pages(self, params: dict[str, str]) -> tuple[list[ListedBot], int]:
        response = await self.http.request("list_bots", "GET", BOTS, params=params)
        calls, seen, found = 1, set[str](), []
        while True:
            page = self.http.decode(response, ListedPage)
            found += page.results
            if page.next is None:
                return found, calls
            link = self.http.followable(page.next, carrying="our API key")
            if link in seen:  # a page link that points back would page forever
                raise ProviderUnavailable(f"{self.http.name} sent a page link that loops")
            seen.add(link)
            response = await self.http.request("list_bots", "GET", link)
            calls += 1

    async def audit_bots(self, scope: AuditScope) -> BotListing:
        every, range_calls = await self._pages(
            {"join_at_after": iso_utc(scope.after), "join_at_before": iso_utc(scope.until)}
        )
        beyond, beyond_calls = await self._pages(
            {f"metadata__{PROFILE_KEY}": self.profile_id, "join_at_after": iso_utc(scope.until)}
        )
        unique = {bot.id: bot for bot in [*every, *beyond]}
        return BotListing(bots=[audited(bot) for bot in unique.values()], calls=range_calls + beyond_calls)

    async def find_bot(self, bot_id: str) -> AuditedBot | None:
        try:
            response = await self.http.request("bot", "GET", f"{BOTS}{path_segment(bot_id)}/")
        except ProviderNotFound:
            return None
        return audited(self.http.decode(response, ListedBot))
