"""Cronofy-compatible event endpoints, plus meetbridge's single-event status read."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.enums import MediaType
from litestar.openapi import ResponseSpec
from litestar.params import Parameter

from meetbridge.api.presenters import event_detail, event_read
from meetbridge.api.schemas import (
    ErrorBody,
    EventDelete,
    EventDetailResponse,
    EventUpsert,
    Extension,
    Pages,
    ReadEventsResponse,
    ValidationErrors,
)
from meetbridge.db.events import EventQuery
from meetbridge.domain.extensions import NO_PROFILE, DesiredExtension
from meetbridge.domain.times import DEFAULT_TZID, TimeError, parse_window_date, zone
from meetbridge.errors import InvalidRequest, NotFound
from meetbridge.gateway import Gateway

PROVIDERS = ("recall",)
NOT_FOUND = {404: ResponseSpec(data_container=ErrorBody, description="No such resource for this application")}
VALIDATION = {422: ResponseSpec(data_container=ValidationErrors, description="Invalid parameters")}
INVALID = {**VALIDATION, **NOT_FOUND}
_BoolQuery = Annotated[bool, Parameter(required=False)]


class ReadParams(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a Read Events query says; a page token carries it so next_page needs no parameters."""

    tzid: str = DEFAULT_TZID
    window_from: str | None = None
    window_to: str | None = None
    last_modified: str | None = None
    include_deleted: bool = False
    include_managed: bool = False
    only_managed: bool = False
    localized_times: bool = False
    calendar_ids: tuple[str, ...] = ()
    page: int = 1


def _encode_page(params: ReadParams) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(params)).decode().rstrip("=")


def _decode_page(token: str) -> ReadParams:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return msgspec.json.decode(raw, type=ReadParams)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise NotFound("unknown page; start again from GET /v1/events") from None


def _desired_extensions(extensions: list[Extension], gateway: Gateway) -> list[DesiredExtension]:
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for extension in extensions:
        if extension.provider not in PROVIDERS:
            problems.append(
                (
                    "errors.unknown_provider",
                    f"provider {extension.provider!r} is not supported (use 'recall')",
                )
            )
        elif extension.provider in seen:
            problems.append(("errors.duplicate", f"provider {extension.provider!r} appears more than once"))
        elif extension.profile_id != NO_PROFILE and extension.profile_id not in gateway.config.profiles:
            known = ", ".join(sorted(gateway.config.profiles)) or "none configured"
            problems.append(
                (
                    "errors.unknown_profile",
                    f"profile_id {extension.profile_id!r} is not configured (known: {known})",
                )
            )
        seen.add(extension.provider)
    if problems:
        raise InvalidRequest({"extensions": problems})
    return [DesiredExtension(e.provider, e.profile_id) for e in extensions]


