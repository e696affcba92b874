"""The Cronofy API routes (events, calendars, channels, OAuth): auth, fault injection and the call log
around each call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from litestar import Response, delete, get, post
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.params import FromPath

from meetbridge.sandbox._shared import AnyRequest, CallRecord, query_params
from meetbridge.sandbox.cronofy.auth import Account, OAuthError, oauth_params
from meetbridge.sandbox.cronofy.models import (
    CalendarsOut,
    ChannelEnvelope,
    ChannelsOut,
    EventsPageOut,
    PagesOut,
)
from meetbridge.sandbox.cronofy.pages import EventsPage
from meetbridge.sandbox.cronofy.query import EventQuery
from meetbridge.sandbox.cronofy.state import CronofySandbox
from meetbridge.sandbox.cronofy.validation import CronofyError, parse_channel, parse_delete, parse_upsert

SandboxDep = NamedDependency[CronofySandbox]
# Cronofy's 401 body is undocumented (reference open question 7); RFC 6750's header carries the reason.
_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1, on every token answer


@dataclass
class Reply:
    status: int
    body: msgspec.Struct | dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    bot_id: str | None = None  # the Recall bot the call touched, for the call log


Action = Callable[[], Awaitable[Reply]]


def _response(reply: Reply) -> Response[Any]:
    if reply.body is None:
        # 202s (and 401/403/404) carry no body at all, not JSON `null`.
        return Response(
            content=b"", status_code=reply.status, headers=reply.headers, media_type=MediaType.TEXT
        )
    return Response(
        content=reply.body, status_code=reply.status, headers=reply.headers, media_type=MediaType.JSON
    )


async def _serve(
    request: AnyRequest, sandbox: CronofySandbox, endpoint: str, outcome: Reply | Action
) -> Response[Any]:
    """An injected fault if one is queued (state untouched), else the action; a refusal made before
    (auth) is answered as is and consumes no fault. Every call is logged."""
    sandbox.ensure_background()
    reply = Reply(500)
    faulted = False
    try:
        if isinstance(outcome, Reply):
            reply = outcome
            return _response(reply)
        fault = sandbox.faults.take(endpoint)
        if fault is not None and fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault is not None and fault.status is not None:
            faulted = True
            # Cronofy's bodies for 429/5xx are undocumented (open question 7): empty unless given.
            headers = {**fault.response_headers(), **(_NO_STORE if endpoint == "oauth" else {})}
            reply = Reply(fault.status, fault.body, headers)
            return _response(reply)
        try:
            reply = await outcome()
        except (CronofyError, OAuthError) as exc:
            reply = Reply(exc.status, exc.body, exc.headers)
        return _response(reply)
    finally:
        sandbox.calls.record(
            CallRecord(
                method=request.method,
                path=request.url.path,
                query=request.url.query or "",
                endpoint=endpoint,
                status=reply.status,
                time=sandbox.clock.now(),
                faulted=faulted,
                bot_id=reply.bot_id,
            )
        )


async def _api(
    request: AnyRequest, sandbox: CronofySandbox, scope: str, run: Callable[[Account], Awaitable[Reply]]
) -> Response[Any]:
    """Bearer access token first (401), then its scope (403, reference §0), then the call."""
    account = sandbox.authenticate(request.headers.get("authorization"))
    if account is None:
        return await _serve(request, sandbox, "api", Reply(401, headers=dict(_UNAUTHORIZED)))
    if not account.allows(scope):
        return await _serve(request, sandbox, "api", Reply(403))
    return await _serve(request, sandbox, "api", lambda: run(account))


def _pages(request: AnyRequest, page: EventsPage) -> EventsPageOut:
    """`next_page` is an absolute URL back to this sandbox, wherever it is mounted (reference §3)."""
    url = request.url
    prefix = url.path.rsplit("/v1/events", 1)[0]
    next_page: str | msgspec.UnsetType = msgspec.UNSET
    if page.next_token is not None:
        next_page = f"{url.scheme}://{url.netloc}{prefix}/v1/events/pages/{page.next_token}"
    return EventsPageOut(
        pages=PagesOut(current=page.current, total=page.total, next_page=next_page), events=page.events
    )


@post("/v1/calendars/{calendar_id:str}/events", operation_id="sandbox_cronofy_upsert_event", status_code=202)
async def upsert_event(
    request: AnyRequest, cronofy_sandbox: SandboxDep, calendar_id: FromPath[str]
) -> Response[Any]:
    body = await request.body()

    async def run(account: Account) -> Reply:
        cronofy_sandbox.own_calendar(account, calendar_id)
        write = parse_upsert(body, cronofy_sandbox.recall_profiles)
        return Reply(202, bot_id=await cronofy_sandbox.upsert(account, calendar_id, write))

    return await _api(request, cronofy_sandbox, "create_event", run)


@delete(
    "/v1/calendars/{calendar_id:str}/events", operation_id="sandbox_cronofy_delete_event", status_code=202
)
async def delete_event(
    request: AnyRequest, cronofy_sandbox: SandboxDep, calendar_id: FromPath[str]
) -> Response[Any]:
    body = await request.body()

    async def run(account: Account) -> Reply:
        cronofy_sandbox.own_calendar(account, calendar_id)
        by, value = parse_delete(body)
        return Reply(202, bot_id=await cronofy_sandbox.delete(account, calendar_id, by, value))

    return await _api(request, cronofy_sandbox, "delete_event", run)


@get("/v1/events", operation_id="sandbox_cronofy_read_events")
async def read_events(request: AnyRequest, cronofy_sandbox: SandboxDep) -> Response[Any]:
    async def run(account: Account) -> Reply:
        params = query_params(request)
        page = await cronofy_sandbox.read(account, EventQuery.from_params(params))
        return Reply(200, _pages(request, page))

    return await _api(request, cronofy_sandbox, "read_events", run)


@get("/v1/events/pages/{token:str}", operation_id="sandbox_cronofy_read_events_page")
async def read_events_page(
    request: AnyRequest, cronofy_sandbox: SandboxDep, token: FromPath[str]
) -> Response[Any]:
    async def run(account: Account) -> Reply:
        return Reply(200, _pages(request, await cronofy_sandbox.page(account, token)))

    return await _api(request, cronofy_sandbox, "read_events", run)


@get("/v1/calendars", operation_id="sandbox_cronofy_list_calendars")
async def list_calendars(request: AnyRequest, cronofy_sandbox: SandboxDep) -> Response[Any]:
    async def run(account: Account) -> Reply:
        return Reply(200, CalendarsOut(calendars=cronofy_sandbox.calendars(account)))

    return await _api(request, cronofy_sandbox, "list_calendars", run)


@post("/v1/channels", operation_id="sandbox_cronofy_create_channel", status_code=200)
async def create_channel(request: AnyRequest, cronofy_sandbox: SandboxDep) -> Response[Any]:
    body = await request.body()

    async def run(account: Account) -> Reply:
        callback_url, filters = parse_channel(body, frozenset(account.calendar_ids))
        channel = await cronofy_sandbox.create_channel(account, callback_url, filters)
        return Reply(200, ChannelEnvelope(channel=channel))

    return await _api(request, cronofy_sandbox, "read_events", run)


@get("/v1/channels", operation_id="sandbox_cronofy_list_channels")
async def list_channels(request: AnyRequest, cronofy_sandbox: SandboxDep) -> Response[Any]:
    async def run(account: Account) -> Reply:
        return Reply(200, ChannelsOut(channels=await cronofy_sandbox.channels(account)))

    return await _api(request, cronofy_sandbox, "read_events", run)


@delete("/v1/channels/{channel_id:str}", operation_id="sandbox_cronofy_close_channel", status_code=202)
async def close_channel(
    request: AnyRequest, cronofy_sandbox: SandboxDep, channel_id: FromPath[str]
) -> Response[Any]:
    async def run(account: Account) -> Reply:
        await cronofy_sandbox.close_channel(account, channel_id)
        return Reply(202)

    return await _api(request, cronofy_sandbox, "read_events", run)


# The token endpoint's work: the request's parameters and Authorization header to an answer.
TokenWork = Callable[[dict[str, str], str | None], Awaitable[Reply]]


async def _token_call(request: AnyRequest, sandbox: CronofySandbox, work: TokenWork) -> Response[Any]:
    """An OAuth token call: client credentials and parameters in the body (JSON or form); its errors,
    like its answers, are never to be cached."""
    body = await request.body()

    async def run() -> Reply:
        try:
            params = oauth_params(body, request.headers.get("content-type", ""))
            return await work(params, request.headers.get("authorization"))
        except OAuthError as exc:
            return Reply(exc.status, exc.body, {**exc.headers, **_NO_STORE})

    return await _serve(request, sandbox, "oauth", run)


@post("/oauth/token", operation_id="sandbox_cronofy_oauth_token", status_code=200)
async def oauth_token(request: AnyRequest, cronofy_sandbox: SandboxDep) -> Response[Any]:
    async def refresh(params: dict[str, str], authorization: str | None) -> Reply:
        return Reply(200, await cronofy_sandbox.token(params, authorization), dict(_NO_STORE))

    return await _token_call(request, cronofy_sandbox, refresh)


@post("/oauth/token/revoke", operation_id="sandbox_cronofy_oauth_revoke", status_code=200)
async def oauth_revoke(request: AnyRequest, cronofy_sandbox: SandboxDep) -> Response[Any]:
    async def revoke(params: dict[str, str], authorization: str | None) -> Reply:
        await cronofy_sandbox.revoke_token(params, authorization)
        return Reply(200)

    return await _token_call(request, cronofy_sandbox, revoke)


API_HANDLERS = [
    upsert_event,
    delete_event,
    read_events,
    read_events_page,
    list_calendars,
    create_channel,
    list_channels,
    close_channel,
    oauth_token,
    oauth_revoke,
]
