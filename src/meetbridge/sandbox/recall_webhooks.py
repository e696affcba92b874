"""Bot status webhooks: Svix-style signed POSTs (reference §5), delivered in order by one worker task."""

from __future__ import annotations

import asyncio
import base64
import contextlib
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

from meetbridge.sandbox.recall_models import HeaderFamily, WebhookEvent

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


class _Job(msgspec.Struct, frozen=True):
    target: WebhookTarget
    delivery: Delivery
    body: bytes


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
        self._client = client
        self._owns_client = client is None
        self._timeout = timeout
        self._retry_delays = retry_delays
        self._signer = signer or load_signer()
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
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
        self._queue.put_nowait(_Job(target=self.target, delivery=delivery, body=body))

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._run(), name="recall-sandbox-webhooks")

    async def wait_idle(self) -> None:
        """Until every queued event has been delivered or given up on; callers bound it with a timeout."""
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

    def _headers(self, job: _Job) -> dict[str, str]:
        timestamp = int(time.time())  # wall time, not the sandbox clock: receivers check freshness
        family = job.target.header_family
        headers = {
            "content-type": "application/json",
            f"{family}-id": job.delivery.msg_id,
            f"{family}-timestamp": str(timestamp),
        }
        if job.target.secret is not None:
            signature = self._signer(job.target.secret, job.delivery.msg_id, timestamp, job.body)
            headers[f"{family}-signature"] = signature
        return headers

    async def _deliver(self, job: _Job) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient()
        delivery = job.delivery
        for delay in (0.0, *self._retry_delays):
            if delay:
                await asyncio.sleep(delay)
            delivery.attempts += 1
            try:
                response = await self._client.post(
                    job.target.url, content=job.body, headers=self._headers(job), timeout=self._timeout
                )
            except httpx.HTTPError as exc:
                delivery.error, delivery.status = repr(exc), None
                continue
            delivery.status = response.status_code
            if response.is_success:
                delivery.delivered, delivery.error = True, None
                return
            delivery.error = f"HTTP {response.status_code}"
