"""Calendar V1 OAuth callbacks (reference §3.6): Recall's server, not the app, receives the redirect.

`GET /api/v1/calendar/google_oauth_callback/` and `/ms_oauth_callback/` take the provider's `code` and
the app's `state` (JSON: `recall_calendar_auth_token`, `google_oauth_redirect_url` or
`ms_oauth_redirect_url`, optional `success_url` / `error_url`). Success connects the token's user and
redirects (302) to `success_url` as given, its query kept; without one it answers 200 with the
CalendarUser. Failure redirects to `error_url`, or answers 400 `{"detail": "Calendar connection failed!
(<reason>)"}` in the wording of the V1 FAQ.

These are a browser's visits, not API traffic: no auth header, neither logged nor faulted, like the
OAuth stand-ins under `/_oauth/`.
"""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.enums import MediaType
from litestar.response import Redirect

from meetbridge.sandbox._shared import AnyRequest
from meetbridge.sandbox.recall.calendar_v1.models import CalendarPlatform
from meetbridge.sandbox.recall.calendar_v1.routes import CalendarV1Dep
from meetbridge.sandbox.recall.calendar_v1.validation import CallbackError, parse_callback


async def _callback(
    request: AnyRequest, calendar_v1: CalendarV1Dep, platform: CalendarPlatform
) -> Response[Any]:
    try:
        state, code = parse_callback(dict(request.query_params.items()), platform)
        user = await calendar_v1.oauth_connect(platform, code, state)
    except CallbackError as exc:
        if exc.error_url:
            return Redirect(path=exc.error_url, status_code=302)
        return Response(content={"detail": exc.detail}, status_code=400, media_type=MediaType.JSON)
    if state.success_url:
        return Redirect(path=state.success_url, status_code=302)
    return Response(content=user, status_code=200, media_type=MediaType.JSON)


@get("/api/v1/calendar/google_oauth_callback/", operation_id="sandbox_recall_calendar_v1_google_callback")
async def google_callback(request: AnyRequest, calendar_v1: CalendarV1Dep) -> Response[Any]:
    return await _callback(request, calendar_v1, "google")


@get("/api/v1/calendar/ms_oauth_callback/", operation_id="sandbox_recall_calendar_v1_ms_callback")
async def ms_callback(request: AnyRequest, calendar_v1: CalendarV1Dep) -> Response[Any]:
    return await _callback(request, calendar_v1, "microsoft")


CALENDAR_V1_CALLBACK_HANDLERS = [google_callback, ms_callback]
