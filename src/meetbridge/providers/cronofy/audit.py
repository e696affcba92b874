"""cronofy's audit port: the read-back of the events meetbridge forwarded to each link's calendar.

Cronofy's Recall integration makes the bots, and a cronofy profile holds no Recall key: all meetbridge
sees is what Cronofy shows on each forwarded copy (``metadata.recall.bot_id``, its start, its meeting
link), and all it can do is write the copy again. The engine hands the profile's links over as
``AuditedLink``s, each with the events the profile forwarded there, and the classes read:

- missing: a copy meetbridge recorded a bot for shows none (the copy deleted upstream, its extension
  dropped) → the extension forgets the bot and the event's job forwards the event again, extension
  and all (engine path); the new bot's id comes back through the link's read-back.
- orphan: a copy whose meetbridge event wants no bot (set to ``none``, deleted, switched away) shows
  one → ``cancel_bot`` writes the copy again with the extension ``none``, so Cronofy's integration
  cancels the bot (and makes it leave when dispatched). The calendar entry stays: the audit repairs
  bots, and a copy someone made again upstream may be the user's.
- stale: a copy that starts (Cronofy's bot joins at the start) or meets elsewhere than meetbridge
  forwarded → recorded on the extension, and the job forwards the event again (adapter.py).
- foreign: a managed copy on a linked calendar that meetbridge did not forward (the app writing to
  Cronofy directly), with a bot, on a meeting meetbridge manages → reported only.

Not expressible: a bot deleted at Recall behind Cronofy's back while Cronofy still shows its id
(meetbridge cannot ask Recall about Cronofy's bots), and bots on calendars no link names. A copy
showing another bot than the one recorded is the event's bot all the same (Cronofy replaced it; the
read-back has not come in yet): it is listed under the recorded id, and the next read-back records
the new one. A copy with a bot whose event wants one but has no id recorded is waiting for that
read-back: not listed. A link whose credentials cannot be opened is taken as in step (its recorded
bots listed as they are) rather than every bot on it reported missing.

Cost: one Read Events listing per link (managed copies ending from the safety window's day on),
paged, paced under the application's ``api`` limit with every other Cronofy call of the process.
``find_bot`` answers from that listing (Cronofy has no read of one bot): no call.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from meetbridge.config.profiles import Profile
from meetbridge.domain.audit import AuditedBot, meeting_of
from meetbridge.domain.extensions import NO_PROFILE
from meetbridge.errors import ProviderNotFound
from meetbridge.providers.audit import AuditedLink, AuditScope, BotListing
from meetbridge.providers.base import ForwardTarget
from meetbridge.providers.cronofy.api import CronofyApi
from meetbridge.providers.cronofy.forward import RECALL
from meetbridge.providers.cronofy.wire import CronofyEvent

# Read-back fields written back as they are when a copy is written again to cancel its bot.
# Conferencing is left out: a read shows the link a profile assigned, not the profile, and Cronofy
# keeps what an upsert leaves out (the reading forward.py takes of reference §1).
_KEPT = ("description", "location", "url", "transparency")


def read_start(event: CronofyEvent) -> datetime | None:
    """The copy's start as a UTC time; None for an all-day copy (no bot joins at a date)."""
    start = event.start.get("time") if isinstance(event.start, dict) else event.start
    if not isinstance(start, str) or len(start) <= 10:
        return None
    try:
        return datetime.fromisoformat(start.replace("Z", "+00:00"))
    except ValueError:
        return None


class CronofyAudit:
    """The BotAuditor port of cronofy (declare ``audits_bots``)."""

    profile: Profile
    # The last listing's copies by the bot id they were listed under (``cancel_bot``, ``find_bot``).
    audit_copies: dict[str, tuple[ForwardTarget, CronofyEvent]]
    audit_listed: dict[str, AuditedBot]

    def api(self, target: ForwardTarget) -> CronofyApi:
        raise NotImplementedError

    async def audit_bots(self, scope: AuditScope) -> BotListing:
        # No upper bound: a copy that should have no bot may start however far ahead.
        calls, self.audit_copies, self.audit_listed = 0, {}, {}
        for link in scope.links:
            if link.target is None:
                for forwarded in link.forwarded.values():
                    if forwarded.bot_id:
                        self._list(forwarded.bot_id, None, None, forwarded.event_uid)
                continue
            pages = self.api(link.target).read_events(
                calendar_ids=[link.target.provider_calendar_id],
                last_modified=None,
                include_managed=True,
                only_managed=True,
                include_deleted=False,
                from_date=scope.after.date(),
            )
            async for page in pages:
                calls += 1
                for event in page:
                    self._read(link, event)
        return BotListing(bots=list(self.audit_listed.values()), calls=calls, finds_by_call=False)

    def _read(self, link: AuditedLink, event: CronofyEvent) -> None:
        shown, start = event.recall_bot_id, read_start(event)
        if shown is None or event.event_id is None or start is None or link.target is None:
            return
        ours = link.forwarded.get(event.event_id)
        listed = shown
        if ours is not None and ours.wants_bot:
            if ours.bot_id is None:
                return  # its bot id is still on its way back through the read-back
            listed = ours.bot_id
        self.audit_copies[listed] = (link.target, event)
        self._list(listed, start, event, ours.event_uid if ours else None)

    def _list(self, bot_id: str, start: datetime | None, event: CronofyEvent | None, uid: str | None) -> None:
        url = (event.meeting_url or (event.conferencing or {}).get("join_url")) if event else None
        self.audit_listed[bot_id] = AuditedBot(
            bot_id=bot_id,
            join_at=start,
            meeting=meeting_of(url if isinstance(url, str) else None),
            event_uid=uid,
            profile_id=self.profile.profile_id if uid else None,
        )

    async def find_bot(self, bot_id: str) -> AuditedBot | None:
        # The listing read every copy of every link: a bot not in it is not on any of them.
        return getattr(self, "audit_listed", {}).get(bot_id)

    async def cancel_bot(self, bot_id: str) -> None:
        """Write the copy the bot was listed on again with the extension ``none``."""
        found = getattr(self, "audit_copies", {}).pop(bot_id, None)
        getattr(self, "audit_listed", {}).pop(bot_id, None)
        if found is None:
            return  # not on a copy of the last listing: nothing of ours to write
        target, event = found
        body: dict[str, Any] = {
            "event_id": event.event_id,
            "summary": event.summary or event.event_id,
            "start": event.start,
            "end": event.end,
        }
        body.update({name: getattr(event, name) for name in _KEPT if getattr(event, name) is not None})
        body["extensions"] = [{"provider": RECALL, "profile_id": NO_PROFILE}]
        try:
            await self.api(target).upsert_event(target.provider_calendar_id, body)
        except ProviderNotFound:
            return  # the calendar is gone, and the copy and its bot with it
