"""Wake-ups across replicas on PostgreSQL: LISTEN on the channel the jobs table's trigger notifies
(migration 0009) whenever a statement makes a job due, so an idle worker claims a job another replica
enqueued within milliseconds instead of at its next poll. Polling stays: a notification lost while
the listening connection is down is made up by a wake-up on reconnecting, and by the poll."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from meetbridge.db.database import Database

JOBS_CHANNEL = "meetbridge_jobs"  # the channel migration 0009's trigger notifies
RECONNECT_SECONDS = 1.0

log = logging.getLogger("meetbridge.worker")


class JobNotifications:
    def __init__(self, database: Database, *, channel: str = JOBS_CHANNEL) -> None:
        self.database = database
        self.channel = channel

    async def listen(self, stop: asyncio.Event, wake: Callable[[], None]) -> None:
        """Call ``wake`` on every notification until ``stop``; reconnects (and wakes) after a loss.
        Holds one pooled connection the whole time."""
        while not stop.is_set():
            try:
                await self._session(stop, wake)
            except Exception:
                log.warning("listening for job notifications failed; polling until it is back", exc_info=True)
            if not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RECONNECT_SECONDS)

    async def _session(self, stop: asyncio.Event, wake: Callable[[], None]) -> None:
        """One listening connection, until ``stop`` or until the connection is lost."""
        lost = asyncio.Event()
        async with self.database.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver: Any = raw.driver_connection  # an asyncpg connection

            def notified(*_: object) -> None:
                wake()

            await driver.add_listener(self.channel, notified)
            driver.add_termination_listener(lambda *_: lost.set())
            wake()  # anything enqueued while we were not listening
            await _first(stop.wait(), lost.wait())
            if not driver.is_closed():
                with contextlib.suppress(Exception):
                    await driver.remove_listener(self.channel, notified)


async def _first(*waits: Any) -> None:
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
