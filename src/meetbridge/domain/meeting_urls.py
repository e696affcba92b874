"""Find the joinable video-meeting link of a calendar event.

Pure functions, no I/O. The reconcile engine sends ``MeetingUrl.url`` to Recall's Create Bot and matches
events to bots through ``(platform, meeting_id)``, so both must be stable across the cosmetic variations
calendar providers introduce (tracking parameters, redirect wrappers, host case, HTML escaping).
"""

import enum
import html
import re
from collections.abc import Callable, Iterator
from urllib.parse import SplitResult, parse_qsl, quote, unquote, urlsplit

import msgspec

__all__ = ["MeetingPlatform", "MeetingUrl", "find_meeting_url", "parse_meeting_url", "same_meeting"]


class MeetingPlatform(enum.StrEnum):
    ZOOM = "zoom"
    GOOGLE_MEET = "google_meet"
    MICROSOFT_TEAMS = "microsoft_teams"
    WEBEX = "webex"
    GOTO_MEETING = "goto_meeting"
    CHIME = "chime"


class MeetingUrl(msgspec.Struct, frozen=True):
    platform: MeetingPlatform
    url: str
    meeting_id: str


# Outlook HTML bodies carry kilobytes of inline CSS before the join link, so the cap is well above the
# 4096-char description limit; past it we stop looking rather than risk unbounded work per event.
_MAX_SCAN_CHARS = 32_768
_MAX_CANDIDATES = 200
# Safelinks-wrapped Teams links run to ~2 kB; anything far longer is not a link a human pasted.
_MAX_URL_CHARS = 8192
_MAX_UNWRAP = 3

# Tokenising on delimiters (instead of one big URL regex) keeps scanning linear for any input.
_TOKEN_RE = re.compile("[^\\s<>\"'`\u200b]+")
_SCHEME_RE = re.compile(r"https?://", re.IGNORECASE)
_LEADING_JUNK = "([{<*\"'"
_TRAILING_JUNK = ".,;:!?)]}>*\"'"

_ZOOM_JOIN_RE = re.compile(r"/(j|w)/([0-9]{9,12})/?")
_ZOOM_WEB_CLIENT_RE = re.compile(r"/wc/(?:join/([0-9]{9,12})|([0-9]{9,12})/join)/?")
_ZOOM_PERSONAL_RE = re.compile(r"/my/([A-Za-z0-9._-]+)/?")
# ASCII: with IGNORECASE alone, [a-z] also matches the Kelvin sign and the long s.
_MEET_CODE_RE = re.compile(r"/([a-z]{3})-([a-z]{4})-([a-z]{3})/?", re.IGNORECASE | re.ASCII)
_TEAMS_MEETUP_RE = re.compile(r"/l/meetup-join/([^/]+)(/[^?#]*)?")
_TEAMS_MEET_RE = re.compile(r"/meet/([0-9]{6,20})/?")
_TEAMS_HOSTS = frozenset(
    {
        "teams.microsoft.com",
        "teams.live.com",
        "teams.microsoft.us",
        "gov.teams.microsoft.us",
        "dod.teams.microsoft.us",
    }
)
_WEBEX_ROOM_RE = re.compile(r"/(meet|join)/([A-Za-z0-9._-]+)/?")
_WEBEX_JPHP_RE = re.compile(r"/(?:[A-Za-z0-9._-]+/)+j\.php")
_GOTO_ID_RE = re.compile(r"/(?:join/|meeting/)?([0-9]{9,10})/?")
_GOTO_ROOM_RE = re.compile(r"/([A-Za-z0-9._-]+)/?")
_CHIME_RE = re.compile(r"/(?:meetings/)?([0-9]{10,13})/?")


def find_meeting_url(
    *,
    join_url: str | None = None,
    location: str | None = None,
    url: str | None = None,
    description: str | None = None,
) -> MeetingUrl | None:
    """The first recognised meeting link, searching fields from most to least authoritative."""
    for field in (join_url, location, url, description):
        if not field:
            continue
        for candidate in _candidates(field):
            found = parse_meeting_url(candidate)
            if found is not None:
                return found
    return None


