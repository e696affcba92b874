"""Calendar V1 test API under `/_sandbox/calendar-v1/` (no auth, not logged, never faulted): play the
user and their calendar.

- `GET /_sandbox/calendar-v1/users`: every calendar user (CalendarUser shape)
- `POST /_sandbox/calendar-v1/users/{external_id}/connections` `{platform, email}`: connect as if the
  OAuth dance succeeded (the user is made if absent; a new account on that platform clears its meetings)
- `GET /_sandbox/calendar-v1/users/{external_id}/meetings`: the user's meetings (CalendarMeeting shape)
- `POST /_sandbox/calendar-v1/users/{external_id}/meetings`: a new meeting (see SeedMeetingIn) -> 201
- `PATCH /_sandbox/calendar-v1/meetings/{meeting_id}`: change it (see ChangeMeetingIn) -> 200
- `DELETE /_sandbox/calendar-v1/meetings/{meeting_id}`: cancel it, its future bot goes -> 204
  (each of the three re-evaluates will_record: bots are made, moved or dropped)
- `POST /_sandbox/calendar-v1/tokens/expire`: every calendar auth token expires now -> `{expired: n}`
- `GET|POST /_sandbox/calendar-v1/config`: `bot_assign_delay_seconds`, dashboard OAuth client ids
- `POST /_sandbox/calendar-v1/reset`: forget users, tokens and meetings (bots: `/_sandbox/reset`); the
  shared reset route (`_shared.admin`), mounted by `recall.app`
"""

from __future__ import annotations

from typing import Any

from litestar import Response, delete, get, patch, post
from litestar.enums import MediaType
from litestar.params import FromPath, JSONBody

from meetbridge.sandbox.recall.calendar_v1.models import (
    CalendarPlatform,
    CalendarV1ConfigIn,
    CalendarV1ConfigOut,
    ChangeMeetingIn,
    ConnectionIn,
    ExpiredTokensOut,
    SeedMeetingIn,
)
from meetbridge.sandbox.recall.calendar_v1.routes import CalendarV1Dep
from meetbridge.sandbox.recall.calendar_v1.state import CalendarV1Sandbox
from meetbridge.sandbox.recall.core import admin_answer


@get("/_sandbox/calendar-v1/users", operation_id="sandbox_recall_admin_list_calendar_v1_users")
async def list_users(calendar_v1: CalendarV1Dep) -> Response[Any]:
    return await admin_answer(200, calendar_v1.list_users())


@post(
    "/_sandbox/calendar-v1/users/{external_id:str}/connections",
    operation_id="sandbox_recall_admin_connect_calendar_v1_user",
    status_code=200,
)
async def connect(
    external_id: FromPath[str], data: JSONBody[ConnectionIn], calendar_v1: CalendarV1Dep
) -> Response[Any]:
    return await admin_answer(200, calendar_v1.admin_connect(external_id, data.platform, data.email))


@get(
    "/_sandbox/calendar-v1/users/{external_id:str}/meetings",
    operation_id="sandbox_recall_admin_list_calendar_v1_meetings",
)
async def list_meetings(external_id: FromPath[str], calendar_v1: CalendarV1Dep) -> Response[Any]:
    return await admin_answer(200, calendar_v1.user_meetings(external_id))


@post(
    "/_sandbox/calendar-v1/users/{external_id:str}/meetings",
    operation_id="sandbox_recall_admin_seed_calendar_v1_meeting",
)
async def seed_meeting(
    external_id: FromPath[str], data: JSONBody[SeedMeetingIn], calendar_v1: CalendarV1Dep
) -> Response[Any]:
    return await admin_answer(201, calendar_v1.seed_meeting(external_id, data))


@patch(
    "/_sandbox/calendar-v1/meetings/{meeting_id:str}",
    operation_id="sandbox_recall_admin_change_calendar_v1_meeting",
)
async def change_meeting(
    meeting_id: FromPath[str], data: JSONBody[ChangeMeetingIn], calendar_v1: CalendarV1Dep
) -> Response[Any]:
    return await admin_answer(200, calendar_v1.change_meeting(meeting_id, data))


# Declared 200 because Litestar refuses a body type on 204 routes; the 204 is set per response.
@delete(
    "/_sandbox/calendar-v1/meetings/{meeting_id:str}",
    operation_id="sandbox_recall_admin_delete_calendar_v1_meeting",
    status_code=200,
)
async def delete_meeting(meeting_id: FromPath[str], calendar_v1: CalendarV1Dep) -> Response[Any]:
    return await admin_answer(204, calendar_v1.delete_meeting(meeting_id))


@post(
    "/_sandbox/calendar-v1/tokens/expire",
    operation_id="sandbox_recall_admin_expire_calendar_v1_tokens",
    status_code=200,
)
async def expire_tokens(calendar_v1: CalendarV1Dep) -> ExpiredTokensOut:
    return ExpiredTokensOut(expired=await calendar_v1.expire_tokens())


def _config(calendar_v1: CalendarV1Sandbox) -> CalendarV1ConfigOut:
    clients = calendar_v1.oauth_client_ids
    return CalendarV1ConfigOut(
        bot_assign_delay_seconds=calendar_v1.bots.delay_seconds,
        google_oauth_client_id=clients.get("google"),
        microsoft_oauth_client_id=clients.get("microsoft"),
    )


@get("/_sandbox/calendar-v1/config", operation_id="sandbox_recall_admin_get_calendar_v1_config")
async def get_config(calendar_v1: CalendarV1Dep) -> CalendarV1ConfigOut:
    return _config(calendar_v1)


@post(
    "/_sandbox/calendar-v1/config",
    operation_id="sandbox_recall_admin_set_calendar_v1_config",
    status_code=200,
)
async def set_config(data: JSONBody[CalendarV1ConfigIn], calendar_v1: CalendarV1Dep) -> Response[Any]:
    if data.bot_assign_delay_seconds is not None and data.bot_assign_delay_seconds < 0:
        body = {"detail": "bot_assign_delay_seconds must not be negative"}
        return Response(content=body, status_code=400, media_type=MediaType.JSON)
    if data.bot_assign_delay_seconds is not None:
        calendar_v1.bots.delay_seconds = data.bot_assign_delay_seconds
    clients: tuple[tuple[CalendarPlatform, str | None], ...] = (
        ("google", data.google_oauth_client_id),
        ("microsoft", data.microsoft_oauth_client_id),
    )
    for platform, client_id in clients:
        if client_id:
            calendar_v1.oauth_client_ids[platform] = client_id
        elif client_id == "":
            calendar_v1.oauth_client_ids.pop(platform, None)
    return Response(content=_config(calendar_v1), status_code=200, media_type=MediaType.JSON)


CALENDAR_V1_ADMIN_HANDLERS = [
    list_users,
    connect,
    list_meetings,
    seed_meeting,
    change_meeting,
    delete_meeting,
    expire_tokens,
    get_config,
    set_config,
]
