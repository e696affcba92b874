from __future__ import annotations

import base64

import pytest

from meetbridge.config.sealing import PROVIDER_TOKENS, SealError, seal, seal_json, unseal, unseal_json
from meetbridge.errors import MeetbridgeError
from meetbridge.providers.oauth_connect import open_state

KEY = "server-secret-key-0123456789abcdef"
OTHER_KEY = "server-secret-key-fedcba9876543210"
PLAINTEXT = b"refresh-token-ABCDEFGHIJKLMNOP"


def test_round_trip() -> None:
    token = seal(PLAINTEXT, KEY, purpose=PROVIDER_TOKENS)
    assert unseal(token, KEY, purpose=PROVIDER_TOKENS) == PLAINTEXT


def test_empty_plaintext_round_trips() -> None:
    assert unseal(seal(b"", KEY, purpose=PROVIDER_TOKENS), KEY, purpose=PROVIDER_TOKENS) == b""


def test_each_seal_is_different() -> None:
    # A random IV per token: equal plaintexts are not recognisable in storage.
    assert seal(PLAINTEXT, KEY, purpose=PROVIDER_TOKENS) != seal(PLAINTEXT, KEY, purpose=PROVIDER_TOKENS)


def test_token_is_ascii_and_does_not_contain_the_plaintext() -> None:
    token = seal(PLAINTEXT, KEY, purpose=PROVIDER_TOKENS)
    assert token.isascii()
    assert PLAINTEXT.decode() not in token
    assert base64.urlsafe_b64encode(PLAINTEXT).decode()[:16] not in token
    assert PLAINTEXT not in base64.urlsafe_b64decode(token)


def test_another_purpose_cannot_open() -> None:
    token = seal(PLAINTEXT, KEY, purpose=PROVIDER_TOKENS)
    with pytest.raises(SealError):
        unseal(token, KEY, purpose="meetbridge/provider-tokens/v2")
    with pytest.raises(SealError):
        unseal(token, KEY, purpose="meetbridge/oauth-connect-state/v1")


def test_wrong_key_cannot_open() -> None:
    token = seal(PLAINTEXT, KEY, purpose=PROVIDER_TOKENS)
    with pytest.raises(SealError) as info:
        unseal(token, OTHER_KEY, purpose=PROVIDER_TOKENS)
    message = str(info.value)
    for hidden in (KEY, OTHER_KEY, token, PLAINTEXT.decode()):
        assert hidden not in message


def test_tampered_token_cannot_open() -> None:
    raw = bytearray(base64.urlsafe_b64decode(seal(PLAINTEXT, KEY, purpose=PROVIDER_TOKENS)))
    for index in (0, 9, 30, len(raw) - 1):  # version, timestamp, ciphertext, MAC
        changed = bytearray(raw)
        changed[index] ^= 0x01
        with pytest.raises(SealError):
            unseal(base64.urlsafe_b64encode(changed).decode(), KEY, purpose=PROVIDER_TOKENS)


@pytest.mark.parametrize("token", ["", "not a token", "gAAAAA", "é" * 40, "\x00"])
def test_garbage_is_a_seal_error(token: str) -> None:
    with pytest.raises(SealError):
        unseal(token, KEY, purpose=PROVIDER_TOKENS)


def test_seal_error_is_a_meetbridge_error() -> None:
    assert issubclass(SealError, MeetbridgeError)


@pytest.mark.parametrize(("key", "purpose"), [("", PROVIDER_TOKENS), (KEY, "")])
def test_empty_key_or_purpose_is_a_configuration_error(key: str, purpose: str) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        seal(PLAINTEXT, key, purpose=purpose)
    with pytest.raises(ValueError, match="non-empty"):
        unseal("token", key, purpose=purpose)


def test_json_round_trip() -> None:
    tokens = {"access_token": "at", "refresh_token": "rt", "expires_at": 1_737_105_856, "scope": None}
    token = seal_json(tokens, KEY, purpose=PROVIDER_TOKENS)
    assert "refresh_token" not in token
    assert unseal_json(token, KEY, purpose=PROVIDER_TOKENS) == tokens


def test_json_helpers_honour_purpose_and_key() -> None:
    token = seal_json({"a": "b"}, KEY, purpose=PROVIDER_TOKENS)
    with pytest.raises(SealError):
        unseal_json(token, OTHER_KEY, purpose=PROVIDER_TOKENS)
    with pytest.raises(SealError):
        unseal_json(token, KEY, purpose="elsewhere/v1")


@pytest.mark.parametrize("plaintext", [b"[1, 2]", b'"text"', b"not json"])
def test_unseal_json_of_a_non_object_is_a_seal_error(plaintext: bytes) -> None:
    token = seal(plaintext, KEY, purpose=PROVIDER_TOKENS)
    with pytest.raises(SealError, match="not a JSON object"):
        unseal_json(token, KEY, purpose=PROVIDER_TOKENS)


def test_derivation_matches_the_connect_state() -> None:
    # Same HKDF as providers/oauth_connect.py: one derivation for every sealed thing in meetbridge.
    payload = {"calendar_id": "c", "profile_id": "p", "platform": "google_calendar", "code_verifier": "v"}
    token = seal_json(payload, KEY, purpose="meetbridge/oauth-connect-state/v1")
    assert open_state(token, KEY) == payload