def parse_meeting_url(text: str) -> MeetingUrl | None:
    """Recognise one candidate URL; ``None`` for anything that is not a joinable meeting link."""
    try:
        return _parse(text)
    except ValueError:  # urlsplit rejects malformed hosts such as an unclosed IPv6 bracket
        return None


def same_meeting(a: str, b: str) -> bool:
    """Whether two raw links join the same meeting; unrecognised links never match anything."""
    first, second = parse_meeting_url(a), parse_meeting_url(b)
    if first is None or second is None:
        return False
    return first.platform == second.platform and first.meeting_id == second.meeting_id


def _candidates(text: str) -> Iterator[str]:
    # Unescape first so hrefs written as ``&amp;``-joined queries or ``&lt;url&gt;`` tokenise like plain text.
    text = html.unescape(text[:_MAX_SCAN_CHARS])
    emitted = 0
    for token_match in _TOKEN_RE.finditer(text):
        token = token_match.group()
        starts = [m.start() for m in _SCHEME_RE.finditer(token)]
        if not starts and "." in token and "/" in token:
            starts = [0]  # scheme-less "zoom.us/j/123" as typed into a location field
        for start in starts:
            yield token[start : start + _MAX_URL_CHARS]
            emitted += 1
            if emitted >= _MAX_CANDIDATES:
                return


def _clean(text: str) -> str:
    return text[:_MAX_URL_CHARS].strip().lstrip(_LEADING_JUNK).rstrip(_TRAILING_JUNK)


def _parse(text: str) -> MeetingUrl | None:
    candidate = _clean(text)
    for _ in range(_MAX_UNWRAP + 1):
        if not candidate:
            return None
        if not _SCHEME_RE.match(candidate):
            candidate = "https://" + candidate
        parts = urlsplit(candidate)
        host = (parts.hostname or "").rstrip(".")
        inner = _unwrap_redirect(host, parts)
        if inner is None:
            parser = _parser_for(host)
            return parser(host, parts) if parser is not None else None
        candidate = _clean(inner)
    return None


def _unwrap_redirect(host: str, parts: SplitResult) -> str | None:
    """The wrapped target of a redirector link ("" when the wrapper has none), ``None`` if not a wrapper."""
    if host.endswith(".safelinks.protection.outlook.com"):
        keys: tuple[str, ...] = ("url",)
    elif host in ("google.com", "www.google.com") and parts.path == "/url":
        keys = ("q", "url")
    else:
        return None
    for key, value in parse_qsl(parts.query):
        if key in keys:
            return value
    return ""


def _keep_query(query: str, keys: tuple[str, ...]) -> str:
    """Rebuild a query with only ``keys``, in that order, values untouched (Teams context is pre-encoded)."""
    found: dict[str, str] = {}
    for pair in query.split("&"):
        key, sep, value = pair.partition("=")
        if sep and value and key in keys and key not in found:
            found[key] = value
    kept = "&".join(f"{key}={found[key]}" for key in keys if key in found)
    return f"?{kept}" if kept else ""


