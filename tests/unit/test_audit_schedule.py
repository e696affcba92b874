"""The audit schedule: the first round an interval after start, and stopping cancels a long round."""

from __future__ import annotations

import asyncio
import time

from meetbridge.config.live import LiveConfig
from meetbridge.config.profiles import GatewayConfig, ServerConfig
from meetbridge.engine.audit import AuditSchedule, DriftAudit


class SlowRounds(AuditSchedule):
    def __init__(self, interval: int) -> None:
        audit = DriftAudit.__new__(DriftAudit)  # only its live configuration is read here
        audit.live = LiveConfig(GatewayConfig(ServerConfig(audit_interval_seconds=interval), {}))
        super().__init__(audit)
        self.started: list[float] = []
        self.round_started = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def round(self, interval: float) -> None:
        self.started.append(time.monotonic())
        self.round_started.set()
        try:
            await asyncio.sleep(3600)  # a round paced over minutes
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


async def test_the_first_round_waits_an_interval_and_stopping_cancels_it() -> None:
    schedule, stop = SlowRounds(interval=1), asyncio.Event()
    began = time.monotonic()
    running = asyncio.create_task(schedule.run(stop))
    async with asyncio.timeout(10):
        await schedule.round_started.wait()
    assert schedule.started[0] - began >= 0.9
    stop.set()
    async with asyncio.timeout(2):
        await running
    assert schedule.cancelled.is_set()


async def test_an_interval_of_zero_runs_no_round() -> None:
    schedule, stop = SlowRounds(interval=0), asyncio.Event()
    schedule.IDLE_CHECK = 0.05
    running = asyncio.create_task(schedule.run(stop))
    await asyncio.sleep(0.3)
    stop.set()
    async with asyncio.timeout(2):
        await running
    assert schedule.started == []
