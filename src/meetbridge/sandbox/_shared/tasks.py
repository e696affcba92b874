"""The stand-ins' background tasks: started lazily on whichever event loop serves them, stopped on close."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any


async def stop_task(task: asyncio.Task[None] | None) -> None:
    """Cancel `task` and wait until it has ended."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class BackgroundTask:
    """One long-running task. `ensure_running` is idempotent and starts it again on a new loop (tests
    make one per test): stand-ins call it from every request, since in-process ASGI transports never
    send the lifespan events that would start it once."""

    def __init__(self, run: Callable[[], Coroutine[Any, Any, None]], *, name: str) -> None:
        self._run = run
        self._name = name
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None
