import random
import time
from urllib.parse import quote

import msgspec
import pytest

from meetbridge.domain.meeting_urls import (
    MeetingPlatform,
    MeetingUrl,
    find_meeting_url,
    parse_meeting_url,
    same_meeting,
)

ZOOM = MeetingPlatform.ZOOM
MEET = MeetingPlatform.GOOGLE_MEET
TEAMS = MeetingPlatform.MICROSOFT_TEAMS
WEBEX = MeetingPlatform.WEBEX
GOTO = MeetingPlatform.GOTO_MEETING
CHIME = MeetingPlatform.CHIME

THREAD = "19:meeting_NjQ4ZTk0YzEtNDgwYy00YjA4LWE1ZjEtMzQ0NjE0ZjE0ZmYx@thread.v2"
CONTEXT = (
    "%7b%22Tid%22%3a%2272f988bf-86f1-41af-91ab-2d7cd011db47%22%2c"
    "%22Oid%22%3a%22d5f5ee86-2b67-4a8c-9f3c-5d9c2c4f1b3e%22%7d"
)
TEAMS_RAW = (
    "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjQ4ZTk0YzEtNDgwYy00YjA4LWE1ZjEtMzQ0NjE0ZjE0ZmYx"
    f"%40thread.v2/0?context={CONTEXT}"
)
TEAMS_NORMALISED = (
    "https://teams.microsoft.com/l/meetup-join/19%3Ameeting_NjQ4ZTk0YzEtNDgwYy00YjA4LWE1ZjEtMzQ0NjE0ZjE0ZmYx"
    f"%40thread.v2/0?context={CONTEXT}"
)
TEAMS_EXPECTED = MeetingUrl(TEAMS, TEAMS_NORMALISED, THREAD)


