"""The Recall stand-in's app: the bot API, Calendar V1 and V2 and the OAuth stand-ins in one router.

Bot API (reference §1, §2): `/api/v1/bot/` create/list, `/api/v1/bot/{id}/` retrieve/update/delete,
`/api/v1/bot/{id}/leave_call/`; `Authorization: Token <key>`; paths with or without the trailing slash.
Calendar V2 (reference §4, see calendar_v2/routes): `/api/v2/calendars/...`, `/api/v2/calendar-events/...`,
with the same auth; its test API is listed in calendar_v2/admin; OAuth stand-ins under `/_oauth/`.
Calendar V1 (reference §3, see calendar_v1/routes): `/api/v1/calendar/...`, the calendar auth token in
`x-recallcalendarauthtoken`; OAuth callbacks in calendar_v1/callbacks; test API in calendar_v1/admin.
Test API (no auth): `/_sandbox/faults`, `/_sandbox/calls`, `/_sandbox/rate-limits`, `/_sandbox/bots`,
`/_sandbox/bots/{id}/status`, `/_sandbox/clock`, `/_sandbox/webhook`, `/_sandbox/webhook/deliveries`,
`/_sandbox/reset`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from litestar import Litestar, Router
from litestar.di import Provide

from meetbridge.sandbox._shared import OAUTH_HANDLERS, admin_routes, reset_route
from meetbridge.sandbox.recall.bot import BOT_ADMIN_HANDLERS, BOT_API_HANDLERS
from meetbridge.sandbox.recall.calendar_v1 import (
    CALENDAR_V1_ADMIN_HANDLERS,
    CALENDAR_V1_CALLBACK_HANDLERS,
    CALENDAR_V1_HANDLERS,
    CalendarV1Sandbox,
)
from meetbridge.sandbox.recall.calendar_v2 import (
    CALENDAR_V2_ADMIN_HANDLERS,
    CALENDAR_V2_HANDLERS,
    CalendarV2Sandbox,
)
from meetbridge.sandbox.recall.core import RecallSandbox


def recall_sandbox_router(
    sandbox: RecallSandbox,
    *,
    path_prefix: str = "",
    calendar_v2: CalendarV2Sandbox | None = None,
    calendar_v1: CalendarV1Sandbox | None = None,
) -> Router:
    """The sandbox's routes, for mounting next to other stand-ins in one app.

    `calendar_v2` / `calendar_v1` default to stand-ins over `sandbox` with default settings; the V1 one
    shares the V2 one's OAuth stand-in, so codes from `/_oauth/` can be exchanged by its callbacks.
    """
    calendars = calendar_v2 or CalendarV2Sandbox(sandbox)
    v1 = calendar_v1 or CalendarV1Sandbox(sandbox, oauth=calendars.oauth)
    return Router(
        path=path_prefix.rstrip("/") or "/",
        route_handlers=[
            *BOT_API_HANDLERS,
            *BOT_ADMIN_HANDLERS,
            *admin_routes(sandbox, operation_prefix="sandbox_recall_admin"),
            *CALENDAR_V2_HANDLERS,
            *CALENDAR_V2_ADMIN_HANDLERS,
            reset_route(
                calendars,
                path="/_sandbox/calendar-v2/reset",
                operation_id="sandbox_recall_admin_reset_calendar_v2",
            ),
            *CALENDAR_V1_HANDLERS,
            *CALENDAR_V1_CALLBACK_HANDLERS,
            *CALENDAR_V1_ADMIN_HANDLERS,
            reset_route(
                v1, path="/_sandbox/calendar-v1/reset", operation_id="sandbox_recall_admin_reset_calendar_v1"
            ),
            *OAUTH_HANDLERS,
        ],
        dependencies={
            "recall_sandbox": Provide(lambda: sandbox, use_cache=True, sync_to_thread=False),
            "calendar_v2": Provide(lambda: calendars, use_cache=True, sync_to_thread=False),
            "calendar_v1": Provide(lambda: v1, use_cache=True, sync_to_thread=False),
            "oauth_stand_in": Provide(lambda: calendars.oauth, use_cache=True, sync_to_thread=False),
        },
    )


def create_recall_sandbox_app(
    sandbox: RecallSandbox,
    *,
    path_prefix: str = "",
    calendar_v2: CalendarV2Sandbox | None = None,
    calendar_v1: CalendarV1Sandbox | None = None,
    extra_routes: Sequence[Router] = (),
    on_startup: Sequence[Callable[[], Awaitable[None] | None]] = (),
    on_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
) -> Litestar:
    """``extra_routes`` and the hooks mount more stand-ins in the same app (``meetbridge sandbox`` with
    the Cronofy options); their shutdown hooks run before the Recall sandbox's, which they may use."""
    calendars = calendar_v2 or CalendarV2Sandbox(sandbox)
    v1 = calendar_v1 or CalendarV1Sandbox(sandbox, oauth=calendars.oauth)
    router = recall_sandbox_router(sandbox, path_prefix=path_prefix, calendar_v2=calendars, calendar_v1=v1)
    return Litestar(
        route_handlers=[router, *extra_routes],
        on_startup=[sandbox.ensure_background, *on_startup],
        on_shutdown=[*on_shutdown, v1.aclose, calendars.aclose, sandbox.aclose],
        # A stand-in of someone else's API: its schema is Recall's, not ours to publish.
        openapi_config=None,
    )
