"""Calendars: Cronofy's list and create shapes."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from meetbridge.api.events import VALIDATION
from meetbridge.api.schemas import CalendarCreate, CalendarRead, CalendarResponse, CalendarsResponse
from meetbridge.db.calendars import Calendar
from meetbridge.runtime.gateway import Gateway


def calendar_read(calendar: Calendar) -> CalendarRead:
    return CalendarRead(calendar_id=calendar.calendar_id, calendar_name=calendar.name)


class CalendarsController(Controller):
    path = "/v1/calendars"
    tags = ["calendars"]

    @get(operation_id="list_calendars", summary="List this application's calendars")
    async def list_calendars(
        self, application_id: NamedDependency[str], gateway: NamedDependency[Gateway]
    ) -> CalendarsResponse:
        return CalendarsResponse(
            calendars=[calendar_read(c) for c in await gateway.calendars.list(application_id)]
        )

    # Cronofy answers Create Calendar with 200, and its SDKs expect exactly that.
    @post(operation_id="create_calendar", status_code=200, responses=VALIDATION, summary="Create a calendar")
    async def create_calendar(
        self,
        data: JSONBody[CalendarCreate],
        application_id: NamedDependency[str],
        gateway: NamedDependency[Gateway],
    ) -> CalendarResponse:
        return CalendarResponse(
            calendar=calendar_read(await gateway.calendars.create(application_id, data.name))
        )
