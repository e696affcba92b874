"""What keeps the providers in step with the stored desired state: the outbox's claims and leases,
the worker loop and its retry decisions, reconciling an event, syncing a link, linking calendars,
forwarding links, and switching a profile's mechanism."""

from meetbridge.engine.reconcile import Reconciler
from meetbridge.engine.retry import GiveUp, Retry, RetryStrategy
from meetbridge.engine.store import ClaimedJob, JobStore
from meetbridge.engine.sync import SyncRunner
from meetbridge.engine.worker import JobHandler, Worker

__all__ = [
    "ClaimedJob",
    "GiveUp",
    "JobHandler",
    "JobStore",
    "Reconciler",
    "Retry",
    "RetryStrategy",
    "SyncRunner",
    "Worker",
]
