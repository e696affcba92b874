"""The objects one gateway process shares, built once at start-up and handed to controllers."""

from __future__ import annotations

from dataclasses import dataclass, field

from meetbridge.config.catalogue import Catalogue
from meetbridge.config.profiles import GatewayConfig
from meetbridge.db.applications import ApplicationRepository
from meetbridge.db.calendars import CalendarRepository
from meetbridge.db.database import Database
from meetbridge.db.events import EventRepository
from meetbridge.db.links import LinkRepository
from meetbridge.forwarding import ForwardingLinks
from meetbridge.outbox.reconcile import Reconciler
from meetbridge.outbox.store import EVENT, SYNC, JobStore
from meetbridge.outbox.sync import SyncRunner
from meetbridge.outbox.worker import Worker
from meetbridge.providers.registry import AdapterRegistry
from meetbridge.settings import Settings


@dataclass
class Gateway:
    settings: Settings
    catalogue: Catalogue
    config: GatewayConfig
    database: Database
    applications: ApplicationRepository = field(init=False)
    calendars: CalendarRepository = field(init=False)
    events: EventRepository = field(init=False)
    links: LinkRepository = field(init=False)
    forwarding: ForwardingLinks = field(init=False)
    registry: AdapterRegistry = field(init=False)
    jobs: JobStore = field(init=False)

    def __post_init__(self) -> None:
        self.applications = ApplicationRepository(self.database)
        self.calendars = CalendarRepository(self.database)
        self.events = EventRepository(self.database)
        self.links = LinkRepository(self.database)
        self.forwarding = ForwardingLinks(self.database, self.config, self.links)
        self.registry = AdapterRegistry(self.catalogue)
        self.jobs = JobStore(self.database)

    def worker(self) -> Worker:
        """A worker for this gateway; in-process upserts wake it."""
        reconciler = Reconciler(self.database, self.config, self.registry)
        sync = SyncRunner(self.database, self.config, self.registry)
        worker = Worker(
            self.jobs,
            {EVENT: reconciler, SYNC: sync},
            self.catalogue,
            concurrency=self.settings.worker_concurrency,
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
