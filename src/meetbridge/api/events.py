"""Cronofy-compatible event endpoints, plus meetbridge's single-event status read."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from meetbridge.api.presenters import event_detail, event_read
from meetbridge.api.responses import answer
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
from meetbridge.db.events import EventQuery, StoredEvent
from meetbridge.domain.extensions import NO_PROFILE, DesiredExtension
from meetbridge.domain.times import DEFAULT_TZID, EARLIEST, LATEST, TimeError, parse_window_date, zone
from meetbridge.errors import InvalidRequest, NotFound
from meetbridge.runtime.gateway import Gateway

NOT_FOUND = {404: answer(ErrorBody, "No such resource for this application")}
VALIDATION = {422: answer(ValidationErrors, "Invalid parameters")}
INVALID = {**VALIDATION, **NOT_FOUND}
# pages.total is exact while at most this many pages remain, and a lower bound beyond (README).
PAGES_COUNTED_AHEAD = 100
_BoolQuery = Annotated[bool, QueryParameter(required=False)]


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
    page: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 1
    after_start: str | None = None  # keyset cursor: the last event of the previous page
    after_pk: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)] | None = None


def _encode_page(params: ReadParams) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(params)).decode().rstrip("=")


def _cursor_is_ours(params: ReadParams) -> bool:
    """Both halves or none, and a start an event can have (aware, in the stored range)."""
    if (params.after_start is None) != (params.after_pk is None):
        return False
    if params.after_start is None:
        return True
    after = datetime.fromisoformat(params.after_start)
    return after.tzinfo is not None and EARLIEST.year - 1 <= after.year <= LATEST.year + 1


def _decode_page(token: str) -> ReadParams:
    # Tokens are not signed: what one says is checked as strictly as the query it came from, and it
    # is scoped to the caller's own calendars like any query.
    unknown = NotFound("unknown page; start again from GET /v1/events")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        params = msgspec.json.decode(raw, type=ReadParams)
        if not _cursor_is_ours(params):
            raise unknown
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise unknown from None
    return params


def _desired_extensions(extensions: list[Extension], gateway: Gateway) -> list[DesiredExtension]:
    """The extensions asked for, each naming a provider the configured profiles serve and, unless
    ``none``, a profile of that provider."""
    serves = {
        profile_id: gateway.registry.extension_provider(profile.adapter)
        for profile_id, profile in gateway.config.profiles.items()
    }
    providers = sorted(set(serves.values()))
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for extension in extensions:
        if extension.provider not in providers:
            problems.append(
                (
                    "errors.unknown_provider",
                    f"provider {extension.provider!r} is not supported "
                    f"(the configured profiles serve: {', '.join(providers) or 'none'})",
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
        elif extension.profile_id != NO_PROFILE and serves[extension.profile_id] != extension.provider:
            problems.append(
                (
                    "errors.wrong_provider",
                    f"profile {extension.profile_id} makes {serves[extension.profile_id]} bots: "
                    f"ask for it with provider {serves[extension.profile_id]!r}",
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
        responses={
            **INVALID,
            409: answer(ValidationErrors, "The event_uid names no event this calendar holds (yet)"),
        },
        summary="Create or update an event (Cronofy upsert)",
    )
    async def upsert_event(
        self,
        calendar_id: FromPath[str],
        data: JSONBody[EventUpsert],
        application_id: NamedDependency[str],
        gateway: NamedDependency[Gateway],
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
        self,
        calendar_id: FromPath[str],
        data: JSONBody[EventDelete],
        application_id: NamedDependency[str],
        gateway: NamedDependency[Gateway],
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
        application_id: NamedDependency[str],
        gateway: NamedDependency[Gateway],
        tzid: FromQuery[str] = DEFAULT_TZID,
        from_: Annotated[str | None, QueryParameter(name="from")] = None,
        to: FromQuery[str | None] = None,
        last_modified: FromQuery[str | None] = None,
        include_deleted: _BoolQuery = False,
        include_managed: _BoolQuery = False,
        only_managed: _BoolQuery = False,
        localized_times: _BoolQuery = False,
        include_moved: _BoolQuery = False,
        include_geo: _BoolQuery = False,
        google_event_ids: _BoolQuery = False,
        calendar_ids: Annotated[list[str] | None, QueryParameter(name="calendar_ids[]")] = None,
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
        self,
        request: Request[Any, Any, Any],
        token: FromPath[str],
        application_id: NamedDependency[str],
        gateway: NamedDependency[Gateway],
    ) -> ReadEventsResponse:
        return await self._page(request, application_id, gateway, _decode_page(token))

    async def _page(
        self, request: Request[Any, Any, Any], application_id: str, gateway: Gateway, params: ReadParams
    ) -> ReadEventsResponse:
        query = _event_query(application_id, params)
        for calendar_id in params.calendar_ids:
            await gateway.calendars.get(application_id, calendar_id)
        size = gateway.settings.events_page_size
        after = None
        if params.after_start is not None and params.after_pk is not None:
            after = (datetime.fromisoformat(params.after_start), params.after_pk)
        limit = size * PAGES_COUNTED_AHEAD
        stored, remaining = await gateway.events.read(query, after=after, page_size=size, count_limit=limit)
        # pycronofy keeps fetching while current < total, so total counts the pages still to come:
        # exactly up to PAGES_COUNTED_AHEAD of them, and beyond that as many (each page counts again).
        pages = params.page - 1 + max(1, -(-min(remaining, limit) // size))
        next_page = None
        if params.page < pages and stored:
            base = (gateway.public_url or str(request.base_url)).rstrip("/")
            last = stored[-1]
            cursor = msgspec.structs.replace(
                params, page=params.page + 1, after_start=last.start_at.isoformat(), after_pk=last.pk
            )
            next_page = f"{base}/v1/events/pages/{_encode_page(cursor)}"
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
        self,
        calendar_id: FromPath[str],
        event_id: FromPath[str],
        application_id: NamedDependency[str],
        gateway: NamedDependency[Gateway],
    ) -> EventDetailResponse:
        event = await gateway.events.get(application_id, calendar_id, event_id=event_id)
        return await _detail(gateway, event)

    @get(
        "/calendars/{calendar_id:str}/events/by-uid/{event_uid:str}",
        operation_id="get_event_by_uid",
        responses=NOT_FOUND,
        summary="One event by event_uid with its extension status (meetbridge)",
    )
    async def get_event_by_uid(
        self,
        calendar_id: FromPath[str],
        event_uid: FromPath[str],
        application_id: NamedDependency[str],
        gateway: NamedDependency[Gateway],
    ) -> EventDetailResponse:
        event = await gateway.events.get(application_id, calendar_id, event_uid=event_uid)
        return await _detail(gateway, event)


async def _detail(gateway: Gateway, event: StoredEvent) -> EventDetailResponse:
    migrations = await gateway.migration_log.of_event(event.pk)
    return EventDetailResponse(
        event=event_detail(event, migrations, await gateway.audit_log.of_event(event.pk))
    )


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
