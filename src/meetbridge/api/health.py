"""Liveness and readiness, unauthenticated, for orchestrators and the Docker healthcheck."""

from __future__ import annotations

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec

from meetbridge.api.schemas import Health
from meetbridge.runtime.gateway import Gateway


@get("/healthz", operation_id="healthz", tags=["health"], summary="The process is alive")
async def healthz() -> Health:
    return Health(status="ok")


@get(
    "/readyz",
    operation_id="readyz",
    tags=["health"],
    summary="The process can serve: the database answers",
    responses={503: ResponseSpec(data_container=Health, description="Not ready")},
)
async def readyz(gateway: NamedDependency[Gateway]) -> Response[Health]:
    if await gateway.database.ping():
        return Response(Health(status="ready"))
    return Response(Health(status="database unavailable"), status_code=503)
