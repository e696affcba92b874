"""An injectable clock so tests can freeze and move time for a running sandbox, and its periodic ticker."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from meetbridge.sandbox._shared.tasks import BackgroundTask


def _real_now() -> datetime:
    return datetime.now(UTC)


class SandboxClock:
    """Real UTC time by default, shifted by an offset; can be frozen at an instant.

    Tests and the admin API may touch the clock from another thread than the server's event loop
    (e.g. a sandbox served by uvicorn in a thread), hence the small lock.
    """

    def __init__(self, *, start: datetime | None = None, frozen: bool = False) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen_at: datetime | None = None
        if start is not None:
            start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
            self._offset = start - _real_now()
        if frozen:
            self._frozen_at = start or _real_now()

    @property
    def frozen(self) -> bool:
        with self._lock:
            return self._frozen_at is not None

    def now(self) -> datetime:
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at
            return _real_now() + self._offset

    def advance(self, seconds: float) -> None:
        step = timedelta(seconds=seconds)
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += step
            else:
                self._offset += step

    def freeze(self) -> None:
        with self._lock:
            if self._frozen_at is None:
                self._frozen_at = _real_now() + self._offset

    def unfreeze(self) -> None:
        """Resume ticking from the frozen instant, so time never jumps when a test lets go."""
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - _real_now()
                self._frozen_at = None


class Ticker:
    """Calls ``tick`` every ``interval`` seconds in a background task on the running loop (see
    BackgroundTask); a failing tick is logged and the next one still runs."""

    def __init__(self, tick: Callable[[], Awaitable[None]], *, interval: float, name: str) -> None:
        self._tick = tick
        self._interval = interval
        self._name = name
        self._task = BackgroundTask(self._forever, name=name)

    def ensure_running(self) -> None:
        self._task.ensure_running()

    async def stop(self) -> None:
        await self._task.stop()

    async def _forever(self) -> None:
        while True:
            try:
                await self._tick()
            except Exception:
                logging.getLogger(__name__).exception("%s tick failed", self._name)
            await asyncio.sleep(self._interval)