class EventsController(Controller):
    path = "/v1"
    tags = ["events"]

    @post(
        "/calendars/{calendar_id:str}/events",
        operation_id="upsert_event",
        status_code=202,
        media_type=MediaType.TEXT,
        responses=INVALID,
        summary="Create or update an event (Cronofy upsert)",
    )
    async def upsert_event(
        self, calendar_id: str, data: EventUpsert, application_id: str, gateway: Gateway
    ) -> None:
        provided: dict[str, Any] = msgspec.to_builtins(data)
        event_id, event_uid = provided.pop("event_id", None), provided.pop("event_uid", None)
        extensions = provided.pop("extensions", None)
        if (event_id is None) == (event_uid is None):
            raise InvalidRequest.single(
                "event_id", "required", "give event_id (your event) or event_uid (an external event)"
            )
        desired = None if extensions is None else _desired_extensions(data.extensions or [], gateway)
        if event_uid is not None and provided:
            raise InvalidRequest(
                {
                    name: [("errors.read_only", "external events are read-only; only extensions can be set")]
                    for name in provided
                }
            )
        await gateway.events.upsert(
            application_id,
            calendar_id,
            event_id=event_id,
            event_uid=event_uid,
            provided=provided,
            extensions=desired,
        )

    @delete(
        "/calendars/{calendar_id:str}/events",
        operation_id="delete_event",
        status_code=202,
        media_type=MediaType.TEXT,
        responses=INVALID,
        summary="Delete an event and cancel its bot",
    )
    async def delete_event(
        self, calendar_id: str, data: EventDelete, application_id: str, gateway: Gateway
    ) -> None:
        event_id = data.event_id or None
        event_uid = data.event_uid or None
        if (event_id is None) == (event_uid is None):
            raise InvalidRequest.single("event_id", "required", "give event_id or event_uid")
        await gateway.events.delete(application_id, calendar_id, event_id=event_id, event_uid=event_uid)

    @get("/events", operation_id="read_events", responses=INVALID, summary="Read events (Cronofy)")
    async def read_events(
        self,
        request: Request[Any, Any, Any],
        application_id: str,
        gateway: Gateway,
        tzid: str = DEFAULT_TZID,
        from_: Annotated[str | None, Parameter(query="from")] = None,
        to: str | None = None,
        last_modified: str | None = None,
        include_deleted: _BoolQuery = False,
        include_managed: _BoolQuery = False,
        only_managed: _BoolQuery = False,
        localized_times: _BoolQuery = False,
        include_moved: _BoolQuery = False,
        include_geo: _BoolQuery = False,
        google_event_ids: _BoolQuery = False,
        calendar_ids: Annotated[list[str] | None, Parameter(query="calendar_ids[]")] = None,
    ) -> ReadEventsResponse:
        params = ReadParams(
            tzid=tzid,
            window_from=from_,
            window_to=to,
            last_modified=last_modified,
            include_deleted=include_deleted,
            include_managed=include_managed,
            only_managed=only_managed,
            localized_times=localized_times,
            calendar_ids=tuple(calendar_ids or ()),
        )
        return await self._page(request, application_id, gateway, params)

    @get("/events/pages/{token:str}", operation_id="read_events_page", summary="Next page of Read Events")
    async def read_events_page(
        self, request: Request[Any, Any, Any], token: str, application_id: str, gateway: Gateway
    ) -> ReadEventsResponse:
        return await self._page(request, application_id, gateway, _decode_page(token))

    async def _page(
        self, request: Request[Any, Any, Any], application_id: str, gateway: Gateway, params: ReadParams
    ) -> ReadEventsResponse:
        query = _event_query(application_id, params)
        for calendar_id in params.calendar_ids:
            await gateway.calendars.get(application_id, calendar_id)
        size = gateway.settings.events_page_size
        stored, total = await gateway.events.read(query, page=params.page, page_size=size)
        pages = max(1, -(-total // size))
        next_page = None
        if params.page < pages:
            base = (gateway.public_url or str(request.base_url)).rstrip("/")
            token = _encode_page(msgspec.structs.replace(params, page=params.page + 1))
            next_page = f"{base}/v1/events/pages/{token}"
        return ReadEventsResponse(
            pages=Pages(current=params.page, total=pages, next_page=next_page),
            events=[event_read(e, localized=params.localized_times) for e in stored],
        )

    @get(
        "/calendars/{calendar_id:str}/events/{event_id:str}",
        operation_id="get_event",
        responses=NOT_FOUND,
        summary="One managed event with its extension status (meetbridge)",
    )
    async def get_event(
        self, calendar_id: str, event_id: str, application_id: str, gateway: Gateway
    ) -> EventDetailResponse:
        event = await gateway.events.get(application_id, calendar_id, event_id=event_id)
        return EventDetailResponse(event=event_detail(event))

    @get(
        "/calendars/{calendar_id:str}/events/by-uid/{event_uid:str}",
        operation_id="get_event_by_uid",
        responses=NOT_FOUND,
        summary="One event by event_uid with its extension status (meetbridge)",
    )
    async def get_event_by_uid(
        self, calendar_id: str, event_uid: str, application_id: str, gateway: Gateway
    ) -> EventDetailResponse:
        event = await gateway.events.get(application_id, calendar_id, event_uid=event_uid)
        return EventDetailResponse(event=event_detail(event))


def _event_query(application_id: str, params: ReadParams) -> EventQuery:
    errors: dict[str, list[tuple[str, str]]] = {}
    try:
        zone(params.tzid)
    except TimeError as exc:
        errors["tzid"] = [("errors.invalid", str(exc))]
    parsed = {}
    for name, raw in (
        ("from", params.window_from),
        ("to", params.window_to),
        ("last_modified", params.last_modified),
    ):
        if raw is None:
            continue
        try:
            parsed[name] = parse_window_date(raw, params.tzid if "tzid" not in errors else DEFAULT_TZID)
        except TimeError as exc:
            errors[name] = [("errors.invalid", str(exc))]
    if errors:
        raise InvalidRequest(errors)
    return EventQuery(
        application_id=application_id,
        calendar_ids=params.calendar_ids,
        window_from=parsed.get("from"),
        window_to=parsed.get("to"),
        last_modified=parsed.get("last_modified"),
        include_deleted=params.include_deleted,
        include_managed=params.include_managed or params.only_managed,
        only_managed=params.only_managed,
    )
