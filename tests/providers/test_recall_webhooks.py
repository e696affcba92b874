from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime

import pytest

from meetbridge.providers.recall.webhooks import (
    BOT_STATUS_EVENTS,
    BotStatusEvent,
    CalendarSyncEvent,
    CalendarUpdateEvent,
    UnknownEvent,
    WebhookPayloadError,
    WebhookVerificationError,
    parse_recall_webhook,
    sign_recall_webhook,
    verify_recall_webhook,
)

# Published Standard Webhooks / Svix reference vector (standard-webhooks libraries/python tests).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

KEY = bytes(range(32))
SECRET = "whsec_" + base64.b64encode(KEY).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"\xff" * 32).decode()
NOW = 1_700_000_000
BODY = b'{"event":"bot.done","data":{}}'


def spec_signature(key: bytes, msg_id: str, ts: int, body: bytes) -> str:
    """Independent implementation of the documented algorithm."""
    digest = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(family: str, msg_id: str, ts: int | str, signature: str) -> dict[str, str]:
    return {f"{family}-id": msg_id, f"{family}-timestamp": str(ts), f"{family}-signature": signature}


def signed(
    family: str = "webhook", *, ts: int = NOW, body: bytes = BODY, secret: str = SECRET
) -> dict[str, str]:
    return headers(family, "msg_1", ts, sign_recall_webhook(secret, "msg_1", ts, body))


def rejection(secret: str, hdrs: dict[str, str], body: bytes = BODY, now: float = NOW) -> str:
    with pytest.raises(WebhookVerificationError) as info:
        verify_recall_webhook(secret, hdrs, body, now=now)
    message = str(info.value)
    assert SECRET.removeprefix("whsec_") not in message
    assert OTHER_SECRET.removeprefix("whsec_") not in message
    return message


# --- signing: known answers ------------------------------------------------------------------


