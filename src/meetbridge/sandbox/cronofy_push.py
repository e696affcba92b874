"""Push notifications (reference §5): HMAC-signed POSTs to channel callbacks, delivered in order by one
worker task. Pushes can be suppressed, so tests can prove the gateway's fallback poll."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
from collections import deque

import httpx
import msgspec

from meetbridge.sandbox.cronofy_models import NotificationBody

SIGNATURE_HEADER = "Cronofy-HMAC-SHA256"


def sign_push(client_secret: str, body: bytes) -> str:
    """base64(HMAC-SHA256(key=client_secret, msg=raw body)) (reference §5)."""
    digest = hmac.new(client_secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class PushDelivery(msgspec.Struct):
    id: int
    channel_id: str
    type: str
    url: str
    changes_since: str | None
    suppressed: bool = False
    attempts: int = 0
    status: int | None = None
    error: str | None = None
    delivered: bool = False


class _Job(msgspec.Struct, frozen=True):
    delivery: PushDelivery
    body: bytes


class PushDispatcher:
    def __init__(
        self,
        *,
        client_secret: str,
        client: httpx.AsyncClient | None = None,
        timeout: float = 5.0,
        retry_delays: tuple[float, ...] = (0.2, 1.0),
    ) -> None:
        self._secret = client_secret
        self._client = client
        self._owns_client = client is None
        self._timeout = timeout
        self._retry_delays = retry_delays
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self.suppress_remaining = 0
        # Bounded so a long demo or benchmark run does not grow without limit.
        self.deliveries: deque[PushDelivery] = deque(maxlen=10_000)

    def enqueue(self, notification: NotificationBody) -> None:
        changes_since = notification.notification.changes_since
        delivery = PushDelivery(
            id=next(self._ids),
            channel_id=notification.channel.channel_id,
            type=notification.notification.type,
            url=notification.channel.callback_url,
            changes_since=changes_since if isinstance(changes_since, str) else None,
        )
        self.deliveries.append(delivery)
        if self.suppress_remaining > 0:
            # Recorded but never sent: as if Cronofy's push got lost on the way.
            self.suppress_remaining -= 1
            delivery.suppressed = True
            return
        self._queue.put_nowait(_Job(delivery=delivery, body=msgspec.json.encode(notification)))

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._run(), name="cronofy-sandbox-push")

    async def wait_idle(self) -> None:
        """Until every queued push has been delivered or given up on; callers bound it with a timeout."""
        await self._queue.join()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._deliver(job)
            except Exception as exc:  # a bad delivery must never stop the sandbox
                job.delivery.error = repr(exc)
            finally:
                self._queue.task_done()

    async def _deliver(self, job: _Job) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient()
        delivery = job.delivery
        headers = {
            "content-type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign_push(self._secret, job.body),
        }
        for delay in (0.0, *self._retry_delays):
            if delay:
                await asyncio.sleep(delay)
            delivery.attempts += 1
            try:
                response = await self._client.post(
                    delivery.url, content=job.body, headers=headers, timeout=self._timeout
                )
            except httpx.HTTPError as exc:
                delivery.error, delivery.status = repr(exc), None
                continue
            delivery.status = response.status_code
            if response.is_success:
                delivery.delivered, delivery.error = True, None
                return
            delivery.error = f"HTTP {response.status_code}"
