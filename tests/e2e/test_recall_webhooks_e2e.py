"""Recall bot status webhooks, end to end: the sandbox signs and sends them, the gateway verifies.

Forgeries are sent by hand to the same endpoint; they must be refused without touching the event.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import msgspec
import pytest

from meetbridge.providers.recall.webhooks import sign_recall_webhook
from tests.e2e.recall import BotGateway, event_body, from_now, instant, running_bot_gateway, zoom
from tests.e2e.server import wait_until

pytestmark = pytest.mark.e2e

FAMILIES = ["webhook", "svix"]


@pytest.fixture(scope="module")
def gateway_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotGateway]:
    with running_bot_gateway(tmp_path_factory.mktemp("webhooks")) as gateway:
        yield gateway


@pytest.fixture
def gateway(gateway_process: BotGateway) -> BotGateway:
    return gateway_process.fresh()


@pytest.fixture
def event_id(gateway: BotGateway) -> str:
    """An event whose scheduled bot exists; the call log is empty again afterwards."""
    event_id = f"hook-{uuid.uuid4().hex[:10]}"
    gateway.upsert(event_body(event_id, from_now(days=2), join_url=zoom()))
    gateway.wait_status(event_id, "scheduled")
    gateway.sandbox.clear_calls()
    return event_id


def bot_id_of(gateway: BotGateway, event_id: str) -> str:
    bot_id: str = gateway.event(event_id)["metadata"]["recall"]["bot_id"]
    return bot_id


def status_body(bot_id: str, code: str, sub_code: str | None = None) -> bytes:
    data = {"code": code, "sub_code": sub_code, "updated_at": "2026-01-01T00:00:00Z"}
    return msgspec.json.encode(
        {"event": f"bot.{code}", "data": {"bot": {"id": bot_id, "metadata": {}}, "data": data}}
    )


def signed_headers(
    secret: str, family: str, body: bytes, *, msg_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        f"{family}-id": msg_id,
        f"{family}-timestamp": str(timestamp),
        f"{family}-signature": sign_recall_webhook(secret, msg_id, timestamp, body),
    }


def deliver(gateway: BotGateway, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(gateway.webhook_url, content=body, headers=headers, timeout=10)


# --- signed deliveries from the sandbox ----------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_sandbox_status_webhooks_update_the_event(gateway: BotGateway, event_id: str, family: str) -> None:
    gateway.sandbox.set_webhook(gateway.webhook_url, gateway.webhook_secret, family)
    bot_id = bot_id_of(gateway, event_id)

    def recall_status() -> Any:
        return gateway.event(event_id)["metadata"]["recall"].get("status")

    # hold: the bot stays put instead of walking on to call_ended by itself.
    gateway.sandbox.force_status(bot_id, "in_call_recording", hold=True)
    wait_until(lambda: recall_status() == "in_call_recording", timeout=10, what="in_call_recording webhook")
    extension = gateway.extension(event_id)
    assert (extension["status"], extension["bot_id"]) == ("scheduled", bot_id)

    gateway.sandbox.force_status(bot_id, "fatal", sub_code="meeting_not_found")
    wait_until(lambda: gateway.extension(event_id)["status"] == "failed", timeout=10, what="fatal webhook")
    assert "meeting_not_found" in gateway.extension(event_id)["last_error"]
    assert gateway.event(event_id)["metadata"]["recall"] == {"bot_id": bot_id, "status": "fatal"}
    mine = [d for d in gateway.sandbox.deliveries() if d["bot_id"] == bot_id]
    assert [(d["event"], d["delivered"], d["status"]) for d in mine] == [
        ("bot.in_call_recording", True, 200),
        ("bot.fatal", True, 200),
    ]
    assert gateway.sandbox.calls() == []  # a status report is not a reason to call Recall


# --- forgeries -----------------------------------------------------------------------------------

Forgery = Callable[[str, str, bytes], tuple[bytes, dict[str, str]]]
WRONG_SECRET = "whsec_" + "d3Jvbmcgc2VjcmV0IHdyb25nIHNlY3JldA=="


def _forged_signature(family: str, secret: str, body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed_headers(WRONG_SECRET, family, body)


def _tampered_body(family: str, secret: str, body: bytes) -> tuple[bytes, dict[str, str]]:
    headers = signed_headers(secret, family, body)
    return body.replace(b"meeting_not_found", b"meeting_not_started"), headers


def _no_headers(family: str, secret: str, body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {"content-type": "application/json"}


def _no_signature_header(family: str, secret: str, body: bytes) -> tuple[bytes, dict[str, str]]:
    headers = signed_headers(secret, family, body)
    del headers[f"{family}-signature"]
    return body, headers


def _stale_timestamp(family: str, secret: str, body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed_headers(secret, family, body, timestamp=int(time.time()) - 6 * 60)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    "forge",
    [_forged_signature, _tampered_body, _no_headers, _no_signature_header, _stale_timestamp],
    ids=["wrong-secret", "tampered-body", "no-headers", "no-signature-header", "stale-6-min"],
)
def test_forged_webhooks_are_refused_and_change_nothing(
    gateway: BotGateway, event_id: str, family: str, forge: Forgery
) -> None:
    before = gateway.event(event_id)
    genuine = status_body(bot_id_of(gateway, event_id), "fatal", "meeting_not_found")

    body, headers = forge(family, gateway.webhook_secret, genuine)
    refused = deliver(gateway, body, headers)

    assert refused.status_code == 401, refused.text
    assert gateway.event(event_id) == before
    # The same report, signed properly, is taken: the refusal was about the signature alone.
    accepted = deliver(gateway, genuine, signed_headers(gateway.webhook_secret, family, genuine))
    assert accepted.status_code == 200, accepted.text
    assert gateway.extension(event_id)["status"] == "failed"


@pytest.mark.parametrize("family", FAMILIES)
def test_a_redelivered_webhook_changes_nothing_twice(gateway: BotGateway, event_id: str, family: str) -> None:
    bot_id = bot_id_of(gateway, event_id)
    recording = status_body(bot_id, "in_call_recording")
    first = signed_headers(gateway.webhook_secret, family, recording)
    assert deliver(gateway, recording, first).status_code == 200
    assert gateway.event(event_id)["metadata"]["recall"]["status"] == "in_call_recording"
    paused = status_body(bot_id, "in_call_not_recording")
    assert deliver(gateway, paused, signed_headers(gateway.webhook_secret, family, paused)).status_code == 200
    before = gateway.event(event_id)
    assert before["metadata"]["recall"]["status"] == "in_call_not_recording"

    # Svix retries with the same message id (and a fresh timestamp and signature).
    again = signed_headers(gateway.webhook_secret, family, recording, msg_id=first[f"{family}-id"])
    redelivered = deliver(gateway, recording, again)

    assert redelivered.status_code == 200, redelivered.text
    assert gateway.event(event_id) == before  # not rolled back to in_call_recording, not even touched
    assert gateway.sandbox.calls() == []


def test_unknown_event_types_are_acknowledged_without_effect(gateway: BotGateway, event_id: str) -> None:
    before = gateway.event(event_id)
    body = msgspec.json.encode({"event": "transcript.done", "data": {"transcript": {"id": "t1"}}})
    response = deliver(gateway, body, signed_headers(gateway.webhook_secret, "webhook", body))
    assert response.status_code == 200, response.text
    assert gateway.event(event_id) == before


def test_a_fatal_bot_is_not_reported_scheduled_after_an_unrelated_edit(
    gateway: BotGateway, event_id: str
) -> None:
    bot_id = bot_id_of(gateway, event_id)
    gateway.sandbox.force_status(bot_id, "fatal", sub_code="meeting_not_found")
    wait_until(lambda: gateway.extension(event_id)["status"] == "failed", timeout=10, what="fatal webhook")
    body = event_body(
        event_id, instant(gateway.event(event_id)["start"]), join_url=zoom(), summary="new title"
    )

    gateway.upsert(body)
    gateway.settle()

    # A new title needs no provider call: the fatal bot stays the event's, and the event says why.
    extension = gateway.extension(event_id)
    assert (extension["status"], extension["bot_id"]) == ("failed", bot_id), extension
    assert "meeting_not_found" in (extension["last_error"] or ""), extension
    assert [bot["id"] for bot in gateway.sandbox.bots_of(gateway.event(event_id)["event_uid"])] == [bot_id]
