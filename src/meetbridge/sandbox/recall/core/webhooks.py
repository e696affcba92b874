"""Bot status webhooks: Svix-style signed POSTs (reference §5), delivered in order by one worker task."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import cast

import httpx
import msgspec

from meetbridge.sandbox._shared import DeliveryQueue
from meetbridge.sandbox.recall.core.models import HeaderFamily, WebhookEvent

Signer = Callable[[str, str, int, bytes], str]


def _reference_signer(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    encoded = secret.strip().removeprefix("whsec_")
    key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def load_signer() -> Signer:
    """The provider package's signer, so the sandbox signs exactly as meetbridge verifies.

    Imported lazily because the provider package may be absent (or not yet written) where the sandbox
    runs; the fallback is the reference algorithm (§5.2) itself.
    """
    try:
        module = importlib.import_module("meetbridge.providers.recall.webhooks")
    except ImportError:
        return _reference_signer
    signer = getattr(module, "sign_recall_webhook", None)
    return cast(Signer, signer) if callable(signer) else _reference_signer


class WebhookTarget(msgspec.Struct, frozen=True):
    url: str
    secret: str | None
    header_family: HeaderFamily


class Delivery(msgspec.Struct):
    msg_id: str
    event: str
    bot_id: str
    url: str
    attempts: int = 0
    status: int | None = None
    error: str | None = None
    delivered: bool = False


class WebhookDispatcher:
    def __init__(
        self,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 5.0,
        retry_delays: tuple[float, ...] = (0.2, 1.0),
        signer: Signer | None = None,
    ) -> None:
        self.target: WebhookTarget | None = None
        self._signer = signer or load_signer()
        self._queue = DeliveryQueue(
            name="recall-sandbox-webhooks", client=client, timeout=timeout, retry_delays=retry_delays
        )
        # Bounded so a long demo or benchmark run does not grow without limit.
        self.deliveries: deque[Delivery] = deque(maxlen=10_000)

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
        delivery = Delivery(
            msg_id=f"msg_{uuid.uuid4().hex}", event=event, bot_id=subject_id, url=self.target.url
        )
        self.deliveries.append(delivery)
        target = self.target
        self._queue.put(delivery, target.url, body, lambda: self._headers(target, delivery, body))

    def start(self) -> None:
        self._queue.start()

    async def wait_idle(self) -> None:
        """Until every queued event has been delivered or given up on; callers bound it with a timeout."""
        await self._queue.wait_idle()

    async def aclose(self) -> None:
        await self._queue.aclose()

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
