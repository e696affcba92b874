"""Drift audit, the pure part: what the extensions want against what the provider has.

The engine reads both sides (``Wanted`` rows from the database, ``AuditedBot`` from the adapter's
listing) and acts on the ``Difference`` list this returns. Nothing here calls anything.

Only the future beyond the safety window is compared: a bot joining before ``horizon`` (or an ad-hoc
bot, which has no join time) and an event whose bot joins before it are left out, since a meeting
about to start is never touched.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

import msgspec

from meetbridge.domain.meeting_urls import parse_meeting_url


class DriftKind(enum.StrEnum):
    MISSING = "missing"  # an extension is scheduled with a bot the provider does not have
    ORPHAN = "orphan"  # a bot meetbridge made that no extension wants (or a second one)
    STALE = "stale"  # the provider's bot joins at another time or meeting than meetbridge set
    FOREIGN = "foreign"  # a bot meetbridge did not make, on a meeting it manages (reported only)


KINDS = tuple(DriftKind)
_SECOND = timedelta(seconds=1)


class Meeting(msgspec.Struct, frozen=True):
    """A meeting as both sides can name it: the platform and its meeting id."""

    platform: str
    meeting_id: str


def meeting_of(url: str | None) -> Meeting | None:
    parsed = parse_meeting_url(url) if url else None
    return Meeting(str(parsed.platform), parsed.meeting_id) if parsed else None


class AuditedBot(msgspec.Struct, frozen=True, kw_only=True):
    """A live bot at the provider, as the adapter's listing reads it."""

    bot_id: str
    join_at: datetime | None  # None: an ad-hoc bot, or one already joining
    meeting: Meeting | None  # None where the provider's read-back does not name the meeting reliably
    event_uid: str | None  # the meetbridge event its tag names; None: meetbridge did not make it
    profile_id: str | None  # the profile its tag names (None on bots made before profiles were tagged)
    # Where only the calendar event a bot sits on can name it (Calendar V1: the meeting's id): the
    # engine turns it into ``event_uid`` (``attributed``) before comparing.
    target_id: str | None = None


class Wanted(msgspec.Struct, frozen=True, kw_only=True):
    """One extension of a future event whose bot is (or was) this profile's."""

    event_pk: int
    event_uid: str
    calendar_id: str
    event_id: str | None
    application_id: str | None
    wants_bot: bool  # the extension names this profile and the event is not deleted
    owned: bool = False  # the recorded bot (or create under way) is this profile's
    status: str
    bot_id: str | None  # the bot meetbridge recorded
    join_at: datetime | None  # the join time meetbridge set on it (None: ad-hoc)
    meeting_url: str | None  # the meeting link meetbridge set on it
    busy: bool  # a job is due or a create is under way: the event is in motion, not drifted


class Difference(msgspec.Struct, frozen=True, kw_only=True):
    kind: DriftKind
    bot_id: str
    event_uid: str | None = None
    event_pk: int | None = None
    calendar_id: str | None = None
    event_id: str | None = None
    application_id: str | None = None
    detail: str = ""
    provider_join_at: datetime | None = None  # stale: the join time the provider has now
    meeting_changed: bool = False  # stale: the provider's bot is on another meeting


def attributed(bots: Iterable[AuditedBot], events: Mapping[str, str]) -> list[AuditedBot]:
    """Bots named only by their calendar event (``target_id``) given the meetbridge event that event
    is (``events``: target id -> event uid). A bot claimed for the profile on an event meetbridge has
    no extension for is not the profile's: nothing shows meetbridge asked for it."""
    found = []
    for bot in bots:
        named = bot.target_id is not None and bot.event_uid is None and bot.profile_id is not None
        event_uid = events.get(bot.target_id or "") if named else None
        if named:
            profile_id = bot.profile_id if event_uid else None
            found.append(msgspec.structs.replace(bot, event_uid=event_uid, profile_id=profile_id))
        else:
            found.append(bot)
    return found


def audit_until(wanted: Iterable[Wanted], horizon: datetime) -> datetime:
    """The far end of the compared range: the furthest join time meetbridge set (at least ``horizon``)."""
    return max([w.join_at for w in wanted if w.join_at is not None] + [horizon])


