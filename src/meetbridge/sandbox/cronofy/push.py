"""Push notifications (reference §5): HMAC-signed POSTs to channel callbacks, delivered in order by one
worker task. Pushes can be suppressed, so tests can prove the gateway's fallback poll."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools

import httpx
import msgspec

from meetbridge.sandbox._shared import DeliveryQueue, DeliveryRecord
from meetbridge.sandbox.cronofy.models import NotificationBody

SIGNATURE_HEADER = "Cronofy-HMAC-SHA256"


def sign_push(client_secret: str, body: bytes) -> str:
    """base64(HMAC-SHA256(key=client_secret, msg=raw body)) (reference §5)."""
    digest = hmac.new(client_secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class PushDelivery(DeliveryRecord):
    id: int
    channel_id: str
    type: str
    url: str
    changes_since: str | None
    suppressed: bool = False


class PushDispatcher(DeliveryQueue[PushDelivery]):
    def __init__(
        self,
        *,
        client_secret: str,
        client: httpx.AsyncClient | None = None,
        timeout: float = 5.0,
        retry_delays: tuple[float, ...] = (0.2, 1.0),
    ) -> None:
        super().__init__(
            name="cronofy-sandbox-push", client=client, timeout=timeout, retry_delays=retry_delays
        )
        self._secret = client_secret
        self._ids = itertools.count(1)
        self.suppress_remaining = 0

    def enqueue(self, notification: NotificationBody) -> None:
        changes_since = notification.notification.changes_since
        delivery = PushDelivery(
            id=next(self._ids),
            channel_id=notification.channel.channel_id,
            type=notification.notification.type,
            url=notification.channel.callback_url,
            changes_since=changes_since if isinstance(changes_since, str) else None,
        )
        if self.suppress_remaining > 0:
            # Logged but never sent: as if Cronofy's push got lost on the way.
            self.suppress_remaining -= 1
            delivery.suppressed = True
            self.deliveries.append(delivery)
            return
        body = msgspec.json.encode(notification)
        headers = {
            "content-type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign_push(self._secret, body),
        }
        self.put(delivery, delivery.url, body, lambda: headers)
