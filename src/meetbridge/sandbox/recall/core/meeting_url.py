"""A simple meeting-link parser giving the read shape Recall echoes (reference §2.4).

It knows the common link forms of each platform; anything else is "unparseable" and Create Bot
answers 400, as Recall does for unsupported URLs.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, unquote, urlsplit

from meetbridge.sandbox.recall.core.models import (
    GoogleMeetMeetingUrl,
    GotoMeetingUrl,
    MeetingUrl,
    TeamsLiveMeetingUrl,
    TeamsMeetingUrl,
    WebexMeetingUrl,
    ZoomMeetingUrl,
)

_ZOOM_PATH = re.compile(r"^/(?:j|s|w|wc/join|wc)/(\d{9,12})(?:/|$)")
_MEET_CODE = re.compile(r"^/([a-z]{3}-[a-z]{4}-[a-z]{3})/?$")
_GOTO_ID = re.compile(r"(\d{9,10})")


def _first(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def _zoom(host: str, path: str, query: dict[str, list[str]]) -> MeetingUrl | None:
    if not (host == "zoom.us" or host.endswith((".zoom.us", ".zoomgov.com")) or host == "zoomgov.com"):
        return None
    match = _ZOOM_PATH.match(path)
    meeting_id = match.group(1) if match else _first(query, "confno")
    if meeting_id is None:
        return None
    return ZoomMeetingUrl(meeting_id=meeting_id, meeting_password=_first(query, "pwd"))


def _google_meet(host: str, path: str) -> MeetingUrl | None:
    match = _MEET_CODE.match(path) if host == "meet.google.com" else None
    return GoogleMeetMeetingUrl(meeting_id=match.group(1)) if match else None


def _teams(host: str, path: str, query: dict[str, list[str]]) -> MeetingUrl | None:
    live = host == "teams.live.com"
    if not (live or host in ("teams.microsoft.com", "teams.microsoft.us", "gov.teams.microsoft.us")):
        return None
    parts = [unquote(part) for part in path.split("/") if part]
    if len(parts) >= 2 and parts[0] == "meet":
        # Short links (teams.live.com/meet/<id>?p=<pwd>, also used by Teams for business now).
        cls = TeamsLiveMeetingUrl if live else TeamsMeetingUrl
        return cls(meeting_id=parts[1], meeting_password=_first(query, "p"))
    if len(parts) >= 4 and parts[:2] == ["l", "meetup-join"]:
        context: dict[str, object] = {}
        raw_context = _first(query, "context")
        if raw_context:
            try:
                decoded = json.loads(raw_context)
            except ValueError:
                decoded = {}
            context = decoded if isinstance(decoded, dict) else {}
        tenant, organizer = context.get("Tid"), context.get("Oid")
        return TeamsMeetingUrl(
            thread_id=parts[2],
            message_id=parts[3],
            tenant_id=tenant if isinstance(tenant, str) else None,
            organizer_id=organizer if isinstance(organizer, str) else None,
        )
    return None


def _webex(host: str, path: str, query: dict[str, list[str]]) -> MeetingUrl | None:
    if not host.endswith(".webex.com"):
        return None
    subdomain = host.removesuffix(".webex.com")
    parts = [part for part in path.split("/") if part]
    if len(parts) == 2 and parts[0] in ("meet", "join"):
        return WebexMeetingUrl(meeting_subdomain=subdomain, meeting_personal_room_id=parts[1])
    mtid = _first(query, "MTID") or _first(query, "mtid")
    if mtid and parts:
        return WebexMeetingUrl(meeting_subdomain=subdomain, meeting_mtid=mtid, meeting_path="/".join(parts))
    return None


def _goto(host: str, path: str, query: dict[str, list[str]]) -> MeetingUrl | None:
    if host not in ("meet.goto.com", "global.gotomeeting.com", "app.gotomeeting.com", "gotomeeting.com"):
        return None
    match = _GOTO_ID.search(path) or _GOTO_ID.search(_first(query, "meetingId") or "")
    return GotoMeetingUrl(meeting_id=match.group(1)) if match else None


def parse_meeting_url(raw: str) -> MeetingUrl | None:
    """The parsed form of a meeting link, or None when the sandbox cannot tell what it is."""
    text = raw.strip()
    if text.startswith("zoommtg://"):
        text = "https://" + text.removeprefix("zoommtg://")
    elif "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower().removeprefix("www.")
    query = parse_qs(parts.query)
    return (
        _zoom(host, parts.path, query)
        or _google_meet(host, parts.path)
        or _teams(host, parts.path, query)
        or _webex(host, parts.path, query)
        or _goto(host, parts.path, query)
    )
