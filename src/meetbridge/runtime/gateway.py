"""The objects one gateway process shares, built once at start-up and handed to controllers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from meetbridge.config.catalogue import Catalogue
from meetbridge.config.live import LiveConfig
from meetbridge.config.profiles import GatewayConfig
from meetbridge.db.applications import ApplicationRepository
from meetbridge.db.audit import AuditStore
from meetbridge.db.calendars import CalendarRepository
from meetbridge.db.database import Database
from meetbridge.db.events import EventRepository
from meetbridge.db.inbound_webhooks import InboundWebhookIds
from meetbridge.db.job_notifications import JobNotifications
from meetbridge.db.jobs import EVENT, SYNC
from meetbridge.db.links import LinkRepository
from meetbridge.db.operations import WebhookReceipts
from meetbridge.db.rate_pacers import DatabasePacing
from meetbridge.db.switching import IncarnationStore, MigrationLog
from meetbridge.db.webhook_deliveries import DeliveryStore
from meetbridge.db.webhook_endpoints import WebhookEndpoints
from meetbridge.engine.audit import AuditSchedule, DriftAudit
from meetbridge.engine.forwarding.credentials import ForwardingLinks
from meetbridge.engine.reconcile import Reconciler
from meetbridge.engine.store import JobStore
from meetbridge.engine.sync import SyncRunner
from meetbridge.engine.webhooks_out.sender import WebhookSender
from meetbridge.engine.worker import Worker
from meetbridge.observability import metrics
from meetbridge.observability.logs import hide_secrets_of
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
        hide_secrets_of(config)
        metrics.profiles_known((p.profile_id, p.adapter) for p in config.profiles.values())
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
        self.webhook_receipts = WebhookReceipts(database)
        self.running_worker: Worker | None = None  # the worker this process runs, if it runs one
        self.audit_log = AuditStore(database)
        self.webhook_endpoints = WebhookEndpoints(database)
        self.deliveries = DeliveryStore(database)
        self.inbound_webhook_ids = InboundWebhookIds(database)
        self._message_listeners: list[Callable[[], None]] = []
        for source in (self.events, self.links, self.webhook_endpoints):
            source.on_message = self.message_committed

    def message_committed(self) -> None:
        """A transaction that wrote outbound webhook messages has committed: wake this process's sender."""
        for listener in self._message_listeners:
            listener()

    def webhook_sender(self) -> WebhookSender:
        """The outbound webhook sender for this gateway; in-process changes wake it."""
        sender = WebhookSender(self.deliveries, self.live)
        self._message_listeners.append(sender.wake)
        return sender

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
        hide_secrets_of(config)
        metrics.profiles_known((p.profile_id, p.adapter) for p in config.profiles.values())
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
        self.running_worker = worker
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
        for emitter in (reconciler, reconciler.events, reconciler.links, sync.links):
            emitter.on_message = self.message_committed
        return worker

    def drift_audit(self) -> DriftAudit:
        return DriftAudit(self.database, self.live, self.registry)

    def audit_schedule(self, wake: Callable[[], None]) -> AuditSchedule:
        """The scheduled drift audit; ``wake`` is called when its repairs enqueued jobs."""
        audit = self.drift_audit()
        audit.on_enqueue = wake
        return AuditSchedule(audit)

    async def aclose(self) -> None:
        await self.registry.aclose()
        await self.database.dispose()

    @property
    def public_url(self) -> str | None:
        return self.settings.public_url or self.config.server.public_url
