"""``GET /v1/status``: ``meetbridge status`` for one application, over its own calendars only."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency

from meetbridge.db.tables import utcnow
from meetbridge.runtime.gateway import Gateway
from meetbridge.runtime.status import StatusReport, status_report


@get(
    "/v1/status",
    operation_id="get_status",
    tags=["status"],
    summary="This application's queue, failing extensions grouped by reason, disconnected links, "
    "last webhook per profile it uses, and what needs a person",
)
async def get_status(application_id: NamedDependency[str], gateway: NamedDependency[Gateway]) -> StatusReport:
    return await status_report(gateway.database, utcnow(), application_id)
