"""recall-calendar-v1's audit port: the linked users' meetings in the audited range, read by their
``bot_id`` and ``override_should_record``.

Calendar V1 has no bot of meetbridge's own: meetbridge sets ``override_should_record: true`` on a
meeting and Recall assigns the bot, whose id it reads back from the meeting (reference §3.4-3.5).
So the meetings are the listing: one List Calendar Meetings per linked user (the port's
``calendars``), from the safety window through the polled window (``POLL_WINDOW``), unpaginated and
paced per user under the documented 120 a minute per calendar user; a process holding no token for
the user mints one first, paced under the workspace's 300 a minute. Calendar calls never carry the
API key, so a bot is never looked up by its id.

- A meeting whose override is ``true`` holds meetbridge's bot: meetbridge only ever sets ``true`` for a
  bot it wants. Its bot is named by the meeting (``target_id``); the engine attributes it to the
  event an extension of the profile acts on, and to nobody (not the profile's) when no extension
  does, so a user's own override on a meeting meetbridge does not steer is never touched.
- missing: the meeting no longer carries the bot meetbridge recorded (the user turned the override
  off, or back to preferences that do not record it); repaired by the event's job, which sets the
  override again and records the bot Recall assigns. Where the user's preferences do record it, the
  bot stays but is the preferences' now: it is reported as foreign, not repaired.
- orphan: an override of meetbridge's on a meeting whose event no longer wants a bot (its "false"
  was lost); cancelled by setting the override to ``false``, as the event's own job does for "none".
- foreign: a bot Recall's preferences put (override not ``true``) on a meeting whose link a wanted
  event has. Recall shares one bot between the users invited to a meeting; a bot held by a
  meeting with meetbridge's override is meetbridge's, whatever other meetings hold it.
- stale cannot be expressed: a V1 bot follows its meeting (Recall moves it, meetbridge sets no join
  time or link), and the meeting shows no join time of the bot's own, so the listing gives each bot
  its meeting's start, which meetbridge records from each sync. A difference there only says a moved
  meeting has not been synced yet: its repair re-runs the event's job, which writes nothing at
  Recall, and the next sync brings the record up to date.

Existing extensions are compared once their job has recorded the meeting's start and link (states
from before the audit have neither); ``find_bot`` answers from the last listing.
"""

from __future__ import annotations

from meetbridge.domain.audit import AuditedBot, meeting_of
from meetbridge.errors import ProviderNotFound
from meetbridge.providers.audit import AuditScope, BotListing
from meetbridge.providers.base import POLL_WINDOW
from meetbridge.providers.recall.calendar_v1_api import CalendarMeeting, CalendarV1Api


def audited_bot(meeting: CalendarMeeting, url: str | None, profile_id: str) -> AuditedBot | None:
    """A meeting's bot as the audit reads it (None: the meeting has no bot)."""
    if not meeting.bot_id:
        return None
    ours = meeting.override_should_record is True
    return AuditedBot(
        bot_id=meeting.bot_id,
        join_at=meeting.start_time,
        meeting=meeting_of(url),
        event_uid=None,  # attributed by the engine from target_id
        profile_id=profile_id if ours else None,
        target_id=meeting.id if ours else None,
    )


class RecallCalendarV1Audit:
    """The BotAuditor port of recall-calendar-v1 (declare ``audits_bots``)."""

    api: CalendarV1Api
    # The last listing's bots -> (user id, meeting id) of the meeting holding each.
    audit_meetings: dict[str, tuple[str, str]]

    @property
    def audited_profile(self) -> str:
        raise NotImplementedError

    def meeting_link(self, meeting: CalendarMeeting) -> str | None:
        raise NotImplementedError

    async def audit_bots(self, scope: AuditScope) -> BotListing:
        found: dict[str, AuditedBot] = {}
        self.audit_meetings = {}
        # Through the polled window at least: an override left on a meeting no extension wants is
        # beyond the wanted ones' range, and meetbridge steers no meeting further out than it polls.
        after, until = scope.after, max(scope.until, scope.after + POLL_WINDOW[1])
        for user_id in dict.fromkeys(scope.calendars):
            try:
                meetings = await self.api.list_meetings(user_id, start_after=after, start_before=until)
            except ProviderNotFound:
                continue  # the user is gone at Recall: none of its meetings holds a bot
            for meeting in meetings:
                bot = audited_bot(meeting, self.meeting_link(meeting), self.audited_profile)
                if bot is None or (bot.bot_id in found and bot.profile_id is None):
                    continue  # a shared bot: one meeting with meetbridge's override makes it ours
                found[bot.bot_id] = bot
                if bot.profile_id is not None:
                    self.audit_meetings[bot.bot_id] = (user_id, meeting.id)
        # Not exclusive: setting the override again on a meeting makes the bot there meetbridge's, it
        # removes no one's.
        return BotListing(
            bots=list(found.values()), calls=len(dict.fromkeys(scope.calendars)), finds_by_call=False
        )

    async def find_bot(self, bot_id: str) -> AuditedBot | None:
        # The listing read every meeting of the linked users in the range: a bot none of them holds
        # is no longer a meeting's, whatever the bot API would say about it.
        held = getattr(self, "audit_meetings", {}).get(bot_id)
        if held is None:
            return None
        return AuditedBot(bot_id=bot_id, join_at=None, meeting=None, event_uid=None, profile_id=None)

    async def cancel_bot(self, bot_id: str) -> None:
        held = getattr(self, "audit_meetings", {}).pop(bot_id, None)
        if held is None:
            return  # not on a meeting with meetbridge's override: nothing of ours to undo
        user_id, meeting_id = held
        try:
            await self.api.set_override(user_id, meeting_id, False)
        except ProviderNotFound:
            return  # the meeting is gone, and its bot with it