def safelink(target: str) -> str:
    return (
        "https://nam12.safelinks.protection.outlook.com/?url="
        + quote(target, safe="")
        + "&data=05%7C02%7Cjdoe%40example.com%7C3b1f%7C0&sdata=Zm9vYmFy%3D&reserved=0"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Zoom
        (
            "https://zoom.us/j/123456789?pwd=abc",
            MeetingUrl(ZOOM, "https://zoom.us/j/123456789?pwd=abc", "123456789"),
        ),
        (
            "https://acme.zoom.us/j/85012345678?from=addon&pwd=bXlNVU5DcWhOUk5WNFBEZkZJQzJ0QT09.1",
            MeetingUrl(
                ZOOM,
                "https://acme.zoom.us/j/85012345678?pwd=bXlNVU5DcWhOUk5WNFBEZkZJQzJ0QT09.1",
                "85012345678",
            ),
        ),
        (
            "https://us02web.zoom.us/j/81234567890?uname=x&pwd=Z3Vz&_x_zm_rtaid=abc.123",
            MeetingUrl(ZOOM, "https://us02web.zoom.us/j/81234567890?pwd=Z3Vz", "81234567890"),
        ),
        ("https://zoom.us/j/123456789/", MeetingUrl(ZOOM, "https://zoom.us/j/123456789", "123456789")),
        ("https://zoom.us/j/123456789#success", MeetingUrl(ZOOM, "https://zoom.us/j/123456789", "123456789")),
        (
            "HTTP://Acme.ZOOM.us./j/123456789",
            MeetingUrl(ZOOM, "https://acme.zoom.us/j/123456789", "123456789"),
        ),
        (
            "https://zoom.us/my/JaneDoe?pwd=xyz",
            MeetingUrl(ZOOM, "https://zoom.us/my/JaneDoe?pwd=xyz", "janedoe"),
        ),
        (
            "https://acme.zoomgov.com/j/1612345678",
            MeetingUrl(ZOOM, "https://acme.zoomgov.com/j/1612345678", "1612345678"),
        ),
        (
            "https://zoom.us/w/98765432101?tk=TOKEN&uuid=x&pwd=PW",
            MeetingUrl(ZOOM, "https://zoom.us/w/98765432101?pwd=PW&tk=TOKEN", "98765432101"),
        ),
        ("https://zoom.us/wc/join/123456789", MeetingUrl(ZOOM, "https://zoom.us/j/123456789", "123456789")),
        (
            "https://zoom.us/wc/123456789/join?pwd=p",
            MeetingUrl(ZOOM, "https://zoom.us/j/123456789?pwd=p", "123456789"),
        ),
        ("zoom.us/j/123456789", MeetingUrl(ZOOM, "https://zoom.us/j/123456789", "123456789")),
        # Google Meet
        (
            "https://meet.google.com/abc-defg-hij",
            MeetingUrl(MEET, "https://meet.google.com/abc-defg-hij", "abc-defg-hij"),
        ),
        (
            "https://meet.google.com/abc-defg-hij?authuser=1&hs=122",
            MeetingUrl(MEET, "https://meet.google.com/abc-defg-hij", "abc-defg-hij"),
        ),
        (
            "https://meet.google.com/ABC-DEFG-HIJ/",
            MeetingUrl(MEET, "https://meet.google.com/abc-defg-hij", "abc-defg-hij"),
        ),
        (
            "meet.google.com/abc-defg-hij",
            MeetingUrl(MEET, "https://meet.google.com/abc-defg-hij", "abc-defg-hij"),
        ),
        # Microsoft Teams
        (TEAMS_RAW, TEAMS_EXPECTED),
        (TEAMS_RAW + "&anon=true&deeplinkId=abc", TEAMS_EXPECTED),
        (TEAMS_NORMALISED, TEAMS_EXPECTED),
        (
            "https://teams.microsoft.com/l/meetup-join/19%3aAbC123%40thread.tacv2/1700000000000?context=%7b%7d",
            MeetingUrl(
                TEAMS,
                "https://teams.microsoft.com/l/meetup-join/19%3AAbC123%40thread.tacv2/1700000000000?context=%7b%7d",
                "19:AbC123@thread.tacv2",
            ),
        ),
        (
            "https://teams.microsoft.com/meet/22436425428418?p=qlbW1mO8YPOsQ&x=1",
            MeetingUrl(
                TEAMS, "https://teams.microsoft.com/meet/22436425428418?p=qlbW1mO8YPOsQ", "22436425428418"
            ),
        ),
        (
            "https://teams.live.com/meet/9316594846137?p=AbCdEf",
            MeetingUrl(TEAMS, "https://teams.live.com/meet/9316594846137?p=AbCdEf", "9316594846137"),
        ),
        # Webex
        (
            "https://acme.webex.com/acme/j.php?MTID=md41817da6a55b0925530cb88b3577b1e&foo=1",
            MeetingUrl(
                WEBEX,
                "https://acme.webex.com/acme/j.php?MTID=md41817da6a55b0925530cb88b3577b1e",
                "acme.webex.com/acme/j.php?MTID=md41817da6a55b0925530cb88b3577b1e",
            ),
        ),
        (
            "https://ACME.webex.com/meet/JDoe?launchApp=true",
            MeetingUrl(WEBEX, "https://acme.webex.com/meet/JDoe", "acme.webex.com/meet/jdoe"),
        ),
        (
            "https://acme.webex.com/join/jdoe",
            MeetingUrl(WEBEX, "https://acme.webex.com/join/jdoe", "acme.webex.com/join/jdoe"),
        ),
        # GoTo Meeting
        (
            "https://global.gotomeeting.com/join/123456789?utm_source=x",
            MeetingUrl(GOTO, "https://global.gotomeeting.com/join/123456789", "123456789"),
        ),
        ("https://meet.goto.com/123456789", MeetingUrl(GOTO, "https://meet.goto.com/123456789", "123456789")),
        (
            "https://app.goto.com/meeting/123456789",
            MeetingUrl(GOTO, "https://app.goto.com/meeting/123456789", "123456789"),
        ),
        ("https://gotomeet.me/JaneDoe", MeetingUrl(GOTO, "https://gotomeet.me/JaneDoe", "janedoe")),
        # Amazon Chime
        ("https://chime.aws/1234567890", MeetingUrl(CHIME, "https://chime.aws/1234567890", "1234567890")),
        (
            "https://app.chime.aws/meetings/1234567890/",
            MeetingUrl(CHIME, "https://app.chime.aws/meetings/1234567890", "1234567890"),
        ),
        # Wrapped and decorated single links
        (safelink(TEAMS_RAW), TEAMS_EXPECTED),
        (
            safelink("https://us02web.zoom.us/j/81234567890?pwd=abc"),
            MeetingUrl(ZOOM, "https://us02web.zoom.us/j/81234567890?pwd=abc", "81234567890"),
        ),
        (
            "https://www.google.com/url?q=https://zoom.us/j/123456789?pwd%3Dabc&sa=D&source=calendar&usg=AOvVaw",
            MeetingUrl(ZOOM, "https://zoom.us/j/123456789?pwd=abc", "123456789"),
        ),
        (
            "https://www.google.com/url?q=" + quote(safelink(TEAMS_RAW), safe="") + "&sa=D",
            TEAMS_EXPECTED,
        ),
        (
            "  <https://meet.google.com/abc-defg-hij>.  ",
            MeetingUrl(MEET, "https://meet.google.com/abc-defg-hij", "abc-defg-hij"),
        ),
    ],
)
def test_parse_meeting_url_recognises(raw: str, expected: MeetingUrl) -> None:
    assert parse_meeting_url(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "https://docs.google.com/document/d/1AbC/edit",
        "https://calendly.com/jane/30min",
        "https://zoom.us/",
        "https://zoom.us/download",
        "https://support.zoom.us/hc/en-us/articles/201362193",
        "https://zoom.us/s/123456789?zak=secret",
        "https://zoom.us/j/12345",
        "https://zoom.us/j/123456789abc",
        "https://notzoom.us/j/123456789",
        "https://zoom.us.evil.example/j/123456789",
        "https://zoom.us@evil.example/j/123456789",
        "https://evil.example/?next=https://zoom.us/j/123456789",
        "ftp://zoom.us/j/123456789",
        "https://meet.google.com/",
        "https://meet.google.com/new",
        "https://meet.google.com/landing",
        "https://meet.google.com/lookup/abcdefghij",
        "https://meet.google.com/abcdefghij",
        "https://meet.google.com/abc-defg-hij/extra",
        "https://aka.ms/JoinTeamsMeeting",
        "https://teams.microsoft.com/meetingOptions/?organizerId=1&tenantId=2",
        "https://teams.microsoft.com/l/meetup-join/not-a-thread/0",
        "https://teams.microsoft.com/meet/",
        "https://www.webex.com/downloads.html",
        "https://webex.com/meet/jdoe",
        "https://acme.webex.com/acme/j.php",
        "https://help.webex.com/en-us/article/nul0wut",
        "https://www.goto.com/meeting",
        "https://global.gotomeeting.com/install/123456789",
        "https://meet.goto.com/join/123456789",
        "https://gotomeet.me/",
        "https://chime.aws/download",
        "https://aws.amazon.com/chime/",
        "https://app.chime.aws/1234567890",
        "https://nam12.safelinks.protection.outlook.com/?data=05%7C02",
        "https://www.google.com/url?sa=D",
        "https://www.google.com/search?q=https://zoom.us/j/123456789",
        "http://[::1",
        "https://zoom.us/j/123456789 and more words",
        "https://zoom.us/j/\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19",
        "https://\uff5a\uff4f\uff4f\uff4d.us/j/123456789",
        "https://meet.google.com/abc-defg-hi\u017f",
        "https://meet.google.com/\u212abc-defg-hij",
    ],
)
def test_parse_meeting_url_rejects(raw: str) -> None:
    assert parse_meeting_url(raw) is None


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        (
            '<p>Agenda: <a href="https://docs.google.com/document/d/1AbC">doc</a></p>'
            '<p>Join: <a href="https://us02web.zoom.us/j/81234567890?pwd=abc&amp;from=addon">'
            "https://us02web.zoom.us/j/81234567890?pwd=abc</a></p>",
            MeetingUrl(ZOOM, "https://us02web.zoom.us/j/81234567890?pwd=abc", "81234567890"),
        ),
        (
            "Book time: https://calendly.com/jane. Join <https://meet.google.com/abc-defg-hij>.",
            MeetingUrl(MEET, "https://meet.google.com/abc-defg-hij", "abc-defg-hij"),
        ),
        (
            "(see https://zoom.us/j/123456789?pwd=x).",
            MeetingUrl(ZOOM, "https://zoom.us/j/123456789?pwd=x", "123456789"),
        ),
        ('"https://zoom.us/j/123456789";', MeetingUrl(ZOOM, "https://zoom.us/j/123456789", "123456789")),
        (
            "[Join](https://meet.goto.com/123456789)!",
            MeetingUrl(GOTO, "https://meet.goto.com/123456789", "123456789"),
        ),
        (
            "Join:https://chime.aws/1234567890,",
            MeetingUrl(CHIME, "https://chime.aws/1234567890", "1234567890"),
        ),
        (
            "Meeting ID 123 456 789 at zoom.us/j/123456789 (passcode in chat)",
            MeetingUrl(ZOOM, "https://zoom.us/j/123456789", "123456789"),
        ),
        (
            "&lt;https://meet.google.com/abc-defg-hij&gt;",
            MeetingUrl(MEET, "https://meet.google.com/abc-defg-hij", "abc-defg-hij"),
        ),
        (
            # Outlook invite: a help link comes first; the safelinks-wrapped join link is the meeting.
            '<div>Need help? <a href="https://aka.ms/JoinTeamsMeeting">Learn more</a></div>'
            f'<a href="{safelink(TEAMS_RAW).replace("&", "&amp;")}" target="_blank">Join the meeting now</a>'
            '<a href="https://teams.microsoft.com/meetingOptions/?organizerId=1">Meeting options</a>',
            TEAMS_EXPECTED,
        ),
        (
            "Click https://www.google.com/url?q=https%3A%2F%2Fmeet.google.com%2Fxyz-abcd-efg&sa=D&source=calendar"
            " to join",
            MeetingUrl(MEET, "https://meet.google.com/xyz-abcd-efg", "xyz-abcd-efg"),
        ),
        (
            "first https://zoom.us/j/111111111 then https://zoom.us/j/222222222",
            MeetingUrl(ZOOM, "https://zoom.us/j/111111111", "111111111"),
        ),
        (
            "https://zoom.us/download https://zoom.us/j/123456789",
            MeetingUrl(ZOOM, "https://zoom.us/j/123456789", "123456789"),
        ),
        (
            " " * 9000 + "https://zoom.us/j/123456789",
            MeetingUrl(ZOOM, "https://zoom.us/j/123456789", "123456789"),
        ),
        ("No link here, just words.", None),
        ("https://zoom.us/download and https://calendly.com/jane", None),
    ],
)
def test_find_meeting_url_in_description(description: str, expected: MeetingUrl | None) -> None:
    assert find_meeting_url(description=description) == expected


