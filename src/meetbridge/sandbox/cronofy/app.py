"""The Cronofy stand-in's app: its account API, OAuth token endpoints and test API in one router.

Cronofy API (reference §1-§6), `Authorization: Bearer <access token>`:
`POST`/`DELETE /v1/calendars/{calendar_id}/events` (202, no body), `GET /v1/events` and
`/v1/events/pages/{token}` (absolute `next_page` URLs), `GET /v1/calendars`, `POST`/`GET /v1/channels`,
`DELETE /v1/channels/{channel_id}`; `POST /oauth/token` (refresh, rotating refresh tokens) and
`POST /oauth/token/revoke` with client credentials. Upserts carrying
`extensions: [{"provider": "recall", "profile_id": ...}]` get a bot in the given `RecallSandbox`
(seed 000); pushes are signed with `Cronofy-HMAC-SHA256`.
Test API (no auth): `/_sandbox/faults` (endpoints `api`, `oauth`), `/_sandbox/calls`,
`/_sandbox/accounts`, `/_sandbox/accounts/{id}/revoke`, `/_sandbox/events`, `/_sandbox/push`,
`/_sandbox/push/suppress`, `/_sandbox/push/deliveries`, `/_sandbox/clock`, `/_sandbox/reset`.
"""

from __future__ import annotations

from litestar import Litestar, Router
from litestar.di import Provide

from meetbridge.sandbox._shared import admin_routes
from meetbridge.sandbox.cronofy.admin import ADMIN_HANDLERS
from meetbridge.sandbox.cronofy.routes import API_HANDLERS
from meetbridge.sandbox.cronofy.state import CronofySandbox


def cronofy_sandbox_router(sandbox: CronofySandbox, *, path_prefix: str = "") -> Router:
    """The sandbox's routes, for mounting next to other stand-ins in one app."""
    return Router(
        path=path_prefix.rstrip("/") or "/",
        route_handlers=[
            *API_HANDLERS,
            *ADMIN_HANDLERS,
            *admin_routes(sandbox, operation_prefix="sandbox_cronofy_admin"),
        ],
        dependencies={"cronofy_sandbox": Provide(lambda: sandbox, use_cache=True, sync_to_thread=False)},
    )


def create_cronofy_sandbox_app(sandbox: CronofySandbox, *, path_prefix: str = "") -> Litestar:
    return Litestar(
        route_handlers=[cronofy_sandbox_router(sandbox, path_prefix=path_prefix)],
        on_startup=[sandbox.ensure_background],
        on_shutdown=[sandbox.aclose],
        # A stand-in of someone else's API: its schema is Cronofy's, not ours to publish.
        openapi_config=None,
    )
