"""Read Events query parameters (reference §3) and which events they select."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from meetbridge.sandbox.cronofy.times import TimeError, parse_bound, zone
from meetbridge.sandbox.cronofy.validation import FieldErrors

_BOOLEANS = {"true": True, "false": False}
_FLAGS = (
    "include_managed",
    "only_managed",
    "include_deleted",
    "localized_times",
    # Accepted and validated but without effect: the sandbox has no moved, geo-coded or Google events.
    "include_moved",
    "include_geo",
    "google_event_ids",
)


@dataclass(frozen=True)
class EventQuery:
    tzid: str
    calendar_ids: frozenset[str] | None = None
    start_before: datetime | None = None  # `to`
    end_from: datetime | None = None  # `from`
    last_modified: datetime | None = None
    include_managed: bool = False
    only_managed: bool = False
    include_deleted: bool = False
    localized_times: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, list[str]]) -> EventQuery:
        errors = FieldErrors()
        flags: dict[str, bool] = {}
        for name in _FLAGS:
            values = params.get(name)
            if not values:
                continue
            # pycronofy sends Python's `True`/`False` (reference §7), so case is not significant.
            parsed = _BOOLEANS.get(values[-1].strip().lower())
            if parsed is None:
                errors.add(name, "invalid", f"{name} must be true or false")
            else:
                flags[name] = parsed
        tzid = (params.get("tzid") or [""])[-1]
        if not tzid:
            errors.add("tzid", "required", "required")
        else:
            try:
                zone(tzid)
            except TimeError as exc:
                errors.add("tzid", "invalid", str(exc))
        errors.raise_any()
        bounds: dict[str, datetime | None] = {}
        for param, name in (("from", "end_from"), ("to", "start_before"), ("last_modified", "last_modified")):
            raw = (params.get(param) or [""])[-1]
            try:
                bounds[name] = parse_bound(raw, tzid) if raw else None
            except TimeError as exc:
                errors.add(param, "invalid", str(exc))
        errors.raise_any()
        # The documented form is repeated `calendar_ids[]`; the bracket-less spelling costs nothing.
        calendars = [*params.get("calendar_ids[]", []), *params.get("calendar_ids", [])]
        return cls(
            tzid=tzid,
            calendar_ids=frozenset(calendars) if calendars else None,
            start_before=bounds["start_before"],
            end_from=bounds["end_from"],
            last_modified=bounds["last_modified"],
            include_managed=flags.get("include_managed", False),
            only_managed=flags.get("only_managed", False),
            include_deleted=flags.get("include_deleted", False),
            localized_times=flags.get("localized_times", False),
        )

    def selects(
        self, *, calendar_id: str, deleted: bool, updated: datetime, start: datetime, end: datetime
    ) -> bool:
        """Every sandbox event is managed (created through the API), so they show only when asked for."""
        if not (self.include_managed or self.only_managed):
            return False
        return (
            (self.calendar_ids is None or calendar_id in self.calendar_ids)
            and (self.include_deleted or not deleted)
            and (self.last_modified is None or updated >= self.last_modified)
            and (self.start_before is None or start < self.start_before)
            and (self.end_from is None or end >= self.end_from)
        )
