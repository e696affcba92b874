"""Liveness and readiness, unauthenticated, for orchestrators and the Docker healthcheck."""

from __future__ import annotations

import sqlalchemy as sa
from litestar import Response, get
from litestar.di import NamedDependency

from meetbridge.api.responses import answer
from meetbridge.api.schemas import Health, Readiness
from meetbridge.db.migrate import SchemaStatus, schema_state
from meetbridge.errors import StorageError
from meetbridge.runtime.gateway import Gateway


@get("/healthz", operation_id="healthz", tags=["health"], summary="The process is alive")
async def healthz() -> Health:
    return Health(status="ok")


@get(
    "/readyz",
    operation_id="readyz",
    tags=["health"],
    summary="The process can serve: the database answers and its schema is this code's",
    responses={503: answer(Readiness, "Not ready, and why")},
)
async def readyz(gateway: NamedDependency[Gateway]) -> Response[Readiness]:
    worker = gateway.running_worker
    age = round(worker.heartbeat_age(), 3) if worker is not None else None
    try:
        async with gateway.database.read() as connection:
            schema = await schema_state(connection)
    except (StorageError, OSError, sa.exc.SQLAlchemyError):
        down = Readiness(
            status="database unavailable", database="unreachable", worker_heartbeat_age_seconds=age
        )
        return Response(down, status_code=503)
    ready = schema.status == SchemaStatus.CURRENT
    reasons = {
        "behind": "migrations behind: run meetbridge db upgrade",
        "ahead": "the database was migrated by newer code",
        "empty": "the database has no schema: run meetbridge db upgrade",
    }
    answer = Readiness(
        status="ready" if ready else reasons.get(schema.status, str(schema.status)),
        database="reachable",
        schema=str(schema.status),
        schema_revision=schema.revision,
        code_revision=schema.head,
        worker_heartbeat_age_seconds=age,
    )
    return Response(answer, status_code=200 if ready else 503)
