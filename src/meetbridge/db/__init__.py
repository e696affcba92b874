"""Persistence: the tables, one repository per concern, the outbox's enqueue write and the migrations.
Database errors are translated in ``database.py``; nothing above this layer writes SQL of its own but
the engine's outbox (``engine/store.py``)."""

from meetbridge.db.applications import ApplicationRepository
from meetbridge.db.calendars import Calendar, CalendarRepository
from meetbridge.db.database import Database
from meetbridge.db.events import EventRepository
from meetbridge.db.forwarded import ForwardedEvents
from meetbridge.db.jobs import EVENT, SYNC, enqueue, enqueue_job
from meetbridge.db.links import Link, LinkRepository, LinkRules
from meetbridge.db.migrate import upgrade
from meetbridge.db.switching import IncarnationStore, MigrationLog, MigrationStep
from meetbridge.db.synced_events import SyncedEventStore

__all__ = [
    "EVENT",
    "SYNC",
    "ApplicationRepository",
    "Calendar",
    "CalendarRepository",
    "Database",
    "EventRepository",
    "ForwardedEvents",
    "IncarnationStore",
    "Link",
    "LinkRepository",
    "LinkRules",
    "MigrationLog",
    "MigrationStep",
    "SyncedEventStore",
    "enqueue",
    "enqueue_job",
    "upgrade",
]
