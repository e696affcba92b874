"""The worker loop: claim due jobs, run them concurrently, heartbeat their leases, retry or give up.

It runs inside ``meetbridge serve`` by default and alone as ``meetbridge worker``. In-process upserts
wake it at once; jobs written by other processes wake it through ``listen`` where the database can
tell (PostgreSQL's LISTEN/NOTIFY), and are found by polling either way.
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
from collections.abc import Callable, Coroutine, Mapping
from typing import Protocol, runtime_checkable

from meetbridge.config.catalogue import Catalogue, RetryBudget
from meetbridge.db.fencing import Lease, current_lease
from meetbridge.db.tables import utcnow
from meetbridge.engine.retry import Retry, RetryStrategy
from meetbridge.engine.store import ClaimedJob, JobKey, JobStore
from meetbridge.errors import AdapterFailure, LeaseLost
from meetbridge.observability import metrics

log = logging.getLogger("meetbridge.worker")

DEFAULT_BUDGET = RetryBudget(max_attempts=12, base_delay_seconds=1.0, max_delay_seconds=300.0)
# Runs until the event is set, calling the function whenever another process enqueued a job.
Listen = Callable[[asyncio.Event, Callable[[], None]], Coroutine[object, object, None]]


class JobHandler(Protocol):
    """Runs the jobs of one kind; ``subject`` is what the job is about (an event pk, a link id)."""

    async def run(self, subject: int) -> None: ...

    async def fail(self, subject: int, reason: str) -> None:
        """The worker gave up: make that visible where the subject is read."""
        ...

    async def note_retry(self, subject: int, error: str, delay: float) -> None: ...


@runtime_checkable
class PreparesBatches(Protocol):
    """A handler that reads what a claimed batch of its jobs needs in one go, before they run."""

    async def prepare(self, subjects: list[int]) -> None: ...


class Worker:
    def __init__(
        self,
        store: JobStore,
        handlers: Mapping[str, JobHandler],
        catalogue: Catalogue,
        *,
        concurrency: int = 16,
        poll_interval: float = 1.0,
        listen: Listen | None = None,
        heartbeat_interval: float | None = None,
        stop_grace: float = 2.0,
    ) -> None:
        """``heartbeat_interval``: seconds between lease renewals (a third of the lease by default);
        ``stop_grace``: how long a stop lets running jobs finish before handing them back."""
        self.store = store
        self.handlers = handlers
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.listen = listen
        self.heartbeat_interval = heartbeat_interval or store.lease.total_seconds() / 3
        self.stop_grace = stop_grace
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.strategies = {name: RetryStrategy(spec.retry) for name, spec in catalogue.adapters.items()}
        self.default_strategy = RetryStrategy(DEFAULT_BUDGET)
        self._wake = asyncio.Event()
        self._running: dict[JobKey, asyncio.Task[None]] = {}
        self._claims: dict[JobKey, ClaimedJob] = {}
        # Jobs that ran, waiting to be finished together (their leases hold them meanwhile).
        self._finishing: list[tuple[ClaimedJob, float]] = []
        self._finisher: asyncio.Task[None] | None = None
        self._last_look = time.monotonic()

    def heartbeat_age(self) -> float:
        """Seconds since the loop last looked for jobs (a poll interval at most while it is healthy)."""
        return time.monotonic() - self._last_look

    def wake(self) -> None:
        """Called after a transaction that enqueued a job has committed."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(stop), name="meetbridge-heartbeat")
        listener: asyncio.Task[None] | None = None
        if self.listen is not None:
            listener = asyncio.create_task(self.listen(stop, self.wake), name="meetbridge-job-listener")
        try:
            while not stop.is_set():
                # Cleared before claiming, never after sleeping: a wake that arrives while we claim
                # or sleep is kept, so no committed job waits for the next poll.
                self._wake.clear()
                self._last_look = time.monotonic()
                claimed = await self._claim()
                if claimed and len(self._running) < self.concurrency:
                    continue  # there may be more due right now
                await self._sleep(stop)
        finally:
            heartbeat.cancel()
            if listener is not None:
                listener.cancel()
            await self._hand_back()
            if self._finisher is not None:
                await self._finisher
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            if listener is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await listener

    async def _hand_back(self) -> None:
        """A clean stop (SIGTERM): running jobs get ``stop_grace`` to finish their call and write-back;
        the rest are cancelled and their leases given up, so another replica takes them within
        seconds (``store.HAND_BACK_AFTER``) instead of when the leases expire. A create cut short is
        recorded before it was sent, so the next owner finds its bot instead of making a second."""
        if self._running:
            await asyncio.wait(list(self._running.values()), timeout=self.stop_grace)
        unfinished = [self._claims[key] for key in self._running if key in self._claims]
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if not unfinished:
            return
        try:
            handed = await self.store.hand_back(self.owner, unfinished)
            log.info("stopping: handed %d running job(s) back for another worker", handed)
        except Exception:
            log.exception("handing jobs back failed; their leases expire instead")

    async def _claim(self) -> bool:
        free = self.concurrency - len(self._running)
        if free <= 0:
            return False
        try:
            jobs = await self.store.claim(self.owner, free, running=list(self._running))
        except Exception:
            log.exception("claiming jobs failed; trying again shortly")
            return False
        await self._prepare(jobs)
        for job in jobs:
            task = asyncio.create_task(self._run(job), name=f"meetbridge-job-{job.kind}-{job.subject}")
            self._running[job.key] = task
            self._claims[job.key] = job
            task.add_done_callback(functools.partial(self._done, job.key))
        return bool(jobs)

    async def _prepare(self, claimed: list[ClaimedJob]) -> None:
        for kind in {job.kind for job in claimed}:
            handler = self.handlers.get(kind)
            if isinstance(handler, PreparesBatches):
                try:
                    await handler.prepare([job.subject for job in claimed if job.kind == kind])
                except Exception:
                    log.exception("reading ahead for %s jobs failed; each reads for itself", kind)

    def _done(self, key: JobKey, _task: asyncio.Task[None]) -> None:
        self._running.pop(key, None)
        self._claims.pop(key, None)
        self._wake.set()  # a slot is free

    async def _sleep(self, stop: asyncio.Event) -> None:
        full = len(self._running) >= self.concurrency
        # Full, nothing can be claimed before a slot frees, and a freed slot wakes the loop.
        timeout = self.poll_interval if full else await self._until_due()
        if timeout <= 0 and not full:
            return
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(
                waiters, timeout=timeout or self.poll_interval, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _until_due(self) -> float:
        """Seconds until the next job this worker could claim is due (at most a poll interval)."""
        timeout = self.poll_interval
        with contextlib.suppress(Exception):
            # Keys of jobs still running here are left out (a lease that ran out under a running job
            # would otherwise wake this loop at once, over and over).
            due = await (
                self.store.next_due(running=list(self._running)) if self._running else self.store.next_due()
            )
            if due is not None:
                timeout = max(0.0, min(timeout, (due - utcnow()).total_seconds()))
        return timeout

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(self.heartbeat_interval)
            try:
                await self.store.heartbeat(self.owner, list(self._running))
            except Exception:
                log.exception("lease heartbeat failed")

    async def _run(self, job: ClaimedJob) -> None:
        started = metrics.job_started(job.kind, job.subject)
        handler = self.handlers.get(job.kind)
        # The job's writes check this claim still holds the lease (db.fencing).
        current_lease.set(Lease(job.kind, job.subject, job.token))
        try:
            await self._handle(handler, job)
        except Exception as exc:
            lost = exc.error if isinstance(exc, AdapterFailure) else exc  # a save mid-call is fenced too
            if isinstance(lost, LeaseLost):
                log.warning("%s; the worker that holds it now decides", lost)
                metrics.job_finished(job.kind, "lease_lost", started)
                return
            metrics.job_finished(job.kind, await self._failed(job, handler, exc), started)
            return
        self._finishing.append((job, started))
        if self._finisher is None or self._finisher.done():
            self._finisher = asyncio.create_task(self._finish_pending(), name="meetbridge-job-finisher")

    async def _finish_pending(self) -> None:
        """Finish the jobs that ran, in batches: those that ran while one batch was written go in
        the next (one write per batch instead of one per job)."""
        while self._finishing:
            batch, self._finishing = self._finishing, []
            try:
                finished = await self.store.finish_many(self.owner, [job for job, _ in batch])
            except Exception:
                log.exception(
                    "finishing %d job(s) failed; their leases will expire and they rerun", len(batch)
                )
                continue
            for job, started in batch:
                metrics.job_finished(job.kind, "done" if job.key in finished else "rerun", started)
            if len(finished) < len(batch):
                self._wake.set()  # changed while they ran: plan again on the newer versions

    @staticmethod
    async def _handle(handler: JobHandler | None, job: ClaimedJob) -> None:
        if handler is None:
            raise RuntimeError(f"this worker cannot run {job.kind!r} jobs")
        await handler.run(job.subject)

    async def _failed(self, job: ClaimedJob, handler: JobHandler | None, exc: Exception) -> str:
        """Retry or give up; returns which ("retry", "gave_up")."""
        adapter = exc.adapter if isinstance(exc, AdapterFailure) else None
        cause = exc.error if isinstance(exc, AdapterFailure) else exc
        strategy = self.strategies.get(adapter or "", self.default_strategy)
        decision = strategy.decide(job.attempts, cause)
        message = str(cause) or type(cause).__name__
        what = f"{job.kind} {job.subject}"
        try:
            if isinstance(decision, Retry):
                log.info("%s: %s; retry %d in %.1fs", what, message, job.attempts + 1, decision.delay)
                metrics.retried(adapter, cause)
                if handler is not None:
                    await handler.note_retry(job.subject, message, decision.delay)
                await self.store.retry(self.owner, job, delay=decision.delay, error=message)
            else:
                log.warning("%s: giving up: %s", what, decision.reason)
                if handler is not None:
                    await handler.fail(job.subject, decision.reason)
                await self.store.finish(self.owner, job)
        except Exception:
            log.exception("recording the failure of %s failed; its lease will expire", what)
        if adapter is None:
            log.error("unexpected error for %s", what, exc_info=cause)
        return "retry" if isinstance(decision, Retry) else "gave_up"