def test_sign_matches_published_vector() -> None:
    assert sign_recall_webhook(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIG


def test_published_vector_cross_checks_independent_implementation() -> None:
    key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert spec_signature(key, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIG


@pytest.mark.parametrize("family", ["webhook", "svix"])
def test_published_vector_verifies_with_both_header_families(family: str) -> None:
    hdrs = headers(family, VECTOR_ID, VECTOR_TS, VECTOR_SIG)
    verify_recall_webhook(VECTOR_SECRET, hdrs, VECTOR_BODY, now=VECTOR_TS)


def test_sign_matches_independent_computation() -> None:
    expected = spec_signature(KEY, "msg_1", NOW, BODY)
    assert sign_recall_webhook(SECRET, "msg_1", NOW, BODY) == expected
    assert expected.startswith("v1,")
    assert len(base64.b64decode(expected[3:])) == 32


def test_whsec_prefix_is_optional() -> None:
    bare = SECRET.removeprefix("whsec_")
    assert sign_recall_webhook(bare, "msg_1", NOW, BODY) == sign_recall_webhook(SECRET, "msg_1", NOW, BODY)
    verify_recall_webhook(bare, signed(), BODY, now=NOW)
    verify_recall_webhook(SECRET, signed(secret=bare), BODY, now=NOW)


def test_unpadded_secret_is_accepted() -> None:
    key = b"twenty-byte-key-abcd"
    padded = base64.b64encode(key).decode()
    assert padded.endswith("=")
    unpadded = "whsec_" + padded.rstrip("=")
    assert sign_recall_webhook(unpadded, "m", 1, b"x") == spec_signature(key, "m", 1, b"x")


@pytest.mark.parametrize("bad", ["whsec_", "", "whsec_not*base64!", "whsec_abc=def"])
def test_malformed_secret_is_a_configuration_error_that_does_not_echo_it(bad: str) -> None:
    with pytest.raises(ValueError, match="webhook secret") as info:
        verify_recall_webhook(bad, signed(), BODY, now=NOW)
    assert not isinstance(info.value, WebhookVerificationError)
    if bad.removeprefix("whsec_"):
        assert bad.removeprefix("whsec_") not in str(info.value)


# --- verification ----------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["webhook", "svix"])
def test_valid_delivery_is_accepted_for_both_families(family: str) -> None:
    verify_recall_webhook(SECRET, signed(family), BODY, now=NOW)


@pytest.mark.parametrize("family", ["webhook", "svix"])
def test_header_names_are_case_insensitive(family: str) -> None:
    hdrs = {name.title(): value for name, value in signed(family).items()}
    assert f"{family.title()}-Signature" in hdrs
    verify_recall_webhook(SECRET, hdrs, BODY, now=NOW)


def test_default_clock_is_now() -> None:
    ts = int(time.time())
    verify_recall_webhook(SECRET, signed(ts=ts), BODY)


def test_second_of_several_v1_entries_matches() -> None:
    good = sign_recall_webhook(SECRET, "msg_1", NOW, BODY)
    wrong = sign_recall_webhook(OTHER_SECRET, "msg_1", NOW, BODY)
    verify_recall_webhook(SECRET, headers("webhook", "msg_1", NOW, f"{wrong} {good}"), BODY, now=NOW)


def test_malformed_and_foreign_entries_are_skipped_not_fatal() -> None:
    good = sign_recall_webhook(SECRET, "msg_1", NOW, BODY)
    sig = f"garbage v1,a,b v1,!!! v2,{good[3:]}  {good}"
    verify_recall_webhook(SECRET, headers("svix", "msg_1", NOW, sig), BODY, now=NOW)


def test_correct_digest_under_other_version_label_is_rejected() -> None:
    good = sign_recall_webhook(SECRET, "msg_1", NOW, BODY)
    hdrs = headers("webhook", "msg_1", NOW, "v2," + good[3:])
    assert rejection(SECRET, hdrs) == "no matching v1 signature"


@pytest.mark.parametrize("sig", ["garbage", "v1,a,b", "v1,!!!", "v1,", ","])
def test_only_malformed_entries_raise_verification_error(sig: str) -> None:
    assert rejection(SECRET, headers("webhook", "msg_1", NOW, sig)) == "no matching v1 signature"


def test_wrong_secret_is_rejected() -> None:
    assert rejection(OTHER_SECRET, signed()) == "no matching v1 signature"


def test_tampered_body_is_rejected() -> None:
    assert rejection(SECRET, signed(), body=BODY.replace(b"done", b"fatal")) == "no matching v1 signature"


def test_tampered_id_and_timestamp_are_rejected() -> None:
    hdrs = signed()
    assert rejection(SECRET, {**hdrs, "webhook-id": "msg_2"}) == "no matching v1 signature"
    assert rejection(SECRET, {**hdrs, "webhook-timestamp": str(NOW + 1)}) == "no matching v1 signature"


def test_non_utf8_body_is_signed_as_bytes() -> None:
    body = b"\xff\xfe\x00raw"
    hdrs = headers("webhook", "msg_1", NOW, spec_signature(KEY, "msg_1", NOW, body))
    verify_recall_webhook(SECRET, hdrs, body, now=NOW)


@pytest.mark.parametrize("family", ["webhook", "svix"])
def test_six_minutes_old_is_rejected(family: str) -> None:
    message = rejection(SECRET, signed(family, ts=NOW - 360))
    assert message == "timestamp is 360 s old (tolerance 300 s)"


@pytest.mark.parametrize("family", ["webhook", "svix"])
def test_six_minutes_in_future_is_rejected(family: str) -> None:
    message = rejection(SECRET, signed(family, ts=NOW + 360))
    assert message == "timestamp is 360 s in the future (tolerance 300 s)"


@pytest.mark.parametrize("offset", [-240, 240, -300, 300])
def test_within_tolerance_is_accepted(offset: int) -> None:
    verify_recall_webhook(SECRET, signed(ts=NOW + offset), BODY, now=NOW)


@pytest.mark.parametrize("offset", [-301, 301])
def test_just_outside_tolerance_is_rejected(offset: int) -> None:
    rejection(SECRET, signed(ts=NOW + offset))


def test_stale_replay_with_valid_signature_is_rejected() -> None:
    hdrs = signed(ts=NOW)
    verify_recall_webhook(SECRET, hdrs, BODY, now=NOW)
    assert rejection(SECRET, hdrs, now=NOW + 301) == "timestamp is 301 s old (tolerance 300 s)"


@pytest.mark.parametrize("ts", ["soon", "1.7e9", "-1", " ", "1700000000.5", "\u0661" * 10])
def test_non_integer_timestamp_is_rejected(ts: str) -> None:
    hdrs = {**signed(), "webhook-timestamp": ts}
    if ts.strip():
        assert rejection(SECRET, hdrs) == "timestamp header is not unix seconds"
    else:
        assert rejection(SECRET, hdrs) == "missing header(s): webhook-timestamp"


@pytest.mark.parametrize("family", ["webhook", "svix"])
@pytest.mark.parametrize("part", ["id", "timestamp", "signature"])
def test_each_missing_header_is_named(family: str, part: str) -> None:
    hdrs = signed(family)
    del hdrs[f"{family}-{part}"]
    assert rejection(SECRET, hdrs) == f"missing header(s): {family}-{part}"


def test_empty_header_counts_as_missing() -> None:
    hdrs = {**signed(), "webhook-signature": ""}
    assert rejection(SECRET, hdrs) == "missing header(s): webhook-signature"


def test_no_signature_headers_at_all() -> None:
    message = rejection(SECRET, {"content-type": "application/json"})
    assert message.startswith("missing signature headers: webhook-id")
    assert "svix-id" in message


def test_mixed_partial_families_do_not_combine() -> None:
    hdrs = signed("webhook")
    mixed = {"webhook-id": hdrs["webhook-id"], "svix-timestamp": hdrs["webhook-timestamp"]}
    assert rejection(SECRET, mixed).startswith("missing header(s): webhook-timestamp, webhook-signature")


def test_both_families_either_one_may_verify() -> None:
    ours_svix = signed("svix")
    foreign_webhook = signed("webhook", secret=OTHER_SECRET)
    verify_recall_webhook(SECRET, {**foreign_webhook, **ours_svix}, BODY, now=NOW)
    verify_recall_webhook(OTHER_SECRET, {**foreign_webhook, **ours_svix}, BODY, now=NOW)


def test_both_families_failing_reports_both() -> None:
    hdrs = {**signed("webhook", secret=OTHER_SECRET), **signed("svix", ts=NOW - 400)}
    assert rejection(SECRET, hdrs) == (
        "webhook-*: no matching v1 signature; svix-*: timestamp is 400 s old (tolerance 300 s)"
    )


# --- payloads --------------------------------------------------------------------------------


def bot_event(event: str, code: str, sub_code: str | None = None, metadata: str = "{}") -> bytes:
    sub = "null" if sub_code is None else f'"{sub_code}"'
    return (
        f'{{"event": "{event}", "data": {{"bot": {{"id": "bot-1", "metadata": {metadata}}}, '
        f'"data": {{"code": "{code}", "sub_code": {sub}, '
        f'"updated_at": "2025-01-29T23:49:58.570998+00:00"}}}}}}'
    ).encode()


UPDATED_AT = datetime(2025, 1, 29, 23, 49, 58, 570998, tzinfo=UTC)


def test_status_event_list_matches_reference() -> None:
    assert sorted(BOT_STATUS_EVENTS) == [
        "bot.call_ended",
        "bot.done",
        "bot.fatal",
        "bot.in_call_not_recording",
        "bot.in_call_recording",
        "bot.in_waiting_room",
        "bot.joining_call",
        "bot.recording_permission_allowed",
        "bot.recording_permission_denied",
    ]


@pytest.mark.parametrize("event", sorted(BOT_STATUS_EVENTS))
def test_every_bot_status_type_parses(event: str) -> None:
    code = event.removeprefix("bot.")
    assert parse_recall_webhook(bot_event(event, code)) == BotStatusEvent(
        event=event, bot_id="bot-1", code=code, sub_code=None, updated_at=UPDATED_AT, metadata={}
    )


def test_bot_fatal_with_sub_code_and_metadata() -> None:
    body = bot_event("bot.fatal", "fatal", "meeting_not_found", '{"meetbridge_event": "cal_1/evt_1"}')
    assert parse_recall_webhook(body) == BotStatusEvent(
        event="bot.fatal",
        bot_id="bot-1",
        code="fatal",
        sub_code="meeting_not_found",
        updated_at=UPDATED_AT,
        metadata={"meetbridge_event": "cal_1/evt_1"},
        message=None,
    )


def test_call_ended_sub_code_and_null_metadata() -> None:
    event = parse_recall_webhook(bot_event("bot.call_ended", "call_ended", "bot_kicked_from_call", "null"))
    assert isinstance(event, BotStatusEvent)
    assert (event.code, event.sub_code, event.metadata) == ("call_ended", "bot_kicked_from_call", {})


def test_legacy_status_change_shape() -> None:
    body = (
        b'{"event": "bot.status_change", "data": {"bot_id": "bot-9", "status": {'
        b'"code": "fatal", "created_at": "2024-03-01T10:00:00.123Z", "sub_code": "meeting_locked",'
        b' "message": "The meeting is locked", "recording_id": null}}}'
    )
    assert parse_recall_webhook(body) == BotStatusEvent(
        event="bot.status_change",
        bot_id="bot-9",
        code="fatal",
        sub_code="meeting_locked",
        updated_at=datetime(2024, 3, 1, 10, 0, 0, 123000, tzinfo=UTC),
        metadata={},
        message="The meeting is locked",
    )


def test_legacy_status_change_minimal() -> None:
    body = b'{"event": "bot.status_change", "data": {"bot_id": "b", "status": {"code": "ready"}}}'
    assert parse_recall_webhook(body) == BotStatusEvent(
        event="bot.status_change", bot_id="b", code="ready", sub_code=None, updated_at=None, metadata={}
    )


def test_calendar_update() -> None:
    body = b'{"event": "calendar.update", "data": {"calendar_id": "cal-1"}}'
    assert parse_recall_webhook(body) == CalendarUpdateEvent(calendar_id="cal-1")


def test_calendar_sync_events_keeps_timestamp_verbatim() -> None:
    body = (
        b'{"event": "calendar.sync_events", '
        b'"data": {"calendar_id": "cal-1", "last_updated_ts": "2025-04-27T01:36:37.056337+00:00"}}'
    )
    assert parse_recall_webhook(body) == CalendarSyncEvent(
        calendar_id="cal-1", last_updated_ts="2025-04-27T01:36:37.056337+00:00"
    )


def test_unknown_fields_are_ignored() -> None:
    body = (
        b'{"event": "calendar.update", "id": "x", "data": {"calendar_id": "cal-1", "extra": [1, 2]},'
        b' "new_top_level": {"a": 1}}'
    )
    assert parse_recall_webhook(body) == CalendarUpdateEvent(calendar_id="cal-1")
    rich = bot_event("bot.done", "done").replace(b'"bot": {', b'"recording": {"id": "r"}, "bot": {"x": 1, ')
    assert parse_recall_webhook(rich) == BotStatusEvent(
        event="bot.done", bot_id="bot-1", code="done", sub_code=None, updated_at=UPDATED_AT, metadata={}
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{"event": "recording.done", "data": {"recording": {"id": "r"}}}',
        b'{"event": "transcript.done", "data": null}',
        b'{"event": "bot.log", "data": {"bot_id": "b", "log": {"level": "info", "message": "hi"}}}',
        b'{"event": "bot.output_log", "data": {"bot_id": "b", "log": {}}}',
        b'{"event": "bot.something_new", "data": {"whatever": true}}',
        b'{"event": "brand.new"}',
    ],
)
def test_unknown_event_types_do_not_raise(body: bytes) -> None:
    event = parse_recall_webhook(body)
    assert isinstance(event, UnknownEvent)
    assert event.event == body.split(b'"')[3].decode()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"not json", "malformed Recall webhook: JSON is malformed: invalid character (byte 4)"),
        (b'{"event": "bot.done"', "malformed Recall webhook: Input data was truncated"),
        (b"", "malformed Recall webhook: Input data was truncated"),
        (b"[]", "malformed Recall webhook: Expected `object`, got `array`"),
        (b'{"data": {}}', "malformed Recall webhook: Object missing required field `event`"),
        (b'{"event": 3}', "malformed Recall webhook: Expected `str`, got `int` - at `$.event`"),
    ],
)
def test_malformed_json_raises_value_error(body: bytes, fragment: str) -> None:
    with pytest.raises(WebhookPayloadError) as info:
        parse_recall_webhook(body)
    assert isinstance(info.value, ValueError)
    assert str(info.value) == fragment


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"event": "bot.done", "data": {"bot": {"metadata": {}}, "data": {"code": "done"}}}',
            "malformed bot.done webhook: Object missing required field `id` - at `$.bot` (within `data`)",
        ),
        (
            b'{"event": "bot.fatal"}',
            "malformed bot.fatal webhook: Expected `object`, got `null` (within `data`)",
        ),
        (
            b'{"event": "bot.status_change", "data": {"bot_id": "b"}}',
            "malformed bot.status_change webhook: Object missing required field `status` (within `data`)",
        ),
        (
            b'{"event": "calendar.sync_events", "data": {"calendar_id": "c"}}',
            "malformed calendar.sync_events webhook: Object missing required field `last_updated_ts`"
            " (within `data`)",
        ),
    ],
)
def test_known_event_with_wrong_shape_raises(body: bytes, message: str) -> None:
    with pytest.raises(WebhookPayloadError) as info:
        parse_recall_webhook(body)
    assert str(info.value) == message
