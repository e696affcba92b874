"""Outbound deliveries of the stand-ins (Recall webhooks, Cronofy pushes): one ordered queue, one worker
task, a few retries, a log of every delivery and its attempts. A failed delivery never stops a sandbox."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

import httpx
import msgspec

from meetbridge.sandbox._shared.tasks import BackgroundTask

Headers = Callable[[], dict[str, str]]  # called per attempt: signatures may carry the attempt's time


class DeliveryRecord(msgspec.Struct, kw_only=True):
    """What every delivery log entry tracks; the queue fills it in as it makes its attempts. Keyword-only,
    so a subclass's own fields come first and read first on the wire."""

    attempts: int = 0
    status: int | None = None
    error: str | None = None
    delivered: bool = False


Record = TypeVar("Record", bound=DeliveryRecord)


class _Job(msgspec.Struct, frozen=True):
    record: DeliveryRecord
    url: str
    body: bytes
    headers: Headers


class DeliveryQueue(Generic[Record]):
    """The base of a stand-in's dispatcher: it builds the records and bodies, this sends them in order."""

    def __init__(
        self,
        *,
        name: str,
        client: httpx.AsyncClient | None = None,
        timeout: float = 5.0,
        retry_delays: tuple[float, ...] = (0.2, 1.0),
    ) -> None:
        self._client = client
        self._owns_client = client is None
        self._timeout = timeout
        self._retry_delays = retry_delays
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._worker = BackgroundTask(self._run, name=name)
        # Bounded so a long demo or benchmark run does not grow without limit.
        self.deliveries: deque[Record] = deque(maxlen=10_000)

    def put(self, record: Record, url: str, body: bytes, headers: Headers) -> None:
        """Log `record` and queue its delivery."""
        self.deliveries.append(record)
        self._queue.put_nowait(_Job(record=record, url=url, body=body, headers=headers))

    def start(self) -> None:
        self._worker.ensure_running()

    async def wait_idle(self) -> None:
        """Until every queued delivery has been made or given up on; callers bound it with a timeout."""
        await self._queue.join()

    async def aclose(self) -> None:
        await self._worker.stop()
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._deliver(job)
            except Exception as exc:  # a bad delivery must never stop the sandbox
                job.record.error = repr(exc)
            finally:
                self._queue.task_done()

    async def _deliver(self, job: _Job) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient()
        record = job.record
        for delay in (0.0, *self._retry_delays):
            if delay:
                await asyncio.sleep(delay)
            record.attempts += 1
            try:
                response = await self._client.post(
                    job.url, content=job.body, headers=job.headers(), timeout=self._timeout
                )
            except httpx.HTTPError as exc:
                record.error, record.status = repr(exc), None
                continue
            record.status = response.status_code
            if response.is_success:
                record.delivered, record.error = True, None
                return
            record.error = f"HTTP {response.status_code}"
