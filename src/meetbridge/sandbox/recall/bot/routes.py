"""The Recall bot API routes (`/api/v1/bot/...`), each answered through `serve_call`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from meetbridge.sandbox._shared import AnyRequest, query_params
from meetbridge.sandbox.recall.core import (
    PAGE_SIZE,
    BotPage,
    BotQuery,
    RecallSandbox,
    Reply,
    SandboxError,
    parse_bot_body,
    serve_call,
)

SandboxDep = NamedDependency[RecallSandbox]


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

    return await serve_call(request, recall_sandbox, "create_bot", action, scheduled_create=scheduled)


@get("/api/v1/bot/", operation_id="sandbox_recall_list_bots")
async def list_bots(request: AnyRequest, recall_sandbox: SandboxDep) -> Response[Any]:
    async def action() -> Reply:
        params = query_params(request)
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

    return await serve_call(request, recall_sandbox, "list_bots", action)


@get("/api/v1/bot/{bot_id:str}/", operation_id="sandbox_recall_retrieve_bot")
async def retrieve_bot(
    request: AnyRequest, recall_sandbox: SandboxDep, bot_id: FromPath[str]
) -> Response[Any]:
    async def action() -> Reply:
        return Reply(200, await recall_sandbox.get_bot(bot_id))

    return await serve_call(request, recall_sandbox, "bot", action, bot_id=bot_id)


@patch("/api/v1/bot/{bot_id:str}/", operation_id="sandbox_recall_update_bot")
async def update_bot(request: AnyRequest, recall_sandbox: SandboxDep, bot_id: FromPath[str]) -> Response[Any]:
    body = await request.body()

    async def action() -> Reply:
        changes = parse_bot_body(body, creating=False)
        return Reply(200, await recall_sandbox.update_bot(bot_id, changes))

    return await serve_call(request, recall_sandbox, "bot", action, bot_id=bot_id)


# Declared 200 because Litestar refuses a body type on 204 routes; the 204 is set per response.
@delete("/api/v1/bot/{bot_id:str}/", operation_id="sandbox_recall_delete_bot", status_code=200)
async def delete_bot(request: AnyRequest, recall_sandbox: SandboxDep, bot_id: FromPath[str]) -> Response[Any]:
    async def action() -> Reply:
        await recall_sandbox.delete_bot(bot_id)
        return Reply(204)

    return await serve_call(request, recall_sandbox, "bot", action, bot_id=bot_id)


@post("/api/v1/bot/{bot_id:str}/leave_call/", operation_id="sandbox_recall_leave_call", status_code=200)
async def leave_call(request: AnyRequest, recall_sandbox: SandboxDep, bot_id: FromPath[str]) -> Response[Any]:
    async def action() -> Reply:
        return Reply(200, await recall_sandbox.leave_call(bot_id))

    return await serve_call(request, recall_sandbox, "bot", action, bot_id=bot_id)


BOT_API_HANDLERS = [create_bot, list_bots, retrieve_bot, update_bot, delete_bot, leave_call]