ZOOM_LINK = "https://zoom.us/j/123456789"
MEET_LINK = "https://meet.google.com/abc-defg-hij"
GOTO_LINK = "https://meet.goto.com/987654321"
CHIME_LINK = "https://chime.aws/1234567890"


@pytest.mark.parametrize(
    ("fields", "expected_url"),
    [
        (
            {"join_url": MEET_LINK, "location": ZOOM_LINK, "url": GOTO_LINK, "description": CHIME_LINK},
            MEET_LINK,
        ),
        ({"location": ZOOM_LINK, "url": GOTO_LINK, "description": CHIME_LINK}, ZOOM_LINK),
        ({"url": GOTO_LINK, "description": CHIME_LINK}, GOTO_LINK),
        ({"description": CHIME_LINK}, CHIME_LINK),
        (
            {"join_url": "https://example.com/not-a-meeting", "location": "Room 4", "description": ZOOM_LINK},
            ZOOM_LINK,
        ),
        ({"join_url": "", "location": f"Zoom: {MEET_LINK}", "url": GOTO_LINK}, MEET_LINK),
        ({"location": "Conference room B", "url": "https://calendar.google.com/event?eid=x"}, None),
        ({}, None),
    ],
)
def test_find_meeting_url_precedence(fields: dict[str, str], expected_url: str | None) -> None:
    found = find_meeting_url(**fields)
    assert (found.url if found else None) == expected_url


