"""The objects one gateway process shares, built once at start-up and handed to controllers."""

from __future__ import annotations

import logging
from datetime import timedelta

from meetbridge.config.catalogue import Catalogue
from meetbridge.config.live import LiveConfig
from meetbridge.config.profiles import GatewayConfig
from meetbridge.db.applications import ApplicationRepository
from meetbridge.db.calendars import CalendarRepository
from meetbridge.db.database import Database
from meetbridge.db.events import EventRepository
from meetbridge.db.job_notifications import JobNotifications
from meetbridge.db.jobs import EVENT, SYNC
from meetbridge.db.links import LinkRepository
from meetbridge.db.rate_pacers import DatabasePacing
from meetbridge.db.switching import IncarnationStore, MigrationLog
from meetbridge.db.webhook_deliveries import WebhookDeliveries
from meetbridge.engine.forwarding.credentials import ForwardingLinks
from meetbridge.engine.reconcile import Reconciler
from meetbridge.engine.store import JobStore
from meetbridge.engine.sync import SyncRunner
from meetbridge.engine.worker import Worker
from meetbridge.providers.registry import AdapterRegistry
from meetbridge.settings import Settings

log = logging.getLogger("meetbridge.gateway")


class Gateway:
    def __init__(
        self, *, settings: Settings, catalogue: Catalogue, config: GatewayConfig, database: Database
    ) -> None:
        self.settings = settings
        self.catalogue = catalogue
        self.live = LiveConfig(config)
        self.database = database
        self.applications = ApplicationRepository(database)
        self.calendars = CalendarRepository(database)
        self.events = EventRepository(database)
        self.links = LinkRepository(database)
        self.forwarding = ForwardingLinks(database, self.live, self.links)
        # A fleet on PostgreSQL paces each provider account in the database; SQLite, one process.
        pacing = None if database.is_sqlite else DatabasePacing(database).for_account
        self.registry = AdapterRegistry(catalogue, pacing=pacing)
        self.jobs = JobStore(database, lease=timedelta(seconds=settings.job_lease_seconds))
        self.incarnations = IncarnationStore(database)
        self.migration_log = MigrationLog(database)
        self.webhook_deliveries = WebhookDeliveries(database)

    @property
    def config(self) -> GatewayConfig:
        """The configuration now; ``apply_config`` swaps it (reload)."""
        return self.live.current

    async def begin(self) -> list[str]:
        """Before serving: remember the profiles as configured; the ids whose mechanism changed since
        the last run (their future events are re-planned, and so move)."""
        await self.links.adopt_unrecorded({p.profile_id: p.adapter for p in self.config.profiles.values()})
        return await self.incarnations.record(self.config)

    async def apply_config(self, config: GatewayConfig) -> list[str]:
        """Act on a new, already validated configuration from now on (``meetbridge reload``); returns
        the profiles whose mechanism changed (their bots move, make before break)."""
        self.live.replace(config)
        changed = await self.incarnations.record(config)
        if changed:
            log.info("switched mechanism: %s; their bots move (make before break)", ", ".join(changed))
        return changed

    def worker(self) -> Worker:
        """A worker for this gateway; in-process upserts wake it."""
        reconciler = Reconciler(self.database, self.live, self.registry)
        sync = SyncRunner(self.database, self.live, self.registry)
        worker = Worker(
            self.jobs,
            {EVENT: reconciler, SYNC: sync},
            self.catalogue,
            concurrency=self.settings.worker_concurrency,
            # Jobs another replica enqueued wake this one at their commit; SQLite polls.
            listen=None if self.database.is_sqlite else JobNotifications(self.database).listen,
            heartbeat_interval=self.settings.job_heartbeat_seconds,
            stop_grace=self.settings.worker_stop_grace_seconds,
        )
        # Every repository that enqueues in this process wakes the worker once its transaction commits.
        for source in (
            self.events,
            self.links,
            reconciler.links,
            sync.links,
            sync.store,
            sync.forwarding.events,
        ):
            source.on_enqueue = worker.wake
        return worker

    async def aclose(self) -> None:
        await self.registry.aclose()
        await self.database.dispose()

    @property
    def public_url(self) -> str | None:
        return self.settings.public_url or self.config.server.public_url
