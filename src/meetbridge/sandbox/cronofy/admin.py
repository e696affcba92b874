"""The Cronofy sandbox's own test API under `/_sandbox/` (no auth): accounts, events, pushes. Faults,
calls, clock and reset are the shared admin routes (`_shared.admin`).

These calls are tooling, not provider traffic, so they are neither logged nor subject to faults.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response, get, post
from litestar.enums import MediaType
from litestar.params import FromPath, JSONBody

from meetbridge.sandbox.cronofy.models import (
    AccountIn,
    AccountOut,
    AdminEventOut,
    PushStateOut,
    RevokeIn,
    SuppressIn,
)
from meetbridge.sandbox.cronofy.push import PushDelivery
from meetbridge.sandbox.cronofy.routes import SandboxDep


def _bad_request(detail: str) -> Response[Any]:
    return Response(content={"detail": detail}, status_code=400, media_type=MediaType.JSON)


@get("/_sandbox/accounts", operation_id="sandbox_cronofy_admin_list_accounts")
async def list_accounts(cronofy_sandbox: SandboxDep) -> list[AccountOut]:
    return await cronofy_sandbox.accounts()


@post("/_sandbox/accounts", operation_id="sandbox_cronofy_admin_add_account", status_code=201)
async def add_account(data: JSONBody[AccountIn], cronofy_sandbox: SandboxDep) -> Response[Any]:
    try:
        account = await cronofy_sandbox.new_account(data.calendar_ids, data.scope)
    except ValueError as exc:
        return _bad_request(str(exc))
    return Response(content=account, status_code=201, media_type=MediaType.JSON)


# Declared 200 because Litestar refuses a body type on 204 routes; the 204 is set per response.
@post(
    "/_sandbox/accounts/{account_id:str}/revoke",
    operation_id="sandbox_cronofy_admin_revoke_account",
    status_code=200,
)
async def revoke_account(
    account_id: FromPath[str], cronofy_sandbox: SandboxDep, data: JSONBody[RevokeIn | None] = None
) -> Response[Any]:
    """The refresh token stops working (`invalid_grant`); by default the access tokens (401) too."""
    try:
        await cronofy_sandbox.revoke_account(account_id, access_tokens=(data or RevokeIn()).access_tokens)
    except KeyError:
        return Response(content={"detail": "Not found."}, status_code=404, media_type=MediaType.JSON)
    return Response(content=b"", status_code=204)


@post(
    "/_sandbox/accounts/{account_id:str}/reauthorize",
    operation_id="sandbox_cronofy_admin_reauthorize_account",
    status_code=200,
)
async def reauthorize_account(account_id: FromPath[str], cronofy_sandbox: SandboxDep) -> Response[Any]:
    """The user links the account again: it is live once more, with new access and refresh tokens."""
    try:
        account = await cronofy_sandbox.reauthorize(account_id)
    except KeyError:
        return Response(content={"detail": "Not found."}, status_code=404, media_type=MediaType.JSON)
    return Response(content=msgspec.to_builtins(account), status_code=200, media_type=MediaType.JSON)


@get("/_sandbox/events", operation_id="sandbox_cronofy_admin_list_events")
async def list_events(cronofy_sandbox: SandboxDep) -> list[AdminEventOut]:
    cronofy_sandbox.ensure_background()
    return await cronofy_sandbox.admin_events()


@get("/_sandbox/push", operation_id="sandbox_cronofy_admin_get_push")
async def get_push(cronofy_sandbox: SandboxDep) -> PushStateOut:
    return PushStateOut(suppress_remaining=cronofy_sandbox.push.suppress_remaining)


@post("/_sandbox/push/suppress", operation_id="sandbox_cronofy_admin_suppress_push", status_code=200)
async def suppress_push(data: JSONBody[SuppressIn], cronofy_sandbox: SandboxDep) -> Response[Any]:
    """The next `count` notifications are recorded as suppressed and never sent."""
    if data.count < 0:
        return _bad_request("count must not be negative")
    cronofy_sandbox.push.suppress_remaining = data.count
    state = PushStateOut(suppress_remaining=data.count)
    return Response(content=state, status_code=200, media_type=MediaType.JSON)


@get("/_sandbox/push/deliveries", operation_id="sandbox_cronofy_admin_list_deliveries")
async def list_deliveries(cronofy_sandbox: SandboxDep) -> list[PushDelivery]:
    return list(cronofy_sandbox.push.deliveries)


ADMIN_HANDLERS = [
    list_accounts,
    add_account,
    revoke_account,
    reauthorize_account,
    list_events,
    get_push,
    suppress_push,
    list_deliveries,
]
