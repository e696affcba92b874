"""Bearer-token authentication: every /v1 request names its application by its token."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers import BaseRouteHandler

from meetbridge.db.applications import hash_token
from meetbridge.errors import NotAuthenticated
from meetbridge.runtime.gateway import Gateway

# A revoked token works for at most this long in a process that just saw it: one query fewer on
# every request of a busy client, and `meetbridge token revoke` says so.
_CACHE_SECONDS = 1.0
_CACHE_SIZE = 10_000


class TokenCache:
    """Remember recent token → application lookups so a hot client costs no query per request.

    Only hashes are kept (tokens in memory would be a gift to a heap dump); entries expire quickly
    so a revoked token stops working within ``_CACHE_SECONDS`` (a second) everywhere.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[str, float]] = {}

    def get(self, token: str) -> str | None:
        entry = self._entries.get(token)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, token: str, application_id: str) -> None:
        if len(self._entries) >= _CACHE_SIZE:
            self._entries.clear()
        self._entries[token] = (application_id, time.monotonic() + _CACHE_SECONDS)


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """A guard, so it runs before Litestar reads and decodes the body: an unauthenticated request
    costs a header check, never a decode of whatever it sent."""
    gateway: Gateway = connection.app.state.gateway
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise NotAuthenticated(
            "send Authorization: Bearer <token> (create one with `meetbridge token create`)"
        )
    cache: TokenCache = connection.app.state.token_cache
    key = hash_token(token)
    application_id = cache.get(key)
    if application_id is None:
        application_id = await gateway.applications.application_for_token(token)
        if application_id is None:
            raise NotAuthenticated("the bearer token is not valid")
        cache.put(key, application_id)
    connection.state.application_id = application_id


async def provide_application_id(
    request: Request[Any, Any, Any],
    gateway: NamedDependency[Gateway],  # unused: named for the order of resolution, see below
) -> str:
    """The application the guard authenticated.

    It names ``gateway`` so that Litestar resolves the two dependencies one after the other: two of
    one level are resolved concurrently in an anyio task group, two tasks spawned per request, about
    9% of an upsert's CPU (cProfile of benchmarks/ingest_bots.py's plain phase)."""
    application_id: str = request.state.application_id
    return application_id
