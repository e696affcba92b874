"""The Calendar V2 routes (`/api/v2/calendars/...`, `/api/v2/calendar-events/...`, reference §4.1).

Same auth, fault injection and call log as the bot API (`serve_call`); fault endpoint names are the
catalogue's rate-limit names: `calendars`, `calendar_events_list`, `calendar_event`, `calendar_event_bot`.
"""

from __future__ import annotations

from typing import Any

from litestar import Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from meetbridge.sandbox._shared import AnyRequest, query_params
from meetbridge.sandbox.recall.calendar_v2.models import CalendarEventPage, CalendarPage
from meetbridge.sandbox.recall.calendar_v2.pages import page_url
from meetbridge.sandbox.recall.calendar_v2.state import CalendarV2Sandbox
from meetbridge.sandbox.recall.calendar_v2.validation import (
    CalendarQuery,
    EventQuery,
    parse_add_bot,
    parse_calendar,
    parse_new_calendar,
)
from meetbridge.sandbox.recall.core import Action, Reply, is_far, serve_call

CalendarsDep = NamedDependency[CalendarV2Sandbox]


async def _run(
    request: AnyRequest, calendars: CalendarV2Sandbox, endpoint: str, action: Action
) -> Response[Any]:
    return await serve_call(request, calendars.recall, endpoint, action)


@post("/api/v2/calendars/", operation_id="sandbox_recall_create_calendar", status_code=201)
async def create_calendar(request: AnyRequest, calendar_v2: CalendarsDep) -> Response[Any]:
    body = await request.body()

    async def action() -> Reply:
        return Reply(201, await calendar_v2.create_calendar(parse_new_calendar(body)))

    return await _run(request, calendar_v2, "calendars", action)


@get("/api/v2/calendars/", operation_id="sandbox_recall_list_calendars")
async def list_calendars(request: AnyRequest, calendar_v2: CalendarsDep) -> Response[Any]:
    async def action() -> Reply:
        page = await calendar_v2.list_calendars(CalendarQuery.from_params(query_params(request)))
        body = CalendarPage(page_url(request, page.next), page_url(request, page.previous), page.results)
        return Reply(200, body)

    return await _run(request, calendar_v2, "calendars", action)


@get("/api/v2/calendars/{calendar_id:str}/", operation_id="sandbox_recall_retrieve_calendar")
async def retrieve_calendar(
    request: AnyRequest, calendar_v2: CalendarsDep, calendar_id: FromPath[str]
) -> Response[Any]:
    async def action() -> Reply:
        return Reply(200, await calendar_v2.get_calendar(calendar_id))

    return await _run(request, calendar_v2, "calendars", action)


@patch("/api/v2/calendars/{calendar_id:str}/", operation_id="sandbox_recall_update_calendar")
async def update_calendar(
    request: AnyRequest, calendar_v2: CalendarsDep, calendar_id: FromPath[str]
) -> Response[Any]:
    body = await request.body()

    async def action() -> Reply:
        return Reply(
            200, await calendar_v2.update_calendar(calendar_id, parse_calendar(body, creating=False))
        )

    return await _run(request, calendar_v2, "calendars", action)


# Declared 200 because Litestar refuses a body type on 204 routes; the 204 is set per response.
@delete(
    "/api/v2/calendars/{calendar_id:str}/", operation_id="sandbox_recall_delete_calendar", status_code=200
)
async def delete_calendar(
    request: AnyRequest, calendar_v2: CalendarsDep, calendar_id: FromPath[str]
) -> Response[Any]:
    async def action() -> Reply:
        await calendar_v2.delete_calendar(calendar_id)
        return Reply(204)

    return await _run(request, calendar_v2, "calendars", action)


@get("/api/v2/calendar-events/", operation_id="sandbox_recall_list_calendar_events")
async def list_calendar_events(request: AnyRequest, calendar_v2: CalendarsDep) -> Response[Any]:
    async def action() -> Reply:
        page = await calendar_v2.list_events(EventQuery.from_params(query_params(request)))
        body = CalendarEventPage(page_url(request, page.next), page_url(request, page.previous), page.results)
        return Reply(200, body)

    return await _run(request, calendar_v2, "calendar_events_list", action)


@get("/api/v2/calendar-events/{event_id:str}/", operation_id="sandbox_recall_retrieve_calendar_event")
async def retrieve_calendar_event(
    request: AnyRequest, calendar_v2: CalendarsDep, event_id: FromPath[str]
) -> Response[Any]:
    async def action() -> Reply:
        return Reply(200, await calendar_v2.get_event(event_id))

    return await _run(request, calendar_v2, "calendar_event", action)


def _bot_call(calendar_v2: CalendarV2Sandbox, event_id: str, creating: bool) -> bool:
    """Whether a 507 fault must pass this call by: only an Add Bot whose event starts within ten
    minutes falls into the ad-hoc pool (guide, "Pre-poned Event"); Remove Bot never does."""
    start = calendar_v2.event_start(event_id)
    return not creating or is_far(start, calendar_v2.recall.clock.now())


@post(
    "/api/v2/calendar-events/{event_id:str}/bot/",
    operation_id="sandbox_recall_schedule_calendar_event_bot",
    status_code=200,
)
async def schedule_bot(
    request: AnyRequest, calendar_v2: CalendarsDep, event_id: FromPath[str]
) -> Response[Any]:
    body = await request.body()

    async def action() -> Reply:
        key, config = parse_add_bot(body)
        return Reply(200, await calendar_v2.add_bot(event_id, key, config))

    skip_507 = _bot_call(calendar_v2, event_id, creating=True)
    return await serve_call(
        request, calendar_v2.recall, "calendar_event_bot", action, scheduled_create=skip_507
    )


@delete(
    "/api/v2/calendar-events/{event_id:str}/bot/",
    operation_id="sandbox_recall_remove_calendar_event_bot",
    status_code=200,
)
async def remove_bot(
    request: AnyRequest, calendar_v2: CalendarsDep, event_id: FromPath[str]
) -> Response[Any]:
    async def action() -> Reply:
        return Reply(200, await calendar_v2.remove_bot(event_id))

    skip_507 = _bot_call(calendar_v2, event_id, creating=False)
    return await serve_call(
        request, calendar_v2.recall, "calendar_event_bot", action, scheduled_create=skip_507
    )


CALENDAR_V2_HANDLERS = [
    create_calendar,
    list_calendars,
    retrieve_calendar,
    update_calendar,
    delete_calendar,
    list_calendar_events,
    retrieve_calendar_event,
    schedule_bot,
    remove_bot,
]
