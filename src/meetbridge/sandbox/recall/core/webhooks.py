"""Bot status webhooks: Svix-style signed POSTs (reference §5), delivered in order by one worker task."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable

import httpx
import msgspec

from meetbridge.sandbox._shared import DeliveryQueue, DeliveryRecord
from meetbridge.sandbox.recall.core.models import HeaderFamily, WebhookEvent

Signer = Callable[[str, str, int, bytes], str]


def sign_webhook(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>"))>`, the key being the base64 after
    `whsec_` (reference §5.2). Written from the reference, not taken from the gateway's verifier, so
    the two check each other."""
    encoded = secret.strip().removeprefix("whsec_")
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise ValueError("webhook secret must be whsec_<base64>") from None
    if not key:
        raise ValueError("webhook secret is empty")
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class WebhookTarget(msgspec.Struct, frozen=True):
    url: str
    secret: str | None
    header_family: HeaderFamily


class Delivery(DeliveryRecord):
    msg_id: str
    event: str
    bot_id: str
    url: str


class WebhookDispatcher(DeliveryQueue[Delivery]):
    def __init__(
        self,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 5.0,
        retry_delays: tuple[float, ...] = (0.2, 1.0),
        signer: Signer = sign_webhook,
    ) -> None:
        super().__init__(
            name="recall-sandbox-webhooks", client=client, timeout=timeout, retry_delays=retry_delays
        )
        self.target: WebhookTarget | None = None
        self._signer = signer

    def configure(self, url: str | None, secret: str | None, header_family: HeaderFamily) -> None:
        """Set or clear the endpoint; a secret that cannot sign is refused here, not at delivery time."""
        if url is None:
            self.target = None
            return
        if secret is not None:
            try:
                self._signer(secret, "msg_check", 0, b"")
            except (ValueError, TypeError) as exc:
                raise ValueError(f"webhook secret cannot sign: {exc}") from exc
        self.target = WebhookTarget(url=url, secret=secret, header_family=header_family)

    def enqueue(self, event: WebhookEvent) -> None:
        self.send(event.event, event.data.bot.id, msgspec.json.encode(event))

    def send(self, event: str, subject_id: str, body: bytes) -> None:
        """Queue any payload; ``subject_id`` (a bot, a calendar) names it in the delivery log."""
        # The target is captured now: reconfiguring later must not redirect events already raised.
        if self.target is None:
            return
        target = self.target
        delivery = Delivery(msg_id=f"msg_{uuid.uuid4().hex}", event=event, bot_id=subject_id, url=target.url)
        self.put(delivery, target.url, body, lambda: self._headers(target, delivery, body))

    def _headers(self, target: WebhookTarget, delivery: Delivery, body: bytes) -> dict[str, str]:
        timestamp = int(time.time())  # wall time, not the sandbox clock: receivers check freshness
        family = target.header_family
        headers = {
            "content-type": "application/json",
            f"{family}-id": delivery.msg_id,
            f"{family}-timestamp": str(timestamp),
        }
        if target.secret is not None:
            headers[f"{family}-signature"] = self._signer(target.secret, delivery.msg_id, timestamp, body)
        return headers
