"""The Cronofy sandbox's own test API under `/_sandbox/`: faults, calls, accounts, events, pushes,
clock. No auth.

These calls are tooling, not provider traffic, so they are neither logged nor subject to faults.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response, delete, get, post
from litestar.enums import MediaType
from litestar.params import FromPath, JSONBody

from meetbridge.sandbox._shared import CallRecord, Fault, FaultError, FaultIn
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
from meetbridge.sandbox.recall.core import ClockIn, ClockOut


def _bad_request(detail: str) -> Response[Any]:
    return Response(content={"detail": detail}, status_code=400, media_type=MediaType.JSON)


@post("/_sandbox/faults", operation_id="sandbox_cronofy_admin_add_fault", status_code=201)
async def add_fault(data: JSONBody[FaultIn], cronofy_sandbox: SandboxDep) -> Response[Any]:
    try:
        fault = cronofy_sandbox.faults.add(data)
    except FaultError as exc:
        return _bad_request(str(exc))
    return Response(content=fault, status_code=201, media_type=MediaType.JSON)


@get("/_sandbox/faults", operation_id="sandbox_cronofy_admin_list_faults")
async def list_faults(cronofy_sandbox: SandboxDep) -> list[Fault]:
    return cronofy_sandbox.faults.active()


@delete("/_sandbox/faults", operation_id="sandbox_cronofy_admin_clear_faults")
async def clear_faults(cronofy_sandbox: SandboxDep) -> None:
    cronofy_sandbox.faults.clear()


@get("/_sandbox/calls", operation_id="sandbox_cronofy_admin_list_calls")
async def list_calls(cronofy_sandbox: SandboxDep) -> list[CallRecord]:
    return cronofy_sandbox.calls.entries()


@delete("/_sandbox/calls", operation_id="sandbox_cronofy_admin_clear_calls")
async def clear_calls(cronofy_sandbox: SandboxDep) -> None:
    cronofy_sandbox.calls.clear()


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


@get("/_sandbox/clock", operation_id="sandbox_cronofy_admin_get_clock")
async def get_clock(cronofy_sandbox: SandboxDep) -> ClockOut:
    return ClockOut(now=cronofy_sandbox.clock.now(), frozen=cronofy_sandbox.clock.frozen)


@post("/_sandbox/clock", operation_id="sandbox_cronofy_admin_set_clock", status_code=200)
async def set_clock(data: JSONBody[ClockIn], cronofy_sandbox: SandboxDep) -> ClockOut:
    cronofy_sandbox.ensure_background()
    if data.freeze is True:
        cronofy_sandbox.clock.freeze()
    elif data.freeze is False:
        cronofy_sandbox.clock.unfreeze()
    if data.advance_seconds:
        await cronofy_sandbox.advance_clock(data.advance_seconds)
    return ClockOut(now=cronofy_sandbox.clock.now(), frozen=cronofy_sandbox.clock.frozen)


@post("/_sandbox/reset", operation_id="sandbox_cronofy_admin_reset", status_code=204)
async def reset(cronofy_sandbox: SandboxDep) -> None:
    await cronofy_sandbox.reset()


ADMIN_HANDLERS = [
    add_fault,
    list_faults,
    clear_faults,
    list_calls,
    clear_calls,
    list_accounts,
    add_account,
    revoke_account,
    reauthorize_account,
    list_events,
    get_push,
    suppress_push,
    list_deliveries,
    get_clock,
    set_clock,
    reset,
]
