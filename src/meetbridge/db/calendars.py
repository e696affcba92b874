"""Calendars belong to one application; another application's calendar does not exist for it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa

from meetbridge.db.database import Database
from meetbridge.db.ids import new_id
from meetbridge.db.tables import calendars, utcnow
from meetbridge.errors import NotFound


class Calendar(msgspec.Struct, frozen=True):
    calendar_id: str
    application_id: str
    name: str
    created_at: datetime


def _calendar(row: Any) -> Calendar:  # a Row of the four calendar columns
    return Calendar(
        calendar_id=row.id, application_id=row.application_id, name=row.name, created_at=row.created_at
    )


class CalendarRepository:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def create(self, application_id: str, name: str) -> Calendar:
        calendar = Calendar(new_id("cal_"), application_id, name, utcnow())
        async with self.database.write() as connection:
            await connection.execute(
                calendars.insert().values(
                    id=calendar.calendar_id,
                    application_id=application_id,
                    name=name,
                    created_at=calendar.created_at,
                )
            )
        return calendar

    async def list(self, application_id: str) -> list[Calendar]:
        query = (
            sa.select(calendars.c.id, calendars.c.application_id, calendars.c.name, calendars.c.created_at)
            .where(calendars.c.application_id == application_id)
            .order_by(calendars.c.created_at, calendars.c.id)
        )
        async with self.database.read() as connection:
            return [_calendar(row) for row in await connection.execute(query)]

    async def get(self, application_id: str, calendar_id: str) -> Calendar:
        """Raise NotFound for unknown ids and for other applications' calendars alike."""
        query = sa.select(
            calendars.c.id, calendars.c.application_id, calendars.c.name, calendars.c.created_at
        ).where(calendars.c.id == calendar_id, calendars.c.application_id == application_id)
        async with self.database.read() as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            raise NotFound(f"calendar {calendar_id} not found")
        return _calendar(row)
