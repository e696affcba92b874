from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import httpx
import msgspec
import pytest

from meetbridge.providers.cronofy.push import (
    SIGNATURE_HEADER,
    ChangePush,
    OtherPush,
    PushPayloadError,
    PushVerificationError,
    VerificationPush,
    parse_cronofy_push,
    verify_cronofy_push,
)
from meetbridge.sandbox.cronofy import SIGNATURE_HEADER as SANDBOX_SIGNATURE_HEADER
from meetbridge.sandbox.cronofy import (
    ChannelFilters,
    ChannelOut,
    Notification,
    NotificationBody,
    PushDispatcher,
    sign_push,
)

SECRET = "cronofy-client-secret-one"
OTHER_SECRET = "cronofy-client-secret-two"
BODY = (
    b'{"notification":{"type":"change","changes_since":"2025-01-17T09:24:16Z"},'
    b'"channel":{"channel_id":"chn_1","callback_url":"https://gw.example/push","filters":{}}}'
)


def spec_signature(secret: str, body: bytes) -> str:
    """Independent implementation of reference §5: base64(HMAC-SHA256(key=client_secret, msg=body))."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def rejection(headers: dict[str, str], body: bytes = BODY, secret: str = SECRET) -> str:
    with pytest.raises(PushVerificationError) as info:
        verify_cronofy_push(secret, headers, body)
    message = str(info.value)
    for hidden in (SECRET, OTHER_SECRET, spec_signature(SECRET, body), spec_signature(OTHER_SECRET, body)):
        assert hidden not in message
    return message


# --- signatures -------------------------------------------------------------------------------


def test_stand_in_signer_agrees_with_the_documented_algorithm() -> None:
    assert sign_push(SECRET, BODY) == spec_signature(SECRET, BODY)
    assert SANDBOX_SIGNATURE_HEADER == SIGNATURE_HEADER


def test_single_valid_signature_verifies() -> None:
    verify_cronofy_push(SECRET, {SIGNATURE_HEADER: sign_push(SECRET, BODY)}, BODY)


def test_one_signature_per_active_secret_verifies_with_either_secret() -> None:
    header = f"{sign_push(SECRET, BODY)},{sign_push(OTHER_SECRET, BODY)}"
    verify_cronofy_push(SECRET, {SIGNATURE_HEADER: header}, BODY)
    verify_cronofy_push(OTHER_SECRET, {SIGNATURE_HEADER: header}, BODY)


@pytest.mark.parametrize("position", [0, 1, 2])
def test_one_good_signature_among_bad_ones_verifies(position: int) -> None:
    entries = [sign_push(OTHER_SECRET, BODY), "not-base64!", base64.b64encode(b"\0" * 32).decode()]
    entries.insert(position, sign_push(SECRET, BODY))
    verify_cronofy_push(SECRET, {SIGNATURE_HEADER: ",".join(entries)}, BODY)


def test_whitespace_around_entries_is_tolerated() -> None:
    header = f"  {sign_push(OTHER_SECRET, BODY)} ,\t{sign_push(SECRET, BODY)}  , "
    verify_cronofy_push(SECRET, {SIGNATURE_HEADER: header}, BODY)


@pytest.mark.parametrize("name", ["cronofy-hmac-sha256", "CRONOFY-HMAC-SHA256", "Cronofy-Hmac-Sha256"])
def test_header_name_is_case_insensitive(name: str) -> None:
    verify_cronofy_push(SECRET, {name: sign_push(SECRET, BODY)}, BODY)


def test_httpx_headers_are_accepted() -> None:
    headers = httpx.Headers({SIGNATURE_HEADER: sign_push(SECRET, BODY)})
    verify_cronofy_push(SECRET, headers, BODY)


def test_wrong_secret_is_rejected() -> None:
    message = rejection({SIGNATURE_HEADER: sign_push(OTHER_SECRET, BODY)})
    assert "none of the 1 signature(s)" in message


def test_tampered_body_is_rejected() -> None:
    tampered = BODY.replace(b"09:24:16", b"09:24:17")
    assert tampered != BODY
    rejection({SIGNATURE_HEADER: sign_push(SECRET, BODY)}, body=tampered)


def test_signature_of_a_re_encoded_body_is_rejected() -> None:
    # The raw bytes are signed, not the JSON value: whitespace changes break the signature.
    reformatted = msgspec.json.format(BODY, indent=2)
    rejection({SIGNATURE_HEADER: sign_push(SECRET, BODY)}, body=reformatted)


def test_missing_header_is_rejected() -> None:
    assert "missing Cronofy-HMAC-SHA256" in rejection({"content-type": "application/json"})


@pytest.mark.parametrize("value", ["", " ", " , ,"])
def test_empty_header_is_rejected(value: str) -> None:
    assert "holds no signature" in rejection({SIGNATURE_HEADER: value})


@pytest.mark.parametrize("value", ["garbage", "é" * 44, "\x00", "v1,abc", sign_push(SECRET, BODY)[:-1]])
def test_malformed_signatures_are_rejected_not_crashed_on(value: str) -> None:
    rejection({SIGNATURE_HEADER: value})


def test_lower_case_hex_or_padding_free_forms_do_not_pass() -> None:
    digest = hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()
    rejection({SIGNATURE_HEADER: digest.hex()})
    rejection({SIGNATURE_HEADER: base64.b64encode(digest).decode().rstrip("=")})


def test_empty_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="client secret is empty"):
        verify_cronofy_push("", {SIGNATURE_HEADER: sign_push("x", BODY)}, BODY)


async def test_a_push_delivered_by_the_stand_in_verifies_and_parses() -> None:
    """The stand-in's own dispatcher, over HTTP, end to end: its headers and bytes are what we check."""
    received: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(202)

    channel = ChannelOut(
        channel_id="chn_42", callback_url="https://gw.example/push", filters=ChannelFilters()
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as client:
        dispatcher = PushDispatcher(client_secret=SECRET, client=client, retry_delays=())
        dispatcher.start()
        dispatcher.enqueue(NotificationBody(notification=Notification(type="verification"), channel=channel))
        dispatcher.enqueue(
            NotificationBody(
                notification=Notification(type="change", changes_since="2025-01-17T09:24:16Z"),
                channel=channel,
            )
        )
        await asyncio.wait_for(dispatcher.wait_idle(), timeout=5)
        await dispatcher.aclose()

    assert len(received) == 2
    parsed = []
    for request in received:
        verify_cronofy_push(SECRET, request.headers, request.content)
        with pytest.raises(PushVerificationError):
            verify_cronofy_push(OTHER_SECRET, request.headers, request.content)
        parsed.append(parse_cronofy_push(request.content))
    assert parsed == [
        VerificationPush(channel_id="chn_42"),
        ChangePush(channel_id="chn_42", changes_since=datetime(2025, 1, 17, 9, 24, 16, tzinfo=UTC)),
    ]


# --- payloads ---------------------------------------------------------------------------------


def test_change_push_parses_changes_since_and_channel() -> None:
    assert parse_cronofy_push(BODY) == ChangePush(
        channel_id="chn_1", changes_since=datetime(2025, 1, 17, 9, 24, 16, tzinfo=UTC)
    )


def test_change_push_keeps_a_non_utc_offset() -> None:
    body = b'{"notification":{"type":"change","changes_since":"2025-01-17T10:24:16.5+01:00"}}'
    push = parse_cronofy_push(body)
    assert isinstance(push, ChangePush)
    assert push.changes_since == datetime(2025, 1, 17, 9, 24, 16, 500000, tzinfo=UTC)
    assert push.changes_since.utcoffset() == timedelta(hours=1)
    assert push.channel_id is None


def test_verification_push() -> None:
    body = b'{"notification":{"type":"verification"},"channel":{"channel_id":"chn_v","filters":{}}}'
    assert parse_cronofy_push(body) == VerificationPush(channel_id="chn_v")


def test_verification_push_ignores_an_odd_changes_since() -> None:
    body = b'{"notification":{"type":"verification","changes_since":42}}'
    assert parse_cronofy_push(body) == VerificationPush(channel_id=None)


@pytest.mark.parametrize("kind", ["profile_disconnected", "some_future_type"])
def test_unknown_types_are_tolerated(kind: str) -> None:
    body = msgspec.json.encode(
        {"notification": {"type": kind, "extra": [1, 2]}, "channel": {"channel_id": "chn_x"}, "more": {}}
    )
    assert parse_cronofy_push(body) == OtherPush(channel_id="chn_x", type=kind)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b"{}",
        b'{"notification":{}}',
        b'{"notification":{"type":7}}',
        b'{"notification":"change"}',
        b'{"notification":{"type":"verification"},"channel":{"channel_id":5}}',
    ],
)
def test_garbage_is_a_payload_error(body: bytes) -> None:
    with pytest.raises(PushPayloadError, match="malformed Cronofy push"):
        parse_cronofy_push(body)


@pytest.mark.parametrize(
    "changes_since",
    [None, '"yesterday"', '"2025-01-17T09:24:16"', "1737105856"],
)
def test_change_push_without_a_usable_changes_since_is_a_payload_error(changes_since: str | None) -> None:
    field = "" if changes_since is None else f',"changes_since":{changes_since}'
    body = f'{{"notification":{{"type":"change"{field}}}}}'.encode()
    with pytest.raises(PushPayloadError, match="malformed Cronofy change push"):
        parse_cronofy_push(body)


def test_payload_errors_are_value_errors() -> None:
    assert issubclass(PushPayloadError, ValueError)
