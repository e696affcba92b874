"""Event times as Cronofy writes them: a UTC time, a date (all-day), or ``{time, tzid}``."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TZID = "Etc/UTC"
# The times meetbridge stores and answers: every zone's local time of them is a valid datetime, and
# no calendar a person uses holds meetings outside them.
EARLIEST = date(1900, 1, 1)
LATEST = date(2200, 12, 31)
_RANGE = f"times must fall between {EARLIEST.isoformat()} and {LATEST.isoformat()} (UTC)"
_FIRST = datetime.combine(EARLIEST, time(), tzinfo=UTC)
_AFTER_LAST = datetime.combine(LATEST + timedelta(days=1), time(), tzinfo=UTC)


def utc_seconds(moment: datetime) -> str:
    """``2031-05-06T15:00:00Z``: the wire form of an instant, to the second. A naive time can only
    come from meetbridge's own code, which stores UTC everywhere."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TimeError(ValueError):
    """A time or zone that cannot be used; the message is a sentence for the API's 422."""


@functools.lru_cache(maxsize=1024)
def zone(tzid: str) -> ZoneInfo:
    if not tzid or len(tzid) > 64:
        raise TimeError(f"unknown time zone {tzid!r}; use an IANA zone such as Europe/Berlin")
    try:
        return ZoneInfo(tzid)
    # OSError: a name that is a folder of the zone database ("America") or unreadable.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise TimeError(f"unknown time zone {tzid!r}; use an IANA zone such as Europe/Berlin") from None


@dataclass(frozen=True, slots=True)
class EventTime:
    """``value`` is an aware UTC datetime for times and a date for all-day events."""

    value: datetime | date
    tzid: str

    @property
    def is_date(self) -> bool:
        return not isinstance(self.value, datetime)

    def instant(self) -> datetime:
        """The UTC instant this time starts (all-day: midnight in its zone)."""
        if isinstance(self.value, datetime):
            return self.value
        return datetime.combine(self.value, time(), tzinfo=zone(self.tzid)).astimezone(UTC)

    def wire(self) -> str:
        if isinstance(self.value, datetime):
            return self.value.strftime("%Y-%m-%dT%H:%M:%SZ")
        return self.value.isoformat()

    def localized(self) -> dict[str, str]:
        if isinstance(self.value, datetime):
            try:
                local = self.value.astimezone(zone(self.tzid)).replace(microsecond=0)
            except (OverflowError, TimeError):  # stored before the range was enforced: show UTC
                return {"time": self.value.replace(microsecond=0).isoformat(), "tzid": DEFAULT_TZID}
            return {"time": local.isoformat(), "tzid": self.tzid}
        return {"date": self.value.isoformat(), "tzid": self.tzid}


def parse_event_time(raw: str, tzid: str, *, bounded: bool = True) -> EventTime:
    """Parse ``YYYY-MM-DD`` or an ISO 8601 time; a time without offset is local to ``tzid``.

    ``bounded``: refuse times outside EARLIEST..LATEST (False only to read back what is stored).
    """
    text = raw.strip()
    tz = zone(tzid)
    if len(text) == 10:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise TimeError(f"{raw!r} is not a date (YYYY-MM-DD)") from None
        if bounded and not EARLIEST <= day <= LATEST:
            raise TimeError(f"{raw!r} is out of range: {_RANGE}")
        return EventTime(day, tzid)
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise TimeError(f"{raw!r} is not a time (YYYY-MM-DDTHH:MM:SSZ) or a date (YYYY-MM-DD)") from None
    # The local date first: zone arithmetic overflows at the ends of datetime's range.
    if bounded and not EARLIEST - timedelta(days=1) <= parsed.date() <= LATEST + timedelta(days=1):
        raise TimeError(f"{raw!r} is out of range: {_RANGE}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    instant = parsed.astimezone(UTC)
    if bounded and not _FIRST <= instant < _AFTER_LAST:
        raise TimeError(f"{raw!r} is out of range: {_RANGE}")
    return EventTime(instant, tzid)


def parse_window_date(raw: str, tzid: str) -> datetime:
    """A ``from``/``to`` query value: a date (midnight in ``tzid``) or a time."""
    parsed = parse_event_time(raw, tzid)
    return parsed.instant()
