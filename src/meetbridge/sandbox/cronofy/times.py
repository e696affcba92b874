"""Event times as the Cronofy stand-in reads and writes them (reference §1, §3): a UTC time, a date for
all-day events, or `{time, tzid}`; and the `from`/`to` bounds of Read Events.

The stand-in's own reading of the reference, not the gateway's time parsing: the stand-in is an
independent check of the gateway, so the two must not share a parser.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from meetbridge.sandbox.cronofy.models import utc_text

DEFAULT_TZID = "Etc/UTC"
_TZID_MAX = 64


class TimeError(ValueError):
    """A time or zone the API refuses; the message is the description of the 422's error."""


@functools.lru_cache(maxsize=256)
def zone(tzid: str) -> ZoneInfo:
    """The IANA zone named `tzid`."""
    if tzid and len(tzid) <= _TZID_MAX:
        try:
            return ZoneInfo(tzid)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise TimeError(f"unknown time zone {tzid!r}; use an IANA zone such as Europe/Berlin")


@dataclass(frozen=True)
class EventTime:
    """An event's start or end: an instant (`at`, aware UTC) or an all-day `day`, and the zone it was
    written in (where a day starts, and how `localized_times` reads show it)."""

    tzid: str
    at: datetime | None = None
    day: date | None = None

    @property
    def is_date(self) -> bool:
        return self.day is not None

    def instant(self) -> datetime:
        if self.day is not None:
            return datetime.combine(self.day, time(), tzinfo=zone(self.tzid)).astimezone(UTC)
        assert self.at is not None  # noqa: S101 - not a day, so a time
        return self.at

    def wire(self) -> str:
        """As reads show it without `localized_times`: `Z` time or `YYYY-MM-DD`."""
        return self.day.isoformat() if self.day is not None else utc_text(self.instant())

    def localized(self) -> dict[str, str]:
        """As reads show it with `localized_times=true`: in the event's own zone."""
        if self.day is not None:
            return {"date": self.day.isoformat(), "tzid": self.tzid}
        local = self.instant().astimezone(zone(self.tzid)).replace(microsecond=0)
        return {"time": local.isoformat(), "tzid": self.tzid}


def parse_event_time(raw: str, tzid: str) -> EventTime:
    """`YYYY-MM-DD` (all day) or an ISO 8601 time; a time without an offset is local to `tzid`."""
    local_zone = zone(tzid)
    text = raw.strip()
    if len(text) == len("YYYY-MM-DD"):
        try:
            return EventTime(tzid, day=date.fromisoformat(text))
        except ValueError:
            raise TimeError(f"{raw!r} is not a date (YYYY-MM-DD)") from None
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise TimeError(f"{raw!r} is not a time (YYYY-MM-DDTHH:MM:SSZ) or a date (YYYY-MM-DD)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=local_zone)
    return EventTime(tzid, at=moment.astimezone(UTC))


def parse_bound(raw: str, tzid: str) -> datetime:
    """A `from`/`to`/`last_modified` value of Read Events: a date (its midnight in `tzid`) or a time."""
    return parse_event_time(raw, tzid).instant()
