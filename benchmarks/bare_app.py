"""The yardstick: a Litestar app that only decodes the upsert body meetbridge decodes, then answers 202.

Served by ``uvicorn.run`` with the arguments ``meetbridge serve`` uses, so the two differ only in
what happens after the body is decoded.
"""

from __future__ import annotations

import sys

import uvicorn
from litestar import Litestar, post
from litestar.enums import MediaType
from litestar.params import FromPath, JSONBody

from meetbridge.api.schemas import EventUpsert


@post("/v1/calendars/{calendar_id:str}/events", status_code=202, media_type=MediaType.TEXT)
async def upsert_event(calendar_id: FromPath[str], data: JSONBody[EventUpsert]) -> None:
    del calendar_id, data


app = Litestar(route_handlers=[upsert_event], debug=False)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
