"""The outbound webhook sender: claims due messages (leases, so replicas share the work), signs each
with Standard Webhooks (the ``standardwebhooks`` library) and posts it, 15 s at most an attempt.

It runs beside the bot job worker with its own bounded concurrency (``[webhooks] concurrency``, at
most ``per_endpoint_concurrency`` to one endpoint), so a slow or dead endpoint delays neither
another endpoint's messages nor the bots.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
import uuid
from datetime import datetime
from urllib.parse import urlsplit

import httpx
from standardwebhooks.webhooks import Webhook

from meetbridge.config.live import LiveConfig
from meetbridge.config.sealing import SealError
from meetbridge.config.webhooks import WebhooksConfig
from meetbridge.db.tables import utcnow
from meetbridge.db.webhook_deliveries import Attempt, ClaimedMessage, DeliveryStore
from meetbridge.db.webhook_endpoints import open_secret
from meetbridge.engine.webhooks_out.guard import UnsafeURL, resolve, url_problem
from meetbridge.observability import metrics

log = logging.getLogger("meetbridge.webhooks_out")

PRUNE_EVERY = 3600.0  # seconds between removals of old finished messages
ATTEMPT_TIMEOUT = 15.0  # seconds: a 2xx within this is a delivery (Standard Webhooks' advice)
USER_AGENT = "meetbridge-webhooks/1"


def signature_header(message_id: str, at: datetime, body: str, secrets: list[str]) -> str:
    """One ``v1,…`` signature per secret (two while a rotated-out one is still valid)."""
    return " ".join(Webhook(secret).sign(message_id, at, body) for secret in secrets)


class WebhookSender:
    def __init__(
        self,
        store: DeliveryStore,
        live: LiveConfig,
        *,
        poll_interval: float = 1.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.store = store
        self.live = live
        self.poll_interval = poll_interval
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}:webhooks"
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(ATTEMPT_TIMEOUT),
            follow_redirects=False,  # a redirect could lead past the address check
            transport=transport,
            trust_env=False,  # never through a proxy the environment names: the guard checked this address
        )
        self._wake = asyncio.Event()
        self._running: dict[int, tuple[str, asyncio.Task[None]]] = {}
        self._pruned_at = 0.0

    @property
    def settings(self) -> WebhooksConfig:
        return self.live.current.webhooks

    def wake(self) -> None:
        """Called once a transaction that wrote messages has committed."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                self._wake.clear()
                await self._prune()
                if await self._claim():
                    continue
                await self._sleep(stop)
        finally:
            if self._running:
                await asyncio.wait([task for _, task in self._running.values()], timeout=ATTEMPT_TIMEOUT)
            for _, task in self._running.values():
                task.cancel()
            await self._client.aclose()

    async def _prune(self) -> None:
        if time.monotonic() - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = time.monotonic()
        try:
            await self.store.prune()
        except Exception:
            log.exception("removing old webhook messages failed; trying again in an hour")

    async def _claim(self) -> bool:
        free = self.settings.concurrency - len(self._running)
        if free <= 0:
            return False
        try:
            claimed = await self.store.claim(
                self.owner,
                free,
                per_endpoint=self.settings.per_endpoint_concurrency,
                busy=[endpoint for endpoint, _ in self._running.values()],
            )
        except Exception:
            log.exception("claiming webhook messages failed; trying again shortly")
            return False
        for message in claimed:
            task = asyncio.create_task(
                self._deliver(message), name=f"meetbridge-webhook-{message.message_id}"
            )
            self._running[message.pk] = (message.endpoint_id, task)
            task.add_done_callback(functools.partial(self._done, message.pk))
        return bool(claimed)

    def _done(self, pk: int, _task: asyncio.Task[None]) -> None:
        self._running.pop(pk, None)
        self._wake.set()

    async def _sleep(self, stop: asyncio.Event) -> None:
        timeout = self.poll_interval
        with contextlib.suppress(Exception):
            due = await self.store.next_due()
            if due is not None:
                timeout = max(0.01, min(timeout, (due - utcnow()).total_seconds()))
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _deliver(self, message: ClaimedMessage) -> None:
        attempt = await self.attempt(message)
        schedule = self.settings.retry_schedule_seconds
        retry_in = schedule[message.attempts] if message.attempts < len(schedule) else None
        try:
            await self.store.record(self.owner, message, attempt, retry_in=retry_in)
        except Exception:
            log.exception("recording webhook attempt %s failed; its lease expires", message.message_id)
        metrics.outbound_delivery(
            "delivered" if attempt.succeeded else "retried" if retry_in is not None else "failed"
        )
        if not attempt.succeeded:
            log.info(
                "webhook %s to endpoint %s: %s",
                message.message_id,
                message.endpoint_id,
                attempt.error or f"HTTP {attempt.status_code}",
            )

    async def attempt(self, message: ClaimedMessage) -> Attempt:
        """One signed POST; never raises (what went wrong is the attempt's ``error``)."""
        at = utcnow()
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            async with asyncio.timeout(ATTEMPT_TIMEOUT):
                status = await self._post(message, at)
        except UnsafeURL as exc:
            error = f"refused: {exc}"
        except SealError:
            error = "the endpoint's secret cannot be opened with this [server] secret_key (was it changed?)"
        except TimeoutError:
            error = f"no answer within {ATTEMPT_TIMEOUT:.0f}s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        duration_ms = int((time.monotonic() - started) * 1000)
        return Attempt(at=at, status_code=status, error=error, duration_ms=duration_ms)

    async def _post(self, message: ClaimedMessage, at: datetime) -> int:
        allow_private = self.settings.allow_private_urls
        problem = url_problem(message.url, allow_private=allow_private)
        if problem:
            raise UnsafeURL(f"url {problem}")
        parts = urlsplit(message.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = (await resolve(host, port, allow_private=allow_private))[0]
        key = self.live.current.server.secret_key
        secret_key = key.reveal() if key else None
        secrets = [open_secret(message.secret, secret_key)]
        if message.previous_secret:
            secrets.append(open_secret(message.previous_secret, secret_key))
        url = httpx.URL(message.url).copy_with(host=str(address))  # exactly the address checked
        headers = {
            "host": parts.netloc.rpartition("@")[2],
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": message.message_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signature_header(message.message_id, at, message.body, secrets),
        }
        request = self._client.build_request(
            "POST", url, content=message.body.encode(), headers=headers, extensions={"sni_hostname": host}
        )
        response = await self._client.send(request, stream=True)
        await response.aclose()  # the answer's body is not ours to read
        return response.status_code