def test_description_scan_is_capped() -> None:
    assert find_meeting_url(description="x " * 20_000 + ZOOM_LINK) is None


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (ZOOM_LINK, "https://zoom.us/j/123456789?pwd=abc", True),
        (
            "https://zoom.us/j/123456789?pwd=abc&from=addon",
            "https://acme.zoom.us/j/123456789?uname=x#success",
            True,
        ),
        ("https://zoom.us/j/123456789", "https://zoom.us/wc/join/123456789", True),
        ("https://zoom.us/j/123456789", "https://zoom.us/j/123456780", False),
        ("https://zoom.us/j/123456789?pwd=a", "https://zoom.us/j/987654321?pwd=a", False),
        (MEET_LINK, "https://meet.google.com/ABC-DEFG-HIJ?authuser=0", True),
        (MEET_LINK, "https://meet.google.com/abc-defg-hik", False),
        (TEAMS_RAW, TEAMS_NORMALISED + "&anon=true", True),
        (TEAMS_RAW, safelink(TEAMS_RAW), True),
        (
            "https://teams.microsoft.com/meet/22436425428418?p=a",
            "https://teams.microsoft.com/meet/22436425428418",
            True,
        ),
        ("https://acme.webex.com/meet/jdoe", "https://ACME.webex.com/meet/JDoe", True),
        ("https://acme.webex.com/meet/jdoe", "https://other.webex.com/meet/jdoe", False),
        ("https://global.gotomeeting.com/join/123456789", "https://meet.goto.com/123456789", True),
        ("https://zoom.us/j/123456789", "https://global.gotomeeting.com/join/123456789", False),
        ("https://example.com/room", "https://example.com/room", False),
        ("", "", False),
    ],
)
def test_same_meeting(a: str, b: str, expected: bool) -> None:
    assert same_meeting(a, b) is expected
    assert same_meeting(b, a) is expected


