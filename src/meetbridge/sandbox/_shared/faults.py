"""Fault injection and the call log: how tests make the sandbox misbehave and see what was called."""

from __future__ import annotations

import itertools
from collections import deque
from datetime import datetime
from http import HTTPStatus
from typing import Any

import msgspec

ANY_ENDPOINT = "*"

# Bodies in the DRF `{"detail": ...}` shape Recall uses for its generic errors.
_DETAILS: dict[int, str] = {
    401: "Invalid token.",
    404: "Not found.",
    409: "Conflict, please retry with exponential backoff.",
    429: "Request was throttled.",
    500: "A server error occurred.",
    507: "No ad-hoc bots are available right now, please retry in 30 seconds.",
}


class FaultIn(msgspec.Struct, forbid_unknown_fields=True):
    """`POST /_sandbox/faults`: the next `count` calls to `endpoint` answer `status`."""

    endpoint: str = ANY_ENDPOINT
    status: int | None = None
    count: int = 1
    retry_after: int | None = None
    latency_ms: int = 0
    body: dict[str, Any] | None = None


class Fault(msgspec.Struct):
    id: int
    endpoint: str
    status: int | None
    remaining: int
    retry_after: int | None
    latency_ms: int
    body: dict[str, Any] | None

    def response_body(self) -> dict[str, Any]:
        if self.body is not None:
            return self.body
        status = self.status or 500
        detail = _DETAILS.get(status) or HTTPStatus(status).phrase
        if status == 429 and self.retry_after is not None:
            detail = f"{detail} Expected available in {self.retry_after} seconds."
        return {"detail": detail}

    def response_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


class FaultError(ValueError):
    """A fault request the sandbox cannot honour; the admin API answers 400 with the message."""


class FaultBook:
    """Queued faults, consumed first-in first-out by the calls they match."""

    def __init__(self, endpoints: frozenset[str]) -> None:
        self._endpoints = endpoints | {ANY_ENDPOINT}
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, spec: FaultIn) -> Fault:
        if spec.endpoint not in self._endpoints:
            raise FaultError(f"endpoint must be one of {sorted(self._endpoints)}")
        if spec.status is not None and spec.status not in HTTPStatus._value2member_map_:
            raise FaultError("status must be an HTTP status code")
        if spec.status is None and spec.latency_ms <= 0:
            raise FaultError("a fault needs a status, a latency_ms, or both")
        if spec.count < 1 or spec.latency_ms < 0 or (spec.retry_after is not None and spec.retry_after < 0):
            raise FaultError("count must be >= 1; latency_ms and retry_after must not be negative")
        fault = Fault(
            id=next(self._ids),
            endpoint=spec.endpoint,
            status=spec.status,
            remaining=spec.count,
            retry_after=spec.retry_after,
            latency_ms=spec.latency_ms,
            body=spec.body,
        )
        self._faults.append(fault)
        return fault

    def take(self, endpoint: str, *, scheduled_create: bool = False) -> Fault | None:
        """Consume one use of the oldest fault matching this call.

        Scheduled bots come from a reserved pool and never see a 507 (reference §2.6), so a 507
        fault waits for an ad-hoc create instead of hitting a scheduled one.
        """
        for fault in self._faults:
            if fault.endpoint not in (endpoint, ANY_ENDPOINT):
                continue
            if fault.status == 507 and scheduled_create:
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)
            return fault
        return None

    def active(self) -> list[Fault]:
        return list(self._faults)

    def clear(self) -> None:
        self._faults.clear()


class CallRecord(msgspec.Struct):
    method: str
    path: str
    query: str
    endpoint: str
    status: int
    time: datetime
    faulted: bool
    bot_id: str | None
    # Refused by the stand-in's opt-in rate limits (a 429 it decided, not an injected fault).
    throttled: bool = False


class CallLog:
    def __init__(self, max_entries: int = 100_000) -> None:
        # Bounded so a long demo or benchmark run does not grow without limit.
        self._records: deque[CallRecord] = deque(maxlen=max_entries)

    def record(self, entry: CallRecord) -> None:
        self._records.append(entry)

    def entries(self) -> list[CallRecord]:
        return list(self._records)

    def clear(self) -> None:
        self._records.clear()
