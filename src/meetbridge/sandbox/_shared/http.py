"""Request helpers every stand-in's routes use."""

from __future__ import annotations

from typing import Any

from litestar import Request

# The stand-ins read headers, body and query themselves, so their handlers take the untyped request.
AnyRequest = Request[Any, Any, Any]


def query_params(request: AnyRequest, *, leave_out: frozenset[str] = frozenset()) -> dict[str, list[str]]:
    """Every query parameter with all its values, as the stand-ins' query parsers take them."""
    return {key: request.query_params.getall(key) for key in request.query_params if key not in leave_out}
