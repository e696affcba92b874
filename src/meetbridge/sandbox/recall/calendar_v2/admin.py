"""Calendar V2 test API under `/_sandbox/` (no auth, not logged, never faulted): play the user's calendar.

- `POST /_sandbox/calendars/{calendar_id}/events`: a new event (raw in the provider's shape) -> 201
- `PATCH /_sandbox/calendar-events/{event_id}`: change times and/or raw -> 200
- `DELETE /_sandbox/calendar-events/{event_id}`: mark deleted, unschedule its bots -> 200
  (each of the three bumps `updated_at` and sends a signed `calendar.sync_events`)
- `POST /_sandbox/calendar-v2/bots/{bot_id}/move`: `{start_time}` moves a scheduled bot, id kept, on
  every event holding it (someone at Recall, behind the client's back) -> 200; no webhook
- `POST /_sandbox/calendars/{calendar_id}/status`: e.g. `disconnected` -> 200, sends `calendar.update`
- `GET|POST /_sandbox/calendar-v2/config`: page size, per-key hold time (to provoke 409s)
- `POST /_sandbox/calendar-v2/reset`: forget every calendar and event (bots: `/_sandbox/reset`); the
  shared reset route (`_shared.admin`), mounted by `recall.app`
"""

from __future__ import annotations

from typing import Any

from litestar import Response, delete, get, patch, post
from litestar.enums import MediaType
from litestar.params import FromPath, JSONBody

from meetbridge.sandbox.recall.calendar_v2.models import (
    CalendarStatusIn,
    CalendarV2ConfigIn,
    CalendarV2ConfigOut,
    ChangeEventIn,
    MoveBotIn,
    SeedEventIn,
)
from meetbridge.sandbox.recall.calendar_v2.routes import CalendarsDep
from meetbridge.sandbox.recall.calendar_v2.state import CalendarV2Sandbox
from meetbridge.sandbox.recall.core import admin_answer


@post("/_sandbox/calendars/{calendar_id:str}/events", operation_id="sandbox_recall_admin_seed_calendar_event")
async def seed_event(
    calendar_id: FromPath[str], data: JSONBody[SeedEventIn], calendar_v2: CalendarsDep
) -> Response[Any]:
    return await admin_answer(201, calendar_v2.seed_event(calendar_id, data))


@patch("/_sandbox/calendar-events/{event_id:str}", operation_id="sandbox_recall_admin_change_calendar_event")
async def change_event(
    event_id: FromPath[str], data: JSONBody[ChangeEventIn], calendar_v2: CalendarsDep
) -> Response[Any]:
    return await admin_answer(200, calendar_v2.change_event(event_id, data))


@delete(
    "/_sandbox/calendar-events/{event_id:str}",
    operation_id="sandbox_recall_admin_delete_calendar_event",
    status_code=200,
)
async def delete_event(event_id: FromPath[str], calendar_v2: CalendarsDep) -> Response[Any]:
    return await admin_answer(200, calendar_v2.delete_event(event_id))


@post(
    "/_sandbox/calendar-v2/bots/{bot_id:str}/move",
    operation_id="sandbox_recall_admin_move_calendar_v2_bot",
    status_code=200,
)
async def move_bot(
    bot_id: FromPath[str], data: JSONBody[MoveBotIn], calendar_v2: CalendarsDep
) -> Response[Any]:
    return await admin_answer(200, calendar_v2.move_bot(bot_id, data.start_time))


@post("/_sandbox/calendars/{calendar_id:str}/status", operation_id="sandbox_recall_admin_set_calendar_status")
async def set_status(
    calendar_id: FromPath[str], data: JSONBody[CalendarStatusIn], calendar_v2: CalendarsDep
) -> Response[Any]:
    return await admin_answer(200, calendar_v2.set_status(calendar_id, data))


def _config(calendar_v2: CalendarV2Sandbox) -> CalendarV2ConfigOut:
    return CalendarV2ConfigOut(
        page_size=calendar_v2.page_size, key_hold_seconds=calendar_v2.scheduler.hold_seconds
    )


@get("/_sandbox/calendar-v2/config", operation_id="sandbox_recall_admin_get_calendar_v2_config")
async def get_config(calendar_v2: CalendarsDep) -> CalendarV2ConfigOut:
    return _config(calendar_v2)


@post(
    "/_sandbox/calendar-v2/config",
    operation_id="sandbox_recall_admin_set_calendar_v2_config",
    status_code=200,
)
async def set_config(data: JSONBody[CalendarV2ConfigIn], calendar_v2: CalendarsDep) -> Response[Any]:
    if (data.page_size is not None and data.page_size < 1) or (
        data.key_hold_seconds is not None and data.key_hold_seconds < 0
    ):
        body = {"detail": "page_size must be positive and key_hold_seconds not negative"}
        return Response(content=body, status_code=400, media_type=MediaType.JSON)
    if data.page_size is not None:
        calendar_v2.page_size = data.page_size
    if data.key_hold_seconds is not None:
        calendar_v2.scheduler.hold_seconds = data.key_hold_seconds
    return Response(content=_config(calendar_v2), status_code=200, media_type=MediaType.JSON)


CALENDAR_V2_ADMIN_HANDLERS = [
    seed_event,
    change_event,
    delete_event,
    move_bot,
    set_status,
    get_config,
    set_config,
]
