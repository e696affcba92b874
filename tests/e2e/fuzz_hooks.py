"""Schemathesis hooks for the fuzz run (tests/e2e/test_fuzz_openapi.py; loaded by the schemathesis CLI
through SCHEMATHESIS_HOOKS, so it imports nothing of the tests).

They give the generator what no OpenAPI document can hold, and nothing more:
- the document's own formats: `event-time` (a date, or a time with or without an offset, in the
  supported range 1900-2200 the document states in words) and `iana-time-zone` (real zone names);
- for cases meant to be valid (positive mode) only: the profile ids and extension providers this
  server is configured with (read from its GET /v1/profiles, as calendar ids come from POST
  /v1/calendars through the document's links), and an event end that is not before its start (a
  relation between two fields). Negative cases are sent as generated.
"""

from __future__ import annotations

import json
import os
import urllib.request
import zlib
from copy import deepcopy
from datetime import date, datetime
from typing import Any
from zoneinfo import available_timezones

import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode

_OFFSETS = ("Z", "+00:00", "+05:30", "-08:00", "+14:00", "-12:00", "")  # "": local to the tzid


def _time_text(moment: datetime, offset: str) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + offset


# A day inside the range at either end, so that no offset or zone carries a time out of it.
_DAYS = st.dates(min_value=date(1900, 1, 2), max_value=date(2200, 12, 30))
_TIMES = st.builds(
    _time_text,
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2200, 12, 30, 23, 59, 59)),
    st.sampled_from(_OFFSETS),
)
schemathesis.openapi.format("date", _DAYS.map(date.isoformat))
schemathesis.openapi.format("date-time", _TIMES)
schemathesis.openapi.format("event-time", st.one_of(_DAYS.map(date.isoformat), _TIMES))
schemathesis.openapi.format(
    "iana-time-zone", st.sampled_from(sorted(z for z in available_timezones() if len(z) <= 64))
)


def _profiles() -> list[dict[str, str]]:
    request = urllib.request.Request(  # noqa: S310  # the test's own loopback server
        os.environ["MEETBRIDGE_FUZZ_URL"] + "/v1/profiles",
        headers={"Authorization": f"Bearer {os.environ['MEETBRIDGE_FUZZ_TOKEN']}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        profiles: list[dict[str, str]] = json.load(answer)["profiles"]
        return profiles


_PROFILES = _profiles()
_PROVIDERS = {"recall-bot": "recall", "recall-calendar-v1": "recall", "recall-calendar-v2": "recall"}
_PROVIDERS["cronofy"] = "recall"  # Cronofy's integration makes Recall bots: the extension says recall


def _pick(options: list[Any], seed: object) -> Any:
    """A choice that depends only on the generated value (not on PYTHONHASHSEED): reproducible."""
    return options[zlib.crc32(repr(seed).encode()) % len(options)]


def _is_date(value: object) -> bool:
    return isinstance(value, str) and len(value) == 10


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str) or _is_date(value):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _ordered(start: object, end: object) -> bool:
    if _is_date(start) and _is_date(end):
        return str(start) <= str(end)
    first, last = _instant(start), _instant(end)
    return first is not None and last is not None and first <= last


def _positive_body(body: dict[str, Any]) -> None:
    if "start" in body and "end" in body and not _ordered(body["start"], body["end"]):
        body["end"] = deepcopy(body["start"])
    extensions = body.get("extensions")
    if isinstance(extensions, list) and _PROFILES:
        chosen: dict[str, dict[str, str]] = {}
        for extension in extensions:
            if not isinstance(extension, dict) or not isinstance(extension.get("profile_id"), str):
                continue
            profile = _pick(_PROFILES, extension["profile_id"])
            provider = _PROVIDERS.get(profile["adapter"], profile["adapter"])
            profile_id = "none" if extension["profile_id"] == "none" else profile["profile_id"]
            chosen.setdefault(provider, {"provider": provider, "profile_id": profile_id})
        body["extensions"] = list(chosen.values())


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return case
    if isinstance(case.body, dict):
        _positive_body(case.body)
    path_parameters = case.path_parameters or {}
    # Profiles' own routes: a link route's profile names a link the calendar may not have (yet).
    profiles_route = case.operation.path.startswith("/v1/profiles/")
    if profiles_route and isinstance(path_parameters.get("profile_id"), str) and _PROFILES:
        path_parameters["profile_id"] = _pick(_PROFILES, path_parameters["profile_id"])["profile_id"]
    return case