def _attached(difference_kind: DriftKind, bot: AuditedBot, row: Wanted | None, detail: str) -> Difference:
    return Difference(
        kind=difference_kind,
        bot_id=bot.bot_id,
        event_uid=row.event_uid if row else bot.event_uid,
        event_pk=row.event_pk if row else None,
        calendar_id=row.calendar_id if row else None,
        event_id=row.event_id if row else None,
        application_id=row.application_id if row else None,
        detail=detail,
    )


def _missing(row: Wanted, listed: set[str], horizon: datetime) -> Difference | None:
    scheduled = row.wants_bot and not row.busy and row.status == "scheduled" and row.bot_id
    if not scheduled or row.join_at is None or row.join_at < horizon or row.bot_id in listed:
        return None
    return Difference(
        kind=DriftKind.MISSING,
        bot_id=row.bot_id or "",
        event_uid=row.event_uid,
        event_pk=row.event_pk,
        calendar_id=row.calendar_id,
        event_id=row.event_id,
        application_id=row.application_id,
        detail="the provider no longer has the bot meetbridge scheduled",
    )


def _orphan(bot: AuditedBot, row: Wanted | None) -> Difference:
    if row is None:
        why = "its event is unknown to meetbridge or has ended"
    elif not row.wants_bot:
        why = "its event no longer asks for a bot of this profile"
    else:
        why = "its event already has another bot"
    return _attached(DriftKind.ORPHAN, bot, row, f"meetbridge made this bot but {why}")


def _stale(bot: AuditedBot, owner: Wanted) -> Difference | None:
    if not (owner.wants_bot and owner.status == "scheduled" and owner.join_at is not None):
        return None
    # Whole seconds: a provider may keep join times at a coarser precision than meetbridge sends.
    moved = bot.join_at is not None and abs(bot.join_at - owner.join_at) >= _SECOND
    want_meeting = meeting_of(owner.meeting_url)
    elsewhere = bot.meeting is not None and want_meeting is not None and bot.meeting != want_meeting
    if not (moved or elsewhere):
        return None
    parts = [f"joins at {bot.join_at:%Y-%m-%dT%H:%M:%SZ}"] if moved else []
    parts += ["is on another meeting"] if elsewhere else []
    return msgspec.structs.replace(
        _attached(DriftKind.STALE, bot, owner, f"the provider's bot {' and '.join(parts)}"),
        provider_join_at=bot.join_at,
        meeting_changed=elsewhere,
    )


def compare(
    wanted: Sequence[Wanted], bots: Sequence[AuditedBot], *, profile_id: str, horizon: datetime
) -> list[Difference]:
    """Every difference between the two sides, in a stable order (missing, orphan, stale, foreign)."""
    by_uid = {w.event_uid: w for w in wanted}
    recorded = {w.bot_id: w for w in wanted if w.bot_id}
    listed = {b.bot_id for b in bots}
    found = [d for d in (_missing(row, listed, horizon) for row in wanted) if d is not None]
    meetings: dict[Meeting, Wanted] = {}
    for candidate in wanted:
        wants = candidate.wants_bot and candidate.status == "scheduled"
        meeting = meeting_of(candidate.meeting_url) if wants else None
        if meeting is not None:
            meetings[meeting] = candidate
    for bot in bots:
        if bot.join_at is None or bot.join_at < horizon:
            continue  # joining soon (or now): never touched
        if bot.event_uid is None and bot.profile_id is None:
            near = meetings.get(bot.meeting) if bot.meeting else None
            if near is not None:
                found.append(
                    _attached(
                        DriftKind.FOREIGN, bot, near, "a bot meetbridge did not make is on this meeting"
                    )
                )
            continue
        row = by_uid.get(bot.event_uid) if bot.event_uid else None  # None: recognised by its key
        if not (bot.profile_id == profile_id or (bot.profile_id is None and row is not None)):
            continue  # tagged by another profile on the same provider account: its own audit sees it
        if row is not None and row.busy:
            continue
        owner = recorded.get(bot.bot_id)
        difference = _orphan(bot, row) if owner is None else _stale(bot, owner)
        if difference is not None:
            found.append(difference)
    found.sort(key=lambda d: KINDS.index(d.kind))  # stable: listing order within a kind
    return found


def counts(differences: Iterable[Difference]) -> dict[str, int]:
    totals = dict.fromkeys(KINDS, 0)
    for difference in differences:
        totals[difference.kind] += 1
    return {str(kind): total for kind, total in totals.items()}
