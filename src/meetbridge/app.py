"""``create_app``: the Litestar application for one gateway."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from meetbridge import __version__
from meetbridge.api.auth import TokenCache, authenticate, provide_application_id
from meetbridge.api.calendars import CalendarsController
from meetbridge.api.errors import EXCEPTION_HANDLERS
from meetbridge.api.events import EventsController
from meetbridge.api.headers import answer_headers
from meetbridge.api.health import healthz, readyz
from meetbridge.api.links import LinksController, OAuthCallbackController
from meetbridge.api.openapi import document_link_requests, finish_schema
from meetbridge.api.openapi_truth import tell_the_truth
from meetbridge.api.profiles import ProfilesController
from meetbridge.api.webhooks import SeenMessages, WebhooksController
from meetbridge.config.catalogue import load_catalogue
from meetbridge.config.profiles import GatewayConfig, load_config
from meetbridge.db.database import Database
from meetbridge.runtime.gateway import Gateway
from meetbridge.settings import Settings, get_settings


def build_gateway(settings: Settings, config: GatewayConfig | None = None) -> Gateway:
    catalogue = load_catalogue(settings.catalogue_dir)
    if config is None:
        config = load_config(settings.config_path, catalogue)
    return Gateway(
        settings=settings, catalogue=catalogue, config=config, database=Database(settings.database_url)
    )


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
        worker_task = None
        await gateway.begin()
        if settings.run_worker:
            worker_task = asyncio.create_task(gateway.worker().run(stop), name="meetbridge-worker")
        try:
            yield
        finally:
            stop.set()
            if worker_task is not None:
                await worker_task
            await gateway.aclose()

    api = Router(
        path="/",
        route_handlers=[EventsController, CalendarsController, LinksController, ProfilesController],
        dependencies={"application_id": Provide(provide_application_id)},
        guards=[authenticate],
    )
    logging.getLogger("meetbridge").setLevel(settings.log_level)
    app = Litestar(
        route_handlers=[api, WebhooksController, OAuthCallbackController, healthz, readyz, *extra_routes],
        dependencies={"gateway": Provide(lambda: gateway, use_cache=True, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]  # handlers are typed per exception class
        openapi_config=openapi_config(),
        lifespan=[lifespan],
        on_startup=list(on_startup),
        on_shutdown=list(on_shutdown),
        debug=False,
        middleware=[answer_headers],
        request_max_body_size=settings.max_body_bytes,  # 413 over it
    )
    finish_schema(app.openapi_schema)
    document_link_requests(app.openapi_schema, gateway.registry.link_requests())
    tell_the_truth(app.openapi_schema)
    app.state.gateway = gateway
    app.state.token_cache = TokenCache()
    app.state.seen_webhooks = SeenMessages()
    return app
