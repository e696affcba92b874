"""``GET /metrics``: Litestar's Prometheus controller, plus the gauges read from the database.

Counters and histograms are this process's (prometheus_client's default registry, which also holds
the process and GC collectors and Litestar's HTTP metrics). Gauges describing the database — the
outbox, extensions and links by status — are read at scrape time, so every replica reports the same
true figure. Without ``[server] metrics_token`` the route is open, like /healthz; with one, it wants
``Authorization: Bearer <metrics_token>``.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable, Iterator
from typing import Any

from litestar import Request, Response, get
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.plugins.prometheus import PrometheusController
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_CONTENT_TYPE
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

from meetbridge.config.profiles import GatewayConfig
from meetbridge.db.database import Database
from meetbridge.db.operations import extension_counts, link_states, queue_depths
from meetbridge.db.tables import utcnow
from meetbridge.errors import NotAuthenticated, StorageError
from meetbridge.observability.metrics import gauge
from meetbridge.runtime.gateway import Gateway


async def require_metrics_token(
    connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler
) -> None:
    gateway: Gateway = connection.app.state.gateway
    expected = gateway.config.server.metrics_token
    if expected is None:
        return
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), expected.reveal().encode()
    ):
        raise NotAuthenticated("send Authorization: Bearer <[server] metrics_token>")


def _adapter(config: GatewayConfig, profile_id: str, recorded: str | None = None) -> str:
    profile = config.profiles.get(profile_id)
    if profile is not None:
        return profile.adapter
    return recorded or ("none" if profile_id == "none" else "unconfigured")


async def database_families(
    database: Database, config: GatewayConfig, heartbeat_age: float | None
) -> list[Metric]:
    """The gauges read from the database now; ``meetbridge_database_up`` 0 when it cannot be read."""
    now = utcnow()
    families: list[Metric] = []
    if heartbeat_age is not None:
        families.append(
            gauge(
                "worker_heartbeat_age_seconds",
                "Seconds since this process's worker last looked for jobs",
                [],
                {(): heartbeat_age},
            )
        )
    try:
        depths = await queue_depths(database, now)
        extensions = await extension_counts(database)
        links = await link_states(database, now)
    except StorageError:
        return [
            *families,
            gauge("database_up", "Whether the last scrape could read the database", [], {(): 0}),
        ]
    jobs = {
        (d.kind, state): float(getattr(d, state))
        for d in depths
        for state in ("queued", "running", "retrying")
    }
    families += [
        gauge("database_up", "Whether the last scrape could read the database", [], {(): 1}),
        gauge("jobs", "Outbox jobs by kind and state (queued, running, retrying)", ["kind", "state"], jobs),
        gauge(
            "oldest_due_job_age_seconds",
            "How long the longest-waiting due job has waited, by kind",
            ["kind"],
            {(d.kind,): d.oldest_due_seconds for d in depths},
        ),
        gauge(
            "extensions",
            "Event extensions by profile, adapter and status",
            ["profile", "adapter", "status"],
            {(p, _adapter(config, p), s): float(n) for (p, s), n in extensions.items()},
        ),
        gauge(
            "links",
            "Calendar links by profile, adapter and status",
            ["profile", "adapter", "status"],
            {
                (ln.profile_id, _adapter(config, ln.profile_id, ln.adapter), ln.status): float(ln.count)
                for ln in links
            },
        ),
        gauge(
            "link_last_sync_age_seconds",
            "Seconds since the least recently synced connected link of a profile last synced",
            ["profile", "adapter"],
            {
                (ln.profile_id, _adapter(config, ln.profile_id, ln.adapter)): ln.stalest_sync_seconds
                for ln in links
                if ln.stalest_sync_seconds is not None
            },
        ),
    ]
    return families


class _Scrape:
    """What one answer exposes: the process's registry, then the families read for this scrape."""

    def __init__(self, registry: CollectorRegistry, extra: Iterable[Metric]) -> None:
        self.registry = registry
        self.extra = list(extra)

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()
        yield from self.extra


class MetricsController(PrometheusController):
    path = "/metrics"

    @get(
        operation_id="metrics",
        include_in_schema=False,  # an operator's scrape target, not part of the application API
        guards=[require_metrics_token],
    )
    async def get(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        registry = REGISTRY
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ or "prometheus_multiproc_dir" in os.environ:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
        gateway: Gateway = request.app.state.gateway
        worker = gateway.running_worker
        extra = await database_families(
            gateway.database, gateway.config, worker.heartbeat_age() if worker else None
        )
        scrape: Any = _Scrape(registry, extra)  # generate_latest only calls collect()
        if "application/openmetrics-text" in request.headers.get("accept", ""):
            return Response(openmetrics_latest(scrape), headers={"Content-Type": OPENMETRICS_CONTENT_TYPE})  # type: ignore[no-untyped-call]  # untyped upstream
        return Response(generate_latest(scrape), headers={"Content-Type": CONTENT_TYPE_LATEST})
