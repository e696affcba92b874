"""The bot API's own test API under `/_sandbox/` (no auth): bots and their status, the webhook endpoint
and its deliveries, the opt-in rate limits (`GET|PUT /_sandbox/rate-limits`, see core/throttle).
Faults, calls, clock and reset are the shared admin routes (`_shared.admin`).

These calls are tooling, not provider traffic, so they are neither logged nor subject to faults.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response, delete, get, post, put
from litestar.enums import MediaType
from litestar.params import FromPath, JSONBody

from meetbridge.sandbox._shared import AnyRequest, query_params
from meetbridge.sandbox.recall.bot.routes import SandboxDep
from meetbridge.sandbox.recall.core import (
    AdminBotOut,
    BotQuery,
    Delivery,
    ForceStatusIn,
    RateLimit,
    RateLimitError,
    RateLimitsIn,
    RecallSandbox,
    SandboxError,
    WebhookConfigIn,
)


class WebhookConfigOut(msgspec.Struct):
    url: str | None
    header_family: str | None
    signed: bool


def _error(exc: SandboxError) -> Response[Any]:
    return Response(content=exc.body, status_code=exc.status, media_type=MediaType.JSON)


def _webhook_config(sandbox: RecallSandbox) -> WebhookConfigOut:
    target = sandbox.webhooks.target
    if target is None:
        return WebhookConfigOut(url=None, header_family=None, signed=False)
    return WebhookConfigOut(
        url=target.url, header_family=target.header_family, signed=target.secret is not None
    )


@get("/_sandbox/bots", operation_id="sandbox_recall_admin_list_bots")
async def admin_list_bots(request: AnyRequest, recall_sandbox: SandboxDep) -> Response[Any]:
    """Every bot ever created, deleted ones included; takes the List Bots filters except `page`."""
    recall_sandbox.ensure_background()
    params = query_params(request, leave_out=frozenset({"page"}))
    try:
        bots: list[AdminBotOut] = await recall_sandbox.admin_bots(BotQuery.from_params(params))
    except SandboxError as exc:
        return _error(exc)
    return Response(content=bots, status_code=200, media_type=MediaType.JSON)


@post("/_sandbox/bots/{bot_id:str}/status", operation_id="sandbox_recall_admin_force_status", status_code=200)
async def force_status(
    bot_id: FromPath[str], data: JSONBody[ForceStatusIn], recall_sandbox: SandboxDep
) -> Response[Any]:
    recall_sandbox.ensure_background()
    try:
        bot = await recall_sandbox.force_status(bot_id, data)
    except SandboxError as exc:
        return _error(exc)
    return Response(content=bot, status_code=200, media_type=MediaType.JSON)


@get("/_sandbox/webhook", operation_id="sandbox_recall_admin_get_webhook")
async def get_webhook(recall_sandbox: SandboxDep) -> WebhookConfigOut:
    return _webhook_config(recall_sandbox)


@post("/_sandbox/webhook", operation_id="sandbox_recall_admin_set_webhook", status_code=200)
async def set_webhook(data: JSONBody[WebhookConfigIn], recall_sandbox: SandboxDep) -> Response[Any]:
    try:
        recall_sandbox.webhooks.configure(data.url, data.secret, data.header_family)
    except ValueError as exc:
        return _error(SandboxError(400, {"secret": [str(exc)]}))
    return Response(content=_webhook_config(recall_sandbox), status_code=200, media_type=MediaType.JSON)


@delete("/_sandbox/webhook", operation_id="sandbox_recall_admin_clear_webhook")
async def clear_webhook(recall_sandbox: SandboxDep) -> None:
    recall_sandbox.webhooks.configure(None, None, "webhook")


@get("/_sandbox/webhook/deliveries", operation_id="sandbox_recall_admin_list_deliveries")
async def list_deliveries(recall_sandbox: SandboxDep) -> list[Delivery]:
    return list(recall_sandbox.webhooks.deliveries)


@get("/_sandbox/rate-limits", operation_id="sandbox_recall_admin_get_rate_limits")
async def get_rate_limits(recall_sandbox: SandboxDep) -> dict[str, RateLimit]:
    return recall_sandbox.throttle.limits


@put("/_sandbox/rate-limits", operation_id="sandbox_recall_admin_set_rate_limits", status_code=200)
async def set_rate_limits(data: JSONBody[RateLimitsIn], recall_sandbox: SandboxDep) -> Response[Any]:
    """Enforce these limits from now on, counting afresh; `{"limits": {}}` turns them off."""
    try:
        recall_sandbox.throttle.configure(data.limits)
    except RateLimitError as exc:
        return _error(SandboxError(400, {"limits": [str(exc)]}))
    return Response(content=recall_sandbox.throttle.limits, status_code=200, media_type=MediaType.JSON)


BOT_ADMIN_HANDLERS = [
    get_rate_limits,
    set_rate_limits,
    admin_list_bots,
    force_status,
    get_webhook,
    set_webhook,
    clear_webhook,
    list_deliveries,
]
