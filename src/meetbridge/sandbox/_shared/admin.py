"""The test API every stand-in has under `/_sandbox/` (no auth): faults, the call log, the clock, reset.

- `POST /_sandbox/faults` (see FaultIn) -> 201, `GET` the queued ones, `DELETE` them all
- `GET /_sandbox/calls`: every API call received, oldest first; `DELETE` forgets them
- `GET|POST /_sandbox/clock` `{advance_seconds, freeze}`: read, freeze, unfreeze or move the clock
- `POST /_sandbox/reset` -> 204: forget what the stand-in holds (each says what it keeps)

These calls are tooling, not provider traffic, so they are neither logged nor subject to faults. The
routes close over the stand-in they control, so one factory serves every stand-in whatever name its own
routes inject it by; operation ids keep each stand-in's prefix.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import msgspec
from litestar import Response, delete, get, post
from litestar.enums import MediaType
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody

from meetbridge.sandbox._shared.clock import SandboxClock
from meetbridge.sandbox._shared.faults import CallLog, CallRecord, Fault, FaultBook, FaultError, FaultIn


class ClockIn(msgspec.Struct, forbid_unknown_fields=True):
    advance_seconds: float | None = None
    freeze: bool | None = None


class ClockOut(msgspec.Struct):
    now: datetime
    frozen: bool


class Resettable(Protocol):
    async def reset(self) -> None: ...


class ControlledStandIn(Resettable, Protocol):
    """A stand-in with faults to inject, a call log to read and a clock to move."""

    @property
    def faults(self) -> FaultBook: ...

    @property
    def calls(self) -> CallLog: ...

    @property
    def clock(self) -> SandboxClock: ...

    def ensure_background(self) -> None: ...

    async def advance_clock(self, seconds: float) -> None:
        """Move the clock and run at once what the jump makes due (lifecycles, reveals, webhooks)."""
        ...


def reset_route(stand_in: Resettable, *, path: str, operation_id: str) -> HTTPRouteHandler:
    @post(path, operation_id=operation_id, status_code=204)
    async def reset() -> None:
        await stand_in.reset()

    return reset


def admin_routes(stand_in: ControlledStandIn, *, operation_prefix: str) -> list[HTTPRouteHandler]:
    """The faults, calls, clock and reset routes of one stand-in (operation ids `<prefix>_add_fault` ...)."""

    def clock_now() -> ClockOut:
        return ClockOut(now=stand_in.clock.now(), frozen=stand_in.clock.frozen)

    @post("/_sandbox/faults", operation_id=f"{operation_prefix}_add_fault", status_code=201)
    async def add_fault(data: JSONBody[FaultIn]) -> Response[Any]:
        try:
            fault = stand_in.faults.add(data)
        except FaultError as exc:
            return Response(content={"detail": str(exc)}, status_code=400, media_type=MediaType.JSON)
        return Response(content=fault, status_code=201, media_type=MediaType.JSON)

    @get("/_sandbox/faults", operation_id=f"{operation_prefix}_list_faults")
    async def list_faults() -> list[Fault]:
        return stand_in.faults.active()

    @delete("/_sandbox/faults", operation_id=f"{operation_prefix}_clear_faults")
    async def clear_faults() -> None:
        stand_in.faults.clear()

    @get("/_sandbox/calls", operation_id=f"{operation_prefix}_list_calls")
    async def list_calls() -> list[CallRecord]:
        return stand_in.calls.entries()

    @delete("/_sandbox/calls", operation_id=f"{operation_prefix}_clear_calls")
    async def clear_calls() -> None:
        stand_in.calls.clear()

    @get("/_sandbox/clock", operation_id=f"{operation_prefix}_get_clock")
    async def get_clock() -> ClockOut:
        return clock_now()

    @post("/_sandbox/clock", operation_id=f"{operation_prefix}_set_clock", status_code=200)
    async def set_clock(data: JSONBody[ClockIn]) -> ClockOut:
        stand_in.ensure_background()
        if data.freeze is True:
            stand_in.clock.freeze()
        elif data.freeze is False:
            stand_in.clock.unfreeze()
        if data.advance_seconds:
            await stand_in.advance_clock(data.advance_seconds)
        return clock_now()

    reset = reset_route(stand_in, path="/_sandbox/reset", operation_id=f"{operation_prefix}_reset")
    return [add_fault, list_faults, clear_faults, list_calls, clear_calls, get_clock, set_clock, reset]
