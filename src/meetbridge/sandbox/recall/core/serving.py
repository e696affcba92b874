"""How every Recall route answers: auth, an injected fault if one is queued, else the real action; each
call logged. The bot API, Calendar V1 and Calendar V2 all answer through `serve_call`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from litestar import Response
from litestar.enums import MediaType

from meetbridge.sandbox._shared import AnyRequest, CallRecord
from meetbridge.sandbox.recall.core.state import RecallSandbox
from meetbridge.sandbox.recall.core.validation import SandboxError


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


def _credential(request: AnyRequest) -> str:
    """Whose limits a call counts against: the API key (a workspace), or the Calendar V1 user's token."""
    return request.headers.get("authorization") or request.headers.get("x-recallcalendarauthtoken") or ""


def _throttled(retry_after: int) -> Reply:
    detail = f"Request was throttled. Expected available in {retry_after} seconds."
    return Reply(429, {"detail": detail}, {"Retry-After": str(retry_after)})


async def serve_call(
    request: AnyRequest,
    sandbox: RecallSandbox,
    endpoint: str,
    action: Action,
    *,
    bot_id: str | None = None,
    scheduled_create: bool = False,
    authenticate: Authenticate | None = None,
) -> Response[Any]:
    """Auth (the API key unless ``authenticate`` says otherwise), then the rate limits if any are set,
    then an injected fault if one is queued (state untouched), else the real action; logged either way."""
    sandbox.ensure_background()
    reply = Reply(500, {"detail": "A server error occurred."})
    faulted = False
    retry_after: int | None = None
    try:
        try:
            (authenticate or _api_key(sandbox))(request)
            retry_after = sandbox.throttle.check(_credential(request), endpoint, sandbox.clock.now())
        except SandboxError as exc:
            reply = Reply(exc.status, exc.body, exc.headers)
        else:
            if retry_after is not None:
                reply = _throttled(retry_after)
            else:
                faulted, reply = await _fault_or_action(sandbox, endpoint, action, scheduled_create)
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
                throttled=retry_after is not None,
            )
        )


async def _fault_or_action(
    sandbox: RecallSandbox, endpoint: str, action: Action, scheduled_create: bool
) -> tuple[bool, Reply]:
    """(whether an injected fault answered, the reply)."""
    fault = sandbox.faults.take(endpoint, scheduled_create=scheduled_create)
    if fault is not None and fault.latency_ms:
        await asyncio.sleep(fault.latency_ms / 1000)
    if fault is not None and fault.status is not None:
        return True, Reply(fault.status, fault.response_body(), fault.response_headers())
    try:
        return False, await action()
    except SandboxError as exc:
        return False, Reply(exc.status, exc.body, exc.headers)


def _called_path(request: AnyRequest) -> str:
    """The path as the client sent it: routing strips the trailing slash, tests want to see it."""
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes) and raw:
        return raw.decode("latin-1").partition("?")[0]
    return request.url.path


async def admin_answer(status: int, work: Awaitable[Any]) -> Response[Any]:
    """An admin endpoint's answer: ``work``'s result as JSON, or the SandboxError it raised."""
    try:
        content = await work
    except SandboxError as exc:
        return Response(content=exc.body, status_code=exc.status, media_type=MediaType.JSON)
    return Response(content=content, status_code=status, media_type=MediaType.JSON)