def _is_host(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def _zoom(host: str, parts: SplitResult) -> MeetingUrl | None:
    # Registered meetings and webinars need the per-attendee ``tk`` as much as the passcode.
    query = _keep_query(parts.query, ("pwd", "tk"))
    if match := _ZOOM_JOIN_RE.fullmatch(parts.path):
        kind, meeting_id = match.groups()
    elif match := _ZOOM_WEB_CLIENT_RE.fullmatch(parts.path):
        kind, meeting_id = "j", match.group(1) or match.group(2)
    elif match := _ZOOM_PERSONAL_RE.fullmatch(parts.path):
        name = match.group(1)
        return MeetingUrl(MeetingPlatform.ZOOM, f"https://{host}/my/{name}{query}", name.lower())
    else:
        return None  # /s/ start links carry the host's token and are not joinable by a bot
    return MeetingUrl(MeetingPlatform.ZOOM, f"https://{host}/{kind}/{meeting_id}{query}", meeting_id)


def _google_meet(host: str, parts: SplitResult) -> MeetingUrl | None:
    match = _MEET_CODE_RE.fullmatch(parts.path)
    if match is None:
        return None
    code = "-".join(match.groups()).lower()
    return MeetingUrl(MeetingPlatform.GOOGLE_MEET, f"https://{host}/{code}", code)


def _teams(host: str, parts: SplitResult) -> MeetingUrl | None:
    if match := _TEAMS_MEETUP_RE.fullmatch(parts.path):
        thread = match.group(1)
        for _ in range(2):  # links re-encoded by a mail gateway arrive as %253a
            if "%" in thread:
                thread = unquote(thread)
        if not thread.startswith("19:") or "@thread." not in thread:
            return None
        path = f"/l/meetup-join/{quote(thread, safe='')}{match.group(2) or ''}"
        query = _keep_query(parts.query, ("context",))
        return MeetingUrl(MeetingPlatform.MICROSOFT_TEAMS, f"https://{host}{path}{query}", thread)
    if match := _TEAMS_MEET_RE.fullmatch(parts.path):
        meeting_id = match.group(1)
        url = f"https://{host}/meet/{meeting_id}{_keep_query(parts.query, ('p',))}"
        return MeetingUrl(MeetingPlatform.MICROSOFT_TEAMS, url, meeting_id)
    return None


def _webex(host: str, parts: SplitResult) -> MeetingUrl | None:
    # Site names are part of the identity: acme.webex.com/meet/jdoe and other.webex.com/meet/jdoe differ.
    if match := _WEBEX_ROOM_RE.fullmatch(parts.path):
        kind, name = match.groups()
        meeting_id = f"{host}/{kind}/{name.lower()}"
        return MeetingUrl(MeetingPlatform.WEBEX, f"https://{host}/{kind}/{name}", meeting_id)
    if _WEBEX_JPHP_RE.fullmatch(parts.path):
        query = _keep_query(parts.query, ("MTID",))
        if not query:
            return None
        meeting_id = f"{host}{parts.path}{query}"
        return MeetingUrl(MeetingPlatform.WEBEX, f"https://{meeting_id}", meeting_id)
    return None


def _goto(host: str, parts: SplitResult) -> MeetingUrl | None:
    if host == "gotomeet.me":
        match = _GOTO_ROOM_RE.fullmatch(parts.path)
        if match is None:
            return None
        name = match.group(1)
        return MeetingUrl(MeetingPlatform.GOTO_MEETING, f"https://{host}/{name}", name.lower())
    match = _GOTO_ID_RE.fullmatch(parts.path)
    if match is None:
        return None
    meeting_id = match.group(1)
    # Only the path shape each host actually serves; other paths there are product pages.
    path = {
        "meet.goto.com": f"/{meeting_id}",
        "app.goto.com": f"/meeting/{meeting_id}",
    }.get(host, f"/join/{meeting_id}")
    if parts.path.rstrip("/") != path:
        return None
    return MeetingUrl(MeetingPlatform.GOTO_MEETING, f"https://{host}{path}", meeting_id)


def _chime(host: str, parts: SplitResult) -> MeetingUrl | None:
    match = _CHIME_RE.fullmatch(parts.path)
    if match is None:
        return None
    meeting_id = match.group(1)
    path = f"/meetings/{meeting_id}" if host == "app.chime.aws" else f"/{meeting_id}"
    if parts.path.rstrip("/") != path:
        return None
    return MeetingUrl(MeetingPlatform.CHIME, f"https://{host}{path}", meeting_id)


_Parser = Callable[[str, SplitResult], MeetingUrl | None]


_EXACT_HOSTS: dict[str, _Parser] = {
    "meet.google.com": _google_meet,
    **dict.fromkeys(_TEAMS_HOSTS, _teams),
    "meet.goto.com": _goto,
    "app.goto.com": _goto,
    "gotomeet.me": _goto,
    "chime.aws": _chime,
    "app.chime.aws": _chime,
}
# Matched as the domain itself or any subdomain (vanity and regional hosts such as acme.zoom.us).
_DOMAIN_SUFFIXES: tuple[tuple[str, _Parser], ...] = (
    ("zoom.us", _zoom),
    ("zoomgov.com", _zoom),
    ("gotomeeting.com", _goto),
)


def _parser_for(host: str) -> _Parser | None:
    if parser := _EXACT_HOSTS.get(host):
        return parser
    if host.endswith(".webex.com"):  # the bare webex.com is marketing; meetings live on a site subdomain
        return _webex
    return next((parser for domain, parser in _DOMAIN_SUFFIXES if _is_host(host, domain)), None)
