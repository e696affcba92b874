"""The Recall bot API routes (`/api/v1/bot/...`): auth, fault injection and the call log around each call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.params import FromPath

from meetbridge.sandbox.faults import CallRecord
from meetbridge.sandbox.recall_models import BotPage
from meetbridge.sandbox.recall_query import PAGE_SIZE, BotQuery
from meetbridge.sandbox.recall_state import RecallSandbox
from meetbridge.sandbox.recall_validation import SandboxError, parse_bot_body

AnyRequest = Request[Any, Any, Any]
SandboxDep = NamedDependency[RecallSandbox]


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Action = Callable[[], Awaitable[Reply]]
# Checks a request's credentials; raises SandboxError (a 401) when they are not good.
Authenticate = Callable[[AnyRequest], None]


def _api_key(sandbox: RecallSandbox) -> Authenticate:
    def check(request: AnyRequest) -> None:
        if not sandbox.is_authorized(request.headers.get("authorization")):
            raise SandboxError(401, {"detail": "Invalid token."}, {"WWW-Authenticate": "Token"})

    return check


async def _serve(
    request: AnyRequest,
    sandbox: RecallSandbox,
    endpoint: str,
    action: Action,
    *,
    bot_id: str | None = None,
    scheduled_create: bool = False,
    authenticate: Authenticate | None = None,
) -> Response[Any]:
    """Auth (the API key unless ``authenticate`` says otherwise), then an injected fault if one is
    queued (state untouched), else the real action; logged either way."""
    sandbox.ensure_background()
    reply = Reply(500, {"detail": "A server error occurred."})
    faulted = False
    try:
        try:
            (authenticate or _api_key(sandbox))(request)
        except SandboxError as exc:
            reply = Reply(exc.status, exc.body, exc.headers)
        else:
            fault = sandbox.faults.take(endpoint, scheduled_create=scheduled_create)
            if fault is not None and fault.latency_ms:
                await asyncio.sleep(fault.latency_ms / 1000)
            if fault is not None and fault.status is not None:
                faulted = True
                reply = Reply(fault.status, fault.response_body(), fault.response_headers())
            else:
                try:
                    reply = await action()
                except SandboxError as exc:
                    reply = Reply(exc.status, exc.body, exc.headers)
        return Response(
            content=reply.body, status_code=reply.status, headers=reply.headers, media_type=MediaType.JSON
        )
    finally:
        sandbox.calls.record(
            CallRecord(
                method=request.method,
                path=_called_path(request),
                query=request.url.query or "",
                endpoint=endpoint,
                status=reply.status,
                time=sandbox.clock.now(),
                faulted=faulted,
                bot_id=bot_id,
            )
        )


def _called_path(request: AnyRequest) -> str:
    """The path as the client sent it: routing strips the trailing slash, tests want to see it."""
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes) and raw:
        return raw.decode("latin-1").partition("?")[0]
    return request.url.path


def _page_url(request: AnyRequest, page: int | None) -> str | None:
    """Absolute URL of another page, like DRF's: page 1 drops the `page` parameter."""
    if page is None:
        return None
    params = [(key, value) for key, value in request.query_params.multi_items() if key != "page"]
    if page > 1:
        params.append(("page", str(page)))
    url = request.url
    query = urlencode(params)
    return f"{url.scheme}://{url.netloc}{url.path.rstrip('/')}/" + (f"?{query}" if query else "")


@post("/api/v1/bot/", operation_id="sandbox_recall_create_bot", status_code=201)
async def create_bot(request: AnyRequest, recall_sandbox: SandboxDep) -> Response[Any]:
    body = await request.body()
    try:
        changes = parse_bot_body(body, creating=True)
    except SandboxError as exc:
        invalid: SandboxError | None = exc
        scheduled = False
    else:
        invalid = None
        scheduled = recall_sandbox.is_scheduled(changes)

    async def action() -> Reply:
        if invalid is not None:
            raise invalid
        return Reply(201, await recall_sandbox.create_bot(changes))

    return await _serve(request, recall_sandbox, "create_bot", action, scheduled_create=scheduled)


@get("/api/v1/bot/", operation_id="sandbox_recall_list_bots")
async def list_bots(request: AnyRequest, recall_sandbox: SandboxDep) -> Response[Any]:
    async def action() -> Reply:
        params = {key: request.query_params.getall(key) for key in request.query_params}
        query = BotQuery.from_params(params)
        count, results = await recall_sandbox.list_bots(query)
        has_next = query.page * PAGE_SIZE < count
        page = BotPage(
            count=count,
            next=_page_url(request, query.page + 1 if has_next else None),
            previous=_page_url(request, query.page - 1 if query.page > 1 else None),
            results=results,
        )
        return Reply(200, page)

    return await _serve(request, recall_sandbox, "list_bots", action)


@get("/api/v1/bot/{bot_id:str}/", operation_id="sandbox_recall_retrieve_bot")
async def retrieve_bot(
    request: AnyRequest, recall_sandbox: SandboxDep, bot_id: FromPath[str]
) -> Response[Any]:
    async def action() -> Reply:
        return Reply(200, await recall_sandbox.get_bot(bot_id))

    return await _serve(request, recall_sandbox, "bot", action, bot_id=bot_id)


@patch("/api/v1/bot/{bot_id:str}/", operation_id="sandbox_recall_update_bot")
async def update_bot(request: AnyRequest, recall_sandbox: SandboxDep, bot_id: FromPath[str]) -> Response[Any]:
    body = await request.body()

    async def action() -> Reply:
        changes = parse_bot_body(body, creating=False)
        return Reply(200, await recall_sandbox.update_bot(bot_id, changes))

    return await _serve(request, recall_sandbox, "bot", action, bot_id=bot_id)


# Declared 200 because Litestar refuses a body type on 204 routes; the 204 is set per response.
@delete("/api/v1/bot/{bot_id:str}/", operation_id="sandbox_recall_delete_bot", status_code=200)
async def delete_bot(request: AnyRequest, recall_sandbox: SandboxDep, bot_id: FromPath[str]) -> Response[Any]:
    async def action() -> Reply:
        await recall_sandbox.delete_bot(bot_id)
        return Reply(204)

    return await _serve(request, recall_sandbox, "bot", action, bot_id=bot_id)


@post("/api/v1/bot/{bot_id:str}/leave_call/", operation_id="sandbox_recall_leave_call", status_code=200)
async def leave_call(request: AnyRequest, recall_sandbox: SandboxDep, bot_id: FromPath[str]) -> Response[Any]:
    async def action() -> Reply:
        return Reply(200, await recall_sandbox.leave_call(bot_id))

    return await _serve(request, recall_sandbox, "bot", action, bot_id=bot_id)


BOT_API_HANDLERS = [create_bot, list_bots, retrieve_bot, update_bot, delete_bot, leave_call]
