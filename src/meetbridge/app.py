"""``create_app``: the Litestar application for one gateway."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from meetbridge import __version__
from meetbridge.api.auth import TokenCache, provide_application_id
from meetbridge.api.calendars import CalendarsController
from meetbridge.api.errors import EXCEPTION_HANDLERS
from meetbridge.api.events import EventsController
from meetbridge.api.health import healthz, readyz
from meetbridge.api.openapi import finish_schema
from meetbridge.api.profiles import ProfilesController
from meetbridge.config.catalogue import load_catalogue
from meetbridge.config.profiles import GatewayConfig, load_config
from meetbridge.db.database import Database
from meetbridge.gateway import Gateway
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


def create_app(settings: Settings | None = None, *, gateway: Gateway | None = None) -> Litestar:
    settings = settings or get_settings()
    gateway = gateway or build_gateway(settings)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await gateway.database.dispose()

    api = Router(
        path="/",
        route_handlers=[EventsController, CalendarsController, ProfilesController],
        dependencies={"application_id": Provide(provide_application_id)},
    )
    logging.getLogger("meetbridge").setLevel(settings.log_level)
    app = Litestar(
        route_handlers=[api, healthz, readyz],
        dependencies={"gateway": Provide(lambda: gateway, use_cache=True, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]  # handlers are typed per exception class
        openapi_config=openapi_config(),
        lifespan=[lifespan],
        debug=False,
    )
    finish_schema(app.openapi_schema)
    app.state.gateway = gateway
    app.state.token_cache = TokenCache()
    return app
