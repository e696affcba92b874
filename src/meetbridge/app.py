"""``create_app``: the Litestar application for one gateway."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.di import Provide
from litestar.logging.config import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.prometheus import PrometheusConfig

from meetbridge import __version__
from meetbridge.api.auth import TokenCache, authenticate, provide_application_id
from meetbridge.api.calendars import CalendarsController
from meetbridge.api.errors import EXCEPTION_HANDLERS
from meetbridge.api.events import EventsController
from meetbridge.api.headers import answer_headers
from meetbridge.api.health import healthz, readyz
from meetbridge.api.http_metrics import RouteMetricsMiddleware
from meetbridge.api.links import LinksController, OAuthCallbackController
from meetbridge.api.metrics import MetricsController
from meetbridge.api.openapi import document_link_requests, finish_schema
from meetbridge.api.openapi_truth import tell_the_truth
from meetbridge.api.profiles import ProfilesController
from meetbridge.api.request_ids import request_ids
from meetbridge.api.status import get_status
from meetbridge.api.webhook_endpoints import WebhookEndpointsController
from meetbridge.api.webhooks import WebhooksController
from meetbridge.config.catalogue import load_catalogue
from meetbridge.config.profiles import GatewayConfig, load_config
from meetbridge.db.database import Database
from meetbridge.observability import tracing
from meetbridge.runtime.gateway import Gateway
from meetbridge.settings import Settings, get_settings


def build_gateway(settings: Settings, config: GatewayConfig | None = None) -> Gateway:
    catalogue = load_catalogue(settings.catalogue_dir)
    if config is None:
        config = load_config(settings.config_path, catalogue)
    database = Database(
        settings.database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
    )
    return Gateway(settings=settings, catalogue=catalogue, config=config, database=database)


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="meetbridge",
        version=__version__,
        description="One Cronofy-compatible event API for Recall.ai meeting bots.",
        security=[{"BearerToken": []}],
        components=Components(security_schemes={"BearerToken": SecurityScheme(type="http", scheme="bearer")}),
        use_handler_docstrings=False,
        path="/schema",
    )


# HTTP metrics by route template (group_path): /v1/calendars/{calendar_id}/events, never one series per id.
HTTP_METRICS = PrometheusConfig(
    app_name="meetbridge",
    prefix="meetbridge_http",
    group_path=True,
    exclude=["^/metrics$"],
    middleware_class=RouteMetricsMiddleware,
)


def create_app(
    settings: Settings | None = None,
    *,
    gateway: Gateway | None = None,
    extra_routes: Sequence[Router] = (),
    on_startup: Sequence[Callable[[], Awaitable[None]]] = (),
    on_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
) -> Litestar:
    """``extra_routes`` and the hooks mount stand-ins (``serve --sandbox``) in the same server."""
    settings = settings or get_settings()
    gateway = gateway or build_gateway(settings)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        await gateway.begin()
        if settings.run_worker:
            worker = gateway.worker()
            tasks = [
                asyncio.create_task(worker.run(stop), name="meetbridge-worker"),
                asyncio.create_task(gateway.webhook_sender().run(stop), name="meetbridge-webhooks"),
                asyncio.create_task(gateway.audit_schedule(worker.wake).run(stop), name="meetbridge-audit"),
            ]
        try:
            yield
        finally:
            stop.set()
            for task in tasks:
                await task
            await gateway.aclose()

    api = Router(
        path="/",
        route_handlers=[
            EventsController,
            CalendarsController,
            LinksController,
            ProfilesController,
            WebhookEndpointsController,
            get_status,
        ],
        dependencies={"application_id": Provide(provide_application_id)},
        guards=[authenticate],
    )
    logging.getLogger("meetbridge").setLevel(settings.log_level)
    app = Litestar(
        route_handlers=[
            api,
            WebhooksController,
            OAuthCallbackController,
            healthz,
            readyz,
            MetricsController,
            *extra_routes,
        ],
        dependencies={"gateway": Provide(lambda: gateway, use_cache=True, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]  # handlers are typed per exception class
        openapi_config=openapi_config(),
        lifespan=[lifespan],
        on_startup=list(on_startup),
        on_shutdown=list(on_shutdown),
        debug=False,
        middleware=[request_ids, answer_headers, HTTP_METRICS.middleware],
        plugins=tracing.litestar_plugins(),
        request_max_body_size=settings.max_body_bytes,  # 413 over it
        # The root logger is configure_logging's (MEETBRIDGE_LOG_FORMAT): Litestar's own lines join it.
        logging_config=LoggingConfig(
            configure_root_logger=False,
            loggers={"litestar": {"level": "INFO", "handlers": [], "propagate": True}},
        ),
    )
    finish_schema(app.openapi_schema)
    document_link_requests(app.openapi_schema, gateway.registry.link_requests())
    tell_the_truth(app.openapi_schema)
    app.state.gateway = gateway
    app.state.token_cache = TokenCache()
    return app