def test_platform_values_and_wire_encoding() -> None:
    assert [p.value for p in MeetingPlatform] == [
        "zoom",
        "google_meet",
        "microsoft_teams",
        "webex",
        "goto_meeting",
        "chime",
    ]
    found = parse_meeting_url(ZOOM_LINK)
    assert msgspec.json.encode(found) == (
        b'{"platform":"zoom","url":"https://zoom.us/j/123456789","meeting_id":"123456789"}'
    )


ODD_INPUTS = [
    "\x00",
    "http://",
    "https://",
    "https://%",
    "https://[",
    "http://[::1]:99999/j/123456789",
    "https://zoom.us:notaport/j/123456789",
    "https://zoom.us/j/" + "9" * 10_000,
    "https://" * 5_000,
    "<" * 50_000,
    "a" * 50_000,
    "&" * 20_000 + "#x",
    "&#" + "9" * 1_000 + ";",
    "https://nam12.safelinks.protection.outlook.com/?url=" + "https%3A%2F%2F" * 2_000,
    "https://www.google.com/url?q=https://www.google.com/url?q=https://www.google.com/url?q=https://www.google.com/url",
    "zoom.us/j/" * 5_000,
    "\u200bhttps://zoom.us/j/123456789\u200b",
    "https://zoom.us/j/\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19",
    "https://\uff5a\uff4f\uff4f\uff4d.us/j/123456789",
    "https://meet.google.com/abc-defg-hij" + "?" * 20_000,
]


@pytest.mark.parametrize("text", ODD_INPUTS)
def test_odd_inputs_never_raise(text: str) -> None:
    found = find_meeting_url(join_url=text, location=text, url=text, description=text)
    assert found is None or isinstance(found, MeetingUrl)
    assert parse_meeting_url(text) is None or isinstance(parse_meeting_url(text), MeetingUrl)
    assert isinstance(same_meeting(text, text), bool)


def test_random_inputs_never_raise_and_stay_fast() -> None:
    rng = random.Random(20240601)  # noqa: S311 - reproducible test data, not a secret
    alphabet = "aZ09 \t\n.:/?#[]@!$&'()*+,;=%<>\"-_~\u200b\u00e9\U0001f600" + "https://zoom.us/j/"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 4096))) for _ in range(200)]
    started = time.perf_counter()
    for text in texts:
        find_meeting_url(location=text, description=text)
        parse_meeting_url(text)
    # Generous bound: it catches quadratic or catastrophic backtracking, not micro-regressions.
    assert time.perf_counter() - started < 5.0


def test_pathological_input_is_linear() -> None:
    texts = ["https://" * 8_000, "zoom.us/j/" * 6_000, "a." * 30_000 + "/", "(" * 60_000, "%" * 60_000]
    started = time.perf_counter()
    for text in texts:
        assert find_meeting_url(description=text) is None
    assert time.perf_counter() - started < 2.0
