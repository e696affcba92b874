"""The Calendar V1 routes (`/api/v1/calendar/...`, reference §3.2), with or without the trailing slash.

Get Calendar Auth Token takes the API key like the bot API (`serve_call`); every other route takes only
the calendar auth token in `x-recallcalendarauthtoken` (an API key is neither needed nor enough), then
the same fault injection and call log. Fault and call-log endpoint names are the catalogue's rate-limit
names: `calendar_v1_auth`, `calendar_v1_user` (user and disconnect), `calendar_v1_meetings`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Response, delete, get, post, route
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.types import OperationIDCreator

from meetbridge.sandbox._shared import AnyRequest, query_params
from meetbridge.sandbox.recall.calendar_v1.models import TokenOut
from meetbridge.sandbox.recall.calendar_v1.state import CalendarV1Sandbox
from meetbridge.sandbox.recall.calendar_v1.validation import (
    MeetingQuery,
    parse_authenticate,
    parse_disconnect,
    parse_meeting_update,
    parse_user_update,
)
from meetbridge.sandbox.recall.core import Reply, serve_call

CalendarV1Dep = NamedDependency[CalendarV1Sandbox]
# Header lookup is case-insensitive, as the reference requires.
TOKEN_HEADER = "x-recallcalendarauthtoken"  # noqa: S105 - a header name, not a secret
UserAction = Callable[[str], Awaitable[Reply]]


async def _serve_token(
    request: AnyRequest, calendar_v1: CalendarV1Sandbox, endpoint: str, action: UserAction
) -> Response[Any]:
    """`serve_call` with the calendar token instead of the API key; the action gets the token's user id."""
    users: list[str] = []

    def authenticate(request: AnyRequest) -> None:
        users.append(calendar_v1.user_for_token(request.headers.get(TOKEN_HEADER)))

    async def as_user() -> Reply:
        return await action(users[0])

    return await serve_call(request, calendar_v1.recall, endpoint, as_user, authenticate=authenticate)


@post(
    "/api/v1/calendar/authenticate/", operation_id="sandbox_recall_calendar_v1_authenticate", status_code=200
)
async def authenticate(request: AnyRequest, calendar_v1: CalendarV1Dep) -> Response[Any]:
    body = await request.body()

    async def action() -> Reply:
        return Reply(200, TokenOut(await calendar_v1.authenticate(parse_authenticate(body))))

    return await serve_call(request, calendar_v1.recall, "calendar_v1_auth", action)


@get("/api/v1/calendar/user/", operation_id="sandbox_recall_calendar_v1_get_user")
async def retrieve_user(request: AnyRequest, calendar_v1: CalendarV1Dep) -> Response[Any]:
    async def action(user_id: str) -> Reply:
        return Reply(200, await calendar_v1.get_user(user_id))

    return await _serve_token(request, calendar_v1, "calendar_v1_user", action)


def _per_method(name: str) -> OperationIDCreator:
    """One handler serves PUT and PATCH; OpenAPI needs an operation id for each."""
    return lambda _handler, method, _path: f"{name}_{str(method).lower()}"


# PUT in the demo and older spec, PATCH in newer docs (open question 7): both, both partial.
@route(
    "/api/v1/calendar/user/",
    http_method=["PUT", "PATCH"],
    operation_id=_per_method("sandbox_recall_calendar_v1_update_user"),
)
async def update_user(request: AnyRequest, calendar_v1: CalendarV1Dep) -> Response[Any]:
    body = await request.body()

    async def action(user_id: str) -> Reply:
        return Reply(200, await calendar_v1.update_user(user_id, parse_user_update(body)))

    return await _serve_token(request, calendar_v1, "calendar_v1_user", action)


# Declared 200 because Litestar refuses a body type on 204 routes; the 204 is set per response.
@delete("/api/v1/calendar/user/", operation_id="sandbox_recall_calendar_v1_delete_user", status_code=200)
async def delete_user(request: AnyRequest, calendar_v1: CalendarV1Dep) -> Response[Any]:
    async def action(user_id: str) -> Reply:
        await calendar_v1.delete_user(user_id)
        return Reply(204)

    return await _serve_token(request, calendar_v1, "calendar_v1_user", action)


@post(
    "/api/v1/calendar/user/disconnect/", operation_id="sandbox_recall_calendar_v1_disconnect", status_code=200
)
async def disconnect(request: AnyRequest, calendar_v1: CalendarV1Dep) -> Response[Any]:
    body = await request.body()

    async def action(user_id: str) -> Reply:
        return Reply(200, await calendar_v1.disconnect(user_id, parse_disconnect(body)))

    return await _serve_token(request, calendar_v1, "calendar_v1_user", action)


@get("/api/v1/calendar/meetings/", operation_id="sandbox_recall_calendar_v1_list_meetings")
async def list_meetings(request: AnyRequest, calendar_v1: CalendarV1Dep) -> Response[Any]:
    params = query_params(request)

    async def action(user_id: str) -> Reply:
        return Reply(200, await calendar_v1.list_meetings(user_id, MeetingQuery.from_params(params)))

    return await _serve_token(request, calendar_v1, "calendar_v1_meetings", action)


@post(
    "/api/v1/calendar/meetings/refresh/",
    operation_id="sandbox_recall_calendar_v1_refresh_meetings",
    status_code=200,
)
async def refresh_meetings(request: AnyRequest, calendar_v1: CalendarV1Dep) -> Response[Any]:
    async def action(user_id: str) -> Reply:
        return Reply(200, await calendar_v1.refresh(user_id))

    return await _serve_token(request, calendar_v1, "calendar_v1_meetings", action)


@get("/api/v1/calendar/meetings/{meeting_id:str}/", operation_id="sandbox_recall_calendar_v1_get_meeting")
async def retrieve_meeting(
    request: AnyRequest, calendar_v1: CalendarV1Dep, meeting_id: FromPath[str]
) -> Response[Any]:
    async def action(user_id: str) -> Reply:
        return Reply(200, await calendar_v1.get_meeting(user_id, meeting_id))

    return await _serve_token(request, calendar_v1, "calendar_v1_meetings", action)


@route(
    "/api/v1/calendar/meetings/{meeting_id:str}/",
    http_method=["PUT", "PATCH"],
    operation_id=_per_method("sandbox_recall_calendar_v1_update_meeting"),
)
async def update_meeting(
    request: AnyRequest, calendar_v1: CalendarV1Dep, meeting_id: FromPath[str]
) -> Response[Any]:
    body = await request.body()

    async def action(user_id: str) -> Reply:
        change = parse_meeting_update(body)
        return Reply(200, await calendar_v1.update_meeting(user_id, meeting_id, change))

    return await _serve_token(request, calendar_v1, "calendar_v1_meetings", action)


CALENDAR_V1_HANDLERS = [
    authenticate,
    retrieve_user,
    update_user,
    delete_user,
    disconnect,
    list_meetings,
    refresh_meetings,
    retrieve_meeting,
    update_meeting,
]
